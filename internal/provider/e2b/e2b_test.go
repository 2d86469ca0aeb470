package e2b_test

import (
	"context"
	"encoding/json"
	"os/user"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/e2b"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

// hostUser is the fake's process user: chown to it works on the host, as chown to
// "user" does in E2B's templates.
func hostUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

func newProvider(t *testing.T, f *fakeE2B) *e2b.Provider {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip("the E2B fake runs commands in bubblewrap: " + why)
	}
	p, err := e2b.NewProvider(e2b.Config{APIKey: f.key, APIURL: f.srv.URL, SandboxURL: f.srv.URL, User: hostUser(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, newFakeE2B(t)) })
}

func TestFactory(t *testing.T) {
	if _, err := e2b.New(nil, provider.Deps{}); err == nil {
		t.Error("New without an API key succeeded")
	}
	if _, err := e2b.New([]byte(`{"api_key":"k","nope":1}`), provider.Deps{}); err == nil {
		t.Error("New accepted an unknown field")
	}
	if _, err := e2b.New([]byte(`{"api_key":"k","template":"my-tpl"}`), provider.Deps{}); err != nil {
		t.Errorf("New = %v", err)
	}
}

func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		net  *hangar.Networking
		want string // JSON of the network fields sent
	}{
		{"unrestricted", &hangar.Networking{Type: "unrestricted"}, `{}`},
		{"none", nil, `{}`},
		{"limited with hosts", &hangar.Networking{Type: "limited", AllowedHosts: []string{"api.github.com", "10.0.0.0/8"}},
			`{"network":{"allowOut":["api.github.com","10.0.0.0/8"],"denyOut":["0.0.0.0/0"]}}`},
		{"limited without hosts", &hangar.Networking{Type: "limited"}, `{"allow_internet_access":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeE2B(t)
			sb, err := newProvider(t, f).Create(context.Background(), provider.Spec{SessionID: "sesn_1",
				Environment: hangar.EnvironmentConfig{Networking: tc.net}})
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Destroy(context.Background())
			got := map[string]any{}
			for _, k := range []string{"network", "allow_internet_access"} {
				if v, ok := f.created[0][k]; ok {
					got[k] = v
				}
			}
			if b, _ := json.Marshal(got); string(b) != tc.want {
				t.Errorf("network fields = %s, want %s", b, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	f := newFakeE2B(t)
	bad, _ := e2b.NewProvider(e2b.Config{APIKey: "wrong", APIURL: f.srv.URL, SandboxURL: f.srv.URL})
	_, err := bad.Create(context.Background(), provider.Spec{SessionID: "sesn_1"})
	if err == nil || hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Create with a rejected key = %v, want an error", err)
	}
	p := newProvider(t, f)
	if _, err := p.Recover(context.Background(), provider.Handle(`{"id":"igone"}`)); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an unknown sandbox = %v, want not_found", err)
	}
	if _, err := p.Recover(context.Background(), provider.Handle(`junk`)); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Recover of a malformed handle = %v, want invalid_request", err)
	}
	sb, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Exec(context.Background(), provider.ExecSpec{Args: []string{"/nonexistent/binary"}}); err == nil {
		t.Error("Exec of a missing binary succeeded")
	}
	f.mu.Lock()
	refreshed := f.timeouts
	f.mu.Unlock()
	if refreshed == 0 {
		t.Error("Exec did not push the sandbox's timeout")
	}
	sb.Destroy(context.Background())
	if _, err := p.Recover(context.Background(), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found", err)
	}
}

func TestExec(t *testing.T) {
	cloudtest.RunExec(t, true, func(t *testing.T) provider.Provider { return newProvider(t, newFakeE2B(t)) })
}

// TestCheck: GET /v1/providers reports the provider available only when the vendor
// takes the credentials.
func TestCheck(t *testing.T) {
	f := newFakeE2B(t)
	var _ provider.Checker = newProvider(t, f)
	if err := newProvider(t, f).Check(context.Background()); err != nil {
		t.Errorf("Check = %v", err)
	}
	bad, _ := e2b.NewProvider(e2b.Config{APIKey: "wrong", APIURL: f.srv.URL, SandboxURL: f.srv.URL})
	if err := bad.Check(context.Background()); err == nil {
		t.Error("Check with a rejected credential succeeded")
	}
}
