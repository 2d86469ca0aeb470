package runner

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// UpdateSession implements httpapi.SessionUpdater: it appends evs (session.updated) to the
// session's log in the transaction that applies mutate to the session, then publishes
// them, so open streams see the update in order with the session's other events. mutate
// may fill the bodies of evs: the store inserts them after it returns.
func (r *Runner) UpdateSession(ctx context.Context, sessionID string, evs []hangar.Event, mutate func(*hangar.Session) error) (*hangar.Session, error) {
	r.life.RLock()
	defer r.life.RUnlock()
	if err := r.available(); err != nil {
		return nil, err
	}
	st := r.session(sessionID)
	st.mu.Lock()
	if st.deleted {
		st.mu.Unlock()
		return nil, hangar.NotFound("session", sessionID)
	}
	var out *hangar.Session
	_, _, err := r.appendLocked(ctx, st, evs, "", func(s *hangar.Session) error {
		if err := mutate(s); err != nil {
			return err
		}
		out = s
		return nil
	})
	st.mu.Unlock()
	if hangar.IsKind(err, hangar.KindNotFound) {
		r.forget(st)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
