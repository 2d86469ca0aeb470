package daytona

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Environment builds (docs/sandboxes.md "Environment builds").
//
// A layer is a Daytona snapshot named hangar-env-<key>, built by Daytona's builders from
// a declarative Dockerfile (POST /snapshots with buildInfo.dockerfileContent): FROM the
// configured build image, the installer steps as RUN lines (as root), then the sandbox
// user again. The build log is followed from GET /snapshots/{id}/build-logs?follow=true
// and the state polled until active. The name makes builds idempotent across restarts:
// an active snapshot of that name is reused; a failed one is deleted and built again.
// Sessions of the environment are sandboxes created with {snapshot: name}.

// DefaultBuildImage is the image environment builds start from: Daytona's default
// sandbox image.
const DefaultBuildImage = "daytonaio/sandbox:0.4.3"

const snapshotPrefix = "hangar-env-"

type snapshotJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	State       string `json:"state"` // pending, building, pulling, active, inactive, error, build_failed, removing
	ErrorReason string `json:"errorReason"`
}

// Build implements provider.Builder.
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	if err := cloud.CheckBuild("daytona", spec); err != nil {
		return "", err
	}
	log := spec.Log
	if log == nil {
		log = io.Discard
	}
	cloud.NoteNetwork(log, "daytona", spec, false)
	name := snapshotPrefix + spec.Key
	fail := func(err error) (string, error) { return "", fmt.Errorf("daytona build %s: %w", spec.Key, err) }
	var snap snapshotJSON
	err := p.api.JSON(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(name), nil, nil, &snap)
	switch {
	case err == nil && snap.State == "active":
		fmt.Fprintf(log, "==> snapshot %s already built\n", name)
		return name, nil
	case err == nil && (snap.State == "error" || snap.State == "build_failed" || snap.State == "inactive"):
		fmt.Fprintf(log, "==> snapshot %s is %s (%s); building it again\n", name, snap.State, snap.ErrorReason)
		if err := p.api.JSON(ctx, http.MethodDelete, "/snapshots/"+url.PathEscape(snap.ID), nil, nil, nil); err != nil {
			return fail(fmt.Errorf("delete the failed snapshot: %w", err))
		}
		snap = snapshotJSON{}
	case err == nil: // being built (by an earlier server run): follow it
		fmt.Fprintf(log, "==> snapshot %s is %s: following its build\n", name, snap.State)
	case hangar.IsKind(err, hangar.KindNotFound):
	default:
		return fail(err)
	}
	if snap.ID == "" {
		base := p.cfg.BuildImage
		fmt.Fprintf(log, "==> building snapshot %s from %s: %s\n", name, base, provider.Describe(spec.Packages))
		body := map[string]any{"name": name, "buildInfo": map[string]any{
			"dockerfileContent": cloud.Dockerfile(base, p.cfg.User, spec.Packages), "contextHashes": []string{}}}
		if err := p.api.JSON(ctx, http.MethodPost, "/snapshots", nil, body, &snap); err != nil {
			return fail(fmt.Errorf("create the snapshot: %w", err))
		}
	}
	steps := &cloud.StepWriter{W: log}
	if err := p.followBuild(ctx, snap.ID, steps); err != nil && ctx.Err() == nil {
		// The log is a convenience: the state below decides.
		fmt.Fprintf(log, "==> the build log stream broke: %v\n", err)
	}
	if snap, err = p.waitSnapshot(ctx, snap.ID); err != nil {
		return fail(err)
	}
	if snap.State != "active" {
		if s := steps.Last(); s != "" && snap.State == "build_failed" {
			return fail(fmt.Errorf("%s failed (snapshot %s); see the build log", s, snap.State))
		}
		reason := snap.ErrorReason
		if len(reason) > 300 {
			reason = reason[:300] + "..."
		}
		return fail(fmt.Errorf("the image build failed (snapshot %s: %s); see the build log", snap.State, reason))
	}
	fmt.Fprintf(log, "==> snapshot %s active\n", name)
	return name, nil
}

// followBuild copies the snapshot's build log to w until the build ends.
func (p *Provider) followBuild(ctx context.Context, id string, w io.Writer) error {
	resp, err := p.api.Do(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(id)+"/build-logs", url.Values{"follow": {"true"}}, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// waitSnapshot polls the snapshot until its build ended (active or failed).
func (p *Provider) waitSnapshot(ctx context.Context, id string) (snapshotJSON, error) {
	t := time.NewTicker(p.cfg.PollInterval)
	defer t.Stop()
	for {
		var snap snapshotJSON
		if err := p.api.JSON(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(id), nil, nil, &snap); err != nil {
			return snap, err
		}
		switch snap.State {
		case "pending", "building", "pulling":
		default:
			return snap, nil
		}
		select {
		case <-ctx.Done():
			return snap, ctx.Err()
		case <-t.C:
		}
	}
}

var _ provider.Builder = (*Provider)(nil)
