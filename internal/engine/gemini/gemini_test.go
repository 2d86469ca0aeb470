package gemini_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/gemini"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// geminiEntry returns the pinned CLI's entry point, skipping the test when node is
// missing or the CLI cannot be installed.
func geminiEntry(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("skipping real-CLI test: gemini needs node (Node.js 20 or later) in PATH")
	}
	return enginetest.InstallCLI(t, gemini.NPM())
}

// newHostSandbox returns a host sandbox that also maps the sandbox paths in arguments.
func newHostSandbox(t *testing.T) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{Arg: (*enginetest.HostSandbox).Host})
}

// newFake starts a fake model with the Gemini default script.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	return enginetest.FakeModel(t, fakemodel.GeminiDefault)
}

func newEngine(t *testing.T, entry string) *gemini.Engine {
	t.Helper()
	cfg, _ := json.Marshal(gemini.Config{Entry: entry, InterruptGraceMS: 2000})
	e, err := gemini.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*gemini.Engine)
}

func spec(a hangar.Agent, text string, turn int, url string) engine.Spec {
	s := enginetest.Spec(a, text, turn)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session_1"}
	return s
}

func TestConformance(t *testing.T) {
	entry := geminiEntry(t)
	t.Parallel()
	_, url := newFake(t)
	e := newEngine(t, entry)
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T) engine.Engine {
			return startWith(e, func(s *engine.Spec) { s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_conformance"} })
		},
		Sandbox: func(t *testing.T) provider.Sandbox { return newHostSandbox(t) },
		SlowAgent: func(t *testing.T) hangar.Agent {
			system := "hangar-slow"
			return hangar.Agent{Type: "agent", ID: "agent_slow", Version: 1, Name: "slow", System: &system, Tools: json.RawMessage(`[]`)}
		},
	})
}

// specEngine fills in the spec fields enginetest.Spec leaves empty.
type specEngine struct {
	*gemini.Engine
	fill func(*engine.Spec)
}

func startWith(e *gemini.Engine, fill func(*engine.Spec)) engine.Engine {
	return specEngine{e, fill}
}

func (e specEngine) Start(ctx context.Context, sb provider.Sandbox, s engine.Spec) (engine.Run, error) {
	e.fill(&s)
	return e.Engine.Start(ctx, sb, s)
}

