package httpapi

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// wevtPattern matches webhook event IDs, which normalizeJSON does not know.
var wevtPattern = regexp.MustCompile(`wevt_[A-Za-z0-9]+`)

// TestWebhookEndpointWire pins the JSON of the organization webhook endpoints
// (client.Beta.Organization.Webhooks) and their delivery log, and that the signing secret
// is stored sealed and shown only at creation.
func TestWebhookEndpointWire(t *testing.T) {
	env := newVaultEnv(t)
	h := env.srv
	var ep struct {
		ID            string `json:"id"`
		SigningSecret string `json:"signing_secret"`
	}
	created := apiOK(t, h, "POST", "/v1/organizations/webhooks",
		`{"url":"https://example.com/hook","enabled_events":["session.status_idled"],"name":"ops","description":"pager"}`, &ep)
	norm := func(b []byte) []byte {
		b = bytes.ReplaceAll(b, []byte(ep.ID), []byte("we_<1>"))
		b = wevtPattern.ReplaceAll(b, []byte("wevt_<1>"))
		return bytes.ReplaceAll(b, []byte(ep.SigningSecret), []byte("whsec_<secret>"))
	}
	if !strings.HasPrefix(ep.SigningSecret, "whsec_") {
		t.Fatalf("signing_secret = %q", ep.SigningSecret)
	}
	checkGolden(t, "webhook_create", norm(created))
	checkGolden(t, "webhook_get", norm(apiOK(t, h, "GET", "/v1/organizations/webhooks/"+ep.ID, "", nil)))
	checkGolden(t, "webhook_list", norm(apiOK(t, h, "GET", "/v1/organizations/webhooks", "", nil)))
	// One session status transition puts one delivery in the endpoint's log.
	appendIdle(t, env.store)
	checkGolden(t, "webhook_deliveries", norm(apiOK(t, h, "GET", "/v1/organizations/webhooks/"+ep.ID+"/deliveries", "", nil)))

	checkGolden(t, "webhook_update", norm(apiOK(t, h, "POST", "/v1/organizations/webhooks/"+ep.ID, `{"state":"disabled"}`, nil)))

	stored, err := env.store.GetWebhookEndpoint(t.Context(), ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if secret, err := env.keyring.Open(stored.Sealed, stored.KeyID); err != nil || string(secret) != ep.SigningSecret {
		t.Errorf("stored secret does not open to the one shown: %v", err)
	}
	for _, path := range []string{"/v1/organizations/webhooks/" + ep.ID, "/v1/organizations/webhooks"} {
		if b := apiOK(t, h, "GET", path, "", nil); bytes.Contains(b, []byte(ep.SigningSecret)) {
			t.Errorf("GET %s shows the signing secret", path)
		}
	}
	for _, tc := range []struct{ name, body string }{
		{"no url", `{"enabled_events":["session.status_idled"]}`},
		{"bad scheme", `{"url":"ftp://x","enabled_events":["session.status_idled"]}`},
		{"no events", `{"url":"https://x.example","enabled_events":[]}`},
	} {
		if rec := apiDo(t, h, "POST", "/v1/organizations/webhooks", tc.body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.name, rec.Code)
		}
	}
	if rec := apiDo(t, h, "GET", "/v1/organizations/webhooks/we_missing/deliveries", ""); rec.Code != http.StatusNotFound {
		t.Errorf("deliveries of a missing endpoint: status %d, want 404", rec.Code)
	}
}

// appendIdle stores a session and appends a session.status_idle event to it.
func appendIdle(t *testing.T, st hangar.Store) {
	t.Helper()
	ctx := t.Context()
	now := hangar.Now()
	a := &hangar.Agent{ID: hangar.NewID(hangar.PrefixAgent), Name: "hooked", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	s := &hangar.Session{ID: hangar.NewID(hangar.PrefixSession), Agent: *a, EnvironmentID: "env_x", Status: hangar.StatusIdle, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	e := hangar.NewEvent(hangar.EventStatusIdle, nil)
	e.ID = hangar.NewID(hangar.PrefixEvent)
	if _, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: []hangar.Event{e}}); err != nil {
		t.Fatal(err)
	}
}
