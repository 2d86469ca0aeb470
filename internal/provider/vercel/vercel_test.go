package vercel_test

import (
	"context"
	"encoding/json"
	"io"
	"os/user"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
	"github.com/hangar-dev/hangar/internal/provider/vercel"
)

func newProvider(t *testing.T, f *fakeVercel) *vercel.Provider {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip("the Vercel fake runs commands in bubblewrap: " + why)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	p, err := vercel.NewProvider(vercel.Config{Token: f.token, TeamID: f.team, ProjectID: "prj_test", APIURL: f.srv.URL,
		User: u.Username, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, newFakeVercel(t)) })
}

func TestFactory(t *testing.T) {
	for _, tc := range []struct {
		cfg string
		ok  bool
	}{
		{``, false},
		{`{"token":"t"}`, false},
		{`{"token":"t","project_id":"p","nope":1}`, false},
		{`{"token":"t","project_id":"p","runtime":"python3.13"}`, true},
	} {
		if _, err := vercel.New([]byte(tc.cfg), provider.Deps{}); (err == nil) != tc.ok {
			t.Errorf("New(%s) = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		net  *hangar.Networking
		want string
	}{
		{"unrestricted", &hangar.Networking{Type: "unrestricted"}, `null`},
		{"limited without hosts", &hangar.Networking{Type: "limited"}, `{"mode":"deny-all"}`},
		{"limited", &hangar.Networking{Type: "limited", AllowedHosts: []string{"api.github.com", "10.0.0.0/8", "1.2.3.4"}},
			`{"allowedCIDRs":["10.0.0.0/8","1.2.3.4/32"],"allowedDomains":["api.github.com"],"mode":"custom"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVercel(t)
			sb, err := newProvider(t, f).Create(context.Background(), provider.Spec{SessionID: "sesn_1",
				Environment: hangar.EnvironmentConfig{Networking: tc.net}})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Destroy(context.Background())
			if b, _ := json.Marshal(f.created[0]["networkPolicy"]); string(b) != tc.want {
				t.Errorf("networkPolicy = %s, want %s", b, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	f := newFakeVercel(t)
	bad, _ := vercel.NewProvider(vercel.Config{Token: "wrong", TeamID: f.team, ProjectID: "p", APIURL: f.srv.URL})
	if _, err := bad.Create(context.Background(), provider.Spec{SessionID: "sesn_1"}); err == nil {
		t.Error("Create with a rejected token succeeded")
	}
	p := newProvider(t, f)
	if _, err := p.Recover(context.Background(), provider.Handle(`{"id":"sbx_gone"}`)); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an unknown sandbox = %v, want not_found", err)
	}
	sb, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	proc, err := sb.Exec(context.Background(), provider.ExecSpec{Args: []string{"/nonexistent/binary"}})
	if err != nil {
		t.Fatal(err)
	}
	proc.Stdin().Close()
	if _, err := proc.Wait(); err == nil {
		t.Error("exec of a missing binary reported no error")
	}
	// Signalled before its stdin closed, a command never starts.
	proc, _ = sb.Exec(context.Background(), provider.ExecSpec{Args: []string{"touch", "/w/never"}})
	proc.Signal(true)
	proc.Stdin().Close()
	if code, _ := proc.Wait(); code == 0 {
		t.Errorf("killed-before-start exit code = %d", code)
	}
	if _, err := sb.GetFile(context.Background(), "never"); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("a command signalled before start ran: GetFile = %v", err)
	}
	sb.Destroy(context.Background())
	if _, err := p.Recover(context.Background(), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found", err)
	}
}

// TestStreamAndKill checks that output streams before the command exits and that a
// started command is killed through the API (the conformance suite's signal case ends
// before stdin closes, when nothing has started yet).
func TestStreamAndKill(t *testing.T) {
	sb, err := newProvider(t, newFakeVercel(t)).Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", "echo first; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	proc.Stdin().Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(proc.Stdout(), buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first output = %q, %v: not streamed before exit", buf, err)
	}
	if err := proc.Signal(true); err != nil {
		t.Fatal(err)
	}
	if code, err := proc.Wait(); err != nil || code != 128+9 {
		t.Errorf("Wait after kill = %d, %v, want %d", code, err, 128+9)
	}
}

func TestExec(t *testing.T) {
	cloudtest.RunExec(t, true, func(t *testing.T) provider.Provider { return newProvider(t, newFakeVercel(t)) })
}

// TestCheck: GET /v1/providers reports the provider available only when the vendor
// takes the credentials.
func TestCheck(t *testing.T) {
	f := newFakeVercel(t)
	var _ provider.Checker = newProvider(t, f)
	if err := newProvider(t, f).Check(context.Background()); err != nil {
		t.Errorf("Check = %v", err)
	}
	bad, _ := vercel.NewProvider(vercel.Config{Token: "wrong", TeamID: f.team, ProjectID: "p", APIURL: f.srv.URL})
	if err := bad.Check(context.Background()); err == nil {
		t.Error("Check with a rejected credential succeeded")
	}
}
