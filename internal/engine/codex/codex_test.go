package codex_test

import (
	"context"
	"encoding/json"
	"errors"
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

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

var installOnce = sync.OnceValues(func() (string, error) {
	dir := os.Getenv("HANGAR_CACHE_DIR")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(d, "hangar")
	}
	if bin, err := codex.Find(dir); err == nil {
		return bin, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return codex.NPM().Install(ctx, dir, io.Discard)
})

// codexBinary returns the pinned CLI, installing it with npm into the cache directory
// (HANGAR_CACHE_DIR or the user cache dir) when needed; it skips the test when npm is
// unavailable or the install fails.
func codexBinary(t *testing.T) string {
	t.Helper()
	bin, err := installOnce()
	if err != nil {
		t.Skipf("skipping real-CLI test: codex %s is not installed and npm could not install it: %v", codex.Version, err)
	}
	return bin
}

// hostSandbox runs processes on the host: a test-only provider.Sandbox that maps the
// sandbox paths of a spec (/workspace, /home/agent) to host directories, as a real
// sandbox's bind mounts would, and points a spec without a model endpoint or token at the fake.
type hostSandbox struct {
	paths   map[string]string // sandbox path prefix → host path
	baseURL string
}

func newHostSandbox(t *testing.T, baseURL string) *hostSandbox {
	t.Helper()
	root := t.TempDir()
	sb := &hostSandbox{
		paths:   map[string]string{"/workspace": filepath.Join(root, "workspace"), "/home/agent": filepath.Join(root, "home")},
		baseURL: baseURL,
	}
	for _, p := range sb.paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return sb
}

func (s *hostSandbox) host(p string) string {
	for from, to := range s.paths {
		if p == from || strings.HasPrefix(p, from+"/") {
			return to + strings.TrimPrefix(p, from)
		}
	}
	return p
}

func (s *hostSandbox) Handle() provider.Handle { return nil }

func (s *hostSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		if k == codex.TokenEnv && v == "" {
			v = "tok_default"
		}
		env = append(env, k+"="+s.host(v))
	}
	args := slices.Clone(spec.Args)
	for i, a := range args {
		if a == `model_providers.hangar.base_url="/v1"` {
			args[i] = `model_providers.hangar.base_url="` + s.baseURL + `/v1"`
		}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	cmd.Dir = s.host(spec.Dir)
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

func (s *hostSandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	return errors.ErrUnsupported
}

func (s *hostSandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	return os.ReadFile(s.host(p))
}

func (s *hostSandbox) Stop(ctx context.Context) error    { return nil }
func (s *hostSandbox) Destroy(ctx context.Context) error { return nil }

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

var _ provider.Sandbox = (*hostSandbox)(nil)

// newFake starts a fake model: the Responses default script, except that requests whose
// instructions mention "hangar-slow" stall until the test ends and user texts containing
// "RATE" are rate limited.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	t.Helper()
	hold := make(chan struct{})
	fake := &fakemodel.Server{
		Script: func(r fakemodel.Request) fakemodel.Response {
			switch {
			case strings.Contains(string(r.System), "hangar-slow"):
				resp := fakemodel.Text("never")
				resp.Hold = hold
				return resp
			case strings.Contains(r.LastUserText(), "RATE"):
				return fakemodel.RateLimited()
			}
			return fakemodel.ResponsesDefault(r)
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

func newEngine(t *testing.T, bin string) *codex.Engine {
	t.Helper()
	e, err := codex.New(json.RawMessage(`{"binary":`+strconvQuote(bin)+`,"max_retries":1,"interrupt_grace_ms":2000}`), engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*codex.Engine)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func agent(system string) hangar.Agent {
	a := hangar.Agent{Type: "agent", ID: "agent_codex", Version: 1, Name: "codex", Tools: json.RawMessage(`[]`)}
	a.Model.ID = "gpt-5.4"
	if system != "" {
		a.System = &system
	}
	return a
}

func TestConformance(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	_, url := newFake(t)
	enginetest.Run(t, enginetest.Harness{
		New:       func(t *testing.T) engine.Engine { return newEngine(t, bin) },
		Sandbox:   func(t *testing.T) provider.Sandbox { return newHostSandbox(t, url) },
		Agent:     func(t *testing.T) hangar.Agent { return agent("") },
		SlowAgent: func(t *testing.T) hangar.Agent { return agent("hangar-slow") },
	})
}

// runTurn runs one turn and returns its events, failing on a run error.
func runTurn(t *testing.T, e engine.Engine, sb provider.Sandbox, spec engine.Spec) []engine.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := time.Now()
	run, err := e.Start(ctx, sb, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	evs := enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Fatalf("Wait = %v; events %v", err, enginetest.Types(evs))
	}
	t.Logf("turn %d: %d events in %v", spec.Turn, len(evs), time.Since(start).Round(time.Millisecond))
	enginetest.CheckEvents(t, evs)
	return evs
}

func only(evs []engine.Event, types ...string) []string {
	var out []string
	for _, e := range evs {
		if slices.Contains(types, e.Type) {
			out = append(out, e.Type)
		}
	}
	return out
}

func TestRealCLIToolRoundAndResume(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	e := newEngine(t, bin)
	sb := newHostSandbox(t, url)

	spec := enginetest.Spec(agent("You are a careful agent."), "please TOOL:bash echo hello > out.txt", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session"}
	evs := runTurn(t, e, sb, spec)
	got, err := sb.GetFile(t.Context(), "/workspace/out.txt")
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("out.txt = %q, %v; events %v", got, err, enginetest.Types(evs))
	}
	want := []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage, hangar.EventModelRequestEnd}
	if got := enginetest.Types(evs); !slices.Equal(got, want) {
		t.Errorf("turn 1 events = %v, want %v", got, want)
	}
	var resume string
	for _, ev := range evs {
		if ev.Type == engine.EventResume {
			resume = ev.Resume
		}
		if ev.Type == hangar.EventAgentToolUse {
			b, _ := json.Marshal(ev.Body)
			if !strings.Contains(string(b), `"command":"echo hello \u003e out.txt"`) || !strings.Contains(string(b), `"name":"bash"`) {
				t.Errorf("tool use = %s", b)
			}
		}
		if ev.Type == hangar.EventModelRequestEnd && (ev.Usage == nil || ev.Usage.InputTokens == 0 || ev.Usage.OutputTokens == 0) {
			t.Errorf("span end usage = %+v", ev.Usage)
		}
	}
	reqs := fake.ResponsesRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d responses requests, want 2", len(reqs))
	}
	first := reqs[0]
	if first.Header.Get("Authorization") != "Bearer tok_session" || first.Model != "gpt-5.4" || !first.Stream {
		t.Errorf("request: auth %q model %q stream %v", first.Header.Get("Authorization"), first.Model, first.Stream)
	}
	if !strings.Contains(string(first.System), "You are a careful agent.") {
		t.Errorf("system prompt not sent as developer instructions: %.300s", first.System)
	}
	if _, ok := reqs[1].LastToolResult(); !ok {
		t.Errorf("second request carries no function_call_output")
	}

	// Turn 2 resumes the thread: the model sees the first turn's items.
	spec2 := enginetest.Spec(agent("You are a careful agent."), "TOOL:bash cat out.txt", 1)
	spec2.Egress = spec.Egress
	spec2.Resume = resume
	evs2 := runTurn(t, e, sb, spec2)
	var result string
	for _, ev := range evs2 {
		if ev.Type == engine.EventResume && ev.Resume != resume {
			t.Errorf("resumed thread %q, want %q", ev.Resume, resume)
		}
		if ev.Type == hangar.EventAgentToolResult {
			b, _ := json.Marshal(ev.Body)
			result = string(b)
		}
	}
	if !strings.Contains(result, `hello\n`) {
		t.Errorf("turn 2 tool result = %s", result)
	}
	reqs = fake.ResponsesRequests()
	third := reqs[2]
	var sawFirstCall, sawFirstPrompt bool
	for _, m := range third.Messages {
		for _, b := range m.Content {
			if b.Type == "tool_use" && strings.Contains(string(b.Input), "echo hello > out.txt") {
				sawFirstCall = true
			}
			if b.Type == "text" && strings.Contains(b.Text, "please TOOL:bash echo hello") {
				sawFirstPrompt = true
			}
		}
	}
	if !sawFirstCall || !sawFirstPrompt {
		t.Errorf("resumed request lacks the first turn's items (call %v, prompt %v)", sawFirstCall, sawFirstPrompt)
	}
	if got := only(evs2, hangar.EventAgentMessage); len(got) != 1 {
		t.Errorf("turn 2 messages = %v", got)
	}
}

func TestRealCLIInterruptHeldStream(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	_, url := newFake(t)
	e := newEngine(t, bin)
	sb := newHostSandbox(t, url)
	spec := enginetest.Spec(agent("hangar-slow"), "go", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	run, err := e.Start(t.Context(), sb, spec)
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			t.Fatalf("run ended before its model request: %v", enginetest.Types(evs))
		}
		evs = append(evs, ev)
		if ev.Type == hangar.EventModelRequestStart {
			break
		}
	}
	start := time.Now()
	if err := run.Interrupt(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, enginetest.Drain(t, run)...)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait after interrupt = %v", err)
	}
	t.Logf("interrupt took %v", time.Since(start).Round(time.Millisecond))
	enginetest.CheckEvents(t, evs)
	if time.Since(start) > 2*time.Second {
		t.Errorf("interrupt took %v; SIGINT should end codex exec at once", time.Since(start))
	}
}

func TestRealCLIRateLimited(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	_, url := newFake(t)
	e := newEngine(t, bin)
	spec := enginetest.Spec(agent(""), "RATE", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	run, err := e.Start(t.Context(), newHostSandbox(t, url), spec)
	if err != nil {
		t.Fatal(err)
	}
	evs := enginetest.Drain(t, run)
	enginetest.CheckEvents(t, evs)
	var ee *engine.Error
	if err := run.Wait(); !errors.As(err, &ee) || ee.Type != "model_rate_limited_error" {
		t.Errorf("Wait = %v, want model_rate_limited_error", err)
	}
}
