package hangar

import (
	"context"
	"encoding/json"
	"time"
)

// The CMA webhook catalogue (docs/webhooks.md "Event types"). Two sources fill the outbox:
// session events, mapped by SessionWebhooks inside AppendEvents' transaction, and resource
// lifecycle changes (agent.created, session.archived, deployment_run.started...), which the
// API enqueues with WebhookEventStore.EnqueueWebhookEvents once the change is stored.

// WebhookData is the data object of a thin webhook payload.
type WebhookData struct {
	Type string
	// ID is the resource the event is about (session, agent, vault credential...).
	ID string
	// SessionThreadID is set on session.thread_* events; VaultID on vault_credential.*.
	SessionThreadID string
	VaultID         string
}

// NewWebhookEvent returns the outbox entry of one webhook event, with a fresh ID and its
// payload stamped at now.
func NewWebhookEvent(d WebhookData, now time.Time) WebhookOutbox {
	id := NewID(PrefixWebhookEvent)
	data := map[string]string{
		"type":            d.Type,
		"id":              d.ID,
		"organization_id": WebhookOrganizationID,
		"workspace_id":    WebhookWorkspaceID,
	}
	if d.SessionThreadID != "" {
		data["session_thread_id"] = d.SessionThreadID
	}
	if d.VaultID != "" {
		data["vault_id"] = d.VaultID
	}
	b, _ := json.Marshal(map[string]any{
		"type":       "event",
		"id":         id,
		"created_at": now.UTC().Format(time.RFC3339Nano),
		"data":       data,
	})
	return WebhookOutbox{EventID: id, Type: d.Type, Payload: b}
}

// SessionWebhooks returns the webhook events that session event e of session sessionID
// triggers. A status change gives both CMA's status_* type and its older alias
// (session.running, session.idled); an idle that waits on the client is
// session.requires_action instead of session.idled, and one that hit the budget also
// session.budget_reached.
func SessionWebhooks(sessionID string, e Event) []WebhookData {
	d := func(t string) WebhookData { return WebhookData{Type: t, ID: sessionID} }
	switch e.Type {
	case EventStatusRunning:
		return []WebhookData{d("session.status_run_started"), d("session.running")}
	case EventStatusIdle:
		var body struct {
			StopReason StopReason `json:"stop_reason"`
		}
		json.Unmarshal(e.Body, &body)
		out := []WebhookData{d("session.status_idled")}
		switch body.StopReason.Type {
		case "requires_action":
			return append(out, d("session.requires_action"))
		case "budget_reached":
			out = append(out, d("session.budget_reached"))
		}
		return append(out, d("session.idled"))
	case EventStatusRescheduled:
		return []WebhookData{d("session.status_rescheduled")}
	case EventStatusTerminated:
		return []WebhookData{d("session.status_terminated")}
	case EventSessionUpdated:
		return []WebhookData{d("session.updated")}
	case "span.outcome_evaluation_end":
		return []WebhookData{d("session.outcome_evaluation_ended")}
	case "session.thread_created", "session.thread_status_idle", "session.thread_status_terminated":
		var body struct {
			ThreadID string `json:"session_thread_id"`
		}
		json.Unmarshal(e.Body, &body)
		t := map[string]string{
			"session.thread_created":           "session.thread_created",
			"session.thread_status_idle":       "session.thread_idled",
			"session.thread_status_terminated": "session.thread_terminated",
		}[e.Type]
		return []WebhookData{{Type: t, ID: sessionID, SessionThreadID: body.ThreadID}}
	}
	return nil
}

// WebhookEventStore enqueues webhook events that no session event carries (resource
// lifecycle). storetest's "WebhookEvents" case pins it.
type WebhookEventStore interface {
	// EnqueueWebhookEvents inserts one pending delivery, due at now, per event and enabled
	// organization endpoint that subscribes to its type, in one statement or transaction.
	EnqueueWebhookEvents(ctx context.Context, out []WebhookOutbox, now time.Time) error
}

// webhookCatalogue is every webhook event type Hangar emits.
var webhookCatalogue = []string{
	"session.created", "session.running", "session.idled", "session.requires_action",
	"session.archived", "session.deleted", "session.status_rescheduled",
	"session.status_run_started", "session.status_idled", "session.status_terminated",
	"session.thread_created", "session.thread_idled", "session.thread_terminated",
	"session.outcome_evaluation_ended", "session.updated", "session.budget_reached",
	"vault.created", "vault.archived", "vault.deleted",
	"vault_credential.created", "vault_credential.archived", "vault_credential.deleted",
	"agent.created", "agent.updated", "agent.archived",
	"environment.created", "environment.updated", "environment.archived", "environment.deleted",
	"memory_store.created", "memory_store.archived", "memory_store.deleted",
	"deployment.created", "deployment.updated", "deployment.archived", "deployment.paused", "deployment.unpaused",
	"deployment_run.started", "deployment_run.succeeded", "deployment_run.failed",
}
