package opencode_test

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
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/opencode"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// opencodeBinary returns the pinned CLI, installing it into the cache directory with npm
// when it is missing; it skips the test when npm is not available.
func opencodeBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HANGAR_CACHE_DIR")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache dir: %v", err)
		}
		dir = filepath.Join(d, "hangar")
	}
	if bin, err := opencode.Find(dir); err == nil {
		return bin
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skipf("skipping real-CLI test: opencode %s is not installed in %s and npm is not available to install it", opencode.Version, dir)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bin, err := opencode.NPM().Install(ctx, dir, io.Discard)
	if err != nil {
		t.Skipf("skipping real-CLI test: %v", err)
	}
	return bin
}

// hostSandbox runs processes on the host: a test-only provider.Sandbox that maps the
// sandbox paths of a spec (/workspace, /home/agent) to host directories, as a real
// sandbox's bind mounts would, and fills in the model endpoint when the spec has none.
type hostSandbox struct {
	paths map[string]string // sandbox path prefix → host path
	env   []string          // defaults for empty variables
}

func newHostSandbox(t *testing.T, baseURL string) *hostSandbox {
	t.Helper()
	root := t.TempDir()
	sb := &hostSandbox{
		paths: map[string]string{"/workspace": filepath.Join(root, "workspace"), "/home/agent": filepath.Join(root, "home")},
		env:   []string{"HANGAR_MODEL_BASE_URL=" + baseURL, "HANGAR_MODEL_TOKEN=tok_default"},
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
		if v == "" {
			for _, d := range s.env {
				if strings.HasPrefix(d, k+"=") {
					kv = d
				}
			}
		} else {
			kv = k + "=" + s.host(v)
		}
		env = append(env, kv)
	}
	cmd := exec.CommandContext(ctx, spec.Args[0], spec.Args[1:]...)
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
	h := s.host(p)
	if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
		return err
	}
	return os.WriteFile(h, data, os.FileMode(mode))
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

