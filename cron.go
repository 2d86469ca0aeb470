package hangar

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed 5-field POSIX cron expression (minute hour day-of-month month
// day-of-week), the only schedule CMA deployments accept: no seconds or year fields, no
// L/W/#/?, no @shortcuts. It lives here (stdlib only) so that the API can validate and
// preview schedules and internal/schedule can fire them from the same code.
type Cron struct {
	minute, hour, dom, month, dow uint64 // bit sets
	domStar, dowStar              bool
}

var cronFields = [5]struct {
	name     string
	min, max int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 7}}

// ParseCron parses a 5-field expression; errors are invalid_request_error.
func ParseCron(expr string) (*Cron, error) {
	parts := strings.Fields(expr)
	if len(parts) != 5 {
		return nil, Errorf(KindInvalidRequest, "cron expression %q must have 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(parts))
	}
	var sets [5]uint64
	for i, p := range parts {
		set, err := parseCronField(p, cronFields[i].min, cronFields[i].max)
		if err != nil {
			return nil, Errorf(KindInvalidRequest, "cron expression %q: %s field: %v", expr, cronFields[i].name, err)
		}
		sets[i] = set
	}
	c := &Cron{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4],
		domStar: strings.HasPrefix(parts[2], "*"), dowStar: strings.HasPrefix(parts[4], "*")}
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	return c, nil
}

func parseCronField(s string, min, max int) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		lo, hi := min, max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronNumber(a, min, max); err != nil {
				return 0, err
			}
			if hi, err = cronNumber(b, min, max); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q is backwards", rng)
			}
		default:
			n, err := cronNumber(rng, min, max)
			if err != nil {
				return 0, err
			}
			lo, hi = n, n
			if hasStep {
				hi = max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func cronNumber(s string, min, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < min || n > max {
		return 0, fmt.Errorf("%d is outside %d-%d", n, min, max)
	}
	return n, nil
}

func (c *Cron) dayMatches(t time.Time) bool {
	d := c.dom&(1<<uint(t.Day())) != 0
	w := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return w
	case c.dowStar:
		return d
	default: // POSIX: either restricted day field matches
		return d || w
	}
}

// Next returns the first fire time strictly after `after`, reading the fields as wall-clock
// time in loc. DST: a wall-clock time skipped by a spring-forward gap does not fire that
// day; one repeated by a fall-back fires once, at its first occurrence. The zero time when
// nothing matches within eight years (e.g. "0 0 31 2 *").
func (c *Cron) Next(after time.Time, loc *time.Location) time.Time {
	t := after.Truncate(time.Minute).Add(time.Minute)
	limit := after.AddDate(8, 0, 0)
	for t.Before(limit) {
		lt := t.In(loc)
		switch {
		case c.month&(1<<uint(lt.Month())) == 0:
			t = time.Date(lt.Year(), lt.Month()+1, 1, 0, 0, 0, 0, loc)
		case !c.dayMatches(lt):
			t = time.Date(lt.Year(), lt.Month(), lt.Day()+1, 0, 0, 0, 0, loc)
		case c.hour&(1<<uint(lt.Hour())) == 0:
			t = t.Add(time.Duration(60-lt.Minute()) * time.Minute)
		case c.minute&(1<<uint(lt.Minute())) == 0:
			t = t.Add(time.Minute)
		case repeatedWallClock(t, lt, loc):
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{}
}

// repeatedWallClock reports whether lt's wall-clock minute already happened earlier (the
// second pass through a fall-back hour).
func repeatedWallClock(t, lt time.Time, loc *time.Location) bool {
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		p := t.Add(-d).In(loc)
		if p.Hour() == lt.Hour() && p.Minute() == lt.Minute() && p.Day() == lt.Day() {
			return true
		}
	}
	return false
}

// Upcoming returns the next n fire times after `after`.
func (c *Cron) Upcoming(after time.Time, loc *time.Location, n int) []time.Time {
	out := []time.Time{}
	for len(out) < n {
		next := c.Next(after, loc)
		if next.IsZero() {
			break
		}
		out = append(out, next.UTC())
		after = next
	}
	return out
}

// LoadCronSpec parses a schedule's expression and IANA timezone.
func LoadCronSpec(s *CronSpec) (*Cron, *time.Location, error) {
	c, err := ParseCron(s.Expression)
	if err != nil {
		return nil, nil, err
	}
	if s.Timezone == "" {
		return nil, nil, Errorf(KindInvalidRequest, "schedule.timezone: field required")
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, nil, Errorf(KindInvalidRequest, "schedule.timezone: unknown IANA timezone %q", s.Timezone)
	}
	return c, loc, nil
}

// NextRun returns when a schedulable deployment fires next after now, or nil.
func (d *Deployment) NextRun(now time.Time) *time.Time {
	if !d.Schedulable() {
		return nil
	}
	c, loc, err := LoadCronSpec(d.Schedule)
	if err != nil {
		return nil
	}
	next := c.Next(now, loc)
	if next.IsZero() {
		return nil
	}
	next = next.UTC()
	return &next
}
