package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// needBuildTools skips when the machine cannot reach the package registries the build
// test installs from (apt and npm are reachable in this project's test environment).
func needBuildTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"apt-get", "dpkg-deb", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("environment builds need %s (Debian host with npm; run scripts/install-test-deps)", tool)
		}
	}
}

func buildCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return c
}

// TestBuildLayer installs real packages (apt: hello, which the host lacks, and jq; npm:
// is-number) into a layer, then runs them in a session sandbox mounting it.
func TestBuildLayer(t *testing.T) {
	needBuildTools(t)
	p := newTestProvider(t, Limits{})
	var log bytes.Buffer
	pk := hangar.Packages{Apt: []string{"hello", "jq"}, Npm: []string{"is-number"}}
	layer, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "k1", Packages: pk, Log: &log})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	for _, want := range []string{"==> apt: resolving hello jq", "==> apt: unpacking hello_", "==> npm: installing is-number", "==> done"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("build log lacks %q:\n%s", want, log.String())
		}
	}
	if filepath.Dir(layer) != filepath.Join(p.stateDir, layersDir) {
		t.Errorf("layer = %s, want under %s", layer, filepath.Join(p.stateDir, layersDir))
	}

	sb := create(t, p, provider.Spec{Layer: layer})
	mustSucceed(t, sb, "hello -g hi && jq --version >/dev/null && echo '{\"a\":1}' | jq -c .a && node -e \"console.log(require('is-number')(5))\"", "hi\n1\ntrue\n")
	// The layer is read-only in sessions.
	if _, _, code := sh(t, sb, "touch "+layerPath+"/x"); code == 0 {
		t.Error("a session could write into the layer")
	}
	// A sandbox without the layer has no hello.
	plain := create(t, p, provider.Spec{})
	if _, _, code := sh(t, plain, "command -v hello"); code == 0 {
		t.Error("hello is on the host: the test proves nothing")
	}

	// Building the same key again reuses the layer at once.
	log.Reset()
	start := time.Now()
	again, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "k1", Packages: pk, Log: &log})
	if err != nil || again != layer {
		t.Fatalf("rebuild = %q, %v; want %q", again, err, layer)
	}
	if d := time.Since(start); d > time.Second || !strings.Contains(log.String(), "already built") {
		t.Errorf("rebuild took %v, log %q; want the cached layer", d, log.String())
	}

	// A sandbox whose layer was deleted is not recovered (the runner creates it again).
	if _, err := p.Recover(ctx(t), sb.Handle()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if err := os.RemoveAll(layer); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Recover(ctx(t), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover without its layer = %v, want not_found_error", err)
	}
}

func TestBuildFailure(t *testing.T) {
	needBuildTools(t)
	p := newTestProvider(t, Limits{})
	var log bytes.Buffer
	_, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "bad", Packages: hangar.Packages{Apt: []string{"hangar-no-such-package"}}, Log: &log})
	if err == nil {
		t.Fatal("Build of a missing package succeeded")
	}
	if !strings.Contains(log.String(), "hangar-no-such-package") || !strings.Contains(log.String(), "apt: cannot resolve") {
		t.Errorf("build log does not name the failure:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(p.stateDir, layersDir, "bad")); err == nil {
		t.Error("a failed build left its layer")
	}
	entries, _ := os.ReadDir(filepath.Join(p.stateDir, layersDir))
	if len(entries) != 0 {
		t.Errorf("a failed build left %d entries in the layers dir", len(entries))
	}
}

