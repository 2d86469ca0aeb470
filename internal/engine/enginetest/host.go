package enginetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// HostOptions tunes a HostSandbox to what an engine's tests expect of a real sandbox.
type HostOptions struct {
	// Env holds defaults ("K=V") for variables a spec passes with an empty value, as a
	// real sandbox's provider would fill in the model endpoint and token. An empty
	// variable without a default is passed empty.
	Env []string
	// Arg, when set, rewrites each argument of a command before it runs.
	Arg func(s *HostSandbox, arg string) string
	// NoPutFile makes PutFile fail with errors.ErrUnsupported.
	NoPutFile bool
}

// HostSandbox runs processes on the host: a test-only provider.Sandbox that maps the
// sandbox paths of a spec (/workspace, /home/agent) to host directories under a test
// temporary directory, as a real sandbox's bind mounts would.
type HostSandbox struct {
	paths map[string]string // sandbox path prefix → host path
	opts  HostOptions
}

var _ provider.Sandbox = (*HostSandbox)(nil)

// NewHostSandbox returns a HostSandbox with fresh workspace and home directories.
func NewHostSandbox(t *testing.T, opts HostOptions) *HostSandbox {
	t.Helper()
	root := t.TempDir()
	sb := &HostSandbox{
		paths: map[string]string{"/workspace": filepath.Join(root, "workspace"), "/home/agent": filepath.Join(root, "home")},
		opts:  opts,
	}
	for _, p := range sb.paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return sb
}

// Host returns the host path of sandbox path p (p itself outside the mapped directories).
func (s *HostSandbox) Host(p string) string {
	for from, to := range s.paths {
		if p == from || strings.HasPrefix(p, from+"/") {
			return to + strings.TrimPrefix(p, from)
		}
	}
	return p
}

func (s *HostSandbox) Handle() provider.Handle { return nil }

func (s *HostSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" {
			for _, d := range s.opts.Env {
				if strings.HasPrefix(d, k+"=") {
					kv = d
				}
			}
		} else {
			kv = k + "=" + s.Host(v)
		}
		env = append(env, kv)
	}
	args := slices.Clone(spec.Args)
	if s.opts.Arg != nil {
		for i, a := range args {
			args[i] = s.opts.Arg(s, a)
		}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = s.Host(spec.Dir)
	if spec.Dir == "" {
		cmd.Dir = s.paths["/workspace"]
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &hostProcess{cmd: cmd, stdin: stdin, stdout: outR, stderr: errR, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		outW.Close()
		errW.Close()
		close(p.done)
	}()
	return p, nil
}

func (s *HostSandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if s.opts.NoPutFile {
		return errors.ErrUnsupported
	}
	h := s.Host(p)
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		return err
	}
	return os.WriteFile(h, data, os.FileMode(mode))
}

func (s *HostSandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	return os.ReadFile(s.Host(p))
}

func (s *HostSandbox) Stop(ctx context.Context) error    { return nil }
func (s *HostSandbox) Destroy(ctx context.Context) error { return nil }

type hostProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.Reader
	stderr io.Reader
	done   chan struct{}
	err    error
}

func (p *hostProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *hostProcess) Stdout() io.Reader     { return p.stdout }
func (p *hostProcess) Stderr() io.Reader     { return p.stderr }

func (p *hostProcess) Signal(kill bool) error {
	sig := syscall.SIGINT
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

func (p *hostProcess) Wait() (int, error) {
	<-p.done
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		return -1, p.err
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

type installResult struct {
	bin string
	err error
}

var (
	installMu sync.Mutex
	installs  = map[string]*installResult{}
)

// CacheDir returns the test cache directory: HANGAR_CACHE_DIR, else the user cache
// dir's hangar directory.
func CacheDir() (string, error) {
	if dir := os.Getenv("HANGAR_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache dir: %w", err)
	}
	return filepath.Join(d, "hangar"), nil
}

// InstallCLI returns the pinned CLI of pkg, installing it with npm into the test cache
// directory (see CacheDir) once per test binary when it is missing. It skips the test
// when the CLI is not installed and npm is unavailable or the install fails (offline).
func InstallCLI(t *testing.T, pkg engine.NPMPackage) string {
	t.Helper()
	key := pkg.Engine + "@" + pkg.Version
	installMu.Lock()
	r, ok := installs[key]
	if !ok {
		r = &installResult{}
		r.bin, r.err = install(pkg)
		installs[key] = r
	}
	installMu.Unlock()
	if r.err != nil {
		t.Skipf("skipping real-CLI test: %s %s: %v (scripts/install-test-deps installs it)", pkg.Engine, pkg.Version, r.err)
	}
	return r.bin
}

func install(pkg engine.NPMPackage) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	if bin, err := pkg.Find(dir); err == nil {
		return bin, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("not installed in %s and npm is not available to install it", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return pkg.Install(ctx, dir, io.Discard)
}

// RunTurn runs one turn of spec to its end within a minute, failing the test when it
// does not start or ends in error, checks its events and returns them.
func RunTurn(t *testing.T, e engine.Engine, sb provider.Sandbox, spec engine.Spec) []engine.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := time.Now()
	run, err := e.Start(ctx, sb, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	evs := Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Fatalf("Wait = %v; events %v", err, Types(evs))
	}
	t.Logf("turn %d: %d events in %v", spec.Turn, len(evs), time.Since(start).Round(time.Millisecond))
	CheckEvents(t, evs)
	return evs
}

// Only returns the types of the events of evs whose type is one of types, in order.
func Only(evs []engine.Event, types ...string) []string {
	var out []string
	for _, e := range evs {
		if slices.Contains(types, e.Type) {
			out = append(out, e.Type)
		}
	}
	return out
}

// FakeModel starts a fake model server for the test's lifetime. Requests whose system
// prompt mentions "hangar-slow" stall until the test ends; the others get script's
// answer. Requests the server does not expect fail the test.
func FakeModel(t *testing.T, script func(fakemodel.Request) fakemodel.Response) (*fakemodel.Server, string) {
	t.Helper()
	hold := make(chan struct{})
	fake := &fakemodel.Server{
		Script: func(r fakemodel.Request) fakemodel.Response {
			if strings.Contains(string(r.System), "hangar-slow") {
				resp := fakemodel.Text("never")
				resp.Hold = hold
				return resp
			}
			return script(r)
		},
		Unexpected: func(r fakemodel.Request) { t.Errorf("fake model: unexpected %s %s", r.Method, r.Path) },
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(func() {
		close(hold)
		srv.Close()
	})
	return fake, srv.URL
}

// IsolatedSandbox is a sandbox that reports isolation and records the argv it was asked
// to run; Exec fails and it has no files.
type IsolatedSandbox struct {
	Args []string
}

var _ provider.Sandbox = (*IsolatedSandbox)(nil)

func (s *IsolatedSandbox) Capabilities() provider.Capabilities {
	return provider.Capabilities{Isolated: true}
}

func (s *IsolatedSandbox) Handle() provider.Handle { return nil }

func (s *IsolatedSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	s.Args = spec.Args
	return nil, errors.New("recorded")
}

func (s *IsolatedSandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	return errors.ErrUnsupported
}

func (s *IsolatedSandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	return nil, errors.ErrUnsupported
}

func (s *IsolatedSandbox) Stop(ctx context.Context) error    { return nil }
func (s *IsolatedSandbox) Destroy(ctx context.Context) error { return nil }
