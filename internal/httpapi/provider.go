package httpapi

import (
	"context"
	"net/http"

	"github.com/hangar-dev/hangar/internal/provider"
)

// Providers reports the registered sandbox providers (internal/runner.Runner).
type Providers interface {
	ProviderStatuses(ctx context.Context) []provider.Status
}

// providerWire is one entry of GET /v1/providers (a Hangar extension).
type providerWire struct {
	Type         string                 `json:"type"`
	Name         string                 `json:"name"`
	Available    bool                   `json:"available"`
	Reason       *string                `json:"reason"`
	Default      bool                   `json:"default"`
	Capabilities *provider.Capabilities `json:"capabilities"`
}

// listProviders serves GET /v1/providers: every provider with whether it can create
// sandboxes on this server now, and why not.
func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	out := listEnvelope[providerWire]{Data: []providerWire{}}
	if s.cfg.Providers != nil {
		for _, st := range s.cfg.Providers.ProviderStatuses(r.Context()) {
			out.Data = append(out.Data, providerWire{
				Type:         "provider",
				Name:         st.Name,
				Available:    st.Available,
				Reason:       strOrNil(st.Reason),
				Default:      st.Default,
				Capabilities: st.Capabilities,
			})
		}
	}
	encode(w, http.StatusOK, out)
	return nil
}
