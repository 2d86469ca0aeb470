package vercel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Environment builds (docs/sandboxes.md "Environment builds").
//
// A layer is a Vercel sandbox snapshot: Build starts a sandbox of the configured
// runtime, runs the installer steps in it as root (sudo), one command each, and snapshots
// it (POST /v1/sandboxes/{id}/snapshot, which also stops it). Sessions of the environment
// are sandboxes created with source {type: snapshot}. Vercel snapshots carry no name or
// label to find them by, so the key → snapshot map lives in the provider: within one
// server process a key is built once, and a remembered snapshot is reused while Vercel
// still has it ("created", not expired).

type snapshotJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"` // created, deleted or failed
}

type snapshotResponse struct {
	Snapshot snapshotJSON `json:"snapshot"`
}

// Build implements provider.Builder.
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	if err := cloud.CheckBuild("vercel", spec); err != nil {
		return "", err
	}
	log := spec.Log
	if log == nil {
		log = io.Discard
	}
	// The build sandbox gets the environment's networking: limited is enforced by
	// Vercel's network policy, with the package registries allowed too.
	var buildEnv hangar.EnvironmentConfig
	if limited, hosts := cloud.Limited(spec.Environment); limited {
		buildEnv.Networking = &hangar.Networking{Type: "limited", AllowedHosts: append(slices.Clone(hosts), cloud.BuildHosts()...)}
	}
	cloud.NoteNetwork(log, "vercel", spec, true)
	p.mu.Lock()
	known := p.layers[spec.Key]
	p.mu.Unlock()
	if known != "" {
		var resp snapshotResponse
		err := p.api.JSON(ctx, http.MethodGet, "/v1/sandboxes/snapshots/"+known, nil, nil, &resp)
		switch {
		case err == nil && resp.Snapshot.Status == "created":
			fmt.Fprintf(log, "==> snapshot %s already built\n", known)
			return known, nil
		case err != nil && !hangar.IsKind(err, hangar.KindNotFound):
			return "", fmt.Errorf("vercel build %s: %w", spec.Key, err)
		}
		fmt.Fprintf(log, "==> snapshot %s is gone; building again\n", known)
	}
	fmt.Fprintf(log, "==> building a snapshot of the %s runtime: %s\n", p.cfg.Runtime, provider.Describe(spec.Packages))
	sb, err := p.Create(ctx, provider.Spec{Environment: buildEnv})
	if err != nil {
		return "", fmt.Errorf("vercel build %s: create the build sandbox: %w", spec.Key, err)
	}
	s := sb.(*Sandbox)
	// Gone once snapshotted (the snapshot stops it); stopped here on failure.
	defer s.Destroy(context.WithoutCancel(ctx))
	for _, step := range cloud.InstallSteps(spec.Packages) {
		code, err := s.run(ctx, step.Line(), log)
		switch {
		case ctx.Err() != nil:
			return "", fmt.Errorf("vercel build %s: %w", spec.Key, ctx.Err())
		case err != nil:
			return "", fmt.Errorf("vercel build %s: %s: %w", spec.Key, step.Name, err)
		case code != 0:
			return "", fmt.Errorf("vercel build %s: %s failed (exit status %d); see the build log", spec.Key, step.Name, code)
		}
	}
	var resp snapshotResponse
	if err := p.api.JSON(ctx, http.MethodPost, s.path("/snapshot"), nil, map[string]any{}, &resp); err != nil {
		return "", fmt.Errorf("vercel build %s: snapshot: %w", spec.Key, err)
	}
	if resp.Snapshot.ID == "" || resp.Snapshot.Status == "failed" {
		return "", fmt.Errorf("vercel build %s: snapshot of sandbox %s failed (status %q)", spec.Key, s.h.ID, resp.Snapshot.Status)
	}
	fmt.Fprintf(log, "==> snapshot %s\n", resp.Snapshot.ID)
	p.mu.Lock()
	p.layers[spec.Key] = resp.Snapshot.ID
	p.mu.Unlock()
	return resp.Snapshot.ID, nil
}

// run runs script as root with sh -c, streaming its output to log, and returns its exit
// code.
func (s *Sandbox) run(ctx context.Context, script string, log io.Writer) (int, error) {
	id, err := s.startCommand(ctx, cmdRequest{Command: "sh", Args: []string{"-c", script}, Sudo: true})
	if err != nil {
		return -1, err
	}
	if err := s.logs(ctx, id, log, log); err != nil {
		return -1, err
	}
	return s.wait(ctx, id)
}

var _ provider.Builder = (*Provider)(nil)
