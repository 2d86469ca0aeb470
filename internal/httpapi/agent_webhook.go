package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strconv"

	"github.com/hangar-dev/hangar"
)

// Agent-level webhooks (Hangar extension, docs/webhooks.md): an agent's webhook_url and
// webhook_events are part of its configuration (a change makes a new version); deliveries
// are signed with a per-agent secret returned once, as webhook_secret, by the request that
// first gives the agent a webhook_url.

const maxAgentWebhookEvents = 64

// agentWebhookEventRE matches session event type names (user.*, agent.*, session.*, span.*).
var agentWebhookEventRE = regexp.MustCompile(`^(user|agent|session|span)\.[a-z][a-z_]*$`)

// agentResponse is an agent, plus its webhook secret on the one response that creates it.
type agentResponse struct {
	*hangar.Agent
	WebhookSecret *string `json:"webhook_secret,omitempty"`
}

// validateAgentWebhookURL accepts https URLs, and plain http only to a loopback host (a
// receiver on this machine): agent webhooks carry session content.
func validateAgentWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return invalidf("webhook_url: must be an absolute https URL")
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return invalidf("webhook_url: must use https (plain http only to a loopback host)")
	}
	return checkLen("webhook_url", s, 1, 2048)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// resolveAgentWebhookEvents validates webhook_events; nil takes the default.
func resolveAgentWebhookEvents(evs []string) ([]string, error) {
	if evs == nil {
		return append([]string(nil), hangar.DefaultAgentWebhookEvents...), nil
	}
	if len(evs) == 0 {
		return nil, invalidf("webhook_events: must name at least one event type")
	}
	if len(evs) > maxAgentWebhookEvents {
		return nil, invalidf("webhook_events: at most %d event types", maxAgentWebhookEvents)
	}
	for i, e := range evs {
		if !agentWebhookEventRE.MatchString(e) {
			return nil, invalidf("webhook_events[%s]: %q is not a session event type", strconv.Itoa(i), e)
		}
	}
	return evs, nil
}

// agentWebhookPatch is a validated webhook change of an agent update; nil fields are kept.
type agentWebhookPatch struct {
	url    *string // "" clears the webhook (and its events)
	events []string
}

func parseAgentWebhookPatch(rawURL, rawEvents json.RawMessage) (agentWebhookPatch, error) {
	var p agentWebhookPatch
	if present(rawURL) {
		v, _, err := nullableString("webhook_url", rawURL)
		if err != nil {
			return p, err
		}
		if v == nil {
			v = new(string)
		}
		if *v != "" {
			if err := validateAgentWebhookURL(*v); err != nil {
				return p, err
			}
		}
		p.url = v
	}
	if present(rawEvents) && !isNull(rawEvents) {
		var evs []string
		if err := json.Unmarshal(rawEvents, &evs); err != nil {
			return p, invalidf("webhook_events: must be a list of strings")
		}
		if evs == nil {
			evs = []string{}
		}
		evs, err := resolveAgentWebhookEvents(evs)
		if err != nil {
			return p, err
		}
		p.events = evs
	}
	return p, nil
}

func (p agentWebhookPatch) apply(a *hangar.Agent) error {
	if p.url != nil {
		a.WebhookURL = *p.url
	}
	if p.events != nil {
		a.WebhookEvents = p.events
	}
	switch {
	case a.WebhookURL == "":
		if p.events != nil {
			return invalidf("webhook_events: requires webhook_url")
		}
		a.WebhookEvents = nil
	case a.WebhookEvents == nil:
		a.WebhookEvents = append([]string(nil), hangar.DefaultAgentWebhookEvents...)
	}
	return nil
}

// ensureAgentWebhookSecret creates agent id's signing secret (sealed with the vault keyring,
// in a hidden webhook endpoint row) unless it exists, and returns it when it created it.
func (s *Server) ensureAgentWebhookSecret(ctx context.Context, id string) (*string, error) {
	_, err := s.store.GetWebhookEndpoint(ctx, id)
	if err == nil {
		return nil, nil
	}
	var he *hangar.Error
	if !errors.As(err, &he) || he.Kind != hangar.KindNotFound {
		return nil, err
	}
	secret, sealed, keyID, err := s.newWebhookSecret()
	if err != nil {
		return nil, err
	}
	now := s.now()
	ep := &hangar.WebhookEndpoint{
		ID: id, AgentID: id, Name: "agent " + id, State: hangar.WebhookEnabled, EnabledEvents: []string{},
		CreatedAt: now, UpdatedAt: now, Sealed: sealed, KeyID: keyID,
	}
	if err := s.store.CreateWebhookEndpoint(ctx, ep); err != nil {
		return nil, err
	}
	return &secret, nil
}
