package daytona_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

func TestBuild(t *testing.T) {
	f := newFakeDaytona(t).withStubs()
	p := newProvider(t, f)
	cloudtest.RunBuild(t, p, f.dropSnapshot)

	// The layer is a snapshot named for the key, built from a Dockerfile of the
	// installer steps as root, then the sandbox user again.
	f.mu.Lock()
	snap := f.snapshots["hangar-env-cloud-abc123"]
	f.mu.Unlock()
	if snap == nil {
		t.Fatal("no snapshot hangar-env-cloud-abc123")
	}
	df := snap.dockerfile
	if !strings.HasPrefix(df, "FROM daytonaio/sandbox:") || !strings.Contains(df, "\nUSER root\nRUN ") || !strings.HasSuffix(df, "\nUSER daytona\n") {
		t.Errorf("Dockerfile:\n%s", df)
	}
}

// A snapshot that failed to build (in an earlier run) is deleted and built again.
func TestBuildRetriesFailedSnapshot(t *testing.T) {
	f := newFakeDaytona(t).withStubs()
	p := newProvider(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bad := provider.BuildSpec{Key: "retry", Packages: hangar.Packages{Apt: []string{"missing-x"}}}
	if _, err := p.Build(ctx, bad); err == nil || !strings.Contains(err.Error(), "apt: installing missing-x failed") {
		t.Fatalf("first build: %v", err)
	}
	var log strings.Builder
	layer, err := p.Build(ctx, provider.BuildSpec{Key: "retry", Packages: hangar.Packages{Apt: []string{"jq"}}, Log: &log})
	if err != nil || layer != "hangar-env-retry" || !strings.Contains(log.String(), "is build_failed") {
		t.Errorf("rebuild = %q, %v:\n%s", layer, err, log.String())
	}
}

func TestCollect(t *testing.T) {
	f := newFakeDaytona(t).withStubs()
	cloudtest.RunCollect(t, newProvider(t, f))
}

func TestLayerExists(t *testing.T) {
	f := newFakeDaytona(t).withStubs()
	cloudtest.RunLayerCheck(t, newProvider(t, f), func() provider.Provider { return newProvider(t, f) }, f.dropSnapshot)
}

func TestSandboxIsolated(t *testing.T) {
	cloudtest.RunIsolated(t, newProvider(t, newFakeDaytona(t)))
}
