package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

// hangarBin is the hangar binary built once for the tests; it is the forwarder.
var hangarBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if _, err := exec.LookPath("bwrap"); err != nil {
		fmt.Println("local provider tests need bubblewrap: install it with scripts/install-test-deps (apt-get install bubblewrap); skipping")
		return m.Run() // the tests skip one by one
	}
	dir, err := os.MkdirTemp("", "hangar-local-test")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	hangarBin = filepath.Join(dir, "hangar")
	build := exec.Command("go", "build", "-o", hangarBin, "github.com/hangar-dev/hangar/cmd/hangar")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Printf("build the hangar binary (the forwarder): %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// testProvider is a local provider with its state in a fresh data dir.
type testProvider struct {
	*Provider
	dataDir string
}

func newTestProvider(tb testing.TB, limits Limits) testProvider {
	tb.Helper()
	if hangarBin == "" {
		tb.Skip("bwrap is not installed (run scripts/install-test-deps)")
	}
	dataDir := tb.TempDir()
	cfg, _ := json.Marshal(Config{Forwarder: hangarBin, Limits: limits, CgroupParent: "hangar-test"})
	p, err := New(cfg, provider.Deps{DataDir: dataDir})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return testProvider{p.(*Provider), dataDir}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newTestProvider(t, Limits{}).Provider })
}

func TestNewWithoutBwrap(t *testing.T) {
	_, err := New(json.RawMessage(`{"bwrap":"/nonexistent/bwrap"}`), provider.Deps{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "install it with `apt-get install bubblewrap` (Debian/Ubuntu)") {
		t.Errorf("New without bwrap = %v, want the install hint", err)
	}
}

func TestNewRejectsUnknownConfig(t *testing.T) {
	if _, err := New(json.RawMessage(`{"bwrapp":"x"}`), provider.Deps{DataDir: t.TempDir()}); err == nil {
		t.Error("New accepted an unknown field")
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func create(t testing.TB, p testProvider, spec provider.Spec) *Sandbox {
	t.Helper()
	if spec.SessionID == "" {
		spec.SessionID = hangar.NewID(hangar.PrefixSession)
	}
	sb, err := p.Create(ctx(t), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	return sb.(*Sandbox)
}

// sh runs script with sh -c and returns stdout, stderr and the exit code.
func sh(t testing.TB, sb provider.Sandbox, script string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, sb, "sh", "-c", script)
}

func run(t testing.TB, sb provider.Sandbox, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p, err := sb.Exec(ctx(t), provider.ExecSpec{Args: args})
	if err != nil {
		t.Fatalf("Exec %q: %v", args, err)
	}
	p.Stdin().Close()
	errc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(p.Stderr())
		errc <- b
	}()
	out, _ := io.ReadAll(p.Stdout())
	code, err = p.Wait()
	if err != nil {
		t.Fatalf("Wait %q: %v", args, err)
	}
	return string(out), string(<-errc), code
}

func mustSucceed(t *testing.T, sb provider.Sandbox, script, want string) {
	t.Helper()
	out, errOut, code := sh(t, sb, script)
	if code != 0 || out != want {
		t.Fatalf("%s = %q exit %d (stderr %q), want %q exit 0", script, out, code, errOut, want)
	}
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{})
	sb := create(t, p, provider.Spec{})

	t.Run("non-root inside", func(t *testing.T) {
		mustSucceed(t, sb, "id -u; id -g; echo $HOME; pwd", "1000\n1000\n/home/agent\n/workspace\n")
	})
	t.Run("clean environment", func(t *testing.T) {
		proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"env"}, Env: []string{"FOO=bar baz"}})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(proc.Stdout())
		proc.Wait()
		env := strings.Fields(string(out))
		if !strings.Contains(string(out), "FOO=bar baz\n") || strings.Contains(string(out), "GOPATH") {
			t.Errorf("env = %q", env)
		}
	})
	t.Run("writes outside the workspace and home fail", func(t *testing.T) {
		for _, p := range []string{"/x", "/etc/x", "/etc/passwd", "/usr/x", "/usr/bin/x", "/bin/x", "/run/x", "/proc/sys/kernel/hostname", "/proc/sys/kernel/printk_ratelimit"} {
			// Writes back what is there, in case the write went through.
			if out, errOut, code := sh(t, sb, fmt.Sprintf("v=$(cat %s 2>/dev/null); echo \"$v\" > %[1]s", p)); code == 0 {
				t.Errorf("writing %s succeeded (%q %q)", p, out, errOut)
			}
		}
		mustSucceed(t, sb, "echo a > /workspace/a && echo b > $HOME/b && echo c > /tmp/c && cat /workspace/a $HOME/b /tmp/c", "a\nb\nc\n")
	})
	t.Run("host secrets are not visible", func(t *testing.T) {
		secret := filepath.Join(p.dataDir, "secret")
		if err := os.WriteFile(secret, []byte("s3cret"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, script := range []string{
			"cat " + secret,
			"ls " + p.dataDir,
			"ls " + p.stateDir,
			"cat /etc/shadow",
			"ls /root",
			"grep -rs -D skip s3cret /etc /run /tmp /home /workspace /root",
		} {
			if out, _, code := sh(t, sb, script); code == 0 || strings.Contains(out, "s3cret") {
				t.Errorf("%s: exit %d, output %q: want a failure", script, code, out)
			}
		}
		if out, _, _ := sh(t, sb, "cat /etc/passwd"); strings.Contains(out, "cloudsdk") || !strings.Contains(out, "agent:x:1000") {
			t.Errorf("/etc/passwd = %q, want the sandbox's own", out)
		}
	})
	t.Run("no network but loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan struct{}, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Close()
				accepted <- struct{}{}
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		if out, errOut, code := run(t, sb, "bash", "-c", fmt.Sprintf("echo > /dev/tcp/127.0.0.1/%d", port)); code == 0 {
			t.Errorf("reached the host's 127.0.0.1:%d from the sandbox (%q %q)", port, out, errOut)
		}
		if out, _, _ := sh(t, sb, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"); out != "lo\n" {
			t.Errorf("interfaces = %q, want only lo", out)
		}
		select {
		case <-accepted:
			t.Error("the host listener accepted a connection from the sandbox")
		default:
		}
	})
	t.Run("no new user namespaces", func(t *testing.T) {
		if out, errOut, code := sh(t, sb, "unshare -U -r id -u"); code == 0 {
			t.Errorf("unshare -U inside succeeded: %q %q", out, errOut)
		}
	})
}

