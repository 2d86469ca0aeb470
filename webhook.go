package hangar

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Webhooks (docs/webhooks.md): CMA's organization webhook endpoints
// (/v1/organizations/webhooks), signed per Standard Webhooks and delivered at least once from
// an outbox that the store fills in the same transaction as the events that trigger them.

// Prefixes of webhook IDs.
const (
	PrefixWebhookEndpoint = "we_"
	PrefixWebhookEvent    = "wevt_"
	PrefixWebhookSecret   = "whsec_"
)

// Webhook identity of this server in payloads: Hangar has one organization and workspace.
const (
	WebhookOrganizationID = "org_hangar"
	WebhookWorkspaceID    = "wrkspc_default"
)

// MaxWebhookEndpoints is CMA's limit of endpoints per organization (enabled or not).
const MaxWebhookEndpoints = 32

// Webhook endpoint states.
const (
	WebhookEnabled  = "enabled"
	WebhookDisabled = "disabled"
)

// WebhookEndpoint is an organization webhook endpoint. Its signing secret ("whsec_" +
// base64 of 32 random bytes) is sealed under KeyID and never part of the JSON.
type WebhookEndpoint struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Description    string    `json:"description"`
	URL            string    `json:"url"`
	EnabledEvents  []string  `json:"enabled_events"`
	State          string    `json:"state"`
	DisabledReason string    `json:"disabled_reason"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	Sealed         []byte    `json:"-"`
	KeyID          string    `json:"-"`
	// AgentID is set on the hidden endpoint that holds an agent's webhook secret (its ID is
	// the agent's ID): agent endpoints are not organization endpoints, so they are neither
	// listed nor counted, and their deliveries carry the URL of the session's agent version.
	AgentID string `json:"-"`
}

// Subscribes reports whether an enabled endpoint wants events of webhook type t.
func (w *WebhookEndpoint) Subscribes(t string) bool {
	if w.State != WebhookEnabled {
		return false
	}
	for _, e := range w.EnabledEvents {
		if e == t {
			return true
		}
	}
	return false
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // gave up after the last attempt
)

// WebhookDelivery is one outbox row: one webhook event for one endpoint, with the log of
// its attempts. Retries reuse EventID, so receivers can dedupe on it.
type WebhookDelivery struct {
	EndpointID string `json:"webhook_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	// URL overrides the endpoint's URL (agent webhooks: the webhook_url of the agent version
	// the session runs).
	URL           string           `json:"-"`
	Payload       json.RawMessage  `json:"-"`
	State         string           `json:"state"`
	CreatedAt     time.Time        `json:"created_at"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
	Attempts      []WebhookAttempt `json:"attempts"`
}

// WebhookAttempt is one POST of a delivery.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"` // 0 when no response arrived
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// WebhookResult is what a dispatcher reports after one attempt: the attempt, and either
// Next (retry then), or Done (delivered when Delivered, else given up).
type WebhookResult struct {
	Attempt   WebhookAttempt
	Next      time.Time
	Done      bool
	Delivered bool
}

// WebhookStore is the part of Store that holds webhook endpoints and their outbox.
// storetest's "Webhooks" cases pin it. AppendEvents fills the outbox: for each appended
// event with a WebhookEventType, one pending delivery per endpoint that Subscribes to it,
// in the same transaction, with Payload from NewWebhookPayload.
type WebhookStore interface {
	// CreateWebhookEndpoint stores an endpoint. Conflict when MaxWebhookEndpoints exist.
	CreateWebhookEndpoint(ctx context.Context, w *WebhookEndpoint) error
	GetWebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error)
	// ListWebhookEndpoints lists every endpoint (at most MaxWebhookEndpoints), oldest first.
	ListWebhookEndpoints(ctx context.Context) ([]*WebhookEndpoint, error)
	// UpdateWebhookEndpoint calls fn with the endpoint in a transaction and saves it.
	UpdateWebhookEndpoint(ctx context.Context, id string, fn func(w *WebhookEndpoint) error) (*WebhookEndpoint, error)
	// DeleteWebhookEndpoint deletes an endpoint and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, id string) error

	// ClaimWebhookDeliveries atomically claims up to limit pending deliveries due at now
	// (NextAttemptAt <= now) whose claim is free or expired, for owner until `until`, oldest
	// first. Two callers never both hold a claim on one delivery.
	ClaimWebhookDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]WebhookDelivery, error)
	// FinishWebhookAttempt appends r.Attempt to the delivery's log, sets its state and next
	// attempt from r and releases the claim, if owner still holds it; otherwise (claim lost
	// to another owner after expiry) a conflict_error and nothing changes.
	FinishWebhookAttempt(ctx context.Context, owner, endpointID, eventID string, r WebhookResult) error
	// ListWebhookDeliveries lists the deliveries of an endpoint, newest first, at most limit.
	ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error)
}

