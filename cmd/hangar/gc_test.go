package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/kubernetes"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// TestInstallationID checks the ID is created once in the data dir and reaches the
// kubernetes provider's config, and that HANGAR_INSTALLATION_ID overrides it.
func TestInstallationID(t *testing.T) {
	cfg := Config{DataDir: t.TempDir()}
	id := installationID(cfg)
	if id == "" || installationID(cfg) != id {
		t.Fatalf("installation IDs %q then %q, want one stable ID", id, installationID(cfg))
	}
	if b, _ := os.ReadFile(filepath.Join(cfg.DataDir, "installation-id")); string(b) != id+"\n" {
		t.Errorf("installation-id file = %q", b)
	}
	decode := func(cfg Config) kubernetes.Config {
		t.Helper()
		raws, err := providerConfigs(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var k kubernetes.Config
		if err := json.Unmarshal(raws["kubernetes"], &k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	cfg.PublicURL = "https://hangar.example.com"
	if k := decode(cfg); k.Installation != id || k.PublicURL != cfg.PublicURL {
		t.Errorf("kubernetes config installation %q public_url %q, want %q and %q", k.Installation, k.PublicURL, id, cfg.PublicURL)
	}
	cfg.Kubernetes = kubernetesConfig(func(k string) string { return map[string]string{installationVar: "shared-id"}[k] })
	if k := decode(cfg); k.Installation != "shared-id" {
		t.Errorf("with %s: installation %q", installationVar, k.Installation)
	}
	if installationID(Config{}) != "" {
		t.Error("an installation ID without a data dir")
	}
}

// TestCollectingStore checks that environment updates and deletions through the API's
// store schedule a layer collection, and failed ones do not.
func TestCollectingStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	calls := 0
	s := collectingStore{Store: st, collect: func() { calls++ }}
	now := hangar.Now()
	e := &hangar.Environment{Type: "environment", ID: hangar.NewID(hangar.PrefixEnvironment), Name: "e", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateEnvironment(ctx, e); err != nil || calls != 0 {
		t.Fatalf("create: %v, %d collections", err, calls)
	}
	if _, err := s.UpdateEnvironment(ctx, e.ID, func(e *hangar.Environment) error { e.Name = "f"; return nil }); err != nil || calls != 1 {
		t.Errorf("update: %v, %d collections, want 1", err, calls)
	}
	if _, err := s.UpdateEnvironment(ctx, "env_missing", func(*hangar.Environment) error { return nil }); err == nil || calls != 1 {
		t.Errorf("failed update: %v, %d collections, want still 1", err, calls)
	}
	if err := s.DeleteEnvironment(ctx, e.ID); err != nil || calls != 2 {
		t.Errorf("delete: %v, %d collections, want 2", err, calls)
	}
}

// TestInstallationIDNeedsDataDir checks that building provider configs outside a server
// (no data dir yet) creates nothing in the working directory.
func TestInstallationIDNeedsDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	if id := installationID(Config{DataDir: dir}); id != "" {
		t.Errorf("installationID without a data dir = %q, want \"\"", id)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir created: stat err = %v", err)
	}
}
