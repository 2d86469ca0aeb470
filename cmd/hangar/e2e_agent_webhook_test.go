package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// agentHook is one verified agent-level webhook delivery, decoded generically.
type agentHook struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		Type         string          `json:"type"`
		ID           string          `json:"id"`
		AgentID      string          `json:"agent_id"`
		AgentVersion int             `json:"agent_version"`
		Event        json.RawMessage `json:"event"`
	} `json:"data"`
}

// TestE2EAgentWebhook: an agent created with webhook_url/webhook_events (Hangar extension)
// gets a signing secret once; a session turn makes the server POST the listed session
// events to a local receiver, signed so that the official SDK's Unwrap verifies them with
// that secret; the delivery log shows them delivered; a change of the events is a new
// agent version and re-issues no secret.
func TestE2EAgentWebhook(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	secret := make(chan string, 1)
	getSecret := sync.OnceValue(func() string { return <-secret })
	hooks, bad := make(chan agentHook, 64), make(chan error, 64)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		vc := anthropic.NewClient(option.WithAPIKey("unused"), option.WithWebhookKey(getSecret()))
		if _, err := vc.Beta.Webhooks.Unwrap(body, req.Header); err != nil {
			bad <- err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var h agentHook
		if err := json.Unmarshal(body, &h); err != nil {
			bad <- err
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		hooks <- h
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	next := func(typ string) agentHook {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case h := <-hooks:
				if h.Data.Type == typ {
					return h
				}
			case err := <-bad:
				t.Fatalf("delivery failed verification: %v", err)
			case <-timeout:
				t.Fatalf("no %s agent webhook within 30s", typ)
			}
		}
	}

	// Validation: https, or http only to loopback; event types are session event names.
	for _, tc := range []struct {
		name string
		opts []option.RequestOption
	}{
		{"plain http to a public host", []option.RequestOption{option.WithJSONSet("webhook_url", "http://example.com/hook")}},
		{"not a URL", []option.RequestOption{option.WithJSONSet("webhook_url", "hook")}},
		{"bad event type", []option.RequestOption{option.WithJSONSet("webhook_url", "https://example.com/hook"), option.WithJSONSet("webhook_events", []string{"nope"})}},
		{"events without url", []option.RequestOption{option.WithJSONSet("webhook_events", []string{"session.status_idle"})}},
	} {
		_, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
			Name: "bad-" + strings.ReplaceAll(tc.name, " ", "-"), Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
		}, append([]option.RequestOption{scriptedEngine()}, tc.opts...)...)
		wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	}

	a := newAgent(t, c, "agent-hooked", scriptMetadata(t, []scriptStep{{"message": "one"}}, []scriptStep{{"message": "two"}}),
		option.WithJSONSet("webhook_url", rcv.URL+"/agent"),
		option.WithJSONSet("webhook_events", []string{"agent.message", "session.status_idle"}))
	var created struct {
		WebhookURL    string   `json:"webhook_url"`
		WebhookEvents []string `json:"webhook_events"`
		WebhookSecret string   `json:"webhook_secret"`
	}
	if err := json.Unmarshal([]byte(a.RawJSON()), &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.WebhookSecret, "whsec_") || created.WebhookURL != rcv.URL+"/agent" || len(created.WebhookEvents) != 2 {
		t.Fatalf("created agent = %s: want webhook_url, webhook_events and a whsec_ webhook_secret", a.RawJSON())
	}
	secret <- created.WebhookSecret
	got, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got.RawJSON(), "whsec_") || !strings.Contains(got.RawJSON(), `"webhook_url"`) {
		t.Errorf("get agent = %s: want webhook_url and no secret", got.RawJSON())
	}
	// The agent's secret row is not an organization endpoint.
	_, err = c.Beta.Organization.Webhooks.Get(ctx, a.ID, anthropic.BetaOrganizationWebhookGetParams{})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
	page, err := c.Beta.Organization.Webhooks.List(ctx, anthropic.BetaOrganizationWebhookListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 0 {
		t.Errorf("organization endpoints = %s, want none", page.RawJSON())
	}

	env := newEnvironment(t, c, "agent-hooked-env")
	s := newSession(t, c, a.ID, env.ID)
	send(t, c, s.ID, userMessage("hi"))
	msg := next("agent.message")
	idle := next("session.status_idle")
	var ev struct {
		Type    string `json:"type"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(msg.Data.Event, &ev); err != nil || ev.Type != "agent.message" || len(ev.Content) == 0 || ev.Content[0].Text != "one" {
		t.Errorf("agent.message webhook event = %s: want the agent's message", msg.Data.Event)
	}
	for _, h := range []agentHook{msg, idle} {
		if h.Type != "event" || !strings.HasPrefix(h.ID, "wevt_") || h.Data.ID != s.ID || h.Data.AgentID != a.ID || h.Data.AgentVersion != 1 {
			t.Errorf("webhook %+v: want an event about session %s of agent %s v1", h, s.ID, a.ID)
		}
	}

	// A change of webhook_events is a new version; the secret is not issued again, and
	// sessions on the new version deliver the new set.
	upd, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{Version: anthropic.Int(a.Version)},
		option.WithJSONSet("webhook_events", []string{"session.status_running"}))
	if err != nil {
		t.Fatal(err)
	}
	if upd.Version != 2 || strings.Contains(upd.RawJSON(), "webhook_secret") {
		t.Errorf("update = %s: want version 2 without a secret", upd.RawJSON())
	}
	s2 := newSession(t, c, a.ID, env.ID)
	send(t, c, s2.ID, userMessage("hi"))
	run := next("session.status_running")
	if run.Data.ID != s2.ID || run.Data.AgentVersion != 2 {
		t.Errorf("running webhook = %+v: want session %s on version 2", run, s2.ID)
	}

	// The delivery log of the agent's webhook shows the first turn delivered.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/organizations/webhooks/"+a.ID+"/deliveries", nil)
	req.Header.Set("x-api-key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log struct {
		Data []struct {
			EventID  string `json:"event_id"`
			State    string `json:"state"`
			Attempts []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("deliveries: %d %v", resp.StatusCode, err)
	}
	found := false
	for _, d := range log.Data {
		if d.EventID == msg.ID {
			found = true
			if d.State != "delivered" || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != http.StatusNoContent {
				t.Errorf("delivery of %s = %+v, want delivered after one 204", msg.ID, d)
			}
		}
	}
	if !found {
		t.Errorf("delivery log %+v lacks %s", log.Data, msg.ID)
	}
}
