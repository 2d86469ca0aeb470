package daytona_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/daytona"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

func newProvider(t *testing.T, f *fakeDaytona) *daytona.Provider {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip("the Daytona fake runs command lines in bubblewrap: " + why)
	}
	p, err := daytona.NewProvider(daytona.Config{APIKey: f.key, APIURL: f.srv.URL, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, newFakeDaytona(t)) })
}

func TestFactory(t *testing.T) {
	for _, tc := range []struct {
		cfg string
		ok  bool
	}{
		{``, false},
		{`{"api_key":"k","nope":1}`, false},
		{`{"api_key":"k","snapshot":"daytona-medium","target":"eu"}`, true},
	} {
		if _, err := daytona.New([]byte(tc.cfg), provider.Deps{}); (err == nil) != tc.ok {
			t.Errorf("New(%s) = %v, want ok %v", tc.cfg, err, tc.ok)
		}
	}
}

func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		net     *hangar.Networking
		block   any
		allow   any
		refused bool
	}{
		{"unrestricted", &hangar.Networking{Type: "unrestricted"}, nil, nil, false},
		{"limited without hosts", &hangar.Networking{Type: "limited"}, true, nil, false},
		{"limited to CIDRs", &hangar.Networking{Type: "limited", AllowedHosts: []string{"10.0.0.0/8", "1.2.3.4"}}, nil, "10.0.0.0/8,1.2.3.4/32", false},
		{"limited to a domain", &hangar.Networking{Type: "limited", AllowedHosts: []string{"api.github.com"}}, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaytona(t)
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
			if got := f.created[0]["networkBlockAll"]; got != tc.block {
				t.Errorf("networkBlockAll = %v, want %v", got, tc.block)
			}
			if got := f.created[0]["networkAllowList"]; got != tc.allow {
				t.Errorf("networkAllowList = %v, want %v", got, tc.allow)
			}
		})
	}
}

// TestStreamsAndTerminates checks that stdout and stderr are told apart, that output
// streams before the command exits, and that terminate stops a started command.
func TestStreamsAndTerminates(t *testing.T) {
	sb, err := newProvider(t, newFakeDaytona(t)).Create(context.Background(), provider.Spec{SessionID: "sesn_1", WorkDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	proc, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", "echo oops >&2; echo first; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	proc.Stdin().Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(proc.Stdout(), buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("first output = %q, %v: not streamed before exit", buf, err)
	}
	if err := proc.Signal(false); err != nil {
		t.Fatal(err)
	}
	if code, err := proc.Wait(); err != nil || code == 0 {
		t.Errorf("Wait after terminate = %d, %v", code, err)
	}
	if errOut, _ := io.ReadAll(proc.Stderr()); string(errOut) != "oops\n" {
		t.Errorf("stderr = %q", errOut)
	}
}

func TestErrors(t *testing.T) {
	f := newFakeDaytona(t)
	p := newProvider(t, f)
	bad, _ := daytona.NewProvider(daytona.Config{APIKey: "wrong", APIURL: f.srv.URL})
	if _, err := bad.Create(context.Background(), provider.Spec{SessionID: "sesn_1"}); err == nil {
		t.Error("Create with a rejected key succeeded")
	}
	if _, err := p.Recover(context.Background(), provider.Handle(`{"id":"gone"}`)); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an unknown sandbox = %v, want not_found", err)
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
	cloudtest.RunExec(t, true, func(t *testing.T) provider.Provider { return newProvider(t, newFakeDaytona(t)) })
}

// TestCheck: GET /v1/providers reports the provider available only when the vendor
// takes the credentials.
func TestCheck(t *testing.T) {
	f := newFakeDaytona(t)
	var _ provider.Checker = newProvider(t, f)
	if err := newProvider(t, f).Check(context.Background()); err != nil {
		t.Errorf("Check = %v", err)
	}
	bad, _ := daytona.NewProvider(daytona.Config{APIKey: "wrong", APIURL: f.srv.URL})
	if err := bad.Check(context.Background()); err == nil {
		t.Error("Check with a rejected credential succeeded")
	}
}
