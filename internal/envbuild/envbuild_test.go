package envbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// fakeBuilder is a provider whose builds wait for release and then succeed, or fail when
// the packages include "bad".
type fakeBuilder struct {
	provider.Provider
	dir     string
	release chan struct{}
	mu      sync.Mutex
	calls   int
	sockets []string
	caps    provider.Capabilities
}

func (f *fakeBuilder) Capabilities() provider.Capabilities { return f.caps }

func (f *fakeBuilder) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	f.mu.Lock()
	f.calls++
	f.sockets = append(f.sockets, spec.EgressSocket)
	f.mu.Unlock()
	fmt.Fprintf(spec.Log, "installing %s\n", provider.Describe(spec.Packages))
	select {
	case <-f.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	for _, p := range spec.Packages.Apt {
		if p == "bad" {
			fmt.Fprintln(spec.Log, "E: Unable to locate package bad")
			return "", errors.New("the installers failed")
		}
	}
	layer := f.dir + "/" + spec.Key
	return layer, os.MkdirAll(layer, 0o755)
}

func (f *fakeBuilder) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// plain is a provider that cannot build.
type plain struct{ provider.Provider }

type providers map[string]provider.Provider

func (ps providers) Provider(name string) (string, provider.Provider, error) {
	if name == "" {
		name = "fake"
	}
	p, ok := ps[name]
	if !ok {
		return "", nil, fmt.Errorf("no provider %q", name)
	}
	return name, p, nil
}

