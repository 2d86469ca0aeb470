package runner

import (
	"context"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// forgetEngineState tells the engine that ran sess (selfhosted.go picks it) that the session is
// gone, when it keeps session state of its own (engine.Forgetter). Failures are logged:
// the session is deleted either way.
func (r *Runner) forgetEngineState(ctx context.Context, sess *hangar.Session) {
	eng, _, err := r.sessionEngine(ctx, sess)
	if err != nil {
		return // an engine this server does not have kept nothing here
	}
	f, ok := eng.(engine.Forgetter)
	if !ok {
		return
	}
	if err := f.Forget(ctx, sess.ID); err != nil {
		r.log.Warn("engine could not forget a deleted session", "session", sess.ID, "engine", sess.Agent.Engine, "err", err)
	}
}
