package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/docker/dockertest"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

var (
	daemon     *dockertest.Daemon
	skip       string // why the tests skip, when they do
	podman     *dockertest.Daemon
	podmanSkip string
	hangarBin  string // the forwarder, built static
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := dockertest.Start(ctx)
	if err != nil {
		skip = "no Docker engine: " + err.Error()
		fmt.Println("docker provider tests:", skip)
		return m.Run()
	}
	defer d.Close()
	if err := d.ImportBase(ctx); err != nil {
		fmt.Println("docker provider tests: import the base image:", err)
		return 1
	}
	if p, err := dockertest.StartPodman(ctx); err != nil {
		podmanSkip = "no podman service: " + err.Error()
		fmt.Println("podman provider tests:", podmanSkip)
	} else {
		defer p.Close()
		if err := p.ImportBase(ctx); err != nil {
			fmt.Println("podman provider tests: import the base image:", err)
			return 1
		}
		podman = p
	}
	dir, err := os.MkdirTemp("", "hangar-docker-test")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	// HANGAR_TEST_FORWARDER names a prebuilt static hangar binary to use instead.
	if hangarBin = os.Getenv("HANGAR_TEST_FORWARDER"); hangarBin != "" {
		daemon = d
		return m.Run()
	}
	hangarBin = filepath.Join(dir, "hangar")
	build := exec.Command("go", "build", "-o", hangarBin, "github.com/hangar-dev/hangar/cmd/hangar")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("build the hangar binary (the forwarder): %v\n%s", err, out)
		return 1
	}
	daemon = d
	return m.Run()
}

func newProvider(tb testing.TB, cfg Config) *Provider {
	tb.Helper()
	return newEngineProvider(tb, "docker", cfg)
}

// newEngineProvider returns a provider on the private dockerd ("docker") or podman
// service ("podman").
func newEngineProvider(tb testing.TB, name string, cfg Config) *Provider {
	tb.Helper()
	d, why := daemon, skip
	if name == "podman" {
		d, why = podman, podmanSkip
	}
	if d == nil {
		tb.Skip(why)
	}
	cfg.Host = d.Host
	cfg.Forwarder = hangarBin
	if cfg.Image == "" {
		cfg.Image = dockertest.Image
	}
	raw, _ := json.Marshal(cfg)
	p, err := New(name, raw, provider.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, Config{}) })
}

// TestConformancePodman runs the suite on podman's Docker-compatible API service.
func TestConformancePodman(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newEngineProvider(t, "podman", Config{}) })
}

// TestConformanceGVisor runs the suite on dockerd with gVisor (runsc, ptrace platform) as
// the containers' runtime.
func TestConformanceGVisor(t *testing.T) {
	if !dockertest.HasGVisor() {
		t.Skip("runsc is not installed (scripts/install-test-deps installs it)")
	}
	providertest.Run(t, func(t *testing.T) provider.Provider {
		return newProvider(t, Config{Runtime: dockertest.RuntimeGVisor})
	})
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return c
}

func create(tb testing.TB, p *Provider, spec provider.Spec) provider.Sandbox {
	tb.Helper()
	if spec.SessionID == "" {
		spec.SessionID = hangar.NewID(hangar.PrefixSession)
	}
	sb, err := p.Create(ctx(tb), spec)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	tb.Cleanup(func() { sb.Destroy(context.Background()) })
	return sb
}

// run runs args in sb and returns stdout, stderr and the exit code.
func run(tb testing.TB, sb provider.Sandbox, args ...string) (string, string, int) {
	tb.Helper()
	p, err := sb.Exec(ctx(tb), provider.ExecSpec{Args: args})
	if err != nil {
		tb.Fatalf("Exec %v: %v", args, err)
	}
	p.Stdin().Close()
	errc := make(chan string, 1)
	go func() { b, _ := io.ReadAll(p.Stderr()); errc <- string(b) }()
	out, _ := io.ReadAll(p.Stdout())
	code, err := p.Wait()
	if err != nil {
		tb.Fatalf("Wait %v: %v", args, err)
	}
	return string(out), <-errc, code
}

