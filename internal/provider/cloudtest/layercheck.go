package cloudtest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// RunLayerCheck checks a cloud provider's provider.LayerChecker against its vendor fake,
// as the server uses it after a restart (internal/envbuild): a built layer exists, also
// for restarted() (a new provider instance, as after a server restart), which then
// reuses it without running the installers; a provider that collects layers lists the
// confirmed key and removes it. Once the layer is gone (removed, or lost through forget
// on providers that do not collect), it no longer exists, and Build makes it again.
func RunLayerCheck(t *testing.T, p provider.Provider, restarted func() provider.Provider, forget func(layer string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := provider.BuildSpec{Key: "check-key1", Packages: hangar.Packages{Apt: []string{"jq"}}}
	layer, err := p.(provider.Builder).Build(ctx, spec)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	exists := func(p provider.Provider, layer string) bool {
		t.Helper()
		c, ok := p.(provider.LayerChecker)
		if !ok {
			t.Fatalf("%T is not a provider.LayerChecker", p)
		}
		ok, err := c.LayerExists(ctx, spec, layer)
		if err != nil {
			t.Fatalf("LayerExists(%s): %v", layer, err)
		}
		return ok
	}
	if !exists(p, layer) {
		t.Fatal("LayerExists = false for the layer just built")
	}
	q := restarted()
	if !exists(q, layer) {
		t.Fatal("LayerExists = false after a restart")
	}
	var log syncBuffer
	spec.Log = &log
	if l, err := q.(provider.Builder).Build(ctx, spec); err != nil || l != layer || strings.Contains(log.String(), "==> apt:") {
		t.Errorf("Build after the restart = %q, %v (want %q, reused):\n%s", l, err, layer, log.String())
	}
	spec.Log = nil
	if c, ok := q.(layerCollector); ok {
		keys, err := c.BuiltLayers(ctx)
		if err != nil || !slices.Contains(keys, spec.Key) {
			t.Errorf("BuiltLayers after the restart = %v, %v; want it to list %s", keys, err, spec.Key)
		}
		if err := c.RemoveLayer(ctx, spec.Key); err != nil {
			t.Fatalf("RemoveLayer: %v", err)
		}
	} else {
		forget(layer)
	}
	if exists(q, layer) {
		t.Error("LayerExists = true for a layer that is gone")
	}
	// The server then builds it again (on modal, joining the rebuild LayerExists started).
	log = syncBuffer{}
	spec.Log = &log
	if l, err := q.(provider.Builder).Build(ctx, spec); err != nil || l == "" || !strings.Contains(log.String(), "==> apt: installing jq") {
		t.Errorf("Build of the lost layer = %q, %v:\n%s", l, err, log.String())
	}
}
