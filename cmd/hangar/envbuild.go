package main

import (
	"context"
	"path/filepath"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
	"github.com/hangar-dev/hangar/internal/envbuild"
	"github.com/hangar-dev/hangar/internal/runner"
)

// buildLayers hands the runner the layers of environment builds. The build manager needs
// the runner's providers, so it is created after the runner and set here.
type buildLayers struct{ m *envbuild.Manager }

func (b *buildLayers) Layer(ctx context.Context, env *hangar.Environment) (string, error) {
	return b.m.Layer(ctx, env)
}

// newBuilds creates the environment build manager (docs/sandboxes.md "Environment
// builds"): state and logs under <data-dir>/builds.
func newBuilds(dataDir string, run *runner.Runner, layers *buildLayers, cfg envbuild.Config) (*envbuild.Manager, error) {
	cfg.Dir, cfg.Providers = filepath.Join(dataDir, "builds"), run
	m, err := envbuild.New(cfg)
	if err != nil {
		return nil, err
	}
	layers.m = m
	return m, nil
}

// buildEgress attaches builds to the egress proxy like sessions: an unrestricted
// environment builds unrestricted; a limited one reaches its allowed hosts and the package
// registries (egress.PackageManagerHosts), whatever its allow_package_managers says, since
// installing its packages is the point of the build.
func buildEgress(proxy *egress.Proxy) func(context.Context, string, *hangar.Networking) (string, func(), error) {
	return func(ctx context.Context, id string, n *hangar.Networking) (string, func(), error) {
		policy := hangar.Networking{Type: "unrestricted"}
		if n != nil && n.Type == "limited" {
			yes := true
			policy = hangar.Networking{Type: "limited", AllowedHosts: n.AllowedHosts, AllowPackageManagers: &yes}
		}
		a, err := proxy.Attach(ctx, id, policy, egress.AttachOptions{})
		if err != nil {
			return "", nil, err
		}
		return a.Socket, func() { a.Close() }, nil
	}
}
