package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// testAgentWebhooks pins agent-level webhooks (docs/webhooks.md): an agent's hidden endpoint
// row (ID = AgentID = the agent's ID) holds its secret and is not an organization endpoint;
// AppendEvents queues, in the same transaction, one delivery per event whose type the
// session's agent version lists in WebhookEvents, carrying that version's WebhookURL.
func testAgentWebhooks(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	a := newAgent("hooked", clk.Now())
	a.WebhookURL = "https://example.com/v1"
	a.WebhookEvents = []string{hangar.EventStatusIdle, hangar.EventAgentMessage}
	must(t, st.CreateAgent(ctx, a))
	ep := &hangar.WebhookEndpoint{ID: a.ID, AgentID: a.ID, State: hangar.WebhookEnabled, EnabledEvents: []string{},
		CreatedAt: clk.Now(), UpdatedAt: clk.Now(), Sealed: []byte{9, 8}, KeyID: "k1"}
	must(t, st.CreateWebhookEndpoint(ctx, ep))
	org := newWebhook("org", []string{"session.status_idled"}, clk.Now())
	must(t, st.CreateWebhookEndpoint(ctx, org))

	got, err := st.GetWebhookEndpoint(ctx, a.ID)
	must(t, err)
	if got.AgentID != a.ID || string(got.Sealed) != string(ep.Sealed) || got.KeyID != "k1" {
		t.Errorf("GetWebhookEndpoint(agent) = %+v, want the agent's row with its sealed secret", got)
	}
	list, err := st.ListWebhookEndpoints(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ID != org.ID {
		t.Errorf("ListWebhookEndpoints = %d endpoints, want only the organization endpoint", len(list))
	}

	// A session pinned to version 1, then version 2 moves the URL and changes the events.
	env := newEnvironment("hooked-env", clk.Now())
	must(t, st.CreateEnvironment(ctx, env))
	s1 := newSession(a, env.ID, clk.Now())
	must(t, st.CreateSession(ctx, s1))
	a2, err := st.UpdateAgent(ctx, a.ID, clk.Now(), func(x *hangar.Agent) error {
		x.WebhookURL = "https://example.com/v2"
		x.WebhookEvents = []string{hangar.EventStatusRunning}
		return nil
	})
	must(t, err)
	s2 := newSession(a2, env.ID, clk.Now())
	must(t, st.CreateSession(ctx, s2))
	// An agent with a webhook_url but no endpoint row (no secret) gets no deliveries.
	bare := newAgent("bare", clk.Now())
	bare.WebhookURL, bare.WebhookEvents = "https://example.com/bare", []string{hangar.EventStatusIdle}
	must(t, st.CreateAgent(ctx, bare))
	s3 := newSession(bare, env.ID, clk.Now())
	must(t, st.CreateSession(ctx, s3))

	msg := hangar.NewEvent(hangar.EventAgentMessage, json.RawMessage(`{"content":[{"type":"text","text":"hi"}]}`))
	msg.ID = hangar.NewID(hangar.PrefixEvent)
	_, _, err = st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s1.ID, Events: append(userMessages(1), msg)})
	must(t, err)
	for _, sid := range []string{s1.ID, s2.ID, s3.ID} {
		appendStatus(t, st, sid, hangar.EventStatusRunning)
		appendStatus(t, st, sid, hangar.EventStatusIdle)
	}

	ds, err := st.ListWebhookDeliveries(ctx, a.ID, 20)
	must(t, err)
	type row struct{ Type, Session, URL, EventType string }
	var rows []row
	for _, d := range ds {
		var p struct {
			Type string
			ID   string
			Data struct {
				Type, ID string
				Event    struct{ Type, ID string }
			}
		}
		must(t, json.Unmarshal(d.Payload, &p))
		if p.Type != "event" || p.ID != d.EventID || p.Data.Type != d.EventType || d.State != hangar.DeliveryPending {
			t.Errorf("delivery %+v payload %s: want a pending event naming its type", d, d.Payload)
		}
		rows = append(rows, row{d.EventType, p.Data.ID, d.URL, p.Data.Event.Type})
	}
	want := []row{ // newest first
		{hangar.EventStatusRunning, s2.ID, "https://example.com/v2", hangar.EventStatusRunning},
		{hangar.EventStatusIdle, s1.ID, "https://example.com/v1", hangar.EventStatusIdle},
		{hangar.EventAgentMessage, s1.ID, "https://example.com/v1", hangar.EventAgentMessage},
	}
	if d := diff(want, rows); d != "" {
		t.Errorf("agent deliveries (-want +got):\n%s", d)
	}
	orgDs, err := st.ListWebhookDeliveries(ctx, org.ID, 20)
	must(t, err)
	if len(orgDs) != 3 { // one status_idled per session; never an agent-only type
		t.Errorf("organization endpoint got %d deliveries, want 3", len(orgDs))
	}
	for _, d := range orgDs {
		if d.URL != "" {
			t.Errorf("organization delivery carries URL %q, want none (the endpoint's)", d.URL)
		}
	}

	// Claims return the URL the dispatcher must use.
	now := time.Now().Add(time.Minute)
	claimed, err := st.ClaimWebhookDeliveries(ctx, "d", now, now.Add(time.Minute), 20)
	must(t, err)
	urls := 0
	for _, d := range claimed {
		if d.EndpointID == a.ID && d.URL != "" {
			urls++
		}
	}
	if len(claimed) != 6 || urls != 3 {
		t.Errorf("claimed %d deliveries (%d agent ones with a URL), want 6 (3)", len(claimed), urls)
	}
}