// TestIsolation checks what the agent sees: its user, no network but lo, the volumes it
// owns, read-only mounts, and the environment and work dir of Exec.
func TestIsolation(t *testing.T) {
	t.Parallel()
	p := newProvider(t, Config{})
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "tool"), []byte("from the host"), 0o644)
	sb := create(t, p, provider.Spec{WorkDir: "/workspace", HomeDir: "/home/agent",
		Mounts: []provider.Mount{{Source: src, Target: "/opt/cli", ReadOnly: true}}})
	if err := sb.PutFile(ctx(t), "put/f.txt", []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, script, want string
	}{
		{"user", "id -u; id -g", "1000\n1000\n"},
		{"only lo", "ls /sys/class/net", "lo\n"},
		{"owns its volumes", "touch /workspace/w $HOME/h && stat -c %u /workspace $HOME", "1000\n1000\n"},
		{"read-only mount", "cat /opt/cli/tool; echo; touch /opt/cli/x 2>/dev/null || echo ro", "from the host\nro\n"},
		{"owns files put", "stat -c '%u %a' /workspace/put/f.txt", "1000 640\n"},
		{"environment", "echo $HOME $FOO; pwd", "/home/agent bar\n/workspace/sub\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "environment" {
				run(t, sb, "mkdir", "-p", "/workspace/sub")
				pr, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c", tc.script}, Env: []string{"FOO=bar"}, Dir: "sub"})
				if err != nil {
					t.Fatal(err)
				}
				pr.Stdin().Close()
				out, _ := io.ReadAll(pr.Stdout())
				if string(out) != tc.want {
					t.Errorf("got %q, want %q", out, tc.want)
				}
				return
			}
			if out, errOut, code := run(t, sb, "sh", "-c", tc.script); out != tc.want || code != 0 {
				t.Errorf("got %q exit %d (stderr %q), want %q", out, code, errOut, tc.want)
			}
		})
	}
}

// TestLimits runs a container with 64 MB and 20 pids and checks both are enforced.
func TestLimits(t *testing.T) {
	t.Parallel()
	p := newProvider(t, Config{})
	settings, _ := json.Marshal(Settings{Limits: Limits{MemoryMB: 64, Pids: 20}})
	sb := create(t, p, provider.Spec{Environment: hangar.EnvironmentConfig{Sandbox: settings}})
	// 200 MB in a shell variable: the kernel kills the shell (137).
	if _, _, code := run(t, sb, "sh", "-c", `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo ${#x}`); code == 0 {
		t.Error("allocating 200 MB under a 64 MB limit succeeded")
	}
	if out, _, _ := run(t, sb, "sh", "-c", `for i in $(seq 40); do sleep 5 & done 2>&1 | grep -c "fork\|Resource" ; kill $(jobs -p) 2>/dev/null; true`); strings.TrimSpace(out) == "0" {
		t.Error("40 processes under a 20 pids limit all started")
	}
	if _, err := p.Create(ctx(t), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession),
		Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"memory_mb": -1}`)}}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Create with negative memory = %v, want invalid_request_error", err)
	}
	if _, err := p.Create(ctx(t), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession),
		Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"bogus": 1}`)}}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Create with an unknown setting = %v, want invalid_request_error", err)
	}
}

// variants are the engines the provider drives here: dockerd with runc, podman, and
// dockerd with gVisor.
var variants = []struct {
	name   string
	engine string
	cfg    Config
}{
	{"docker", "docker", Config{}},
	{"podman", "podman", Config{}},
	{"gvisor", "docker", Config{Runtime: dockertest.RuntimeGVisor}},
}

func variantProvider(t *testing.T, engine string, cfg Config) *Provider {
	t.Helper()
	if cfg.Runtime == dockertest.RuntimeGVisor && !dockertest.HasGVisor() {
		t.Skip("runsc is not installed (scripts/install-test-deps installs it)")
	}
	return newEngineProvider(t, engine, cfg)
}

