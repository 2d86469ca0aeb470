package cloudtest

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// syncBuffer is a build log the test reads while the build writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// RunBuild checks a cloud provider's provider.Builder against its vendor fake, whose
// image carries the stub package managers (InstallStubs): the build log names each
// step and shows the installers' output, a second build of the key reuses the layer, a
// sandbox created with the layer sees what was installed (and one without does not), and
// a failing installer fails the build with an error naming its step. forget, when not
// nil, makes the vendor lose a layer (an expired snapshot): the next build must rebuild.
// It returns the layer the first build made.
func RunBuild(t *testing.T, p provider.Provider, forget func(layer string)) (layer string) {
	t.Helper()
	b, ok := p.(provider.Builder)
	if !ok {
		t.Fatalf("%T is not a provider.Builder", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pk := hangar.Packages{Apt: []string{"jq"}, Npm: []string{"@acme/left-pad@1.0.0"}, Pip: []string{"pandas>=2"},
		Go: []string{"golang.org/x/tools/cmd/stringer"}}
	var log syncBuffer
	layer, err := b.Build(ctx, provider.BuildSpec{Key: "cloud-abc123", Packages: pk, Log: &log})
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
	}
	for _, want := range []string{"==> apt: installing jq", "stub apt-get: installed jq", "==> npm: installing @acme/left-pad@1.0.0",
		"==> go: installing golang.org/x/tools/cmd/stringer@latest", "stub go: installed golang.org/x/tools/cmd/stringer@latest",
		"==> pip: installing pandas>=2", "stub pip: installed pandas>=2"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("build log lacks %q:\n%s", want, log.String())
		}
	}
	if layer == "" {
		t.Fatal("Build returned no layer")
	}

	var again syncBuffer
	if l2, err := b.Build(ctx, provider.BuildSpec{Key: "cloud-abc123", Packages: pk, Log: &again}); err != nil || l2 != layer {
		t.Errorf("second Build = %q, %v; want the same layer %q", l2, err, layer)
	}
	if strings.Contains(again.String(), "==> apt:") || !strings.Contains(again.String(), "already built") {
		t.Errorf("second build ran the installers again:\n%s", again.String())
	}

	check := `cat ` + Installed + `/apt/jq ` + Installed + `/pip/pandas; ` + StubBin + `/stringer; ` + StubBin + `/left-pad`
	if out := runIn(t, p, layer, check); out != "jq\npandas>=2\nstringer installed by go\nleft-pad installed by npm\n" {
		t.Errorf("a sandbox of the layer sees %q", out)
	}
	if out := runIn(t, p, "", "cat "+Installed+"/apt/jq 2>/dev/null || echo absent"); out != "absent\n" {
		t.Errorf("a sandbox without the layer sees %q", out)
	}

	for _, tc := range []struct {
		name string
		pk   hangar.Packages
		step string
		out  string
	}{
		{"apt", hangar.Packages{Apt: []string{"jq", "missing-pkg"}}, "apt: installing jq missing-pkg failed", "E: Unable to locate package missing-pkg"},
		{"npm", hangar.Packages{Apt: []string{"jq"}, Npm: []string{"missing-npm"}}, "npm: installing missing-npm failed", "E: Unable to locate package missing-npm"},
	} {
		var flog syncBuffer
		_, err := b.Build(ctx, provider.BuildSpec{Key: "cloud-fail-" + tc.name, Packages: tc.pk, Log: &flog})
		if err == nil || !strings.Contains(err.Error(), tc.step) {
			t.Errorf("failing %s build: err %v, want one naming %q", tc.name, err, tc.step)
		}
		if !strings.Contains(flog.String(), tc.out) {
			t.Errorf("failing %s build log lacks %q:\n%s", tc.name, tc.out, flog.String())
		}
	}

	if _, err := b.Build(ctx, provider.BuildSpec{Key: "Bad/Key", Packages: pk}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("bad key: %v, want invalid_request", err)
	}
	if _, err := b.Build(ctx, provider.BuildSpec{Key: "cloud-x", Packages: hangar.Packages{Apt: []string{"jq; rm -rf /"}}}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("bad package: %v, want invalid_request", err)
	}

	if forget != nil {
		forget(layer)
		var rebuilt syncBuffer
		l3, err := b.Build(ctx, provider.BuildSpec{Key: "cloud-abc123", Packages: pk, Log: &rebuilt})
		if err != nil || l3 == "" || !strings.Contains(rebuilt.String(), "==> apt: installing jq") {
			t.Errorf("build after the layer was lost = %q, %v:\n%s", l3, err, rebuilt.String())
		}
	}
	return layer
}

// runIn runs script in a new sandbox with the layer and returns its stdout.
func runIn(t *testing.T, p provider.Provider, layer, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sb, err := p.Create(ctx, provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), WorkDir: "/workspace", HomeDir: "/home/agent", Layer: layer})
	if err != nil {
		t.Fatalf("Create with layer %q: %v", layer, err)
	}
	defer sb.Destroy(context.Background())
	proc, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	proc.Stdin().Close()
	go io.Copy(io.Discard, proc.Stderr())
	out, _ := io.ReadAll(proc.Stdout())
	if _, err := proc.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return string(out)
}

// layerCollector is internal/envbuild.LayerCollector (which providers and their tests do
// not import).
type layerCollector interface {
	BuiltLayers(ctx context.Context) ([]string, error)
	RemoveLayer(ctx context.Context, key string) error
}

// RunCollect checks a cloud provider's layer garbage collection against its vendor fake:
// a built key is listed, removing it deletes the vendor's artefact (a sandbox of the
// layer can no longer be created, the key is no longer listed), and removing it again,
// or a key never built, is no error.
func RunCollect(t *testing.T, p provider.Provider) {
	t.Helper()
	c, ok := p.(layerCollector)
	if !ok {
		t.Fatalf("%T does not collect layers", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	layer, err := p.(provider.Builder).Build(ctx, provider.BuildSpec{Key: "gc-key1", Packages: hangar.Packages{Apt: []string{"jq"}}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	listed := func() bool {
		keys, err := c.BuiltLayers(ctx)
		if err != nil {
			t.Fatalf("BuiltLayers: %v", err)
		}
		for _, k := range keys {
			if k == "gc-key1" {
				return true
			}
		}
		return false
	}
	if !listed() {
		t.Fatal("BuiltLayers does not list the built key")
	}
	if err := c.RemoveLayer(ctx, "gc-key1"); err != nil {
		t.Fatalf("RemoveLayer: %v", err)
	}
	if listed() {
		t.Error("BuiltLayers lists the removed key")
	}
	if sb, err := p.Create(ctx, provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), Layer: layer}); err == nil {
		sb.Destroy(context.Background())
		t.Error("a sandbox of the removed layer was created")
	}
	for _, key := range []string{"gc-key1", "gc-never-built"} {
		if err := c.RemoveLayer(ctx, key); err != nil {
			t.Errorf("RemoveLayer(%s) again: %v", key, err)
		}
	}
}
