package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Organization webhook endpoints (docs/webhooks.md), as the official SDK's
// client.Beta.Organizations.Webhooks calls them. The signing secret is sealed like a vault
// credential and returned only by create and regenerate_signing_secret. Hangar extension:
// GET /v1/organizations/webhooks/{id}/deliveries, the delivery log.

const (
	webhookMaxName   = 255
	webhookMaxDesc   = 1024
	webhookMaxEvents = 100
)

type createWebhookRequest struct {
	URL           *string  `json:"url"`
	EnabledEvents []string `json:"enabled_events"`
	Name          *string  `json:"name"`
	Description   *string  `json:"description"`
}

type updateWebhookRequest struct {
	URL           *string  `json:"url"`
	EnabledEvents []string `json:"enabled_events"`
	Name          *string  `json:"name"`
	Description   *string  `json:"description"`
	State         *string  `json:"state"`
}

type webhookResponse struct {
	Type string `json:"type"`
	*hangar.WebhookEndpoint
	SigningSecret *string `json:"signing_secret,omitempty"`
}

func toWebhookResponse(w *hangar.WebhookEndpoint, secret *string) webhookResponse {
	return webhookResponse{Type: "webhook_endpoint", WebhookEndpoint: w, SigningSecret: secret}
}

// validateWebhookURL accepts absolute http(s) URLs. CMA requires public HTTPS on port 443;
// a self-hosted server also delivers to plain HTTP and private hosts (docs/webhooks.md).
func validateWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return invalidf("url: must be an absolute http or https URL")
	}
	return checkLen("url", s, 1, 2048)
}

func validateWebhookEvents(evs []string) error {
	if len(evs) == 0 {
		return invalidf("enabled_events: must name at least one event type")
	}
	if len(evs) > webhookMaxEvents {
		return invalidf("enabled_events: at most %d event types", webhookMaxEvents)
	}
	for i, e := range evs {
		if err := checkLen("enabled_events["+strconv.Itoa(i)+"]", e, 1, 100); err != nil {
			return err
		}
	}
	return nil
}

// newWebhookSecret returns a "whsec_" secret sealed for storage.
func (s *Server) newWebhookSecret() (secret string, sealed []byte, keyID string, err error) {
	if s.cfg.Sealer == nil {
		return "", nil, "", hangar.Errorf(hangar.KindInternal, "vault sealer is not configured")
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret = hangar.PrefixWebhookSecret + base64.StdEncoding.EncodeToString(b)
	sealed, keyID, err = s.cfg.Sealer.Seal([]byte(secret))
	if err != nil {
		return "", nil, "", &hangar.Error{Kind: hangar.KindInternal, Message: "seal webhook secret", Err: err}
	}
	return secret, sealed, keyID, nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req createWebhookRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := requireString("url", req.URL, 1, 2048); err != nil {
		return err
	}
	if err := validateWebhookURL(*req.URL); err != nil {
		return err
	}
	if err := validateWebhookEvents(req.EnabledEvents); err != nil {
		return err
	}
	if err := checkOptLen("name", req.Name, 0, webhookMaxName); err != nil {
		return err
	}
	if err := checkOptLen("description", req.Description, 0, webhookMaxDesc); err != nil {
		return err
	}
	secret, sealed, keyID, err := s.newWebhookSecret()
	if err != nil {
		return err
	}
	now := s.now()
	ep := &hangar.WebhookEndpoint{
		ID: s.newID(hangar.PrefixWebhookEndpoint), URL: *req.URL, EnabledEvents: req.EnabledEvents,
		Name: deref(req.Name), Description: deref(req.Description), State: hangar.WebhookEnabled,
		CreatedAt: now, UpdatedAt: now, Sealed: sealed, KeyID: keyID,
	}
	if err := s.store.CreateWebhookEndpoint(r.Context(), ep); err != nil {
		return err
	}
	encode(w, http.StatusOK, toWebhookResponse(ep, &secret))
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// orgEndpoint rejects the IDs of agents' hidden endpoints (they hold agent webhook
// secrets, docs/webhooks.md) on the organization endpoint routes that read or change an
// endpoint; only the delivery log is shared.
func orgEndpoint(r *http.Request) error {
	if id := r.PathValue("webhook_id"); !strings.HasPrefix(id, hangar.PrefixWebhookEndpoint) {
		return hangar.Errorf(hangar.KindNotFound, "webhook endpoint %s not found", id)
	}
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := orgEndpoint(r); err != nil {
		return err
	}
	ep, err := s.store.GetWebhookEndpoint(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, toWebhookResponse(ep, nil))
	return nil
}

// listWebhooks returns every endpoint (an organization has at most 32) in one page of the
// SDK's pagination.Page shape; limit, after_id, before_id and order are honoured.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return invalidf("limit: must be an integer from 1 to 100")
		}
		limit = n
	}
	if o := q.Get("order"); o != "" {
		if err := checkOneOf("order", o, "asc", "desc"); err != nil {
			return err
		}
	}
	eps, err := s.store.ListWebhookEndpoints(r.Context())
	if err != nil {
		return err
	}
	if q.Get("order") == "desc" {
		for i, j := 0, len(eps)-1; i < j; i, j = i+1, j-1 {
			eps[i], eps[j] = eps[j], eps[i]
		}
	}
	if after := q.Get("after_id"); after != "" {
		eps = afterID(eps, after)
	}
	if before := q.Get("before_id"); before != "" {
		for i, ep := range eps {
			if ep.ID == before {
				eps = eps[:i]
				break
			}
		}
		if len(eps) > limit {
			eps = eps[len(eps)-limit:]
		}
	}
	hasMore := len(eps) > limit
	if hasMore {
		eps = eps[:limit]
	}
	data := make([]webhookResponse, len(eps))
	for i, ep := range eps {
		data[i] = toWebhookResponse(ep, nil)
	}
	var first, last *string
	if len(eps) > 0 {
		first, last = &eps[0].ID, &eps[len(eps)-1].ID
	}
	encode(w, http.StatusOK, map[string]any{"data": data, "has_more": hasMore, "first_id": first, "last_id": last})
	return nil
}