// TestEgressForwarder serves HTTP on a unix socket and reaches it from the container at
// provider.EgressAddr, its only way out, on every engine.
func TestEgressForwarder(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "egress saw %s %s", r.Method, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			p := variantProvider(t, v.engine, v.cfg)
			sb := create(t, p, provider.Spec{EgressSocket: sock})
			script := `exec 3<>/dev/tcp/127.0.0.1/4100 && printf 'GET /v1/messages HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && cat <&3`
			for range 2 {
				out, errOut, code := run(t, sb, "bash", "-c", script)
				if code != 0 || !strings.HasSuffix(out, "egress saw GET /v1/messages") {
					t.Errorf("HTTP through the forwarder = %q exit %d (stderr %q)", out, code, errOut)
				}
			}
			if out, _, code := run(t, sb, "bash", "-c", "exec 3<>/dev/tcp/1.1.1.1/80 && echo connected"); code == 0 {
				t.Errorf("the container reached the outside: %q", out)
			}
			if out, _, _ := run(t, sb, "id", "-u"); out != "1000\n" {
				t.Errorf("id -u = %q, want 1000", out)
			}
			// gVisor's kernel reports itself as Linux 4.4.0.
			if out, _, _ := run(t, sb, "uname", "-r"); (out == "4.4.0\n") != (v.name == "gvisor") {
				t.Errorf("uname -r = %q on %s", out, v.name)
			}
		})
	}
}

// TestSignalInterrupt sends SIGINT (graceful) to a shell that traps it.
func TestSignalInterrupt(t *testing.T) {
	t.Parallel()
	p := newProvider(t, Config{})
	sb := create(t, p, provider.Spec{})
	pr, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"bash", "-c", `trap 'echo interrupted; exit 3' INT; echo ready; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(pr.Stdout(), buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := pr.Signal(false); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(pr.Stdout())
	if code, err := pr.Wait(); code != 3 || string(rest) != "interrupted\n" {
		t.Errorf("after SIGINT: %q exit %d, %v", rest, code, err)
	}
}

// TestCreateAgainKeepsVolumes is what the runner does after a restart: Create for the same
// session replaces the container and keeps the workspace and HOME.
func TestCreateAgainKeepsVolumes(t *testing.T) {
	t.Parallel()
	p := newProvider(t, Config{})
	id := hangar.NewID(hangar.PrefixSession)
	a := create(t, p, provider.Spec{SessionID: id})
	if err := a.PutFile(ctx(t), "/home/agent/.state", []byte("conversation"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := create(t, p, provider.Spec{SessionID: id})
	if got, err := b.GetFile(ctx(t), "/home/agent/.state"); err != nil || string(got) != "conversation" {
		t.Errorf("HOME after Create again = %q, %v", got, err)
	}
	if _, err := p.Recover(ctx(t), a.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of the replaced container = %v, want not_found_error", err)
	}
}

// BenchmarkCreateExecDestroy measures a session's sandbox life on each engine: Create
// (volumes, container, start, setup exec), Exec of echo, Destroy. It reports the p50 and
// p99.
func BenchmarkCreateExecDestroy(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			if v.cfg.Runtime == dockertest.RuntimeGVisor && !dockertest.HasGVisor() {
				b.Skip("runsc is not installed")
			}
			p := newEngineProvider(b, v.engine, v.cfg)
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				sb, err := p.Create(ctx(b), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession)})
				if err != nil {
					b.Fatal(err)
				}
				if out, _, code := run(b, sb, "echo", "hi"); out != "hi\n" || code != 0 {
					b.Fatalf("echo = %q exit %d", out, code)
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

// BenchmarkExec measures one Exec of echo in an existing sandbox on each engine.
func BenchmarkExec(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			if v.cfg.Runtime == dockertest.RuntimeGVisor && !dockertest.HasGVisor() {
				b.Skip("runsc is not installed")
			}
			sb := create(b, newEngineProvider(b, v.engine, v.cfg), provider.Spec{})
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				if out, _, code := run(b, sb, "echo", "hi"); out != "hi\n" || code != 0 {
					b.Fatalf("echo = %q exit %d", out, code)
				}
				times = append(times, time.Since(start))
			}
			reportPercentiles(b, times)
		})
	}
}

func reportPercentiles(b *testing.B, times []time.Duration) {
	slices.Sort(times)
	at := func(q float64) float64 {
		return float64(times[min(len(times)-1, int(q*float64(len(times))))]) / 1e6
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
