package e2b

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Garbage collection of built templates (internal/envbuild.LayerCollector;
// docs/sandboxes.md "Environment builds").

// BuiltLayers returns the build keys of the team's hangar-env-<key> templates
// (GET /templates).
func (p *Provider) BuiltLayers(ctx context.Context) ([]string, error) {
	var tpls []struct {
		Aliases []string `json:"aliases"`
		Names   []string `json:"names"`
	}
	if err := p.api.JSON(ctx, http.MethodGet, "/templates", nil, nil, &tpls); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var keys []string
	for _, t := range tpls {
		for _, n := range append(t.Names, t.Aliases...) {
			if key, ok := strings.CutPrefix(n, templatePrefix); ok && !seen[key] {
				seen[key] = true
				keys = append(keys, key)
			}
		}
	}
	return keys, nil
}

// RemoveLayer deletes the template hangar-env-<key>; a missing one is no error.
func (p *Provider) RemoveLayer(ctx context.Context, key string) error {
	var alias struct {
		TemplateID string `json:"templateID"`
	}
	err := p.api.JSON(ctx, http.MethodGet, "/templates/aliases/"+url.PathEscape(templatePrefix+key), nil, nil, &alias)
	if err == nil {
		err = p.api.JSON(ctx, http.MethodDelete, "/templates/"+url.PathEscape(alias.TemplateID), nil, nil, nil)
	}
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

// LayerExists implements provider.LayerChecker: the template named layer has a ready
// build.
func (p *Provider) LayerExists(ctx context.Context, spec provider.BuildSpec, layer string) (bool, error) {
	return p.templateReady(ctx, layer)
}

var _ provider.LayerChecker = (*Provider)(nil)