func afterID(eps []*hangar.WebhookEndpoint, id string) []*hangar.WebhookEndpoint {
	for i, ep := range eps {
		if ep.ID == id {
			return eps[i+1:]
		}
	}
	return eps
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := orgEndpoint(r); err != nil {
		return err
	}
	var req updateWebhookRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.URL != nil {
		if err := validateWebhookURL(*req.URL); err != nil {
			return err
		}
	}
	if req.EnabledEvents != nil {
		if err := validateWebhookEvents(req.EnabledEvents); err != nil {
			return err
		}
	}
	if req.State != nil {
		if err := checkOneOf("state", *req.State, hangar.WebhookEnabled, hangar.WebhookDisabled); err != nil {
			return err
		}
	}
	if err := checkOptLen("name", req.Name, 0, webhookMaxName); err != nil {
		return err
	}
	if err := checkOptLen("description", req.Description, 0, webhookMaxDesc); err != nil {
		return err
	}
	now := s.now()
	ep, err := s.store.UpdateWebhookEndpoint(r.Context(), r.PathValue("webhook_id"), func(ep *hangar.WebhookEndpoint) error {
		if req.URL != nil {
			ep.URL = *req.URL
		}
		if req.EnabledEvents != nil {
			ep.EnabledEvents = req.EnabledEvents
		}
		if req.Name != nil {
			ep.Name = *req.Name
		}
		if req.Description != nil {
			ep.Description = *req.Description
		}
		if req.State != nil {
			ep.State = *req.State
			ep.DisabledReason = ""
			if ep.State == hangar.WebhookDisabled {
				ep.DisabledReason = "user"
			}
		}
		ep.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, toWebhookResponse(ep, nil))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := orgEndpoint(r); err != nil {
		return err
	}
	id := r.PathValue("webhook_id")
	if err := s.store.DeleteWebhookEndpoint(r.Context(), id); err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "webhook_endpoint_deleted"})
	return nil
}

// regenerateWebhookSecret replaces the signing secret; deliveries signed from now on use the
// new one.
func (s *Server) regenerateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	if err := orgEndpoint(r); err != nil {
		return err
	}
	secret, sealed, keyID, err := s.newWebhookSecret()
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := s.store.UpdateWebhookEndpoint(r.Context(), r.PathValue("webhook_id"), func(ep *hangar.WebhookEndpoint) error {
		ep.Sealed, ep.KeyID, ep.UpdatedAt = sealed, keyID, now
		return nil
	}); err != nil {
		return err
	}
	encode(w, http.StatusOK, map[string]string{"signing_secret": secret})
	return nil
}

// listWebhookDeliveries (Hangar extension) returns an endpoint's delivery log, newest first.
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_id")
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return invalidf("limit: must be an integer from 1 to 100")
		}
		limit = n
	}
	if _, err := s.store.GetWebhookEndpoint(r.Context(), id); err != nil {
		return err
	}
	ds, err := s.store.ListWebhookDeliveries(r.Context(), id, limit)
	if err != nil {
		return err
	}
	type delivery struct {
		Type string `json:"type"`
		hangar.WebhookDelivery
	}
	data := make([]delivery, len(ds))
	for i, d := range ds {
		if d.Attempts == nil {
			d.Attempts = []hangar.WebhookAttempt{}
		}
		data[i] = delivery{Type: "webhook_delivery", WebhookDelivery: d}
	}
	encode(w, http.StatusOK, map[string]any{"data": data, "has_more": len(ds) == limit})
	return nil
}
