package runner

import (
	"context"
	"slices"

	"github.com/hangar-dev/hangar"
)

// follow runs beside a session's goroutine when several instances share the store
// (Config.Events): client events stored through another instance reach this runner only
// as live events, and follow hands them to the session as Send would have:
//
//   - user.message (still unprocessed) is queued, unless it is already;
//   - user.interrupt stops the current turn;
//   - user.custom_tool_result, user.tool_confirmation and user.tool_result go to the run
//     when they answer one of its pending tool uses (the instance that stored them could not check that),
//     and are otherwise ignored.
//
// Events this runner's own Send dispatched are skipped (st.handled). follow ends with the
// session's goroutine (ctx). If the subscription is dropped for falling behind, it
// subscribes again; client events in between reach the run late or, for a message, at the
// next takeover scan.
func (r *Runner) follow(ctx context.Context, st *session, events <-chan *hangar.Event, unsubscribe func()) {
	defer r.wg.Done()
	defer func() { unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return
				}
				unsubscribe()
				events, unsubscribe = r.cfg.Events.Subscribe(st.id)
				continue
			}
			r.forward(st, ev)
		}
	}
}

// forward hands one live client event to the session (see follow).
func (r *Runner) forward(st *session, ev *hangar.Event) {
	switch ev.Type {
	case hangar.EventUserMessage, hangar.EventUserInterrupt, hangar.EventUserCustomToolResult, hangar.EventUserToolConfirmation, hangar.EventUserToolResult:
	default:
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.handled[ev.ID]; ok {
		delete(st.handled, ev.ID)
		return
	}
	if !st.leased || st.deleted {
		return
	}
	switch ev.Type {
	case hangar.EventUserMessage:
		if ev.ProcessedAt != nil {
			return
		}
		for _, q := range st.queue {
			if q.ID == ev.ID {
				return
			}
		}
		st.queue = append(st.queue, *ev)
	case hangar.EventUserInterrupt:
		if st.turnActive && !st.interruptThreads(*ev) { // thread.go
			st.interrupt = true
		}
	default:
		a, err := parseAnswer(*ev)
		if err != nil {
			return
		}
		p, ok := st.pending[a.storedID]
		if !ok || p.answerType != ev.Type {
			r.log.Info("ignored an answer stored elsewhere that answers no pending tool use", "session", st.id, "event", ev.ID)
			return
		}
		st.dispatch(a) // thread.go
	}
	st.notify()
}

// recheck runs after a session's goroutine released its lease, with other instances
// sharing the store: a message another instance stored while this one still held the
// lease (so that instance left it to this one) may not have reached follow before the
// release. Release-then-check here and store-then-acquire in Send (see send) mean one of
// the two instances always picks such a message up.
func (r *Runner) recheck(st *session) {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.available() != nil || r.draining.Load() {
		return
	}
	ctx := r.ctx
	evs, _, err := r.store.ListEvents(ctx, st.id, hangar.EventFilter{Types: []string{hangar.EventUserMessage}, Page: hangar.Page{Limit: 20, Desc: true}})
	if err != nil {
		if ctx.Err() == nil && !hangar.IsKind(err, hangar.KindNotFound) {
			r.log.Warn("check for queued messages", "session", st.id, "err", err)
		}
		return
	}
	if !slices.ContainsFunc(evs, func(ev hangar.Event) bool { return ev.ProcessedAt == nil }) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	r.acquireQueued(ctx, st)
}

// acquireQueued leases a session that has messages queued in the store, if nobody holds
// it, and runs them. The caller holds st.mu and r.life for reading.
func (r *Runner) acquireQueued(ctx context.Context, st *session) {
	if st.leased || st.active || st.deleted {
		return
	}
	ok, err := r.acquireLocked(ctx, st, true)
	if err != nil {
		r.log.Warn("take queued messages", "session", st.id, "err", err)
		return
	}
	switch {
	case !ok:
	case len(st.queue) > 0:
		r.startLoop(st)
	default:
		r.releaseLocked(ctx, st)
	}
}