// WebhookEventType maps a session status event type to its status_* webhook event type (""
// and false for none). SessionWebhooks (webhook_catalog.go) gives every webhook event a
// session event triggers. Webhook types are not SSE event names (docs/webhooks.md).
func WebhookEventType(eventType string) (string, bool) {
	t, ok := webhookTypes[eventType]
	return t, ok
}

var webhookTypes = map[string]string{
	"session.status_running":     "session.status_run_started",
	"session.status_idle":        "session.status_idled",
	"session.status_rescheduled": "session.status_rescheduled",
	"session.status_terminated":  "session.status_terminated",
}

// WebhookEventTypes lists the webhook event types Hangar emits (webhook_catalog.go);
// endpoints may subscribe to others (CMA's full list), which simply never fire here.
func WebhookEventTypes() []string {
	return append([]string(nil), webhookCatalogue...)
}

// NewWebhookPayload returns CMA's thin webhook payload for webhook event id of type t about
// resource resourceID.
func NewWebhookPayload(id, t, resourceID string, at time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"type":       "event",
		"id":         id,
		"created_at": at.UTC().Format(time.RFC3339Nano),
		"data": map[string]string{
			"type":            t,
			"id":              resourceID,
			"organization_id": WebhookOrganizationID,
			"workspace_id":    WebhookWorkspaceID,
		},
	})
	return b
}

// WebhookOutbox is one webhook event an append triggers: what the store inserts, once per
// subscribed endpoint.
type WebhookOutbox struct {
	EventID string
	Type    string
	Payload json.RawMessage
}

// WebhookOutboxFor returns the webhook events that the given session events trigger, with
// fresh IDs and payloads stamped at now.
func WebhookOutboxFor(sessionID string, events []Event, now time.Time) []WebhookOutbox {
	var out []WebhookOutbox
	for _, e := range events {
		for _, d := range SessionWebhooks(sessionID, e) { // webhook_catalog.go
			out = append(out, NewWebhookEvent(d, now))
		}
	}
	return out
}

// AgentWebhookOutboxFor returns the agent-level webhook events (docs/webhooks.md) that the
// given events of session sessionID trigger for agent version a: one per event whose type is
// in a.WebhookEvents. The payload names the session event type and carries the event.
func AgentWebhookOutboxFor(a *Agent, sessionID string, events []Event, now time.Time) []WebhookOutbox {
	if a == nil || a.WebhookURL == "" {
		return nil
	}
	var out []WebhookOutbox
	for _, e := range events {
		if !slices.Contains(a.WebhookEvents, e.Type) {
			continue
		}
		id := NewID(PrefixWebhookEvent)
		var ev json.RawMessage
		if b, err := json.Marshal(e); err == nil {
			ev = b
		}
		b, _ := json.Marshal(map[string]any{
			"type":       "event",
			"id":         id,
			"created_at": now.UTC().Format(time.RFC3339Nano),
			"data": map[string]any{
				"type":            e.Type,
				"id":              sessionID,
				"agent_id":        a.ID,
				"agent_version":   a.Version,
				"organization_id": WebhookOrganizationID,
				"workspace_id":    WebhookWorkspaceID,
				"event":           ev,
			},
		})
		out = append(out, WebhookOutbox{EventID: id, Type: e.Type, Payload: b})
	}
	return out
}
