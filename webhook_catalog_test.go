package hangar

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestSessionWebhooks(t *testing.T) {
	t.Parallel()
	ev := func(typ, body string) Event {
		e := Event{Type: typ}
		if body != "" {
			e.Body = json.RawMessage(body)
		}
		return e
	}
	tests := []struct {
		name string
		ev   Event
		want []string
	}{
		{"running", ev(EventStatusRunning, ""), []string{"session.status_run_started", "session.running"}},
		{"idle end_turn", ev(EventStatusIdle, `{"stop_reason":{"type":"end_turn"}}`), []string{"session.status_idled", "session.idled"}},
		{"idle requires_action", ev(EventStatusIdle, `{"stop_reason":{"type":"requires_action","event_ids":["sevt_1"]}}`), []string{"session.status_idled", "session.requires_action"}},
		{"idle budget", ev(EventStatusIdle, `{"stop_reason":{"type":"budget_reached"}}`), []string{"session.status_idled", "session.budget_reached", "session.idled"}},
		{"rescheduled", ev(EventStatusRescheduled, ""), []string{"session.status_rescheduled"}},
		{"terminated", ev(EventStatusTerminated, ""), []string{"session.status_terminated"}},
		{"updated", ev(EventSessionUpdated, `{"title":"x"}`), []string{"session.updated"}},
		{"outcome", ev("span.outcome_evaluation_end", `{"outcome_id":"outc_1","result":"satisfied"}`), []string{"session.outcome_evaluation_ended"}},
		{"thread created", ev("session.thread_created", `{"session_thread_id":"sthr_1","agent_name":"w"}`), []string{"session.thread_created sthr_1"}},
		{"thread idle", ev("session.thread_status_idle", `{"session_thread_id":"sthr_1"}`), []string{"session.thread_idled sthr_1"}},
		{"thread terminated", ev("session.thread_status_terminated", `{"session_thread_id":"sthr_2"}`), []string{"session.thread_terminated sthr_2"}},
		{"agent message", ev(EventAgentMessage, `{"content":[]}`), nil},
		{"usage", ev(EventSessionUsage, `{}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range SessionWebhooks("sesn_1", tt.ev) {
				if d.ID != "sesn_1" {
					t.Errorf("%s: id %q", d.Type, d.ID)
				}
				s := d.Type
				if d.SessionThreadID != "" {
					s += " " + d.SessionThreadID
				}
				got = append(got, s)
				if !slices.Contains(WebhookEventTypes(), d.Type) {
					t.Errorf("%s is not in WebhookEventTypes", d.Type)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewWebhookEvent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	o := NewWebhookEvent(WebhookData{Type: "vault_credential.deleted", ID: "vcrd_1", VaultID: "vlt_1"}, at)
	var p struct {
		Type      string            `json:"type"`
		ID        string            `json:"id"`
		CreatedAt string            `json:"created_at"`
		Data      map[string]string `json:"data"`
	}
	if err := json.Unmarshal(o.Payload, &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"type": "vault_credential.deleted", "id": "vcrd_1", "vault_id": "vlt_1",
		"organization_id": WebhookOrganizationID, "workspace_id": WebhookWorkspaceID}
	if p.Type != "event" || p.ID != o.EventID || o.Type != "vault_credential.deleted" || p.CreatedAt != "2026-04-01T12:00:00Z" || len(p.Data) != len(want) {
		t.Errorf("payload %s", o.Payload)
	}
	for k, v := range want {
		if p.Data[k] != v {
			t.Errorf("data[%s] = %q, want %q", k, p.Data[k], v)
		}
	}
}
