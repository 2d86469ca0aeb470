package sprites_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
	"github.com/hangar-dev/hangar/internal/provider/sprites"
)

func newProvider(t *testing.T, f *fakeSprites) *sprites.Provider {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip("the Sprites fake runs commands in bubblewrap: " + why)
	}
	p, err := sprites.NewProvider(sprites.Config{Token: f.token, APIURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, newFakeSprites(t)) })
}

func TestFactory(t *testing.T) {
	for _, tc := range []struct {
		cfg string
		ok  bool
	}{
		{``, false},
		{`{"token":"t","nope":1}`, false},
		{`{"token":"t","api_url":"https://api.sprites.dev"}`, true},
	} {
		if _, err := sprites.New([]byte(tc.cfg), provider.Deps{}); (err == nil) != tc.ok {
			t.Errorf("New(%s) = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		net     *hangar.Networking
		want    string
		refused bool
	}{
		{"unrestricted", &hangar.Networking{Type: "unrestricted"}, ``, false},
		{"limited without hosts", &hangar.Networking{Type: "limited"}, `{"rules":[{"action":"deny","domain":"*"}]}`, false},
		{"limited", &hangar.Networking{Type: "limited", AllowedHosts: []string{"github.com", "*.npmjs.org"}},
			`{"rules":[{"action":"allow","domain":"github.com"},{"action":"allow","domain":"*.npmjs.org"},{"action":"deny","domain":"*"}]}`, false},
		{"limited to a CIDR", &hangar.Networking{Type: "limited", AllowedHosts: []string{"10.0.0.0/8"}}, ``, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSprites(t)
			sb, err := newProvider(t, f).Create(context.Background(), provider.Spec{SessionID: "sesn_1",
				Environment: hangar.EnvironmentConfig{Networking: tc.net}})
			if tc.refused {
				if !hangar.IsKind(err, hangar.KindInvalidRequest) {
					t.Errorf("Create = %v, want invalid_request_error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Destroy(context.Background())
			var h struct{ ID string }
			json.Unmarshal(sb.Handle(), &h)
			f.mu.Lock()
			got := string(f.policies[h.ID])
			f.mu.Unlock()
			if got != tc.want {
				t.Errorf("policy = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	f := newFakeSprites(t)
	p := newProvider(t, f)
	bad, _ := sprites.NewProvider(sprites.Config{Token: "wrong", APIURL: f.srv.URL})
	if _, err := bad.Create(context.Background(), provider.Spec{SessionID: "sesn_1"}); err == nil {
		t.Error("Create with a rejected token succeeded")
	}
	if _, err := p.Recover(context.Background(), provider.Handle(`{"id":"hangar-gone"}`)); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an unknown sprite = %v, want not_found", err)
	}
	sb, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	sb.Destroy(context.Background())
	if _, err := p.Recover(context.Background(), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found", err)
	}
}

func TestExec(t *testing.T) {
	cloudtest.RunExec(t, true, func(t *testing.T) provider.Provider { return newProvider(t, newFakeSprites(t)) })
}

// TestCheck: GET /v1/providers reports the provider available only when the vendor
// takes the credentials.
func TestCheck(t *testing.T) {
	f := newFakeSprites(t)
	var _ provider.Checker = newProvider(t, f)
	if err := newProvider(t, f).Check(context.Background()); err != nil {
		t.Errorf("Check = %v", err)
	}
	bad, _ := sprites.NewProvider(sprites.Config{Token: "wrong", APIURL: f.srv.URL})
	if err := bad.Check(context.Background()); err == nil {
		t.Error("Check with a rejected credential succeeded")
	}
}

func TestSandboxIsolated(t *testing.T) {
	cloudtest.RunIsolated(t, newProvider(t, newFakeSprites(t)))
}
