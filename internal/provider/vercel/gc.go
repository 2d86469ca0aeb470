package vercel

import (
	"context"
	"net/http"

	"github.com/hangar-dev/hangar"
)

// Garbage collection of built snapshots (internal/envbuild.LayerCollector;
// docs/sandboxes.md "Environment builds"). Vercel snapshots carry no name, so only the
// snapshots this server process built (the layers map) are known; older ones expire on
// Vercel's schedule.

// BuiltLayers returns the keys of the snapshots built by this process.
func (p *Provider) BuiltLayers(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.layers))
	for k := range p.layers {
		keys = append(keys, k)
	}
	return keys, nil
}

// RemoveLayer deletes the key's snapshot (DELETE /v1/sandboxes/snapshots/{id}); an
// unknown or already deleted one is no error.
func (p *Provider) RemoveLayer(ctx context.Context, key string) error {
	p.mu.Lock()
	id := p.layers[key]
	p.mu.Unlock()
	if id == "" {
		return nil
	}
	err := p.api.JSON(ctx, http.MethodDelete, "/v1/sandboxes/snapshots/"+id, nil, nil, nil)
	if err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
		return err
	}
	p.mu.Lock()
	if p.layers[key] == id {
		delete(p.layers, key)
	}
	p.mu.Unlock()
	return nil
}
