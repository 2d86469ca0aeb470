package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/sqlstore"
	"github.com/hangar-dev/hangar/internal/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// plainSecrets "seals" by storing the secret as it is: the dispatcher's contract with the
// keyring is only Open.
type plainSecrets struct{}

func (plainSecrets) Open(sealed []byte, _ string) ([]byte, error) { return sealed, nil }

// receiver is a real HTTP endpoint that verifies every request with the standard-webhooks
// library (the one the official SDKs' Unwrap uses) and answers with the next status code.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	statuses []int // answered in order; then 204
	got      []string
	bad      int
}

func newReceiver(t *testing.T, secret string, statuses ...int) *receiver {
	r := &receiver{t: t, secret: secret, statuses: statuses}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := wh.Verify(body, req.Header); err != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.got = append(r.got, req.Header.Get("webhook-id"))
		code := http.StatusNoContent
		if len(r.statuses) > 0 {
			code, r.statuses = r.statuses[0], r.statuses[1:]
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// fakeClock is a settable clock: tests move time instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	st      *sqlstore.DB
	clk     *fakeClock
	session string
	ep      *hangar.WebhookEndpoint
}

func setup(t *testing.T, url, secret string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := hangar.Now()
	a := &hangar.Agent{ID: hangar.NewID(hangar.PrefixAgent), Name: "a", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	s := &hangar.Session{ID: hangar.NewID(hangar.PrefixSession), Agent: *a, EnvironmentID: "env_x", Status: hangar.StatusIdle, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	ep := &hangar.WebhookEndpoint{ID: hangar.NewID(hangar.PrefixWebhookEndpoint), URL: url, EnabledEvents: []string{"session.status_idled"},
		State: hangar.WebhookEnabled, CreatedAt: now, UpdatedAt: now, Sealed: []byte(secret)}
	if err := st.CreateWebhookEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	// The clock runs ahead of the outbox rows' stamps, so they are due.
	return &fixture{st: st, clk: &fakeClock{t: time.Now().Add(time.Second)}, session: s.ID, ep: ep}
}

func (f *fixture) idle(t *testing.T) {
	t.Helper()
	e := hangar.NewEvent(hangar.EventStatusIdle, map[string]any{"stop_reason": map[string]string{"type": "end_turn"}})
	e.ID = hangar.NewID(hangar.PrefixEvent)
	if _, _, err := f.st.AppendEvents(context.Background(), hangar.AppendRequest{SessionID: f.session, Events: []hangar.Event{e}}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) dispatcher(owner string, backoff time.Duration) *webhook.Dispatcher {
	return webhook.New(webhook.Config{Store: f.st, Secrets: plainSecrets{}, Owner: owner, Clock: f.clk.Now,
		Backoff: func(int) time.Duration { return backoff }, MaxAttempts: 3})
}

func (f *fixture) deliveries(t *testing.T) []hangar.WebhookDelivery {
	t.Helper()
	ds, err := f.st.ListWebhookDeliveries(context.Background(), f.ep.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestWebhookSignatureVerifies(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newReceiver(t, secret)
	f := setup(t, rcv.srv.URL, secret)
	f.idle(t)
	n, err := f.dispatcher("a", time.Minute).RunOnce(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v; want 1 delivery", n, err)
	}
	ds := f.deliveries(t)
	if got := rcv.received(); len(got) != 1 || got[0] != ds[0].EventID || rcv.rejected() != 0 {
		t.Fatalf("receiver got %v (bad %d), want one verified delivery of %s", got, rcv.rejected(), ds[0].EventID)
	}
	var p struct {
		Type string
		ID   string
		Data struct{ Type, ID string }
	}
	if err := json.Unmarshal(ds[0].Payload, &p); err != nil || p.Data.Type != "session.status_idled" || p.Data.ID != f.session {
		t.Errorf("payload %s: want session.status_idled about %s", ds[0].Payload, f.session)
	}
	if ds[0].State != hangar.DeliveryDelivered || len(ds[0].Attempts) != 1 || ds[0].Attempts[0].StatusCode != 204 {
		t.Errorf("delivery log = %+v, want delivered after one 204", ds[0])
	}
}

func TestWebhookWrongSecretIsRejected(t *testing.T) {
	rcv := newReceiver(t, webhook.NewSecret())
	f := setup(t, rcv.srv.URL, webhook.NewSecret())
	f.idle(t)
	if _, err := f.dispatcher("a", time.Minute).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rcv.rejected() != 1 || len(rcv.received()) != 0 {
		t.Errorf("receiver: %d bad, %d good; want the signature rejected", rcv.rejected(), len(rcv.received()))
	}
}

func TestWebhookRetriesAfter500(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newReceiver(t, secret, 500, 503)
	f := setup(t, rcv.srv.URL, secret)
	f.idle(t)
	d := f.dispatcher("a", time.Minute)
	ctx := context.Background()
	for i, want := range []int{1, 0, 1, 1, 0} {
		if i == 2 || i == 3 {
			f.clk.Add(time.Minute) // the backoff elapses
		}
		n, err := d.RunOnce(ctx)
		if err != nil || n != want {
			t.Fatalf("round %d: RunOnce = %d, %v; want %d", i, n, err, want)
		}
	}
	ds := f.deliveries(t)
	var codes []int
	for _, a := range ds[0].Attempts {
		codes = append(codes, a.StatusCode)
	}
	if ds[0].State != hangar.DeliveryDelivered || len(codes) != 3 || codes[0] != 500 || codes[1] != 503 || codes[2] != 204 {
		t.Errorf("delivery %s attempts %v, want delivered after 500, 503, 204", ds[0].State, codes)
	}
	// Retries reuse the event ID: receivers dedupe on it.
	if got := rcv.received(); len(got) != 3 || got[0] != got[2] {
		t.Errorf("webhook-id per attempt = %v, want the same ID three times", got)
	}
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newReceiver(t, secret, 500, 500, 500, 500)
	f := setup(t, rcv.srv.URL, secret)
	f.idle(t)
	d := f.dispatcher("a", 0)
	for range 5 {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ds := f.deliveries(t)
	if ds[0].State != hangar.DeliveryFailed || len(ds[0].Attempts) != 3 {
		t.Errorf("delivery = %s after %d attempts, want failed after 3", ds[0].State, len(ds[0].Attempts))
	}
}

// TestWebhookAtLeastOnceAcrossRestart: a dispatcher that claimed a delivery and died before
// recording it leaves it to the next dispatcher once the claim expires.
func TestWebhookAtLeastOnceAcrossRestart(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newReceiver(t, secret)
	f := setup(t, rcv.srv.URL, secret)
	f.idle(t)
	ctx := context.Background()
	// The "crashed" dispatcher: it claims and never finishes.
	if ds, err := f.st.ClaimWebhookDeliveries(ctx, "dead", f.clk.Now(), f.clk.Now().Add(webhook.DefaultClaimTTL), 10); err != nil || len(ds) != 1 {
		t.Fatalf("claim = %d, %v", len(ds), err)
	}
	d := f.dispatcher("new", time.Minute)
	if n, _ := d.RunOnce(ctx); n != 0 {
		t.Fatalf("delivered %d while another dispatcher's claim is live", n)
	}
	f.clk.Add(webhook.DefaultClaimTTL)
	if n, err := d.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("after the claim expired: RunOnce = %d, %v; want 1", n, err)
	}
	if len(rcv.received()) != 1 || f.deliveries(t)[0].State != hangar.DeliveryDelivered {
		t.Errorf("want the delivery made by the new dispatcher")
	}
}

// TestWebhookTwoDispatchersNoDoubleDelivery runs two dispatchers concurrently on one store.
func TestWebhookTwoDispatchersNoDoubleDelivery(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newReceiver(t, secret)
	f := setup(t, rcv.srv.URL, secret)
	const events = 40
	for range events {
		f.idle(t)
	}
	ctx := context.Background()
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, owner := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := f.dispatcher(owner, time.Minute)
			for {
				n, err := d.RunOnce(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
				total.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	got := rcv.received()
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("event %s delivered twice", id)
		}
		seen[id] = true
	}
	if len(seen) != events || total.Load() != events {
		t.Errorf("delivered %d distinct events in %d attempts, want %d", len(seen), total.Load(), events)
	}
}

func TestWebhookRedirectIsAFailure(t *testing.T) {
	secret := webhook.NewSecret()
	rcv := newReceiver(t, secret)
	redirect := httptest.NewServer(http.RedirectHandler(rcv.srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	f := setup(t, redirect.URL, secret)
	f.idle(t)
	if _, err := f.dispatcher("a", time.Minute).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ds := f.deliveries(t)
	if len(rcv.received()) != 0 || ds[0].State != hangar.DeliveryPending || ds[0].Attempts[0].StatusCode != http.StatusFound {
		t.Errorf("redirect followed or counted as success: %+v", ds[0])
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	for _, tc := range []struct {
		n        int
		min, max time.Duration
	}{{1, 2500 * time.Millisecond, 5 * time.Second}, {3, 10 * time.Second, 20 * time.Second}, {30, 30 * time.Minute, time.Hour}} {
		for range 50 {
			if d := webhook.Backoff(tc.n); d < tc.min || d > tc.max {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", tc.n, d, tc.min, tc.max)
			}
		}
	}
}
