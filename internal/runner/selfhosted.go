package runner

import (
	"context"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Sessions on a self_hosted environment (docs/engines.md, "native"): the agent loop stays
// on the server and the agent toolset's calls run in the customer's worker, which has the
// files and the tools; there is no sandbox here to run a CLI in. So such sessions run the
// native engine, with no sandbox and engine.Spec.Delegate set, whatever the agent's engine
// field names: a CLI engine would have nowhere to run. The scripted engine is the one
// exception: it runs no tools and no CLI, and tests drive self_hosted sessions with it.

// sessionEngine returns the engine that runs sess's turns and whether its toolset calls
// are delegated to a self_hosted worker.
func (r *Runner) sessionEngine(ctx context.Context, sess *hangar.Session) (engine.Engine, bool, error) {
	name := sess.Agent.Engine
	delegate := false
	if name != hangar.EngineScripted {
		// A session whose environment is gone keeps its agent's engine (its sandbox, if
		// it still needs one, fails to be created with the same not_found_error).
		env, err := r.store.GetEnvironment(ctx, sess.EnvironmentID)
		switch {
		case hangar.IsKind(err, hangar.KindNotFound):
		case err != nil:
			return nil, false, err
		case env.Config.Type == "self_hosted":
			name, delegate = hangar.EngineNative, true
		}
	}
	eng, err := r.engineFor(name)
	return eng, delegate, err
}

// hostModelSpec fills in the session's own model credential for engines that call the
// model from the server (engine.Capabilities.HostModel), as the egress proxy would for a
// CLI: the first of its vaults with an ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN.
func (r *Runner) hostModelSpec(ctx context.Context, sess *hangar.Session, eng engine.Engine, spec *engine.Spec) error {
	if !eng.Capabilities().HostModel || len(sess.VaultIDs) == 0 {
		return nil
	}
	opts, err := r.modelCredential(ctx, sess)
	if err != nil {
		return &engine.Error{Type: "unknown_error", Message: "the session's model credential could not be read from its vaults", Err: err}
	}
	spec.ModelKey, spec.ModelAuthToken = opts.APIKey, opts.AuthToken
	return nil
}
