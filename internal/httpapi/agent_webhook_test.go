package httpapi

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar"
)

func TestValidateAgentWebhookURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/x", true},
		{"http://127.0.0.1:8080/x", true},
		{"http://localhost/x", true},
		{"http://[::1]:9/x", true},
		{"http://example.com/x", false},
		{"http://10.0.0.1/x", false},
		{"ftp://example.com/x", false},
		{"/relative", false},
		{"", false},
	} {
		if err := validateAgentWebhookURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("validateAgentWebhookURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestAgentWebhookPatch(t *testing.T) {
	hooked := func() *hangar.Agent {
		return &hangar.Agent{WebhookURL: "https://a.example/h", WebhookEvents: []string{"agent.message"}}
	}
	for _, tc := range []struct {
		name       string
		start      *hangar.Agent
		url, evs   string // raw JSON; "" = omitted
		wantURL    string
		wantEvents []string
		wantErr    bool
	}{
		{"set url takes default events", &hangar.Agent{}, `"https://b.example/h"`, "", "https://b.example/h", hangar.DefaultAgentWebhookEvents, false},
		{"set url and events", &hangar.Agent{}, `"https://b.example/h"`, `["session.error"]`, "https://b.example/h", []string{"session.error"}, false},
		{"keep", hooked(), "", "", "https://a.example/h", []string{"agent.message"}, false},
		{"change events only", hooked(), "", `["session.status_idle"]`, "https://a.example/h", []string{"session.status_idle"}, false},
		{"null clears url and events", hooked(), `null`, "", "", nil, false},
		{"events without url", &hangar.Agent{}, "", `["session.error"]`, "", nil, true},
		{"empty events", hooked(), "", `[]`, "", nil, true},
		{"unknown event type", hooked(), "", `["webhook.x"]`, "", nil, true},
		{"http to a public host", &hangar.Agent{}, `"http://b.example/h"`, "", "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := func(s string) json.RawMessage {
				if s == "" {
					return nil
				}
				return json.RawMessage(s)
			}
			p, err := parseAgentWebhookPatch(raw(tc.url), raw(tc.evs))
			if err == nil {
				err = p.apply(tc.start)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if tc.start.WebhookURL != tc.wantURL || !slices.Equal(tc.start.WebhookEvents, tc.wantEvents) {
				t.Errorf("agent webhook = %q %v, want %q %v", tc.start.WebhookURL, tc.start.WebhookEvents, tc.wantURL, tc.wantEvents)
			}
		})
	}
}
