package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/image"
)

// Garbage collection of built images (internal/envbuild.LayerCollector;
// docs/sandboxes.md "Environment builds").

// BuiltLayers returns the build keys of the hangar-env-<key> images.
func (p *Provider) BuiltLayers(ctx context.Context) ([]string, error) {
	tags, err := p.layerTags(ctx, "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var keys []string
	for _, t := range tags {
		key := strings.TrimPrefix(shortRepo(t), layerRepoPrefix)
		if !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// RemoveLayer removes every image of key (one per base image). The engine refuses to
// remove an image a container uses, even a stopped one: that error is returned and the
// image stays until a later collection.
func (p *Provider) RemoveLayer(ctx context.Context, key string) error {
	if !buildKey.MatchString(key) {
		return fmt.Errorf("%s: bad layer key %q", p.name, key)
	}
	tags, err := p.layerTags(ctx, key)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tags {
		if _, err := p.cli.ImageRemove(ctx, t, image.RemoveOptions{PruneChildren: true}); err != nil {
			errs = append(errs, fmt.Errorf("%s: remove image %s: %w", p.name, t, err))
		}
	}
	return errors.Join(errs...)
}

// layerTags lists the tags of the layer images of key ("" = every key).
func (p *Provider) layerTags(ctx context.Context, key string) ([]string, error) {
	// No reference filter: podman matches it against "localhost/..." names where docker
	// uses the short ones; the few images are filtered here instead.
	list, err := p.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: list layer images: %w", p.name, err)
	}
	var tags []string
	for _, im := range list {
		for _, t := range im.RepoTags {
			if k, ok := strings.CutPrefix(shortRepo(t), layerRepoPrefix); ok && buildKey.MatchString(k) && (key == "" || k == key) {
				tags = append(tags, t)
			}
		}
	}
	return tags, nil
}

// shortRepo is the repository of tag as docker names it: podman qualifies local names
// (localhost/..., or docker.io/library/... for images tagged through its compat API).
func shortRepo(tag string) string {
	for _, p := range []string{"localhost/", "docker.io/library/"} {
		tag = strings.TrimPrefix(tag, p)
	}
	repo, _, _ := strings.Cut(tag, ":")
	return repo
}
