package docker

import (
	"context"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/docker/dockertest"
)

// TestCollectLayers checks the envbuild.LayerCollector side of docker and podman: layer
// images (tagged from the base image, as a build commits them) are listed by key;
// removing a key an existing container uses fails and keeps the image; once the
// container is gone every image of the key goes, and other keys stay.
func TestCollectLayers(t *testing.T) {
	for _, engine := range buildEngines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			p := newEngineProvider(t, engine, Config{})
			refs := []string{layerRef("gc1", dockertest.Image), "hangar-env-gc1:base-000000000000", layerRef("gc2", dockertest.Image)}
			// Each a distinct image, committed from a container of the base image as a
			// build's is.
			for _, ref := range refs {
				c, err := p.cli.ContainerCreate(ctx(t), &container.Config{Image: dockertest.Image, Cmd: []string{"true"}, Labels: map[string]string{"ref": ref}}, nil, nil, nil, "")
				if err != nil {
					t.Fatal(err)
				}
				_, err = p.cli.ContainerCommit(ctx(t), c.ID, container.CommitOptions{Reference: ref, Config: &container.Config{Labels: map[string]string{"ref": ref}}})
				p.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
				if err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				for _, ref := range refs {
					p.cli.ImageRemove(context.Background(), ref, image.RemoveOptions{})
				}
			})
			keys, err := p.BuiltLayers(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"gc1", "gc2"}) {
				t.Errorf("BuiltLayers = %q, want gc1 and gc2", keys)
			}
			sb := create(t, p, provider.Spec{Layer: refs[0]})
			if err := p.RemoveLayer(ctx(t), "gc1"); err == nil {
				t.Error("RemoveLayer of an image a container uses succeeded")
			}
			if _, err := p.cli.ImageInspect(ctx(t), refs[0]); err != nil {
				t.Errorf("the used image is gone: %v", err)
			}
			if err := sb.Destroy(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if err := p.RemoveLayer(ctx(t), "gc1"); err != nil {
				t.Fatalf("RemoveLayer: %v", err)
			}
			keys, _ = p.BuiltLayers(ctx(t))
			if !slices.Equal(keys, []string{"gc2"}) {
				t.Errorf("after RemoveLayer(gc1): BuiltLayers = %q, want gc2", keys)
			}
			if _, err := p.cli.ImageInspect(ctx(t), dockertest.Image); err != nil {
				t.Errorf("the base image went too: %v", err)
			}
			if err := p.RemoveLayer(ctx(t), "gc1"); err != nil {
				t.Errorf("RemoveLayer of a missing key = %v", err)
			}
		})
	}
}
