package vercel_test

import (
	"testing"

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
