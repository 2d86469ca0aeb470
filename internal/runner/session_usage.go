package runner

import (
	"time"

	"github.com/hangar-dev/hangar"
)

// session.usage events (docs/resources.md "Usage and cost"). The runner emits one right
// after every span.model_request_end that reports usage, in the same append, so a client
// sees the session's cumulative usage, list cost and budget move request by request rather
// than once per turn. The snapshot is taken inside the append's transaction (the store
// numbers and inserts the events after Mutate), so it always matches the stored session.

// usageBody fills the body of the session.usage event at ev[0] with s's snapshot as of
// now; t.since is when the current run started counting as active time.
func (t *turn) usageBody(s *hangar.Session, ev []hangar.Event, now time.Time) {
	running := 0.0
	if s.Status == hangar.StatusRunning {
		running = now.Sub(t.since).Seconds()
	}
	ev[0].Body = hangar.NewEvent(hangar.EventSessionUsage, hangar.SessionUsageEvent(s, running)).Body
}
