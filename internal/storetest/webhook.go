package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

func newWebhook(name string, events []string, at time.Time) *hangar.WebhookEndpoint {
	return &hangar.WebhookEndpoint{
		ID: hangar.NewID(hangar.PrefixWebhookEndpoint), Name: name, URL: "https://example.com/" + name,
		EnabledEvents: events, State: hangar.WebhookEnabled, CreatedAt: at, UpdatedAt: at,
		Sealed: []byte{1, 2, 0xff}, KeyID: "k1",
	}
}

// appendStatus appends one session status event of type t to session id.
func appendStatus(t *testing.T, st hangar.Store, id, typ string) {
	t.Helper()
	e := hangar.NewEvent(typ, nil)
	e.ID = hangar.NewID(hangar.PrefixEvent)
	_, _, err := st.AppendEvents(context.Background(), hangar.AppendRequest{SessionID: id, Events: []hangar.Event{e}})
	must(t, err)
}

func testWebhooks(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	idle := newWebhook("idle", []string{"session.status_idled"}, clk.Now())
	must(t, st.CreateWebhookEndpoint(ctx, idle))
	both := newWebhook("both", []string{"session.status_idled", "session.status_run_started"}, clk.Now())
	must(t, st.CreateWebhookEndpoint(ctx, both))
	off := newWebhook("off", []string{"session.status_idled"}, clk.Now())
	off.State = hangar.WebhookDisabled
	must(t, st.CreateWebhookEndpoint(ctx, off))

	t.Run("crud", func(t *testing.T) {
		got, err := st.GetWebhookEndpoint(ctx, idle.ID)
		must(t, err)
		if d := diff(idle, got); d != "" {
			t.Errorf("GetWebhookEndpoint (-want +got):\n%s", d)
		}
		wantKind(t, "CreateWebhookEndpoint(same ID)", st.CreateWebhookEndpoint(ctx, idle), hangar.KindConflict)
		_, err = st.GetWebhookEndpoint(ctx, "we_missing")
		wantKind(t, "GetWebhookEndpoint", err, hangar.KindNotFound)
		_, err = st.UpdateWebhookEndpoint(ctx, idle.ID, func(*hangar.WebhookEndpoint) error { return errSentinel })
		if err != errSentinel {
			t.Errorf("UpdateWebhookEndpoint callback error = %v, want it unchanged", err)
		}
		list, err := st.ListWebhookEndpoints(ctx)
		must(t, err)
		if len(list) != 3 || list[0].ID != idle.ID || list[2].ID != off.ID {
			t.Errorf("ListWebhookEndpoints = %d endpoints, want idle, both, off in order", len(list))
		}
	})

	// A session event with a webhook type fills the outbox, in the same append, for each
	// enabled endpoint subscribed to it; other events do not.
	sid := newRunnableSession(t, st, clk, "wh")
	appendStatus(t, st, sid, hangar.EventStatusRunning)
	um := userMessages(1)
	_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: sid, Events: um})
	must(t, err)
	appendStatus(t, st, sid, hangar.EventStatusIdle)

	t.Run("outbox", func(t *testing.T) {
		for _, tc := range []struct {
			ep   *hangar.WebhookEndpoint
			want []string
		}{
			{idle, []string{"session.status_idled"}},
			{both, []string{"session.status_idled", "session.status_run_started"}},
			{off, nil},
		} {
			ds, err := st.ListWebhookDeliveries(ctx, tc.ep.ID, 10)
			must(t, err)
			var got []string
			for _, d := range ds {
				got = append(got, d.EventType)
				var p struct {
					Type string `json:"type"`
					ID   string `json:"id"`
					Data struct{ Type, ID string }
				}
				must(t, json.Unmarshal(d.Payload, &p))
				if p.Type != "event" || p.ID != d.EventID || p.Data.Type != d.EventType || p.Data.ID != sid || d.State != hangar.DeliveryPending {
					t.Errorf("delivery %+v payload %s: want a pending thin event about %s", d, d.Payload, sid)
				}
			}
			if d := diff(tc.want, got); d != "" {
				t.Errorf("%s deliveries newest first (-want +got):\n%s", tc.ep.Name, d)
			}
		}
	})

	t.Run("claim and finish", func(t *testing.T) {
		now := time.Now().Add(time.Minute)
		ds, err := st.ClaimWebhookDeliveries(ctx, "a", now, now.Add(time.Minute), 10)
		must(t, err)
		if len(ds) != 3 {
			t.Fatalf("claimed %d deliveries, want 3", len(ds))
		}
		// Claimed rows are not claimable again until the claim expires.
		again, err := st.ClaimWebhookDeliveries(ctx, "b", now, now.Add(time.Minute), 10)
		must(t, err)
		if len(again) != 0 {
			t.Errorf("second claimer got %d deliveries, want 0", len(again))
		}
		d := ds[0]
		wantKind(t, "FinishWebhookAttempt(not the owner)", st.FinishWebhookAttempt(ctx, "b", d.EndpointID, d.EventID, hangar.WebhookResult{Done: true}), hangar.KindConflict)
		// A failed attempt reschedules it; once due it is claimable again.
		retry := now.Add(time.Hour)
		must(t, st.FinishWebhookAttempt(ctx, "a", d.EndpointID, d.EventID, hangar.WebhookResult{
			Attempt: hangar.WebhookAttempt{At: now, StatusCode: 500, Error: "HTTP 500"}, Next: retry}))
		early, err := st.ClaimWebhookDeliveries(ctx, "b", now, now.Add(time.Minute), 10)
		must(t, err)
		if len(early) != 0 {
			t.Errorf("claimed %d deliveries before their retry time", len(early))
		}
		due, err := st.ClaimWebhookDeliveries(ctx, "b", retry, retry.Add(time.Minute), 10)
		must(t, err)
		if len(due) != 3 { // the retry plus the two whose claim by "a" expired
			t.Fatalf("claimed %d deliveries at the retry time, want 3", len(due))
		}
		for _, x := range due {
			must(t, st.FinishWebhookAttempt(ctx, "b", x.EndpointID, x.EventID, hangar.WebhookResult{
				Attempt: hangar.WebhookAttempt{At: retry, StatusCode: 204}, Done: true, Delivered: true}))
		}
		ds2, err := st.ListWebhookDeliveries(ctx, d.EndpointID, 10)
		must(t, err)
		for _, x := range ds2 {
			if x.EventID == d.EventID {
				if x.State != hangar.DeliveryDelivered || len(x.Attempts) != 2 || x.Attempts[0].StatusCode != 500 || x.NextAttemptAt != nil {
					t.Errorf("delivery after retry = %+v, want delivered with 2 attempts", x)
				}
			}
		}
		none, err := st.ClaimWebhookDeliveries(ctx, "c", retry.Add(time.Hour), retry.Add(2*time.Hour), 10)
		must(t, err)
		if len(none) != 0 {
			t.Errorf("claimed %d finished deliveries", len(none))
		}
	})

	t.Run("concurrent claims", func(t *testing.T) {
		for range 5 {
			appendStatus(t, st, sid, hangar.EventStatusIdle)
		}
		now := time.Now().Add(time.Minute)
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ds, err := st.ClaimWebhookDeliveries(ctx, string(rune('a'+i)), now, now.Add(time.Minute), 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, d := range ds {
					seen[d.EndpointID+d.EventID]++
				}
			}()
		}
		wg.Wait()
		if len(seen) != 10 {
			t.Errorf("claimed %d distinct deliveries, want 10", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("delivery %s claimed %d times", k, n)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		must(t, st.DeleteWebhookEndpoint(ctx, both.ID))
		wantKind(t, "DeleteWebhookEndpoint again", st.DeleteWebhookEndpoint(ctx, both.ID), hangar.KindNotFound)
		ds, err := st.ListWebhookDeliveries(ctx, both.ID, 10)
		must(t, err)
		if len(ds) != 0 {
			t.Errorf("deliveries of a deleted endpoint: %d", len(ds))
		}
	})

	t.Run("limit", func(t *testing.T) {
		st := open(t)
		for i := range hangar.MaxWebhookEndpoints {
			must(t, st.CreateWebhookEndpoint(ctx, newWebhook(string(rune('a'+i%26)), nil, clk.Now())))
		}
		wantKind(t, "CreateWebhookEndpoint over the limit", st.CreateWebhookEndpoint(ctx, newWebhook("x", nil, clk.Now())), hangar.KindConflict)
	})
}
