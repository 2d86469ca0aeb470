package runner

import (
	"context"
	"slices"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Layers gives a session the prebuilt package layer of its environment
// (internal/envbuild.Manager).
type Layers interface {
	// Layer waits until env's build has ended and returns its layer ("" when env has no
	// packages), or the build's failure.
	Layer(ctx context.Context, env *hangar.Environment) (string, error)
}

// layer returns the layer for a new sandbox of env. A session created while its
// environment is preparing waits here, in its first turn, for the build; a failed build
// fails the turn with a session.error naming it.
func (r *Runner) layer(ctx context.Context, env *hangar.Environment) (string, error) {
	if r.cfg.Layers == nil || !provider.HasPackages(env.Config.Packages) {
		return "", nil
	}
	layer, err := r.cfg.Layers.Layer(ctx, env)
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		return "", &engine.Error{Type: "unknown_error", Message: "the environment's packages could not be installed: " + err.Error(), Err: err}
	}
	return layer, nil
}

// Provider returns the provider an environment naming name uses ("" = the default), and
// its registered name (for internal/envbuild).
func (r *Runner) Provider(name string) (string, provider.Provider, error) {
	return r.providerFor(name)
}

// ProviderStatuses reports every registered provider's availability (GET /v1/providers):
// a provider is available when it can be created and, if it can check its backend
// (provider.Checker), the check passes within a few seconds.
func (r *Runner) ProviderStatuses(ctx context.Context) []provider.Status {
	names := slices.Sorted(slices.Values(r.cfg.Providers.Names()))
	def := r.defaultProviderName()
	out := make([]provider.Status, 0, len(names))
	for _, name := range names {
		st := provider.Status{Name: name, Default: name == def}
		_, p, err := r.providerFor(name)
		if err != nil {
			st.Reason = err.Error()
			out = append(out, st)
			continue
		}
		caps := p.Capabilities()
		st.Capabilities = &caps
		st.Available = true
		if c, ok := p.(provider.Checker); ok {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := c.Check(cctx); err != nil {
				st.Available, st.Reason = false, err.Error()
			}
			cancel()
		}
		out = append(out, st)
	}
	return out
}

// defaultProviderName is the provider an environment naming none uses.
func (r *Runner) defaultProviderName() string {
	if r.cfg.DefaultProvider != "" {
		return r.cfg.DefaultProvider
	}
	if names := r.cfg.Providers.Names(); len(names) == 1 {
		return names[0]
	}
	return ""
}