func newManager(t *testing.T, dir string, fb *fakeBuilder) *Manager {
	t.Helper()
	m, err := New(Config{Dir: dir, Providers: providers{"fake": fb, "memory": plain{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func env(id string, pk *hangar.Packages) *hangar.Environment {
	return &hangar.Environment{ID: id, Config: hangar.EnvironmentConfig{Type: "cloud", Packages: pk}}
}

func TestBuildLifecycle(t *testing.T) {
	dir := t.TempDir()
	fb := &fakeBuilder{dir: t.TempDir(), release: make(chan struct{})}
	m := newManager(t, dir, fb)
	e1 := env("env_1", &hangar.Packages{Apt: []string{"jq"}, Npm: []string{"is-number"}})
	e2 := env("env_2", &hangar.Packages{Npm: []string{"is-number"}, Apt: []string{"jq", "jq"}}) // same content

	if st, _ := m.Status(e1); st != StatePreparing {
		t.Fatalf("Status = %q, want preparing", st)
	}
	if st, _ := m.Status(e2); st != StatePreparing {
		t.Fatalf("Status of the twin = %q, want preparing", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Layer(ctx, e1); !errors.Is(err, context.Canceled) {
		t.Errorf("Layer with a done ctx while preparing = %v", err)
	}
	close(fb.release)
	l1, err := m.Layer(context.Background(), e1)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := m.Layer(context.Background(), e2)
	if err != nil || l2 != l1 {
		t.Errorf("twin layer = %q, %v; want %q", l2, err, l1)
	}
	if st, _ := m.Status(e1); st != StateReady {
		t.Errorf("Status = %q, want ready", st)
	}
	if n := fb.Calls(); n != 1 {
		t.Errorf("%d builds for the same packages, want 1", n)
	}
	if log, _ := m.Log(e2); !strings.Contains(string(log), "installing apt: jq; npm: is-number") || !strings.Contains(string(log), "==> ready in") {
		t.Errorf("log = %q", log)
	}

	// A restarted server finds the ready layer without building.
	m.Close()
	fb2 := &fakeBuilder{dir: fb.dir, release: make(chan struct{})}
	m2 := newManager(t, dir, fb2)
	if st, _ := m2.Status(e1); st != StateReady {
		t.Errorf("after restart Status = %q, want ready", st)
	}
	if l, err := m2.Layer(context.Background(), e1); err != nil || l != l1 || fb2.Calls() != 0 {
		t.Errorf("after restart Layer = %q, %v with %d builds", l, err, fb2.Calls())
	}
}

func TestBuildFailure(t *testing.T) {
	dir := t.TempDir()
	fb := &fakeBuilder{dir: t.TempDir(), release: make(chan struct{})}
	close(fb.release)
	m := newManager(t, dir, fb)
	e := env("env_bad", &hangar.Packages{Apt: []string{"bad"}})
	_, err := m.Layer(context.Background(), e)
	if !hangar.IsKind(err, hangar.KindInvalidRequest) || !strings.Contains(err.Error(), "build failed: the installers failed") || !strings.Contains(err.Error(), "/v1/environments/env_bad/build_log") {
		t.Errorf("Layer = %v", err)
	}
	if st, msg := m.Status(e); st != StateFailed || msg != "the installers failed" {
		t.Errorf("Status = %q, %q", st, msg)
	}
	if log, _ := m.Log(e); !strings.Contains(string(log), "Unable to locate package bad") || !strings.Contains(string(log), "==> build failed") {
		t.Errorf("log = %q", log)
	}
	// Failures are not sticky across restarts.
	m.Close()
	m2 := newManager(t, dir, fb)
	m2.Layer(context.Background(), e)
	if n := fb.Calls(); n != 2 {
		t.Errorf("%d builds after a restart, want the failed one retried", n)
	}
}

func TestNothingToBuild(t *testing.T) {
	fb := &fakeBuilder{dir: t.TempDir()}
	m := newManager(t, t.TempDir(), fb)
	for _, pk := range []*hangar.Packages{nil, {Type: "packages"}} {
		e := env("env_none", pk)
		if st, msg := m.Status(e); st != "" || msg != "" {
			t.Errorf("Status = %q, %q, want none", st, msg)
		}
		if l, err := m.Layer(context.Background(), e); l != "" || err != nil {
			t.Errorf("Layer = %q, %v", l, err)
		}
	}
	if fb.Calls() != 0 {
		t.Error("built an environment without packages")
	}
}

func TestProviderWithoutBuilds(t *testing.T) {
	m := newManager(t, t.TempDir(), &fakeBuilder{})
	e := env("env_mem", &hangar.Packages{Apt: []string{"jq"}})
	e.Config.Provider = "memory"
	if st, msg := m.Status(e); st != StateFailed || !strings.Contains(msg, "cannot install packages") {
		t.Errorf("Status = %q, %q", st, msg)
	}
	if _, err := m.Layer(context.Background(), e); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Layer = %v, want invalid_request_error", err)
	}
}

func TestKey(t *testing.T) {
	a := Key("local", hangar.Packages{Apt: []string{"b", "a"}})
	for _, tc := range []struct {
		name     string
		provider string
		pk       hangar.Packages
		same     bool
	}{
		{"order and duplicates", "local", hangar.Packages{Apt: []string{"a", "b", "a"}}, true},
		{"other provider", "docker", hangar.Packages{Apt: []string{"a", "b"}}, false},
		{"other manager", "local", hangar.Packages{Npm: []string{"a", "b"}}, false},
		{"pin", "local", hangar.Packages{Apt: []string{"a=1", "b"}}, false},
	} {
		if got := Key(tc.provider, tc.pk) == a; got != tc.same {
			t.Errorf("%s: same key = %v, want %v", tc.name, got, tc.same)
		}
	}
}

func TestBuildThroughEgress(t *testing.T) {
	fb := &fakeBuilder{dir: t.TempDir(), release: make(chan struct{})}
	close(fb.release)
	var attached []string
	detached := 0
	m, err := New(Config{Dir: t.TempDir(), Providers: providers{"fake": fb},
		Egress: func(ctx context.Context, id string, n *hangar.Networking) (string, func(), error) {
			attached = append(attached, id+" "+n.Type)
			return "/run/egress/" + id + ".sock", func() { detached++ }, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := env("env_net", &hangar.Packages{Npm: []string{"is-number"}})
	e.Config.Networking = &hangar.Networking{Type: "limited"}
	if _, err := m.Layer(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	m.Close()
	key := Key("fake", *e.Config.Packages)
	if len(attached) != 1 || attached[0] != "build_"+key+" limited" || detached != 1 {
		t.Errorf("attached %v, detached %d", attached, detached)
	}
	if len(fb.sockets) != 1 || fb.sockets[0] != "/run/egress/build_"+key+".sock" {
		t.Errorf("build sockets = %v", fb.sockets)
	}
}