func TestRealCLIToolRoundAndResume(t *testing.T) {
	entry := geminiEntry(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t)
	e := newEngine(t, entry)
	system := "You are hangar-test-agent."
	agent := hangar.Agent{
		Type: "agent", ID: "agent_1", Version: 1, Name: "coder", Model: hangar.Model{ID: "gemini-2.5-flash"},
		System: &system, Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`),
	}

	evs := enginetest.RunTurn(t, e, sb, spec(agent, "TOOL:bash echo hello > out.txt", 0, url))
	want := []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage}
	if diff := cmp.Diff(want, enginetest.Only(evs, want...)); diff != "" {
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
			usage.InputTokens += ev.Usage.InputTokens
			usage.OutputTokens += ev.Usage.OutputTokens
		}
	}
	if body, _ := json.Marshal(use.Body); !strings.Contains(string(body), `"name":"bash"`) || !strings.Contains(string(body), `"input":{"command":"echo hello \u003e out.txt"}`) {
		t.Errorf("agent.tool_use body = %s", body)
	}
	if result.Ref != use.ID || use.ID == "" {
		t.Errorf("tool result ref %q, tool use id %q", result.Ref, use.ID)
	}
	if b, _ := json.Marshal(msg.Body); !strings.Contains(string(b), "done: ") {
		t.Errorf("agent.message body = %s", b)
	}
	if usage.InputTokens == 0 || usage.OutputTokens == 0 {
		t.Errorf("usage = %+v, want the result line's stats", usage)
	}
	if got, err := sb.GetFile(t.Context(), "/workspace/out.txt"); err != nil || string(got) != "hello\n" {
		t.Errorf("out.txt = %q, %v", got, err)
	}
	if resume == "" {
		t.Fatal("no EventResume")
	}
	reqs := fake.GeminiRequests()
	if len(reqs) != 2 {
		t.Fatalf("the fake saw %d Gemini requests, want 2: %+v", len(reqs), fake.Requests())
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-goog-api-key"); got != "tok_session_1" {
			t.Errorf("x-goog-api-key = %q, want the session token", got)
		}
		if r.Model != "gemini-2.5-flash" || !r.Stream {
			t.Errorf("model %q stream %v", r.Model, r.Stream)
		}
		if !strings.Contains(string(r.System), system) {
			t.Errorf("the system instruction lacks the agent's system prompt")
		}
	}
	if _, ok := reqs[1].LastToolResult(); !ok {
		t.Errorf("second request carries no function response")
	}

	n := len(reqs)
	s2 := spec(agent, "what did you write?", 1, url)
	s2.Resume = resume
	evs2 := enginetest.RunTurn(t, e, sb, s2)
	if diff := cmp.Diff([]string{hangar.EventAgentMessage}, enginetest.Only(evs2, hangar.EventAgentMessage, hangar.EventAgentToolUse)); diff != "" {
		t.Errorf("turn 2 events (-want +got):\n%s", diff)
	}
	for _, ev := range evs2 {
		if ev.Type == engine.EventResume && ev.Resume != resume {
			t.Errorf("turn 2 resumed CLI session %q, want %q", ev.Resume, resume)
		}
	}
	reqs = fake.GeminiRequests()
	if len(reqs) != n+1 {
		t.Fatalf("turn 2 made %d model requests, want 1", len(reqs)-n)
	}
	// The resumed conversation carries turn 1: the prompt, the call and its result.
	var history strings.Builder
	for _, m := range reqs[n].Messages {
		for _, b := range m.Content {
			history.WriteString(b.Text + b.Name + string(b.Input) + "\n")
		}
	}
	for _, want := range []string{"TOOL:bash echo hello > out.txt", "run_shell_command", "what did you write?"} {
		if !strings.Contains(history.String(), want) {
			t.Errorf("turn 2 request history lacks %q:\n%s", want, history.String())
		}
	}
}

func TestRealCLIInterrupt(t *testing.T) {
	entry := geminiEntry(t)
	t.Parallel()
	_, url := newFake(t)
	sb := newHostSandbox(t)
	e := newEngine(t, entry)
	system := "hangar-slow"
	agent := hangar.Agent{Type: "agent", ID: "agent_slow", Version: 1, Name: "slow", System: &system}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	run, err := e.Start(ctx, sb, spec(agent, "go", 0, url))
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	for ev := range run.Events() {
		evs = append(evs, ev)
		if ev.Type == hangar.EventModelRequestStart {
			break
		}
	}
	start := time.Now()
	if err := run.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, enginetest.Drain(t, run)...)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait after interrupt = %v, want nil", err)
	}
	t.Logf("interrupted in %v", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > 2*time.Second {
		t.Errorf("the CLI took %v to stop after SIGINT; the kill fallback did it", time.Since(start))
	}
	enginetest.CheckEvents(t, evs)
	if got := enginetest.Only(evs, hangar.EventAgentMessage); len(got) != 0 {
		t.Errorf("interrupted turn emitted %v", got)
	}
}

func TestRealCLIModelError(t *testing.T) {
	entry := geminiEntry(t)
	t.Parallel()
	fake, url := newFake(t)
	fake.Push(fakemodel.Response{Error: &fakemodel.APIError{Status: 400, Type: "invalid_request_error", Message: "bad request from the test"}})
	sb := newHostSandbox(t)
	e := newEngine(t, entry)
	run, err := e.Start(t.Context(), sb, spec(hangar.Agent{Type: "agent", ID: "agent_1", Version: 1}, "hi", 0, url))
	if err != nil {
		t.Fatal(err)
	}
	evs := enginetest.Drain(t, run)
	enginetest.CheckEvents(t, evs)
	var ee *engine.Error
	if err := run.Wait(); !errors.As(err, &ee) || ee.Type != "model_request_failed_error" || !strings.Contains(ee.Message, "bad request from the test") {
		t.Errorf("Wait = %v, want a model_request_failed_error", err)
	}
}

func TestArgsAndEnv(t *testing.T) {
	s := enginetest.Spec(hangar.Agent{Model: hangar.Model{ID: "gemini-3.1-pro-preview"}}, "-rf everything", 1)
	s.Resume = "b1b2"
	s.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100/model", Token: "tok", HTTPProxy: "http://127.0.0.1:4100"}
	want := []string{"-m", "gemini-3.1-pro-preview", "--yolo", "--output-format", "stream-json", "--resume", "b1b2", "--prompt=-rf everything"}
	if diff := cmp.Diff(want, gemini.Args(s)); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
	env := strings.Join(gemini.Env(s), " ")
	for _, kv := range []string{"GEMINI_API_KEY=tok", "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:4100/model", "GEMINI_CLI_TRUST_WORKSPACE=true", "HOME=/home/agent", "HTTPS_PROXY=http://127.0.0.1:4100"} {
		if !strings.Contains(env, kv) {
			t.Errorf("Env lacks %s: %s", kv, env)
		}
	}
	if got := gemini.Args(enginetest.Spec(hangar.Agent{}, "x", 0)); got[1] != gemini.DefaultModel {
		t.Errorf("Args without a model = %v", got)
	}
	var settings map[string]any
	if err := json.Unmarshal(gemini.Settings, &settings); err != nil {
		t.Fatal(err)
	}
}

func TestMounts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node in PATH")
	}
	root := t.TempDir()
	entry := filepath.Join(root, "node_modules", "@google", "gemini-cli", "bundle", "gemini.js")
	if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(node)
	rootReal, _ := filepath.EvalSymlinks(root)
	got := newEngine(t, entry).Mounts()
	want := []provider.Mount{
		{Source: rootReal, Target: gemini.MountTarget, ReadOnly: true},
		{Source: real, Target: gemini.NodeTarget, ReadOnly: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Mounts (-want +got):\n%s", diff)
	}
	e, _ := gemini.New(json.RawMessage(`{"cache_dir":"`+t.TempDir()+`"}`), engine.Deps{})
	if m := e.(*gemini.Engine).Mounts(); m != nil {
		t.Errorf("Mounts without the CLI = %v, want nil", m)
	}
}

func TestNewRejectsUnknownConfig(t *testing.T) {
	if _, err := gemini.New(json.RawMessage(`{"nope":1}`), engine.Deps{}); err == nil {
		t.Error("New accepted an unknown field")
	}
}

// TestPutFileFallback checks that Start writes the CLI's settings through a shell when
// the sandbox cannot write files.
func TestPutFileFallback(t *testing.T) {
	sb := enginetest.NewHostSandbox(t, enginetest.HostOptions{Arg: (*enginetest.HostSandbox).Host, NoPutFile: true})
	e := newEngine(t, "/bin/true")
	run, err := e.Start(t.Context(), sb, enginetest.Spec(hangar.Agent{}, "x", 0))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Drain(t, run)
	run.Wait()
	got, err := sb.GetFile(t.Context(), "/home/agent/.gemini/settings.json")
	if err != nil || !bytes.Equal(got, gemini.Settings) {
		t.Errorf("settings.json = %q, %v", got, err)
	}
}
