package modal

import (
	"context"
	"fmt"
	"io"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// Environment builds (docs/sandboxes.md "Environment builds").
//
// A layer is a Modal image built from Dockerfile commands: FROM the environment's image
// (its sandbox setting "image", else the provider's), then the installer steps as RUN
// lines (Modal builds run as root). ImageGetOrCreate is content-addressed: the same base
// and packages name the same image, so a build already done, by this server or an earlier
// run, comes back with its result at once. The build's output arrives as task logs on
// ImageJoinStreaming. The layer is the image ID, which SandboxCreate then runs.

// Build implements provider.Builder.
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	if err := cloud.CheckBuild("modal", spec); err != nil {
		return "", err
	}
	var set Settings
	if err := decodeStrict(spec.Environment.Sandbox, &set); err != nil {
		return "", &hangar.Error{Kind: hangar.KindInvalidRequest, Message: fmt.Sprintf("environment sandbox settings for the modal provider: %v", err), Err: err}
	}
	log := spec.Log
	if log == nil {
		log = io.Discard
	}
	cloud.NoteNetwork(log, "modal", spec, false)
	fail := func(err error) (string, error) { return "", fmt.Errorf("modal build %s: %w", spec.Key, err) }
	base := pickS(set.Image, p.cfg.Image)
	resp, err := p.getOrCreate(ctx, base, spec)
	if err != nil {
		return fail(err)
	}
	result := resp.Result
	if result != nil && result.Status == modalpb.GenericResult_GENERIC_STATUS_SUCCESS {
		fmt.Fprintf(log, "==> image %s already built\n", resp.ImageId)
		return resp.ImageId, nil
	}
	fmt.Fprintf(log, "==> building image %s from %s: %s\n", resp.ImageId, base, provider.Describe(spec.Packages))
	steps := &cloud.StepWriter{W: log}
	if result == nil || result.Status == modalpb.GenericResult_GENERIC_STATUS_UNSPECIFIED {
		if result, err = p.joinImage(ctx, resp.ImageId, steps); err != nil {
			return fail(err)
		}
	}
	if result.Status != modalpb.GenericResult_GENERIC_STATUS_SUCCESS {
		if s := steps.Last(); s != "" && result.Status == modalpb.GenericResult_GENERIC_STATUS_FAILURE {
			return fail(fmt.Errorf("%s failed (%s); see the build log", s, result.Exception))
		}
		return fail(fmt.Errorf("the image build failed (%s): %s; see the build log", result.Status, result.Exception))
	}
	fmt.Fprintf(log, "==> image %s built\n", resp.ImageId)
	return resp.ImageId, nil
}

// getOrCreate asks Modal for the image of spec's installer steps over base (FROM, then
// RUN lines).
func (p *Provider) getOrCreate(ctx context.Context, base string, spec provider.BuildSpec) (*modalpb.ImageGetOrCreateResponse, error) {
	cmds := []string{"FROM " + base}
	for _, s := range cloud.InstallSteps(spec.Packages) {
		cmds = append(cmds, "RUN "+s.Line())
	}
	appID, err := p.app(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := p.api.ImageGetOrCreate(ctx, &modalpb.ImageGetOrCreateRequest{AppId: appID, Image: &modalpb.Image{DockerfileCommands: cmds}})
	if err != nil {
		return nil, grpcError("image get or create", err)
	}
	return resp, nil
}

// LayerExists implements provider.LayerChecker. The pinned API has no lookup by image ID,
// but ImageGetOrCreate is content-addressed: the layer exists when the same definition
// still names it with a successful build. When Modal lost it, this call starts its
// rebuild, which the following Build joins.
func (p *Provider) LayerExists(ctx context.Context, spec provider.BuildSpec, layer string) (bool, error) {
	var set Settings
	if err := decodeStrict(spec.Environment.Sandbox, &set); err != nil {
		return false, nil // settings this provider no longer accepts: Build says why
	}
	resp, err := p.getOrCreate(ctx, pickS(set.Image, p.cfg.Image), spec)
	if err != nil {
		return false, fmt.Errorf("modal: confirm image %s: %w", layer, err)
	}
	return resp.ImageId == layer && resp.Result != nil && resp.Result.Status == modalpb.GenericResult_GENERIC_STATUS_SUCCESS, nil
}

// joinImage follows an image build, writing its task logs to log, until it has a result.
func (p *Provider) joinImage(ctx context.Context, id string, log io.Writer) (*modalpb.GenericResult, error) {
	last := ""
	for {
		stream, err := p.api.ImageJoinStreaming(ctx, &modalpb.ImageJoinStreamingRequest{ImageId: id, Timeout: pollTimeout, LastEntryId: last})
		if err != nil {
			return nil, grpcError("build image", err)
		}
		for {
			m, err := stream.Recv()
			if err != nil {
				if !isEOF(err) {
					return nil, grpcError("build image", err)
				}
				break // long poll over: join again from last
			}
			for _, l := range m.TaskLogs {
				io.WriteString(log, l.Data)
			}
			if m.EntryId != "" {
				last = m.EntryId
			}
			if m.Result != nil && m.Result.Status != modalpb.GenericResult_GENERIC_STATUS_UNSPECIFIED {
				return m.Result, nil
			}
		}
	}
}

var (
	_ provider.Builder      = (*Provider)(nil)
	_ provider.LayerChecker = (*Provider)(nil)
)
