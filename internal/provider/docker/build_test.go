package docker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/docker/dockertest"
)

// buildEngines are the engines builds are tested on (gVisor builds work the same way,
// only slower under ptrace).
var buildEngines = []string{"docker", "podman"}

func buildCtx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	return c
}

// forwardProxy is a minimal forward proxy (CONNECT and absolute-form http://) on a unix
// socket, standing in for the build's egress proxy attachment: it records the hosts the
// installers reach through it.
type forwardProxy struct {
	sock  string
	mu    sync.Mutex
	hosts map[string]bool
}

func newForwardProxy(tb testing.TB) *forwardProxy {
	tb.Helper()
	p := &forwardProxy{sock: filepath.Join(tb.TempDir(), "egress.sock"), hosts: map[string]bool{}}
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return p
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

func (p *forwardProxy) saw(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h := range p.hosts {
		if strings.Contains(h, host) {
			return true
		}
	}
	return false
}

// buildContainers returns the build containers left on p's engine.
func buildContainers(t *testing.T, p *Provider) []container.Summary {
	t.Helper()
	l, err := p.cli.ContainerList(ctx(t), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelBuild))})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestBuildImage installs apt's jq (not in the base image) through a forward proxy on the
// build's egress socket, commits the image, and runs jq in a session container of it; a
// second build of the key is instant; a deleted image is not recovered.
func TestBuildImage(t *testing.T) {
	for _, engine := range buildEngines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			p := newEngineProvider(t, engine, Config{})
			proxy := newForwardProxy(t)
			var log bytes.Buffer
			pk := hangar.Packages{Apt: []string{"jq"}}
			start := time.Now()
			ref, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "jq1", Packages: pk, Log: &log, EgressSocket: proxy.sock})
			if err != nil {
				t.Fatalf("Build: %v\n%s", err, log.String())
			}
			t.Logf("%s: build (apt-get update + install jq) took %v", engine, time.Since(start))
			for _, want := range []string{"==> network: the egress proxy only", "==> apt: installing jq", "==> done", "==> committed " + ref} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("build log lacks %q:\n%s", want, log.String())
				}
			}
			if !proxy.saw("deb.debian.org") {
				t.Errorf("the proxy did not see deb.debian.org (saw %v)", proxy.hosts)
			}
			if ref != layerRef("jq1", dockertest.Image) || !strings.HasPrefix(ref, "hangar-env-jq1:") {
				t.Errorf("layer = %q, want %q", ref, layerRef("jq1", dockertest.Image))
			}
			if l := buildContainers(t, p); len(l) != 0 {
				t.Errorf("%d build containers left", len(l))
			}
			// The image keeps neither the build's command nor its proxy settings.
			info, err := p.cli.ImageInspect(ctx(t), ref)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(info.Config.Cmd, []string{"/bin/sh"}) || len(info.Config.Entrypoint) != 0 {
				t.Errorf("image command = %q %q, want [/bin/sh] and no entrypoint", info.Config.Entrypoint, info.Config.Cmd)
			}
			for _, e := range info.Config.Env {
				if strings.Contains(strings.ToLower(e), "proxy") || strings.HasPrefix(e, "HANGAR_") {
					t.Errorf("image environment has %q", e)
				}
			}

			sb := create(t, p, provider.Spec{Layer: ref})
			if out, errOut, code := run(t, sb, "sh", "-c", `jq --version && echo '{"a":1}' | jq -c .a && id -u`); code != 0 || !strings.HasPrefix(out, "jq-1.") || !strings.HasSuffix(out, "\n1\n1000\n") {
				t.Errorf("jq in the built image = %q exit %d (stderr %q)", out, code, errOut)
			}
			plain := create(t, p, provider.Spec{})
			if _, _, code := run(t, plain, "sh", "-c", "command -v jq"); code == 0 {
				t.Error("the base image has jq: the test proves nothing")
			}

			// Building the key again returns the image at once.
			log.Reset()
			start = time.Now()
			again, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "jq1", Packages: pk, Log: &log, EgressSocket: proxy.sock})
			if err != nil || again != ref {
				t.Fatalf("rebuild = %q, %v; want %q", again, err, ref)
			}
			if d := time.Since(start); d > time.Second || !strings.Contains(log.String(), "already built") {
				t.Errorf("rebuild took %v, log %q; want the existing image", d, log.String())
			}

			// A sandbox whose image was deleted is not recovered (the runner creates it again).
			if _, err := p.Recover(ctx(t), sb.Handle()); err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if _, err := p.cli.ImageRemove(ctx(t), ref, image.RemoveOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Recover(ctx(t), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
				t.Errorf("Recover without its image = %v, want not_found_error", err)
			}
			if _, err := p.Create(ctx(t), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), Layer: ref}); !hangar.IsKind(err, hangar.KindNotFound) {
				t.Errorf("Create from a deleted image = %v, want not_found_error", err)
			}
		})
	}
}

// TestBuildFailure builds a package apt cannot find: the error names the step, the log
// apt's message, and neither an image nor a container is left.
func TestBuildFailure(t *testing.T) {
	for _, engine := range buildEngines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			p := newEngineProvider(t, engine, Config{})
			proxy := newForwardProxy(t)
			var log bytes.Buffer
			_, err := p.Build(buildCtx(t), provider.BuildSpec{Key: "bad", Packages: hangar.Packages{Apt: []string{"hangar-no-such-package"}}, Log: &log, EgressSocket: proxy.sock})
			if err == nil || !strings.Contains(err.Error(), "apt: installing hangar-no-such-package failed") {
				t.Fatalf("Build = %v, want the apt step named\n%s", err, log.String())
			}
			if !strings.Contains(log.String(), "Unable to locate package hangar-no-such-package") {
				t.Errorf("build log lacks apt's error:\n%s", log.String())
			}
			if _, err := p.cli.ImageInspect(ctx(t), layerRef("bad", dockertest.Image)); !client.IsErrNotFound(err) {
				t.Errorf("a failed build left its image (%v)", err)
			}
			if l := buildContainers(t, p); len(l) != 0 {
				t.Errorf("%d build containers left", len(l))
			}
		})
	}
}

