package daytona

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Garbage collection of built snapshots (internal/envbuild.LayerCollector;
// docs/sandboxes.md "Environment builds").

// BuiltLayers returns the build keys of the organization's hangar-env-<key> snapshots
// (GET /snapshots, page by page).
func (p *Provider) BuiltLayers(ctx context.Context) ([]string, error) {
	var keys []string
	for page := 1; ; page++ {
		var resp struct {
			Items      []snapshotJSON `json:"items"`
			TotalPages int            `json:"totalPages"`
		}
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {"100"}}
		if err := p.api.JSON(ctx, http.MethodGet, "/snapshots", q, nil, &resp); err != nil {
			return nil, err
		}
		for _, s := range resp.Items {
			if key, ok := strings.CutPrefix(s.Name, snapshotPrefix); ok {
				keys = append(keys, key)
			}
		}
		if page >= resp.TotalPages || len(resp.Items) == 0 {
			return keys, nil
		}
	}
}

// RemoveLayer deletes the snapshot hangar-env-<key>; a missing one is no error.
func (p *Provider) RemoveLayer(ctx context.Context, key string) error {
	var snap snapshotJSON
	err := p.api.JSON(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(snapshotPrefix+key), nil, nil, &snap)
	if err == nil {
		err = p.api.JSON(ctx, http.MethodDelete, "/snapshots/"+url.PathEscape(snap.ID), nil, nil, nil)
	}
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

// LayerExists implements provider.LayerChecker: the snapshot named layer is active.
func (p *Provider) LayerExists(ctx context.Context, spec provider.BuildSpec, layer string) (bool, error) {
	var snap snapshotJSON
	err := p.api.JSON(ctx, http.MethodGet, "/snapshots/"+url.PathEscape(layer), nil, nil, &snap)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return false, nil
	}
	return err == nil && snap.State == "active", err
}

var _ provider.LayerChecker = (*Provider)(nil)
