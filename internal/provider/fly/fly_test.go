package fly_test

import (
	"context"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/fly"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

func newProvider(t *testing.T, f *fakeFly) *fly.Provider {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip("the Fly fake runs commands in bubblewrap: " + why)
	}
	p, err := fly.NewProvider(fly.Config{Token: f.token, App: f.app, APIURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, newFakeFly(t)) })
}

func TestFactory(t *testing.T) {
	for _, tc := range []struct {
		cfg string
		ok  bool
	}{
		{``, false},
		{`{"token":"t"}`, false},
		{`{"token":"t","app":"a","nope":1}`, false},
		{`{"token":"t","app":"a","image":"node:22","region":"ams"}`, true},
	} {
		if _, err := fly.New([]byte(tc.cfg), provider.Deps{}); (err == nil) != tc.ok {
			t.Errorf("New(%s) = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFakeFly(t)
	p := newProvider(t, f)
	if _, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_1",
		Environment: hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited"}}}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Create with networking limited = %v, want invalid_request_error", err)
	}
	bad, _ := fly.NewProvider(fly.Config{Token: "wrong", App: f.app, APIURL: f.srv.URL})
	if _, err := bad.Create(context.Background(), provider.Spec{SessionID: "sesn_1"}); err == nil {
		t.Error("Create with a rejected token succeeded")
	}
	if _, err := p.Recover(context.Background(), provider.Handle(`{"id":"gone"}`)); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an unknown machine = %v, want not_found", err)
	}
	sb, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	if f.created[0]["config"].(map[string]any)["image"] != "node:22" {
		t.Errorf("machine config = %v", f.created[0]["config"])
	}
	sb.Destroy(context.Background())
	if _, err := p.Recover(context.Background(), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found", err)
	}
}

// TestKillRunning kills a command that has started (the conformance suite's signal case
// ends before stdin closes, when nothing has started yet). Exec gets no deadline, so only
// the kill can end the sleep.
func TestKillRunning(t *testing.T) {
	sb, err := newProvider(t, newFakeFly(t)).Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	proc, err := sb.Exec(context.Background(), provider.ExecSpec{Args: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	proc.Stdin().Close()
	if err := proc.Signal(true); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() { code, err := proc.Wait(); done <- result{code, err} }()
	select {
	case r := <-done:
		if r.err != nil || r.code != 128+9 {
			t.Errorf("Wait after kill = %d, %v, want %d", r.code, r.err, 128+9)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the kill did not reach the running command")
	}
}

func TestExec(t *testing.T) {
	cloudtest.RunExec(t, false, func(t *testing.T) provider.Provider { return newProvider(t, newFakeFly(t)) })
}

// TestCheck: GET /v1/providers reports the provider available only when the vendor
// takes the credentials.
func TestCheck(t *testing.T) {
	f := newFakeFly(t)
	var _ provider.Checker = newProvider(t, f)
	if err := newProvider(t, f).Check(context.Background()); err != nil {
		t.Errorf("Check = %v", err)
	}
	bad, _ := fly.NewProvider(fly.Config{Token: "wrong", App: f.app, APIURL: f.srv.URL})
	if err := bad.Check(context.Background()); err == nil {
		t.Error("Check with a rejected credential succeeded")
	}
}

func TestSandboxIsolated(t *testing.T) {
	cloudtest.RunIsolated(t, newProvider(t, newFakeFly(t)))
}
