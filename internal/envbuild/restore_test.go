package envbuild

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// vendorBuilder is a remote provider whose layers are vendor artefacts ("snap_<key>"),
// not local paths, which the vendor may lose (forget).
type vendorBuilder struct {
	provider.Provider
	mu     sync.Mutex
	layers map[string]bool
	builds int
	checks []string // "key layer" per LayerExists
}

func (v *vendorBuilder) Capabilities() provider.Capabilities {
	return provider.Capabilities{Isolated: true, Remote: true}
}

func (v *vendorBuilder) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.builds++
	fmt.Fprintf(spec.Log, "==> vendor: building %s\n", provider.Describe(spec.Packages))
	layer := "snap_" + spec.Key
	v.layers[layer] = true
	return layer, nil
}

func (v *vendorBuilder) LayerExists(ctx context.Context, spec provider.BuildSpec, layer string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if spec.Log != nil || len(spec.Packages.Npm) != 1 {
		return false, fmt.Errorf("LayerExists got spec %+v", spec)
	}
	v.checks = append(v.checks, spec.Key+" "+layer)
	return v.layers[layer], nil
}

func (v *vendorBuilder) counts() (builds, checks int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.builds, len(v.checks)
}

// A ready layer at a vendor survives a restart: it is confirmed with the vendor, not
// built again; one the vendor lost is built again. Remote builds are not attached to the
// egress proxy, and the log says which network they use.
func TestVendorLayerAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	v := &vendorBuilder{layers: map[string]bool{}}
	attached := 0
	start := func() *Manager {
		m, err := New(Config{Dir: dir, Providers: providers{"fake": v},
			Egress: func(context.Context, string, *hangar.Networking) (string, func(), error) {
				attached++
				return "/run/egress.sock", nil, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		<-m.restored // the restart's confirmations are done (else first use confirms)
		return m
	}
	e := env("env_vendor", &hangar.Packages{Npm: []string{"is-number"}})
	key := Key("fake", *e.Config.Packages)
	ctx := context.Background()

	m := start()
	layer, err := m.Layer(ctx, e)
	if err != nil || layer != "snap_"+key {
		t.Fatalf("first Layer = %q, %v", layer, err)
	}
	log, _ := m.Log(e)
	if !strings.Contains(string(log), "==> network: the fake provider builds on the vendor's network, not through the egress proxy") || attached != 0 {
		t.Errorf("remote build attached %d times to the egress proxy; log:\n%s", attached, log)
	}
	m.Close()

	// Restart: restore confirms the layer at start; the environment is ready at once.
	m = start()
	if st, msg := m.Status(e); st != StateReady {
		t.Errorf("status after restart = %q (%s), want ready", st, msg)
	}
	if l, err := m.Layer(ctx, e); err != nil || l != layer {
		t.Errorf("Layer after restart = %q, %v", l, err)
	}
	if builds, checks := v.counts(); builds != 1 || checks != 1 {
		t.Errorf("after a restart: %d builds, %d checks; want 1, 1", builds, checks)
	}
	if log, _ := m.Log(e); !strings.Contains(string(log), "==> vendor: building") {
		t.Errorf("the build log did not survive the restart:\n%s", log)
	}
	m.Close()

	// The vendor loses the layer: confirmed at start as gone, then at first use again,
	// and built anew.
	v.mu.Lock()
	clear(v.layers)
	v.mu.Unlock()
	m = start()
	if l, err := m.Layer(ctx, e); err != nil || l != layer {
		t.Errorf("Layer after the vendor lost it = %q, %v", l, err)
	}
	if builds, checks := v.counts(); builds != 2 || checks != 3 {
		t.Errorf("after the layer was lost: %d builds, %d checks; want 2, 3", builds, checks)
	}
	if log, _ := m.Log(e); !strings.Contains(string(log), "==> layer "+layer+" no longer exists at the fake provider: building it again") {
		t.Errorf("build log:\n%s", log)
	}
	m.Close()
	rec, err := readRecord(dir + "/" + key)
	if err != nil || rec.Provider != "fake" || rec.Packages == nil || rec.Environment == nil || rec.Layer != layer {
		t.Errorf("record = %+v, %v", rec, err)
	}
}
