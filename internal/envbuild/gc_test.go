package envbuild

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/local"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// TestCollect builds real layers with the local provider (packages the host already has,
// so no network), then checks Collect against a real store: layers of current
// environments stay; an environment's old layer goes once its packages change, unless a
// session of it that is not terminated may still run on it; a layer is removed from the
// provider (<state>/.layers/<key>) and from the build directory; a later build of the
// same packages works again.
func TestCollect(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (scripts/install-test-deps installs it)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("no apt-get: the local provider's apt builds need a Debian host")
	}
	ctx := context.Background()
	data := t.TempDir()
	st, err := sqlstore.Open(ctx, filepath.Join(data, "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg, _ := json.Marshal(map[string]any{"state_dir": filepath.Join(data, "sandboxes")})
	lp, err := local.New(cfg, provider.Deps{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Dir: filepath.Join(data, "builds"), Providers: providers{"local": lp}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)

	now := hangar.Now()
	newEnv := func(pk *hangar.Packages) *hangar.Environment {
		id := hangar.NewID(hangar.PrefixEnvironment)
		e := &hangar.Environment{Type: "environment", ID: id, Name: "env-" + id, Metadata: map[string]string{},
			Config: hangar.EnvironmentConfig{Type: "cloud", Provider: "local", Packages: pk}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateEnvironment(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := newEnv(&hangar.Packages{Apt: []string{"coreutils"}})
	b := newEnv(&hangar.Packages{Apt: []string{"bash"}})
	layer := func(e *hangar.Environment) string {
		t.Helper()
		l, err := m.Layer(ctx, e)
		if err != nil {
			t.Fatalf("Layer: %v", err)
		}
		if _, err := os.Stat(l); err != nil {
			t.Fatalf("layer %s: %v", l, err)
		}
		return l
	}
	la, lb := layer(a), layer(b)
	keyA, keyB := filepath.Base(la), filepath.Base(lb)
	// A session of b, idle: it may start its sandbox from b's layer again.
	sess := &hangar.Session{Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle, EnvironmentID: b.ID,
		Agent:    hangar.Agent{Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "a", Engine: "claude", Tools: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now},
		Metadata: map[string]string{}, Resources: json.RawMessage(`[]`), VaultIDs: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	collect := func() []string {
		t.Helper()
		removed, err := m.Collect(ctx, st, []string{"local", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		return removed
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	if got := collect(); len(got) != 0 {
		t.Errorf("Collect with every layer current removed %q", got)
	}
	// Both environments drop their packages.
	for _, e := range []*hangar.Environment{a, b} {
		if _, err := st.UpdateEnvironment(ctx, e.ID, func(e *hangar.Environment) error { e.Config.Packages = nil; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(); !slices.Equal(got, []string{keyA}) {
		t.Errorf("Collect after the packages changed removed %q, want only a's %s (b has a live session)", got, keyA)
	}
	if exists(la) || exists(filepath.Join(data, "builds", keyA)) {
		t.Error("a's layer or build directory is still there")
	}
	if !exists(lb) || !exists(filepath.Join(data, "builds", keyB)) {
		t.Error("b's layer went while b's session is alive")
	}
	if keys, _ := lp.(LayerCollector).BuiltLayers(ctx); !slices.Equal(keys, []string{keyB}) {
		t.Errorf("local layers = %q, want only %s", keys, keyB)
	}
	// The session ends: b's old layer goes.
	if _, err := st.UpdateSession(ctx, sess.ID, func(s *hangar.Session) error { s.Status = hangar.StatusTerminated; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := collect(); !slices.Equal(got, []string{keyB}) || exists(lb) {
		t.Errorf("Collect after the session ended removed %q (layer left: %v), want %s", got, exists(lb), keyB)
	}
	// Building the same packages again works: the removed build is forgotten.
	if l := layer(newEnv(&hangar.Packages{Apt: []string{"coreutils"}})); l != la {
		t.Errorf("rebuilt layer %s, want %s", l, la)
	}
}