func TestLimits(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{MemoryMB: 64, Pids: 32})

	t.Run("memory bomb is killed", func(t *testing.T) {
		t.Parallel()
		sb := create(t, p, provider.Spec{})
		// tail keeps the whole (never ending) last line of /dev/zero in memory.
		_, errOut, code := sh(t, sb, "tail /dev/zero")
		if code != 128+9 {
			t.Errorf("memory bomb exit %d (stderr %q), want 137 (SIGKILL by the OOM killer)", code, errOut)
		}
		mustSucceed(t, sb, "echo still usable", "still usable\n")
		// A 32 MB allocation under the 64 MB limit is fine.
		mustSucceed(t, sb, "head -c 33554432 /dev/zero | tail | wc -c", "33554432\n")
	})

	t.Run("process storm stops at the pids limit", func(t *testing.T) {
		t.Parallel()
		sb := create(t, p, provider.Spec{})
		// dash exits when a fork fails: the last number printed is how many sleeps ran.
		out, errOut, code := sh(t, sb, `i=0; while [ $i -lt 100 ]; do sleep 60 & i=$((i+1)); echo $i; done`)
		lines := strings.Fields(out)
		if code == 0 || len(lines) == 0 || len(lines) >= 32 || !strings.Contains(errOut, "fork") {
			t.Errorf("started %d of 100 sleeps (exit %d, stderr %q), want a fork failure before 32", len(lines), code, errOut)
		}
		mustSucceed(t, sb, "echo still usable", "still usable\n")
	})

	t.Run("fork bomb is contained and stoppable", func(t *testing.T) {
		t.Parallel()
		sb := create(t, p, provider.Spec{})
		proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"bash", "-c", `bomb() { bomb | bomb & }; bomb; sleep 600`}})
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, proc.Stderr())
		// Wait until the bomb hits the limit, as the cgroup's pids.events counts.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(filepath.Join(sb.cg.dirs[0], "pids.events"))
			if f := strings.Fields(string(b)); len(f) == 2 && f[1] != "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the fork bomb never hit the pids limit")
			}
		}
		if pids, _ := sb.cg.procs(); len(pids) > 32 {
			t.Errorf("%d processes in the sandbox, over the limit 32", len(pids))
		}
		if err := proc.Signal(true); err != nil {
			t.Fatal(err)
		}
		proc.Wait()
		// The killed bomb's processes count against pids.max until the kernel has reaped
		// them; under load that outlasts Wait, and a new exec's clone would get EAGAIN.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if pids, _ := sb.cg.procs(); len(pids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the fork bomb's processes were never reaped")
			}
		}
		mustSucceed(t, sb, "echo still usable", "still usable\n")
	})

	t.Run("environment settings override the defaults", func(t *testing.T) {
		t.Parallel()
		sb := create(t, p, provider.Spec{Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"memory_mb":128,"pids":64,"cpus":0.5,"cpu_shares":512}`)}})
		if sb.h.Limits != (Limits{MemoryMB: 128, Pids: 64, CPUs: 0.5, CPUShares: 512}) {
			t.Errorf("limits = %+v", sb.h.Limits)
		}
		// 100 MB fits under 128 MB.
		mustSucceed(t, sb, "head -c 104857600 /dev/zero | tail | wc -c", "104857600\n")
		for _, bad := range []string{`{"memory":1}`, `{"pids":-1}`, `{"memory_mb":"x"}`} {
			_, err := p.Create(ctx(t), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(bad)}})
			if !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Create with sandbox settings %s = %v, want invalid_request_error", bad, err)
			}
		}
	})

	t.Run("destroy removes the cgroup", func(t *testing.T) {
		t.Parallel()
		sb := create(t, p, provider.Spec{})
		mustSucceed(t, sb, "echo hi", "hi\n")
		dirs := sb.cg.dirs
		if err := sb.Destroy(ctx(t)); err != nil {
			t.Fatal(err)
		}
		for _, d := range append(dirs, sb.h.Dir) {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still exists after Destroy (%v)", d, err)
			}
		}
	})
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{})
	sb := create(t, p, provider.Spec{})
	mustSucceed(t, sb, "mkdir -p sub && echo w > sub/f && echo h > $HOME/.cfg && ls -ln sub/f | cut -d' ' -f3,4", "1000 1000\n")
	mustSucceed(t, sb, "cat sub/f $HOME/.cfg", "w\nh\n")

	// Files put from the host are usable by the agent.
	if err := sb.PutFile(ctx(t), "/home/agent/conf/x.json", []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, sb, "cat $HOME/conf/x.json && echo more >> $HOME/conf/x.json", "{}")

	if err := sb.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// A new provider value (a restarted server) recovers it from the handle.
	cfg, _ := json.Marshal(Config{Forwarder: hangarBin, CgroupParent: "hangar-test"})
	p2, err := New(cfg, provider.Deps{DataDir: p.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	again, err := p2.Recover(ctx(t), sb.Handle())
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	mustSucceed(t, again, "cat /workspace/sub/f $HOME/.cfg $HOME/conf/x.json", "w\nh\n{}more\n")
	if got, err := again.GetFile(ctx(t), "sub/f"); err != nil || string(got) != "w\n" {
		t.Errorf("GetFile after Recover = %q, %v", got, err)
	}

	if err := again.Destroy(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Recover(ctx(t), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found_error", err)
	}
}

func TestFilePaths(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{})
	sb := create(t, p, provider.Spec{})
	// The agent plants symlinks that point out of its directories.
	mustSucceed(t, sb, "ln -s / /workspace/root && ln -s /etc/passwd /workspace/pw && ln -s .. $HOME/up", "")
	for _, name := range []string{"/etc/passwd", "/tmp/x", "../../secret", "/workspace/../etc/passwd", "/home/agentx/f"} {
		if _, err := sb.GetFile(ctx(t), name); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("GetFile(%q) = %v, want invalid_request_error", name, err)
		}
		if err := sb.PutFile(ctx(t), name, []byte("x"), 0o644); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("PutFile(%q) = %v, want invalid_request_error", name, err)
		}
	}
	for _, name := range []string{"/workspace/root/etc/hostname", "pw", "/home/agent/up/workspace/pw"} {
		if b, err := sb.GetFile(ctx(t), name); err == nil {
			t.Errorf("GetFile(%q) through a symlink = %q, want an error", name, b)
		}
		if err := sb.PutFile(ctx(t), name, []byte("x"), 0o644); err == nil {
			t.Errorf("PutFile(%q) through a symlink succeeded", name)
		}
	}
	if err := sb.PutFile(ctx(t), "/workspace/dir/exe.sh", []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, sb, "./dir/exe.sh", "ran\n")
}

func TestSignalInterrupts(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{})
	sb := create(t, p, provider.Spec{})
	proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c",
		`trap 'echo interrupted; exit 3' INT; echo ready; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(proc.Stdout())
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if err := proc.Signal(false); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	code, err := proc.Wait()
	if err != nil || code != 3 || string(rest) != "interrupted\n" {
		t.Errorf("after SIGINT: output %q, exit %d, %v; want the trap to run and exit 3", rest, code, err)
	}
}

func TestStopKillsEverything(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{})
	sb := create(t, p, provider.Spec{})
	proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c", "sleep 600 & sleep 600 & echo up; wait"}})
	if err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(proc.Stdout()).ReadString('\n'); line != "up\n" {
		t.Fatalf("read %q", line)
	}
	if err := sb.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if code, _ := proc.Wait(); code != 137 {
		t.Errorf("exit after Stop = %d, want 137", code)
	}
	if pids, _ := sb.cg.procs(); len(pids) != 0 {
		t.Errorf("%d processes left after Stop", len(pids))
	}
	if _, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"true"}}); err == nil {
		t.Error("Exec on a stopped sandbox succeeded")
	}
}