// TestBuildMissingInstaller asks for npm packages on an image without npm: the log says
// so plainly. The proxy lets nothing through, and nothing is needed.
func TestBuildMissingInstaller(t *testing.T) {
	p := newProvider(t, Config{})
	dead := filepath.Join(t.TempDir(), "dead.sock")
	ln, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var log bytes.Buffer
	_, err = p.Build(buildCtx(t), provider.BuildSpec{Key: "nonpm", Packages: hangar.Packages{Npm: []string{"is-number"}}, Log: &log, EgressSocket: dead})
	if err == nil || !strings.Contains(err.Error(), "npm") {
		t.Errorf("Build = %v, want an error naming npm", err)
	}
	if want := "==> npm: the image " + dockertest.Image + " has no npm"; !strings.Contains(log.String(), want) {
		t.Errorf("build log lacks %q:\n%s", want, log.String())
	}
}

// TestBuildCancel cancels a build while apt waits on the proxy: Build returns the
// context's error and leaves no container.
func TestBuildCancel(t *testing.T) {
	p := newProvider(t, Config{})
	sock := filepath.Join(t.TempDir(), "hang.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, cancel := context.WithCancel(buildCtx(t))
	held := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept() // apt's first request: hold it, unanswered
		if err != nil {
			return
		}
		held <- conn
		cancel()
	}()
	t.Cleanup(func() {
		select {
		case conn := <-held:
			conn.Close()
		default:
		}
	})
	var log bytes.Buffer
	_, err = p.Build(c, provider.BuildSpec{Key: "cancel", Packages: hangar.Packages{Apt: []string{"jq"}}, Log: &log, EgressSocket: sock})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Build = %v, want context.Canceled\n%s", err, log.String())
	}
	if l := buildContainers(t, p); len(l) != 0 {
		t.Errorf("%d build containers left", len(l))
	}
}

func TestBuildRejects(t *testing.T) {
	p := newProvider(t, Config{})
	for _, tc := range []struct {
		name string
		spec provider.BuildSpec
	}{
		{"bad key", provider.BuildSpec{Key: "../x"}},
		{"upper-case key", provider.BuildSpec{Key: "ABC"}},
		{"option as package", provider.BuildSpec{Key: "k", Packages: hangar.Packages{Npm: []string{"--registry=http://evil"}}}},
		{"shell in package", provider.BuildSpec{Key: "k", Packages: hangar.Packages{Apt: []string{"jq;id"}}}},
		{"unknown setting", provider.BuildSpec{Key: "k", Environment: hangar.EnvironmentConfig{Sandbox: []byte(`{"bogus":1}`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Build(context.Background(), tc.spec); !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Build = %v, want invalid_request_error", err)
			}
		})
	}
	for _, layer := range []string{dockertest.Image, "registry.example/hangar-env-x:y"} {
		if _, err := p.Create(context.Background(), provider.Spec{SessionID: "s", Layer: layer}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("Create with the foreign layer %q = %v, want invalid_request_error", layer, err)
		}
	}
}

// BenchmarkBuildImage measures a full build of apt's jq (apt-get update included, through
// the proxy) and its commit, on each engine.
func BenchmarkBuildImage(b *testing.B) {
	for _, engine := range buildEngines {
		b.Run(engine, func(b *testing.B) {
			p := newEngineProvider(b, engine, Config{})
			proxy := newForwardProxy(b)
			i := 0
			for b.Loop() {
				i++
				var log bytes.Buffer
				key := "bench" + strings.Repeat("x", i) // a new key: a real build every time
				if _, err := p.Build(buildCtx(b), provider.BuildSpec{Key: key, Packages: hangar.Packages{Apt: []string{"jq"}}, Log: &log, EgressSocket: proxy.sock}); err != nil {
					b.Fatalf("Build: %v\n%s", err, log.String())
				}
			}
		})
	}
}

// BenchmarkCreateExecDestroyLayer is BenchmarkCreateExecDestroy from a built image,
// running the tool it installed.
func BenchmarkCreateExecDestroyLayer(b *testing.B) {
	for _, engine := range buildEngines {
		b.Run(engine, func(b *testing.B) {
			p := newEngineProvider(b, engine, Config{})
			proxy := newForwardProxy(b)
			var log bytes.Buffer
			ref, err := p.Build(buildCtx(b), provider.BuildSpec{Key: "benchlayer", Packages: hangar.Packages{Apt: []string{"jq"}}, Log: &log, EgressSocket: proxy.sock})
			if err != nil {
				b.Fatalf("Build: %v\n%s", err, log.String())
			}
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				sb, err := p.Create(ctx(b), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), Layer: ref})
				if err != nil {
					b.Fatal(err)
				}
				if out, _, code := run(b, sb, "jq", "-n", "1"); out != "1\n" || code != 0 {
					b.Fatalf("jq = %q exit %d", out, code)
				}
				if err := sb.Destroy(ctx(b)); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			reportPercentiles(b, times)
		})
	}
}
