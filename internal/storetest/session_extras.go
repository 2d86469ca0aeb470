package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// testWebhookEvents pins WebhookEventStore: lifecycle webhook events reach exactly the
// enabled organization endpoints subscribed to their type.
func testWebhookEvents(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	agents := newWebhook("agents", []string{"agent.created", "vault_credential.created"}, clk.Now())
	must(t, st.CreateWebhookEndpoint(ctx, agents))
	other := newWebhook("other", []string{"session.status_idled"}, clk.Now())
	must(t, st.CreateWebhookEndpoint(ctx, other))
	off := newWebhook("off", []string{"agent.created"}, clk.Now())
	off.State = hangar.WebhookDisabled
	must(t, st.CreateWebhookEndpoint(ctx, off))

	now := clk.Now()
	created := hangar.NewWebhookEvent(hangar.WebhookData{Type: "agent.created", ID: "agent_1"}, now)
	cred := hangar.NewWebhookEvent(hangar.WebhookData{Type: "vault_credential.created", ID: "vcrd_1", VaultID: "vlt_1"}, now)
	env := hangar.NewWebhookEvent(hangar.WebhookData{Type: "environment.created", ID: "env_1"}, now)
	must(t, st.EnqueueWebhookEvents(ctx, []hangar.WebhookOutbox{created, cred, env}, now))
	must(t, st.EnqueueWebhookEvents(ctx, nil, now))

	got, err := st.ListWebhookDeliveries(ctx, agents.ID, 10)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("%d deliveries to the subscribed endpoint, want 2", len(got))
	}
	byType := map[string]hangar.WebhookDelivery{}
	for _, d := range got {
		byType[d.EventType] = d
		if d.State != hangar.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(now) {
			t.Errorf("delivery %s: state %s next %v, want pending due now", d.EventID, d.State, d.NextAttemptAt)
		}
	}
	if byType["agent.created"].EventID != created.EventID || byType["vault_credential.created"].EventID != cred.EventID {
		t.Errorf("deliveries = %+v", got)
	}
	for _, ep := range []*hangar.WebhookEndpoint{other, off} {
		if ds, err := st.ListWebhookDeliveries(ctx, ep.ID, 10); err != nil || len(ds) != 0 {
			t.Errorf("endpoint %s: %d deliveries (%v), want none", ep.Name, len(ds), err)
		}
	}
	claimed, err := st.ClaimWebhookDeliveries(ctx, "o", now, now.Add(60e9), 10)
	must(t, err)
	for _, d := range claimed {
		if d.EventID != cred.EventID {
			continue
		}
		var p struct {
			Data map[string]string `json:"data"`
		}
		if err := json.Unmarshal(d.Payload, &p); err != nil || p.Data["vault_id"] != "vlt_1" || p.Data["id"] != "vcrd_1" {
			t.Errorf("payload %s", d.Payload)
		}
	}
}

// testSessionDeployment pins Session.DeploymentID and the SessionFilter.DeploymentID filter.
func testSessionDeployment(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	a := newAgent("dep-agent", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	env := newEnvironment("dep-env", clk.Now())
	must(t, st.CreateEnvironment(ctx, env))
	plain := newSession(a, env.ID, clk.Now())
	must(t, st.CreateSession(ctx, plain))
	var fromDep []string
	for range 2 {
		s := newSession(a, env.ID, clk.Now())
		s.DeploymentID = "depl_1"
		s.CostCents = 12.5
		must(t, st.CreateSession(ctx, s))
		fromDep = append(fromDep, s.ID)
	}
	got, err := st.GetSession(ctx, fromDep[0])
	must(t, err)
	if got.DeploymentID != "depl_1" || got.CostCents != 12.5 {
		t.Errorf("GetSession: deployment %q cost %v", got.DeploymentID, got.CostCents)
	}
	for _, tt := range []struct {
		dep  string
		want []string
	}{
		{"depl_1", fromDep},
		{"depl_2", nil},
		{"", append([]string{plain.ID}, fromDep...)},
	} {
		list, _, err := st.ListSessions(ctx, hangar.SessionFilter{DeploymentID: tt.dep})
		must(t, err)
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if d := diff(tt.want, ids); d != "" {
			t.Errorf("ListSessions(deployment %q) (-want +got):\n%s", tt.dep, d)
		}
	}
}

// testFileExpiry pins File.ExpiresAt and the LiveAt/ExpiredAt filters of ListFiles.
func testFileExpiry(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	mk := func(name string, expires *time.Time) *hangar.File {
		f := &hangar.File{Type: "file", ID: hangar.NewID(hangar.PrefixFile), Filename: name, MimeType: "text/plain", SizeBytes: 1,
			CreatedAt: clk.Now(), Downloadable: true, ExpiresAt: expires}
		must(t, st.CreateFile(ctx, f))
		return f
	}
	now := clk.Now()
	early, late := now.Add(time.Hour), now.Add(2*time.Hour)
	forever := mk("forever", nil)
	soon := mk("soon", &early)
	later := mk("later", &late)
	got, err := st.GetFile(ctx, soon.ID)
	must(t, err)
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(early) || !got.Expired(early) || got.Expired(early.Add(-time.Nanosecond)) {
		t.Errorf("GetFile expires_at %v", got.ExpiresAt)
	}
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tt := range []struct {
		name string
		f    hangar.FileFilter
		want []string
	}{
		{"live now", hangar.FileFilter{LiveAt: at(0)}, []string{forever.ID, soon.ID, later.ID}},
		{"live at the first expiry", hangar.FileFilter{LiveAt: &early}, []string{forever.ID, later.ID}},
		{"expired by then", hangar.FileFilter{ExpiredAt: &early}, []string{soon.ID}},
		{"expired later", hangar.FileFilter{ExpiredAt: at(3 * time.Hour)}, []string{soon.ID, later.ID}},
		{"none expired yet", hangar.FileFilter{ExpiredAt: at(0)}, nil},
	} {
		files, _, err := st.ListFiles(ctx, tt.f)
		must(t, err)
		var ids []string
		for _, f := range files {
			ids = append(ids, f.ID)
		}
		if d := diff(tt.want, ids); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
}
