package runner

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// Recovery: what a runner does with a session it just leased (after a crash, a shutdown,
// on another instance, or simply after the session sat idle). It reads the session's
// runtime state (sandbox handle, resume token; see sandbox and finish) and its log:
//
//   - a turn in flight (its last session.status_running is not followed by a
//     session.status_idle) was cut mid-way: while its retries last (Config.MaxRetries per
//     turn, counting the watchdog's and earlier takeovers' session.status_rescheduled),
//     it gets a session.error (retry_status retrying) and session.status_rescheduled and
//     runs again from its user.message, resuming the CLI conversation from where the
//     previous turn left it. Otherwise it fails: session.error (retry_status exhausted)
//     and session.status_idle retries_exhausted;
//   - user.messages that never started a turn (processed_at null, or accepted after the
//     last session.status_running) are queued and run in order, after the retried turn;
//   - a running session with no turn in flight is set idle (status_idle end_turn).
//
// A turn is retried rather than abandoned because the alternative loses the user's
// message; a retried run may repeat tool calls the cut run made, which is what
// session.status_rescheduled announces (CMA does the same after an infrastructure
// failure). Tool uses that were awaiting a client answer (status idle, requires_action)
// are not recovered: the engine run that waited for them is gone, so answers to them are
// rejected and the client sends a new message instead.

// claimLocked loads the work of a session this runner just leased. Without full, a
// session whose status is idle is taken as it is (its queued messages arrive through
// Send); the takeover scan passes full to find messages queued in the store. The caller
// holds st.mu and the lease.
func (r *Runner) claimLocked(ctx context.Context, st *session, full bool) error {
	st.queue, st.attempts, st.turns = nil, 0, -1
	rt, err := r.store.GetSessionRuntime(ctx, st.id)
	if err != nil {
		return err
	}
	st.runtime, st.resume = rt, rt.Resume
	s, err := r.store.GetSession(ctx, st.id)
	if err != nil {
		return err
	}
	// Child threads of a multiagent session whose runs died are terminated (thread.go).
	if err := r.endOrphanThreadsLocked(ctx, st, s); err != nil {
		return err
	}
	busy := s.Status == hangar.StatusRunning || s.Status == hangar.StatusRescheduling
	if !full && !busy {
		return nil
	}

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
	inFlight := lastRunning > lastIdle
	// The cut turn's message is the last one processed before its status_running.
	var cut *hangar.Event
	if inFlight {
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Seq < lastRunning && msgs[i].ProcessedAt != nil {
				cut = &msgs[i]
				break
			}
		}
	}
	var queued []hangar.Event
	for _, m := range msgs {
		if m.ProcessedAt == nil || m.Seq > lastRunning {
			queued = append(queued, m)
		}
	}

	var evs []hangar.Event
	status, attempts := hangar.StatusIdle, 0
	switch {
	case cut != nil:
		resched, _, err := r.store.ListEvents(ctx, s.ID, hangar.EventFilter{Types: []string{hangar.EventStatusRescheduled}, AfterSeq: cut.Seq, Page: hangar.Page{Limit: 100}})
		if err != nil {
			return err
		}
		if attempts = len(resched) + 1; attempts <= max(r.cfg.MaxRetries, 0) {
			evs = []hangar.Event{
				r.retryEvent("unknown_error", "the server running this turn stopped; retrying the turn", "retrying"),
				r.newEvent(hangar.EventStatusRescheduled, nil),
			}
			status = hangar.StatusRescheduling
			queued = append([]hangar.Event{*cut}, queued...)
			break
		}
		attempts = 0
		evs = r.abandoned()
	case inFlight:
		evs = r.abandoned()
	case busy:
		evs = []hangar.Event{r.idleEvent(hangar.StopReason{Type: "end_turn"})}
	}
	if len(evs) > 0 {
		if err := r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
			s.Status = status
			return nil
		}); err != nil {
			return err
		}
	}
	if len(evs) > 0 || len(queued) > 0 {
		r.log.Info("recovered session", "session", s.ID, "retried_turn", status == hangar.StatusRescheduling,
			"abandoned_turn", inFlight && status != hangar.StatusRescheduling, "requeued", len(queued))
	}
	st.queue, st.attempts = queued, attempts
	return nil
}

// abandoned are the events of a cut turn that is not retried.
func (r *Runner) abandoned() []hangar.Event {
	return []hangar.Event{
		r.errorEvent("unknown_error", "the server restarted while this turn was running and its retries are exhausted; the turn was abandoned"),
		r.idleEvent(hangar.StopReason{Type: "retries_exhausted"}),
	}
}
