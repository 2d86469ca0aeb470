package fly

import (
	"context"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Build implements provider.Builder by failing with what to do instead: Fly Machines boot
// from OCI images, and the Machines API has no call that turns a machine's root
// filesystem into an image (volume snapshots restore volumes, not the rootfs), so there is
// no reusable layer to build. The image must carry the packages (docs/sandboxes.md
// "Environment builds").
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	return "", cloud.CannotBuild("fly", spec, "the Machines API cannot save a machine as an image",
		"use an image that has them (PACKAGES) as FLY_IMAGE")
}

var _ provider.Builder = (*Provider)(nil)
