package vercel

import (
	"context"
	"net/http"
	"net/url"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Garbage collection of built snapshots (internal/envbuild.LayerCollector;
// docs/sandboxes.md "Environment builds"). Vercel snapshots carry no name, so the known
// snapshots are those this process built or confirmed (LayerExists: the server's build
// records keep the key → snapshot mapping across restarts); others expire on Vercel's
// schedule.

// BuiltLayers returns the keys of the snapshots built or confirmed by this process.
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

// LayerExists implements provider.LayerChecker: the snapshot layer is "created" (not
// deleted, failed or expired). A confirmed one is remembered as spec.Key's, as if built
// here, so Build reuses it and RemoveLayer can delete it.
func (p *Provider) LayerExists(ctx context.Context, spec provider.BuildSpec, layer string) (bool, error) {
	var resp snapshotResponse
	err := p.api.JSON(ctx, http.MethodGet, "/v1/sandboxes/snapshots/"+url.PathEscape(layer), nil, nil, &resp)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if resp.Snapshot.Status != "created" {
		return false, nil
	}
	p.mu.Lock()
	p.layers[spec.Key] = layer
	p.mu.Unlock()
	return true, nil
}

var _ provider.LayerChecker = (*Provider)(nil)