func TestBuildRejects(t *testing.T) {
	p := newTestProvider(t, Limits{})
	for _, tc := range []struct {
		name string
		spec provider.BuildSpec
	}{
		{"bad key", provider.BuildSpec{Key: "../x"}},
		{"option as package", provider.BuildSpec{Key: "k", Packages: hangar.Packages{Npm: []string{"--registry=http://evil"}}}},
		{"shell in package", provider.BuildSpec{Key: "k", Packages: hangar.Packages{Apt: []string{"jq;id"}}}},
		{"space in package", provider.BuildSpec{Key: "k", Packages: hangar.Packages{Pip: []string{"a b"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Build(context.Background(), tc.spec); !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Build = %v, want invalid_request_error", err)
			}
		})
	}
	if _, err := p.Create(context.Background(), provider.Spec{SessionID: "s", Layer: "/etc"}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Create with a foreign layer = %v, want invalid_request_error", err)
	}
}

func TestCheck(t *testing.T) {
	p := newTestProvider(t, Limits{})
	if err := p.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
	broken := *p.Provider
	broken.bwrap = "/bin/false"
	if err := broken.Check(context.Background()); err == nil {
		t.Error("Check with a broken bwrap = nil")
	}
}

// BenchmarkBuildLayer measures a full environment build (apt: hello, jq; npm: is-number),
// network included: what the first session of a new environment would wait for without
// prebuilt layers.
func BenchmarkBuildLayer(b *testing.B) {
	if _, err := exec.LookPath("npm"); err != nil {
		b.Skip("needs npm")
	}
	p := newTestProvider(b, Limits{})
	i := 0
	for b.Loop() {
		i++
		var log bytes.Buffer
		key := "bench" + strings.Repeat("x", i) // a new key: a real build every time
		if _, err := p.Build(context.Background(), provider.BuildSpec{Key: key, Packages: hangar.Packages{Apt: []string{"hello", "jq"}, Npm: []string{"is-number"}}, Log: &log}); err != nil {
			b.Fatalf("Build: %v\n%s", err, log.String())
		}
	}
}

// BenchmarkCreateExecLayer is BenchmarkCreateExec on a built environment: create a
// sandbox mounting the layer, run a tool the layer installed, destroy.
func BenchmarkCreateExecLayer(b *testing.B) {
	if _, err := exec.LookPath("npm"); err != nil {
		b.Skip("needs npm")
	}
	p := newTestProvider(b, Limits{})
	var log bytes.Buffer
	layer, err := p.Build(context.Background(), provider.BuildSpec{Key: "bench", Packages: hangar.Packages{Apt: []string{"hello", "jq"}, Npm: []string{"is-number"}}, Log: &log})
	if err != nil {
		b.Fatalf("Build: %v\n%s", err, log.String())
	}
	for b.Loop() {
		sb, err := p.Create(ctx(b), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), Layer: layer})
		if err != nil {
			b.Fatal(err)
		}
		if out, _, code := run(b, sb, "hello"); out != "Hello, world!\n" || code != 0 {
			b.Fatalf("hello = %q %d", out, code)
		}
		if err := sb.Destroy(ctx(b)); err != nil {
			b.Fatal(err)
		}
	}
}

// recordingProxy is a minimal forward proxy (CONNECT and absolute-form http://) standing in
// for the egress proxy: it records the hosts the installers reach through it.
type recordingProxy struct {
	mu    sync.Mutex
	hosts map[string]bool
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hosts[r.URL.Hostname()+r.Host] = true
	p.mu.Unlock()
	if r.Method == http.MethodConnect {
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { io.Copy(up, c); up.Close() }()
		io.Copy(c, up)
		c.Close()
		return
	}
	r.RequestURI = ""
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (p *recordingProxy) saw(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h := range p.hosts {
		if strings.Contains(h, host) {
			return true
		}
	}
	return false
}

// TestBuildThroughEgress builds with an egress socket: the installers have no network but
// the proxy, and their traffic shows up there.
func TestBuildThroughEgress(t *testing.T) {
	needBuildTools(t)
	p := newTestProvider(t, Limits{})
	sock := filepath.Join(t.TempDir(), "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &recordingProxy{hosts: map[string]bool{}}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var log bytes.Buffer
	pk := hangar.Packages{Apt: []string{"hello"}, Npm: []string{"is-number"}}
	layer, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "egress", Packages: pk, Log: &log, EgressSocket: sock})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log.String())
	}
	for _, host := range []string{"deb.debian.org", "registry.npmjs.org"} {
		if !proxy.saw(host) {
			t.Errorf("the proxy did not see %s (saw %v)\n%s", host, proxy.hosts, log.String())
		}
	}
	sb := create(t, p, provider.Spec{Layer: layer})
	mustSucceed(t, sb, "hello", "Hello, world!\n")

	// Behind a proxy that lets nothing through, the build has no network at all.
	deadSock := filepath.Join(t.TempDir(), "dead.sock")
	dead, err := net.Listen("unix", deadSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	go func() {
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	log.Reset()
	_, err = p.Build(buildCtx(t), provider.BuildSpec{Key: "egress2", Packages: hangar.Packages{Apt: []string{"hello"}}, Log: &log, EgressSocket: deadSock})
	if err == nil || !strings.Contains(log.String(), "Failed to fetch") {
		t.Errorf("Build behind a dead proxy = %v, want apt failing to fetch:\n%s", err, log.String())
	}
}

// TestBuildCancel cancels a build while an installer waits on the network: Build returns
// the context's error at once and leaves nothing behind.
func TestBuildCancel(t *testing.T) {
	needBuildTools(t)
	p := newTestProvider(t, Limits{})
	sock := filepath.Join(t.TempDir(), "hang.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithCancel(buildCtx(t))
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	go func() {
		c, err := ln.Accept() // the installer's first request: hold it, unanswered
		if err != nil {
			return
		}
		held = append(held, c)
		cancel()
	}()
	var log bytes.Buffer
	_, err = p.Build(ctx, provider.BuildSpec{Key: "cancel", Packages: hangar.Packages{Apt: []string{"hello"}}, Log: &log, EgressSocket: sock})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Build = %v, want context.Canceled\n%s", err, log.String())
	}
	if entries, _ := os.ReadDir(filepath.Join(p.stateDir, layersDir)); len(entries) != 0 {
		t.Errorf("a cancelled build left %d entries", len(entries))
	}
}
