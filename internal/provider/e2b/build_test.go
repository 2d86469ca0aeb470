package e2b_test

import (
	"testing"
	"time"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/e2b"
)

func TestBuild(t *testing.T) {
	f := newFakeE2B(t).withStubs()
	newProvider(t, f) // skips without bubblewrap
	p, err := e2b.NewProvider(e2b.Config{APIKey: f.key, APIURL: f.srv.URL, SandboxURL: f.srv.URL, User: hostUser(t), PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cloudtest.RunBuild(t, p, f.dropTemplate)
	// Sessions of the layer are sandboxes of the template the build named.
	f.mu.Lock()
	defer f.mu.Unlock()
	var fromTemplate int
	for _, body := range f.created {
		if body["templateID"] == "hangar-env-cloud-abc123" {
			fromTemplate++
		}
	}
	if fromTemplate != 1 {
		t.Errorf("%d sandboxes of template hangar-env-cloud-abc123, want 1", fromTemplate)
	}
}

func TestCollect(t *testing.T) {
	f := newFakeE2B(t).withStubs()
	newProvider(t, f) // skips without bubblewrap
	p, err := e2b.NewProvider(e2b.Config{APIKey: f.key, APIURL: f.srv.URL, SandboxURL: f.srv.URL, User: hostUser(t), PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cloudtest.RunCollect(t, p)
}

func TestLayerExists(t *testing.T) {
	f := newFakeE2B(t).withStubs()
	newProvider(t, f) // skips without bubblewrap
	open := func() provider.Provider {
		p, err := e2b.NewProvider(e2b.Config{APIKey: f.key, APIURL: f.srv.URL, SandboxURL: f.srv.URL, User: hostUser(t), PollInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cloudtest.RunLayerCheck(t, open(), open, f.dropTemplate)
}

func TestSandboxIsolated(t *testing.T) {
	cloudtest.RunIsolated(t, newProvider(t, newFakeE2B(t)))
}
