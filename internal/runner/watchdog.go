package runner

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// The watchdog. An agent CLI can wedge without exiting (a stuck network call, a deadlock,
// a prompt nobody sees). While a run is active and not waiting on the client, the runner
// expects an event from it at least every Config.Watchdog; a run silent for longer is hung:
//
//   - the run is stopped like an interrupted one: Run.Interrupt, then its context is
//     cancelled after Config.InterruptGrace, and the runner waits for it to end, so two
//     runs of a session never overlap;
//   - while retries remain (Config.MaxRetries per turn), the session gets a session.error
//     (unknown_error, retry_status retrying) and session.status_rescheduled (status
//     rescheduling), then the turn starts again from the same user.message: a fresh engine
//     run in the same sandbox, announced by session.status_running, with the resume token
//     the turn started with (what the hung run reported is dropped);
//   - when retries are exhausted, the turn fails like any failed run: session.error
//     (retry_status exhausted) and session.status_idle retries_exhausted, flushing queued
//     messages.
//
// Time spent waiting on the client (requires_action: tool confirmations, custom tool
// results) does not count: the watchdog is paused while any tool use is pending and
// restarts when the last one is answered. A client interrupt takes precedence: a stopped
// run the client also interrupted ends the turn with end_turn, without a retry.

const (
	// DefaultWatchdog is the default Config.Watchdog.
	DefaultWatchdog = 10 * time.Minute
	// DefaultMaxRetries is the default Config.MaxRetries.
	DefaultMaxRetries = 1
)

// watchdog is a timer restarted by every sign of life of a run. The zero window (or a
// negative one) never fires. It is owned by one goroutine and not safe for concurrent use.
type watchdog struct {
	window  time.Duration
	timer   *time.Timer
	c       <-chan time.Time
	stopped bool
}

// newWatchdog returns a watchdog armed for window (disabled when window <= 0).
func newWatchdog(window time.Duration) *watchdog {
	w := &watchdog{window: window}
	if window > 0 {
		w.timer = time.NewTimer(window)
		w.c = w.timer.C
	} else {
		w.stopped = true
	}
	return w
}

// C fires when the run has been silent for the window; nil (never ready) while paused or
// stopped.
func (w *watchdog) C() <-chan time.Time { return w.c }

// kick records activity: it restarts the window, or pauses the watchdog while the run
// waits on the client (awaiting). A stopped watchdog stays stopped.
func (w *watchdog) kick(awaiting bool) {
	if w.stopped {
		return
	}
	if awaiting {
		w.timer.Stop()
		w.c = nil
		return
	}
	w.timer.Reset(w.window) // Go 1.23+: no stale tick survives Reset
	w.c = w.timer.C
}

// stop disarms the watchdog for good.
func (w *watchdog) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.stopped, w.c = true, nil
}

// awaiting reports whether the session has tool uses waiting on the client (or on a
// self_hosted worker's user.tool_result: pending holds those too).
func (st *session) awaiting() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.pending) > 0 || st.delegating()
}

// hungError is the error of a turn whose runs the watchdog stopped; suffix ends its
// message (e.g. "; retrying").
func (r *Runner) hungError(suffix string) *engine.Error {
	return &engine.Error{Type: "unknown_error", Message: "the agent produced no output for " + r.cfg.Watchdog.String() + suffix}
}

// reschedule reports a hung run that will be retried (session.error retrying, then
// session.status_rescheduled) and resets the turn's state for a fresh run: resume is the
// token the turn started with. It reports whether the client interrupted the turn in the
// meantime, in which case the turn must end instead.
func (t *turn) reschedule(ctx context.Context, resume string) (interrupted bool, err error) {
	r, st := t.r, t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.resume = resume
	st.clearPending()
	st.answers = nil
	clear(t.ids)
	he := r.hungError("; retrying")
	evs := []hangar.Event{r.retryEvent(he.Type, he.Message, "retrying"), r.newEvent(hangar.EventStatusRescheduled, nil)}
	now := r.now()
	if err := r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
		if s.Status == hangar.StatusRunning {
			s.Stats.ActiveSeconds += now.Sub(t.since).Seconds()
		}
		s.Status = hangar.StatusRescheduling
		return nil
	}); err != nil {
		return false, err
	}
	interrupted, st.interrupt = st.interrupt, false
	return interrupted, nil
}