func TestEgressForwarder(t *testing.T) {
	t.Parallel()
	p := newTestProvider(t, Limits{})
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

	sb := create(t, p, provider.Spec{EgressSocket: sock})
	script := `exec 3<>/dev/tcp/127.0.0.1/4100 && printf 'GET /v1/messages HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && cat <&3`
	for range 2 { // each Exec has its own network namespace and forwarder
		out, errOut, code := run(t, sb, "bash", "-c", script)
		if code != 0 || !strings.HasSuffix(out, "egress saw GET /v1/messages") {
			t.Errorf("HTTP through the forwarder = %q exit %d (stderr %q)", out, code, errOut)
		}
	}
	// The payload's exit code and stdin are untouched by the wrapper.
	proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c", "cat; exit 7"}})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(proc.Stdin(), "in\n")
	proc.Stdin().Close()
	out, _ := io.ReadAll(proc.Stdout())
	if code, _ := proc.Wait(); code != 7 || string(out) != "in\n" {
		t.Errorf("payload under the forwarder: %q exit %d", out, code)
	}
}

func BenchmarkCreateExec(b *testing.B) {
	p := newTestProvider(b, Limits{})
	for b.Loop() {
		sb, err := p.Create(ctx(b), provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession)})
		if err != nil {
			b.Fatal(err)
		}
		if out, _, code := run(b, sb, "echo", "hi"); out != "hi\n" || code != 0 {
			b.Fatalf("echo hi = %q %d", out, code)
		}
		if err := sb.Destroy(ctx(b)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExec(b *testing.B) {
	p := newTestProvider(b, Limits{})
	sb := create(b, p, provider.Spec{})
	for b.Loop() {
		if out, _, code := run(b, sb, "echo", "hi"); out != "hi\n" || code != 0 {
			b.Fatalf("echo hi = %q %d", out, code)
		}
	}
}

func BenchmarkExecEgress(b *testing.B) {
	p := newTestProvider(b, Limits{})
	sock := filepath.Join(b.TempDir(), "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	sb := create(b, p, provider.Spec{EgressSocket: sock})
	for b.Loop() {
		if out, _, code := run(b, sb, "echo", "hi"); out != "hi\n" || code != 0 {
			b.Fatalf("echo hi = %q %d", out, code)
		}
	}
}
