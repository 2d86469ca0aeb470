package sprites

import (
	"context"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Build implements provider.Builder by failing with what to do instead: a Sprites
// checkpoint restores only the sprite it was taken of, and new sprites start from Sprites'
// standard image, so no layer can be shared by the sessions' sprites (docs/sandboxes.md
// "Environment builds").
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	return "", cloud.CannotBuild("sprites", spec, "a checkpoint restores only its own sprite and sprites start from the standard image",
		"the standard image must already have them (PACKAGES); use a provider that builds (local, docker, e2b, vercel, daytona, modal)")
}

var _ provider.Builder = (*Provider)(nil)
