package httpapi

import (
	"net/http"

	"github.com/hangar-dev/hangar"
)

// rotateAgentWebhookSecret (Hangar extension, docs/webhooks.md "Agent webhooks") replaces
// an agent's webhook signing secret and returns the new one, once. Deliveries not yet
// made, retries included, are signed with the new secret from then on (the dispatcher signs
// each attempt). The agent must have a webhook secret: one was issued when it first got a
// webhook_url.
func (s *Server) rotateAgentWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	ctx, id := r.Context(), pathID(r, "agent_id")
	a, err := s.store.GetAgent(ctx, id, 0)
	if err != nil {
		return err
	}
	ep, err := s.store.GetWebhookEndpoint(ctx, a.ID)
	if hangar.IsKind(err, hangar.KindNotFound) || (err == nil && ep.AgentID != a.ID) {
		return invalidf("agent %s has no webhook secret; set a webhook_url first", a.ID)
	}
	if err != nil {
		return err
	}
	secret, sealed, keyID, err := s.newWebhookSecret()
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := s.store.UpdateWebhookEndpoint(ctx, a.ID, func(ep *hangar.WebhookEndpoint) error {
		ep.Sealed, ep.KeyID, ep.UpdatedAt = sealed, keyID, now
		return nil
	}); err != nil {
		return err
	}
	encode(w, http.StatusOK, map[string]string{"type": "agent_webhook_secret", "agent_id": a.ID, "webhook_secret": secret})
	return nil
}