// newFake starts a fake model: the default script, with "TOOL:bash <command>" answered by
// a call of opencode's bash tool (which takes a description too), except that requests
// whose system prompt mentions "hangar-slow" stall until the test ends.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	t.Helper()
	hold := make(chan struct{})
	fake := &fakemodel.Server{
		Script: func(r fakemodel.Request) fakemodel.Response {
			if strings.Contains(string(r.System), "hangar-slow") {
				resp := fakemodel.Text("never")
				resp.Hold = hold
				return resp
			}
			text := r.LastUserText()
			if _, ok := r.LastToolResult(); !ok && r.HasTool("bash") {
				if i := strings.Index(text, fakemodel.ToolMarker); i >= 0 {
					cmd, _, _ := strings.Cut(text[i+len(fakemodel.ToolMarker):], "\n")
					return fakemodel.ToolUse("bash", map[string]string{"command": strings.TrimSpace(cmd), "description": "Run the command"})
				}
			}
			return fakemodel.Default(r)
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

func newEngine(t *testing.T, bin string) *opencode.Engine {
	t.Helper()
	b, _ := json.Marshal(bin)
	e, err := opencode.New(json.RawMessage(`{"binary":`+string(b)+`,"interrupt_grace_ms":2000}`), engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*opencode.Engine)
}

func TestConformance(t *testing.T) {
	bin := opencodeBinary(t)
	t.Parallel()
	_, url := newFake(t)
	enginetest.Run(t, enginetest.Harness{
		New:     func(t *testing.T) engine.Engine { return newEngine(t, bin) },
		Sandbox: func(t *testing.T) provider.Sandbox { return newHostSandbox(t, url) },
		SlowAgent: func(t *testing.T) hangar.Agent {
			system := "hangar-slow"
			return hangar.Agent{Type: "agent", ID: "agent_slow", Version: 1, Name: "slow", System: &system, Tools: json.RawMessage(`[]`)}
		},
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
	bin := opencodeBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t, url)
	e := newEngine(t, bin)
	system := "You are the hangar test agent."
	agent := hangar.Agent{
		Type: "agent", ID: "agent_1", Version: 1, Name: "coder", Model: hangar.Model{ID: "claude-sonnet-4-6"}, System: &system,
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","enabled":false}]}]`),
	}

	spec := enginetest.Spec(agent, "TOOL:bash echo hello > out.txt", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session_1"}
	evs := runTurn(t, e, sb, spec)
	want := []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage}
	if diff := cmp.Diff(want, only(evs, want...)); diff != "" {
		t.Fatalf("turn 1 events (-want +got):\n%s\nall: %v", diff, enginetest.Types(evs))
	}
	var use, result, msg engine.Event
	var resume string
	var usage hangar.Usage
	for _, ev := range evs {
		switch ev.Type {
		case hangar.EventAgentToolUse:
			use = ev
		case hangar.EventAgentToolResult:
			result = ev
		case hangar.EventAgentMessage:
			msg = ev
		case engine.EventResume:
			resume = ev.Resume
		case hangar.EventModelRequestEnd:
			usage.Add(*ev.Usage)
		}
	}
	if body, _ := json.Marshal(use.Body); string(body) != `{"evaluated_permission":"allow","input":{"command":"echo hello \u003e out.txt"},"name":"bash"}` {
		t.Errorf("agent.tool_use body = %s", body)
	}
	if body, _ := json.Marshal(result.Body); result.Ref != use.ID || use.ID == "" || !strings.Contains(string(body), `"is_error":false`) {
		t.Errorf("tool result ref %q %s, tool use id %q", result.Ref, body, use.ID)
	}
	if b, _ := json.Marshal(msg.Body); !strings.Contains(string(b), "done: ") {
		t.Errorf("agent.message body = %s", b)
	}
	if usage.InputTokens == 0 || usage.OutputTokens == 0 {
		t.Errorf("usage %+v", usage)
	}
	if got, err := sb.GetFile(t.Context(), "/workspace/out.txt"); err != nil || string(got) != "hello\n" {
		t.Errorf("out.txt = %q, %v", got, err)
	}
	if !strings.HasPrefix(resume, "ses_") {
		t.Fatalf("EventResume %q", resume)
	}
	reqs := fake.MessageRequests()
	if len(reqs) != 2 {
		t.Errorf("the fake saw %d /v1/messages requests, want 2 (no title request)", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != "tok_session_1" {
			t.Errorf("x-api-key = %q, want the session token", got)
		}
		if r.Model != "claude-sonnet-4-6" {
			t.Errorf("model = %q", r.Model)
		}
		if !r.HasTool("bash") || r.HasTool("webfetch") {
			t.Errorf("tools offered: %+v", r.Tools)
		}
		if !strings.Contains(string(r.System), system) {
			t.Errorf("system prompt lacks the agent's")
		}
	}

	n := len(reqs)
	spec2 := enginetest.Spec(agent, "second turn", 1)
	spec2.Egress = spec.Egress
	spec2.Resume = resume
	evs2 := runTurn(t, e, sb, spec2)
	if diff := cmp.Diff([]string{hangar.EventAgentMessage}, only(evs2, hangar.EventAgentMessage)); diff != "" {
		t.Errorf("turn 2 events (-want +got):\n%s", diff)
	}
	for _, ev := range evs2 {
		if ev.Type == engine.EventResume && ev.Resume != resume {
			t.Errorf("turn 2 continued CLI session %q, want %q", ev.Resume, resume)
		}
	}
	reqs = fake.MessageRequests()
	if len(reqs) <= n {
		t.Fatal("turn 2 made no model request")
	}
	var history strings.Builder
	for _, m := range reqs[len(reqs)-1].Messages {
		for _, b := range m.Content {
			history.WriteString(m.Role + ":" + b.Type + ":" + b.Text + b.ResultText() + "\n")
		}
	}
	for _, want := range []string{"user:text:TOOL:bash echo hello > out.txt", "user:tool_result:", "assistant:text:done: ", "user:text:second turn"} {
		if !strings.Contains(history.String(), want) {
			t.Errorf("turn 2 request history lacks %q:\n%s", want, history.String())
		}
	}
}

func TestRealCLIModelError(t *testing.T) {
	bin := opencodeBinary(t)
	t.Parallel()
	// Not retried by opencode (it retries 429 and 5xx for about a minute).
	fake, url := newFake(t)
	fake.Script = func(fakemodel.Request) fakemodel.Response {
		return fakemodel.Response{Error: &fakemodel.APIError{Status: 401, Type: "authentication_error", Message: "invalid x-api-key"}}
	}
	e := newEngine(t, bin)
	run, err := e.Start(t.Context(), newHostSandbox(t, url), enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[]`)}, "hi", 0))
	if err != nil {
		t.Fatal(err)
	}
	evs := enginetest.Drain(t, run)
	enginetest.CheckEvents(t, evs)
	var ee *engine.Error
	if err := run.Wait(); !errors.As(err, &ee) || ee.Type != "model_request_failed_error" || !strings.Contains(ee.Message, "invalid x-api-key") {
		t.Fatalf("Wait = %v, want an engine.Error model_request_failed_error", err)
	}
}
