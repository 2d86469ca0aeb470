package hangar

import (
	"testing"
	"time"
)

func TestParseCronErrors(t *testing.T) {
	for _, expr := range []string{"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "5-1 * * * *", "*/0 * * * *", "@daily", "0 0 L * *", "0 0 * * 1#2", "? * * * *", "a * * * *"} {
		if _, err := ParseCron(expr); !IsKind(err, KindInvalidRequest) {
			t.Errorf("ParseCron(%q) err = %v, want invalid_request_error", expr, err)
		}
	}
}

func TestCronNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	utc := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name, expr string
		loc        *time.Location
		after      time.Time
		want       []time.Time
	}{
		{"every minute", "* * * * *", time.UTC, utc(2026, 1, 1, 0, 0).Add(30 * time.Second), []time.Time{utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)}},
		{"weekdays 9am", "0 9 * * 1-5", time.UTC, utc(2026, 1, 2, 10, 0), []time.Time{utc(2026, 1, 5, 9, 0), utc(2026, 1, 6, 9, 0)}}, // Fri → Mon
		{"7 is Sunday", "0 0 * * 7", time.UTC, utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 4, 0, 0)}},
		{"steps and lists", "*/20,45 3 * * *", time.UTC, utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 1, 3, 0), utc(2026, 1, 1, 3, 20), utc(2026, 1, 1, 3, 40), utc(2026, 1, 1, 3, 45)}},
		{"dom or dow", "0 0 13 * 5", time.UTC, utc(2026, 2, 1, 0, 0), []time.Time{utc(2026, 2, 6, 0, 0), utc(2026, 2, 13, 0, 0), utc(2026, 2, 20, 0, 0)}},
		{"leap day", "0 0 29 2 *", time.UTC, utc(2026, 1, 1, 0, 0), []time.Time{utc(2028, 2, 29, 0, 0)}},
		{"timezone", "0 9 * * *", ny, utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 1, 14, 0)}},
		// 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
		{"spring forward gap skipped", "30 2 * * *", ny, utc(2026, 3, 7, 12, 0), []time.Time{utc(2026, 3, 9, 6, 30)}},
		{"spring forward shifts UTC", "0 9 * * *", ny, utc(2026, 3, 7, 15, 0), []time.Time{utc(2026, 3, 8, 13, 0)}},
		// 2026-11-01 01:00-02:00 happens twice: fire at the first 01:30 only.
		{"fall back repeat once", "30 1 * * *", ny, utc(2026, 10, 31, 12, 0), []time.Time{utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)}},
		{"never", "0 0 31 2 *", time.UTC, utc(2026, 1, 1, 0, 0), []time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCron(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Upcoming(tc.after, tc.loc, len(tc.want)+boolInt(len(tc.want) == 0))
			if len(got) != len(tc.want) {
				t.Fatalf("Upcoming = %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Errorf("fire %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
