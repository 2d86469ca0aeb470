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

// webhookReceiver is a real HTTP endpoint that verifies each delivery with the official
// SDK's Unwrap (Standard Webhooks, with the endpoint's signing secret) and passes on what
// it verified.
type webhookReceiver struct {
	srv    *httptest.Server
	events chan *anthropic.UnwrapWebhookEvent
	bad    chan error
}

func newWebhookReceiver(t *testing.T, secret func() string) *webhookReceiver {
	r := &webhookReceiver{events: make(chan *anthropic.UnwrapWebhookEvent, 64), bad: make(chan error, 64)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		c := anthropic.NewClient(option.WithAPIKey("unused"), option.WithWebhookKey(secret()))
		ev, err := c.Beta.Webhooks.Unwrap(body, req.Header)
		if err != nil {
			r.bad <- err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.events <- ev
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// next returns the next verified delivery of type typ, failing on a bad signature.
func (r *webhookReceiver) next(t *testing.T, typ string) *anthropic.UnwrapWebhookEvent {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-r.events:
			if ev.Data.Type == typ {
				return ev
			}
		case err := <-r.bad:
			t.Fatalf("delivery failed verification: %v", err)
		case <-timeout:
			t.Fatalf("no %s webhook within 30s", typ)
		}
	}
}

func TestE2EWebhooksCRUD(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	hooks := c.Beta.Organization.Webhooks

	created, err := hooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{
		URL: "https://example.com/hook", EnabledEvents: []string{"session.status_idled"}, Name: anthropic.String("ops"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.SigningSecret, "whsec_") || !strings.HasPrefix(created.ID, "we_") || created.State != "enabled" || created.Name != "ops" {
		t.Errorf("created = %s", created.RawJSON())
	}
	got, err := hooks.Get(ctx, created.ID, anthropic.BetaOrganizationWebhookGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got.RawJSON(), "whsec_") || got.URL != "https://example.com/hook" {
		t.Errorf("get = %s: want the endpoint without its secret", got.RawJSON())
	}
	upd, err := hooks.Update(ctx, created.ID, anthropic.BetaOrganizationWebhookUpdateParams{
		State: anthropic.BetaOrganizationWebhookUpdateParamsStateDisabled, EnabledEvents: []string{"session.status_idled", "session.status_run_started"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.State != "disabled" || len(upd.EnabledEvents) != 2 {
		t.Errorf("update = %s", upd.RawJSON())
	}
	page, err := hooks.List(ctx, anthropic.BetaOrganizationWebhookListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != created.ID || page.HasMore {
		t.Errorf("list = %s", page.RawJSON())
	}
	sec, err := hooks.RegenerateSigningSecret(ctx, created.ID, anthropic.BetaOrganizationWebhookRegenerateSigningSecretParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sec.SigningSecret, "whsec_") || sec.SigningSecret == created.SigningSecret {
		t.Errorf("regenerated secret %q", sec.SigningSecret)
	}
	_, err = hooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{URL: "ftp://x", EnabledEvents: []string{"session.status_idled"}})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	_, err = hooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{URL: "https://x.example"})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	del, err := hooks.Delete(ctx, created.ID, anthropic.BetaOrganizationWebhookDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if del.ID != created.ID || del.Type != "webhook_endpoint_deleted" {
		t.Errorf("delete = %s", del.RawJSON())
	}
	_, err = hooks.Get(ctx, created.ID, anthropic.BetaOrganizationWebhookGetParams{})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
}

// TestE2EWebhooksSessionTurn: a session turn on the scripted engine makes the server POST
// session.status_run_started and session.status_idled to a local receiver, signed so that
// the SDK's Unwrap verifies them, and the delivery log shows the attempts.
func TestE2EWebhooksSessionTurn(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	secret := make(chan string, 1)
	// The secret is known only once the endpoint exists, which needs the receiver's URL.
	rcv := newWebhookReceiver(t, sync.OnceValue(func() string { return <-secret }))
	ep, err := c.Beta.Organization.Webhooks.New(ctx, anthropic.BetaOrganizationWebhookNewParams{
		URL: rcv.srv.URL + "/hook", EnabledEvents: []string{"session.status_idled", "session.status_run_started"},
	})
	if err != nil {
		t.Fatal(err)
	}
	secret <- ep.SigningSecret

	a := newAgent(t, c, "hooked", scriptMetadata(t, []scriptStep{{"message": "one"}}, []scriptStep{{"message": "two"}}))
	env := newEnvironment(t, c, "hooked-env")
	s := newSession(t, c, a.ID, env.ID)
	send(t, c, s.ID, userMessage("hi"))
	run := rcv.next(t, "session.status_run_started")
	idle := rcv.next(t, "session.status_idled")
	if idle.Data.ID != s.ID || run.Data.ID != s.ID || !strings.HasPrefix(idle.ID, "wevt_") || idle.Type != "event" {
		t.Errorf("idle webhook = %s, want an event about %s", idle.RawJSON(), s.ID)
	}
	// A second turn: once its idle arrives, the first turn's deliveries are recorded (one
	// dispatcher records each attempt before it claims later deliveries).
	send(t, c, s.ID, userMessage("again"))
	rcv.next(t, "session.status_idled")

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/organizations/webhooks/"+ep.ID+"/deliveries", nil)
	req.Header.Set("x-api-key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var log struct {
		Data []struct {
			Type      string `json:"type"`
			EventID   string `json:"event_id"`
			EventType string `json:"event_type"`
			State     string `json:"state"`
			Attempts  []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&log); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("deliveries: %d %v", resp.StatusCode, err)
	}
	found := false
	for _, d := range log.Data {
		if d.EventID == idle.ID {
			found = true
			if d.State != "delivered" || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 || d.Type != "webhook_delivery" {
				t.Errorf("delivery of %s = %+v, want delivered after one 200", idle.ID, d)
			}
		}
	}
	if !found || len(log.Data) < 3 {
		t.Errorf("delivery log has %d entries, without %s", len(log.Data), idle.ID)
	}
}
