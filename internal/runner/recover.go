package runner

import (
	"context"
	"fmt"

	"github.com/hangar-dev/hangar"
)

// Recovery at Start. A session left running by a crash or shutdown is handled like this:
//
//   - the turn that was in flight (its last session.status_running is not followed by a
//     session.status_idle) is not re-run, since its tool calls may already have had
//     effects: the session gets a session.error (unknown_error, retry_status exhausted)
//     and status_idle retries_exhausted;
//   - user.messages that never started a turn (processed_at null, or accepted after the
//     last session.status_running) are queued again and run in order, as if the server
//     had not stopped;
//   - a running session with no turn in flight is set idle (status_idle end_turn) before
//     its queue runs.
//
// Tool uses that were awaiting a client answer (status idle, requires_action) are not
// recovered: the engine run that waited for them is gone, so answers to them are rejected
// and the client sends a new message instead.

// recoverAll recovers every running or rescheduling session. The caller holds r.life.
func (r *Runner) recoverAll(ctx context.Context) error {
	f := hangar.SessionFilter{
		IncludeArchived: true,
		Statuses:        []string{hangar.StatusRunning, hangar.StatusRescheduling},
		Page:            hangar.Page{Limit: 100},
	}
	var stale []*hangar.Session
	for {
		list, page, err := r.store.ListSessions(ctx, f)
		if err != nil {
			return fmt.Errorf("list running sessions: %w", err)
		}
		stale = append(stale, list...)
		if page.Next == "" || len(list) == 0 {
			break
		}
		c, err := hangar.DecodeCursor(page.Next)
		if err != nil {
			return err
		}
		f.Page.Cursor = &c
	}
	for _, s := range stale {
		if err := r.recoverSession(ctx, s); err != nil {
			return fmt.Errorf("recover session %s: %w", s.ID, err)
		}
	}
	return nil
}

func (r *Runner) recoverSession(ctx context.Context, s *hangar.Session) error {
	last := func(typ string) (int64, error) {
		evs, _, err := r.store.ListEvents(ctx, s.ID, hangar.EventFilter{Types: []string{typ}, Page: hangar.Page{Limit: 1, Desc: true}})
		if err != nil || len(evs) == 0 {
			return 0, err
		}
		return evs[0].Seq, nil
	}
	lastRunning, err := last(hangar.EventStatusRunning)
	if err != nil {
		return err
	}
	lastIdle, err := last(hangar.EventStatusIdle)
	if err != nil {
		return err
	}
	msgs, err := r.userMessages(ctx, s.ID)
	if err != nil {
		return err
	}
	var queued []hangar.Event
	for _, m := range msgs {
		if m.ProcessedAt == nil || m.Seq > lastRunning {
			queued = append(queued, m)
		}
	}

	st := r.session(s.ID)
	st.mu.Lock()
	defer st.mu.Unlock()
	inFlight := lastRunning > lastIdle
	evs := []hangar.Event{r.idleEvent(hangar.StopReason{Type: "end_turn"})}
	if inFlight {
		evs = []hangar.Event{
			r.errorEvent("unknown_error", "the server restarted while this turn was running; the turn was abandoned"),
			r.idleEvent(hangar.StopReason{Type: "retries_exhausted"}),
		}
	}
	if _, _, err := r.appendLocked(ctx, st, evs, "", func(s *hangar.Session) error {
		s.Status = hangar.StatusIdle
		return nil
	}); err != nil {
		return err
	}
	r.log.Info("recovered session", "session", s.ID, "abandoned_turn", inFlight, "requeued", len(queued))
	if len(queued) > 0 {
		st.queue = append(st.queue, queued...)
		if !st.active {
			r.startLoop(st)
		}
	}
	return nil
}
