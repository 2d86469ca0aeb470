package vercel_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

func TestBuild(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	f := newFakeVercel(t).withStubs()
	cloudtest.RunBuild(t, newProvider(t, f), f.dropSnapshot)
	// Sessions of the layer start from its snapshot, without a runtime.
	var fromSnapshot int
	f.mu.Lock()
	for _, body := range f.created {
		if src, ok := body["source"].(map[string]any); ok && src["type"] == "snapshot" {
			fromSnapshot++
			if body["runtime"] != nil {
				t.Errorf("a sandbox from a snapshot was given a runtime: %v", body)
			}
		}
	}
	f.mu.Unlock()
	if fromSnapshot != 1 {
		t.Errorf("%d sandboxes created from a snapshot, want 1", fromSnapshot)
	}
}

func TestCollect(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	f := newFakeVercel(t).withStubs()
	cloudtest.RunCollect(t, newProvider(t, f))
}

// The key → snapshot mapping lives in the server's build record: a restarted provider
// learns it from LayerExists, then reuses and collects the snapshot.
func TestLayerExists(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	f := newFakeVercel(t).withStubs()
	cloudtest.RunLayerCheck(t, newProvider(t, f), func() provider.Provider { return newProvider(t, f) }, f.dropSnapshot)
}

// With networking limited, the build sandbox runs under Vercel's network policy: the
// environment's allowed hosts and the package registries.
func TestBuildNetworkPolicy(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	f := newFakeVercel(t).withStubs()
	p := newProvider(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name       string
		networking *hangar.Networking
		log        string
		domains    []string // nil: no policy
	}{
		{"unrestricted", nil, "==> networking: unrestricted, as the environment's", nil},
		{"limited", &hangar.Networking{Type: "limited", AllowedHosts: []string{"example.com"}},
			"==> networking: limited, applied to the build sandbox: the allowed hosts (example.com) and the package registries",
			[]string{"example.com", "registry.npmjs.org", "deb.debian.org", "cdn.amazonlinux.com"}},
	} {
		var log strings.Builder
		spec := provider.BuildSpec{Key: "net-" + tc.name, Packages: hangar.Packages{Apt: []string{"jq"}}, Log: &log,
			Environment: hangar.EnvironmentConfig{Networking: tc.networking}}
		if _, err := p.Build(ctx, spec); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(log.String(), tc.log) {
			t.Errorf("%s: build log lacks %q:\n%s", tc.name, tc.log, log.String())
		}
		f.mu.Lock()
		body := f.created[len(f.created)-1]
		f.mu.Unlock()
		np, _ := body["networkPolicy"].(map[string]any)
		if tc.domains == nil {
			if np != nil {
				t.Errorf("%s: build sandbox policy %v, want none", tc.name, np)
			}
			continue
		}
		var got []string
		for _, d := range np["allowedDomains"].([]any) {
			got = append(got, d.(string))
		}
		for _, d := range tc.domains {
			if np["mode"] != "custom" || !slices.Contains(got, d) {
				t.Errorf("%s: build sandbox policy %v lacks %s", tc.name, np, d)
			}
		}
	}
}

func TestSandboxIsolated(t *testing.T) {
	cloudtest.RunIsolated(t, newProvider(t, newFakeVercel(t)))
}
