package applecontainer

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var modes = map[string]string{"apple-container": "container", "apple-firecracker": "mvm"}

// newFake returns the provider registered as name, driving a fake CLI; state is the fake's
// directory (argv.log).
func newFake(t *testing.T, name string, edit func(*Config)) (p *Provider, state string) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("the fake CLIs run commands under bubblewrap, which is not installed (scripts/install-test-deps installs it)")
	}
	cli, state := fakeCLI(t, modes[name])
	c := Config{CLI: cli, TestAnyOS: true}
	if edit != nil {
		edit(&c)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	p, err = New(name, raw, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return p, state
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	for name := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, func(t *testing.T) provider.Provider {
				p, _ := newFake(t, name, nil)
				return p
			})
		})
	}
}

// TestArgv pins the CLI invocations of a sandbox's life: create with limits and mounts (or
// a net policy), setup, exec with environment, files, stop, recover and destroy.
func TestArgv(t *testing.T) {
	for name := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, state := newFake(t, name, func(c *Config) { c.CPUs, c.MemoryMB = 2, 1024 })
			mountDir := t.TempDir()
			spec := provider.Spec{SessionID: "sesn_Golden01", WorkDir: "/workspace", HomeDir: "/home/agent"}
			if p.d.mount != nil {
				spec.Mounts = []provider.Mount{{Source: mountDir, Target: "/opt/cli", ReadOnly: true}}
			} else {
				spec.Environment.Networking = &hangar.Networking{Type: "limited", AllowedHosts: []string{"api.example.com"}}
			}
			sb, err := p.Create(ctx(t), spec)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c", `echo "$SECRET_TOKEN"`}, Env: []string{"SECRET_TOKEN=s3cret"}})
			if err != nil {
				t.Fatal(err)
			}
			proc.Stdin().Close()
			out := readAll(t, proc)
			if code, err := proc.Wait(); out != "s3cret\n" || code != 0 || err != nil {
				t.Errorf("exec = %q exit %d %v", out, code, err)
			}
			if err := sb.PutFile(ctx(t), "a.txt", []byte("alpha"), 0o640); err != nil {
				t.Fatal(err)
			}
			if got, err := sb.GetFile(ctx(t), "a.txt"); string(got) != "alpha" || err != nil {
				t.Errorf("GetFile = %q, %v", got, err)
			}
			if err := sb.Stop(ctx(t)); err != nil {
				t.Fatal(err)
			}
			again, err := p.Recover(ctx(t), sb.Handle())
			if err != nil {
				t.Fatal(err)
			}
			if err := again.Destroy(ctx(t)); err != nil {
				t.Fatal(err)
			}

			log, err := os.ReadFile(filepath.Join(state, "argv.log"))
			if err != nil {
				t.Fatal(err)
			}
			if p.d.inheritEnv && strings.Contains(string(log), "s3cret") {
				t.Errorf("a secret of the exec's environment is in the CLI's argv:\n%s", log)
			}
			got := regexp.MustCompile(`"[0-9a-f]{16}"`).ReplaceAllString(string(log), `"TOKEN"`)
			got = strings.ReplaceAll(got, mountDir, "$MOUNT")
			golden := filepath.Join("testdata", name+".argv")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("argv differ from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

func readAll(t *testing.T, p provider.Process) string {
	t.Helper()
	go bufio.NewReader(p.Stderr()).WriteTo(discard{})
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := p.Stdout().Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// TestNotMacOS checks the error on hosts other than macOS, where neither CLI exists.
func TestNotMacOS(t *testing.T) {
	for name := range modes {
		t.Run(name, func(t *testing.T) {
			p, err := New(name, nil, provider.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			p.goos = "linux"
			want := name + " is only available on macOS (this host is linux)"
			_, err = p.Create(ctx(t), provider.Spec{SessionID: "sesn_x"})
			if !hangar.IsKind(err, hangar.KindInvalidRequest) || !strings.Contains(err.Error(), want) {
				t.Errorf("Create = %v, want invalid_request_error %q", err, want)
			}
			if err := p.Check(ctx(t)); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Check = %v", err)
			}
			if _, err := p.Recover(ctx(t), provider.Handle(`{"session":"sesn_x","name":"hangar-sesn-x"}`)); !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Recover = %v", err)
			}
		})
	}
}

func TestMissingCLI(t *testing.T) {
	p, err := New("apple-container", json.RawMessage(`{"cli":"/nonexistent/container","test_any_os":true}`), provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Available(ctx(t)); !hangar.IsKind(err, hangar.KindInvalidRequest) || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("Available = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, raw := range []string{`{"bogus":1}`, `{"cpus":-1}`} {
		if _, err := New("apple-container", json.RawMessage(raw), provider.Deps{}); err == nil {
			t.Errorf("New(%s) succeeded", raw)
		}
	}
	if _, err := New("apple-nothing", nil, provider.Deps{}); err == nil {
		t.Error("New of an unknown name succeeded")
	}
}

func TestCreateRefuses(t *testing.T) {
	limited := hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited"}}
	for _, tc := range []struct {
		name, provider string
		spec           provider.Spec
		want           string
	}{
		{"limited networking without a net policy", "apple-container", provider.Spec{SessionID: "sesn_a", Environment: limited}, "cannot enforce"},
		{"mounts without bind mounts", "apple-firecracker", provider.Spec{SessionID: "sesn_b", Mounts: []provider.Mount{{Source: "/x", Target: "/y"}}}, "cannot bind"},
		{"egress without egress_host", "apple-firecracker", provider.Spec{SessionID: "sesn_c", EgressSocket: "/tmp/x.sock"}, "egress_host"},
		{"bad session id", "apple-container", provider.Spec{SessionID: "a/b"}, "bad session id"},
		{"relative work dir", "apple-container", provider.Spec{SessionID: "sesn_d", WorkDir: "work"}, "clean absolute path"},
		{"bad settings", "apple-container", provider.Spec{SessionID: "sesn_e", Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"nope":1}`)}}, "sandbox settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, state := newFake(t, tc.provider, nil)
			_, err := p.Create(ctx(t), tc.spec)
			if !hangar.IsKind(err, hangar.KindInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create = %v, want invalid_request_error with %q", err, tc.want)
			}
			if vms, _ := os.ReadDir(filepath.Join(state, "vms")); len(vms) != 0 {
				t.Errorf("a refused Create left %d VMs", len(vms))
			}
		})
	}
}

// TestCreateKeepsExisting checks that creating the sandbox of a session whose VM exists
// (after a server restart) reuses it with its files.
func TestCreateKeepsExisting(t *testing.T) {
	p, _ := newFake(t, "apple-container", nil)
	spec := provider.Spec{SessionID: "sesn_again", WorkDir: "/workspace", HomeDir: "/home/agent"}
	sb, err := p.Create(ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	if err := sb.PutFile(ctx(t), "kept", []byte("yes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	again, err := p.Create(ctx(t), spec)
	if err != nil {
		t.Fatalf("second Create: %v", err)
	}
	if got, err := again.GetFile(ctx(t), "kept"); string(got) != "yes" || err != nil {
		t.Errorf("file after the second Create = %q, %v", got, err)
	}
}

// TestEgressRelay runs a session with an egress socket through the default relay (perl),
// here on a free port of the host, since the fake's sandboxes share its network: a request
// to the relay must reach the unix socket through the host bridge, and its answer come back.
// Creating the sandbox again (a server restart: new socket, the VM and its old relay still
// there) must replace the relay.
func TestEgressRelay(t *testing.T) {
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("perl not installed")
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(free.Addr().String())
	free.Close()
	p, state := newFake(t, "apple-container", func(c *Config) { c.EgressHost = "127.0.0.1" })
	p.cfg.EgressRelay = []string{"perl", "-e", strings.ReplaceAll(relayScript, "{listen_port}", port)}
	spec := provider.Spec{SessionID: "sesn_egress", WorkDir: "/workspace", HomeDir: "/home/agent"}

	var bridges []string
	for i, answer := range []string{"first", "second"} {
		spec.EgressSocket = filepath.Join(t.TempDir(), "egress.sock")
		got := serveOnce(t, spec.EgressSocket, answer)
		sb, err := p.Create(ctx(t), spec)
		if err != nil {
			t.Fatalf("Create #%d: %v", i+1, err)
		}
		s := sb.(*Sandbox)
		bridges = append(bridges, s.egress.addr())
		t.Cleanup(func() {
			s.mu.Lock()
			s.halt()
			s.mu.Unlock()
		})
		if resp := roundTrip(t, port); resp != "HTTP/1.0 200 OK\r\n\r\n"+answer {
			t.Errorf("response #%d through the relay = %q", i+1, resp)
		}
		if line := <-got; line != "GET /v1/models HTTP/1.0" {
			t.Errorf("the egress socket got %q", line)
		}
		if i == 1 {
			if err := sb.Destroy(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c, err := net.Dial("tcp", bridges[1]); err == nil {
		c.Close()
		t.Errorf("the bridge %s still listens after Destroy", bridges[1])
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Errorf("the relay still listens after Destroy")
	}
	if log, _ := os.ReadFile(filepath.Join(state, "argv.log")); !strings.Contains(string(log), `PeerAddr =\u003e \"127.0.0.1:`) {
		t.Errorf("the relay's argv lacks the bridge address:\n%s", log)
	}
}

// serveOnce answers one HTTP request on a unix socket at path and sends its request line.
func serveOnce(t *testing.T, path, answer string) <-chan string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- strings.TrimSpace(line)
		c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n" + answer))
	}()
	return got
}

func roundTrip(t *testing.T, port string) string {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("the relay does not listen once Create returned: %v", err)
	}
	defer c.Close()
	c.Write([]byte("GET /v1/models HTTP/1.0\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("read through the relay: %v", err)
	}
	return string(resp)
}

func TestParseList(t *testing.T) {
	// The shape of "container list --all --format json" (an array of container
	// snapshots) and "mvm list --json".
	apple := `[{"status":"running","configuration":{"id":"hangar-a","image":{"reference":"docker.io/library/debian:bookworm-slim"}},"networks":[]},
		{"status":"stopped","configuration":{"id":"hangar-b"},"networks":[]}]`
	m, err := appleContainer.parseList([]byte(apple))
	if err != nil || m["hangar-a"] != stateRunning || m["hangar-b"] != stateStopped || len(m) != 2 {
		t.Errorf("container list = %v, %v", m, err)
	}
	m, err = mvm.parseList([]byte(`[{"name":"hangar-c","status":"running"},{"name":"hangar-d","status":"paused"}]`))
	if err != nil || m["hangar-c"] != stateRunning || m["hangar-d"] != stateStopped {
		t.Errorf("mvm list = %v, %v", m, err)
	}
	if _, err := mvm.parseList([]byte("NAME STATUS\n")); err == nil {
		t.Error("table output parsed as JSON")
	}
}
