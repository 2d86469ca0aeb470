package factory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/factory"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

var record = flag.String("record", "", "record droid's stdout of the real-CLI tests into this directory (testdata/*.jsonl)")

// recordTo makes e copy droid's stdout to <-record>/name when -record is set.
func recordTo(t *testing.T, e *factory.Engine, name string) {
	t.Helper()
	if *record == "" {
		return
	}
	f, err := os.Create(filepath.Join(*record, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	e.RecordTo(f)
}

// droidBinary returns the pinned CLI, skipping the test when it cannot be installed.
func droidBinary(t *testing.T) string { return enginetest.InstallCLI(t, factory.NPM()) }

func newHostSandbox(t *testing.T) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{})
}

// newFake starts a fake model with the default script, except that a tool marker in the
// user text calls droid's Execute tool with a low risk level.
func newFake(t *testing.T) (*fakemodel.Server, string) { return newRiskyFake(t, "low") }

// newRiskyFake is newFake with the risk level droid's Execute calls declare.
func newRiskyFake(t *testing.T, risk string) (*fakemodel.Server, string) {
	return enginetest.FakeModel(t, func(r fakemodel.Request) fakemodel.Response {
		if _, ok := r.LastToolResult(); !ok && r.HasTool("Execute") {
			text := r.LastUserText()
			if i := strings.Index(text, fakemodel.ToolMarker); i >= 0 {
				cmd, _, _ := strings.Cut(text[i+len(fakemodel.ToolMarker):], "\n")
				return fakemodel.ToolUse("Execute", map[string]string{
					"command": strings.TrimSpace(cmd), "summary": "run the command",
					"riskLevel": risk, "riskLevelReason": "a test command in the workspace",
				})
			}
		}
		return fakemodel.Default(r)
	})
}

func newEngine(t *testing.T, cfg string) *factory.Engine {
	t.Helper()
	e, err := factory.New(json.RawMessage(cfg), engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*factory.Engine)
}

func binaryConfig(bin string) string {
	b, _ := json.Marshal(map[string]any{"binary": bin, "interrupt_grace_ms": 2000})
	return string(b)
}

func spec(agent hangar.Agent, text string, turn int, url string) engine.Spec {
	s := enginetest.Spec(agent, text, turn)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session_1"}
	return s
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		cfg     string
		wantErr bool
	}{
		{"", false},
		{"null", false},
		{`{"auto":"medium","max_output_tokens":4096}`, false},
		{`{"auto":"yolo"}`, true},
		{`{"nope":1}`, true},
		{`{"interrupt_grace_ms":-1}`, true},
	}
	for _, tt := range tests {
		_, err := factory.New(json.RawMessage(tt.cfg), engine.Deps{})
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%s) = %v, want error %v", tt.cfg, err, tt.wantErr)
		}
	}
}

func TestArgsEnvSettings(t *testing.T) {
	e := newEngine(t, `{"binary":"/bin/droid"}`)
	system := "be brief"
	agent := hangar.Agent{Model: hangar.Model{ID: "claude-opus-4-8"}, System: &system}
	s := spec(agent, "hi there", 1, "http://egress:1")
	want := []string{"exec", "--input-format", "stream-jsonrpc", "--output-format", "stream-jsonrpc",
		"--auto", "high", "-m", "custom:claude-opus-4-8", "--append-system-prompt", "be brief"}
	if diff := cmp.Diff(want, e.Args(s)); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
	requests := []struct {
		name string
		got  []byte
		want string
	}{
		{"new session", e.SessionRequest(s), `{"factoryApiVersion":"1.0.0","id":"hangar_session","jsonrpc":"2.0","method":"droid.initialize_session","params":{"autonomyLevel":"high","cwd":".","machineId":"hangar","modelId":"custom:claude-opus-4-8"},"type":"request"}`},
		{"title", factory.TitleRequest(s), `{"factoryApiVersion":"1.0.0","id":"hangar_title","jsonrpc":"2.0","method":"droid.rename_session","params":{"title":"Hangar sesn_test"},"type":"request"}`},
		{"message", factory.MessageRequest(s), `{"factoryApiVersion":"1.0.0","id":"hangar_message","jsonrpc":"2.0","method":"droid.add_user_message","params":{"text":"hi there"},"type":"request"}`},
	}
	s.Resume = "sess-1"
	requests = append(requests, struct {
		name string
		got  []byte
		want string
	}{"resumed session", e.SessionRequest(s), `{"factoryApiVersion":"1.0.0","id":"hangar_load","jsonrpc":"2.0","method":"droid.load_session","params":{"sessionId":"sess-1"},"type":"request"}`})
	for _, r := range requests {
		if string(r.got) != r.want+"\n" {
			t.Errorf("%s request = %s, want %s", r.name, r.got, r.want)
		}
	}
	if diff := cmp.Diff([]string{"FACTORY_AIRGAP_ENABLED=1", "HOME=/home/agent"}, e.Env(s)); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	if got := factory.SettingsPath(s); got != "/home/agent/.factory/settings.json" {
		t.Errorf("SettingsPath = %s", got)
	}
	var settings map[string]any
	if err := json.Unmarshal(e.Settings(s), &settings); err != nil {
		t.Fatal(err)
	}
	wantSettings := map[string]any{"customModels": []any{map[string]any{
		"model": "claude-opus-4-8", "displayName": "Hangar", "baseUrl": "http://egress:1", "apiKey": "tok_session_1",
		"provider": "anthropic", "maxOutputTokens": float64(8192),
	}}}
	if diff := cmp.Diff(wantSettings, settings); diff != "" {
		t.Errorf("Settings (-want +got):\n%s", diff)
	}
	if got := e.Args(spec(hangar.Agent{}, "x", 0, ""))[8]; got != "custom:"+factory.DefaultModel {
		t.Errorf("model of an agent without one = %s", got)
	}
}

func TestNotInstalled(t *testing.T) {
	e := newEngine(t, `{"cache_dir":`+quote(t.TempDir())+`}`)
	if m := e.Mounts(); m != nil {
		t.Errorf("Mounts = %v, want nil", m)
	}
	_, err := e.Start(t.Context(), newHostSandbox(t), spec(hangar.Agent{}, "hi", 0, ""))
	var ee *engine.Error
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "hangar engines install factory") {
		t.Errorf("Start = %v, want an engine.Error saying how to install", err)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConformance(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	_, url := newFake(t)
	enginetest.Run(t, enginetest.Harness{
		New:     func(t *testing.T) engine.Engine { return &urlEngine{newEngine(t, binaryConfig(bin)), url} },
		Sandbox: func(t *testing.T) provider.Sandbox { return newHostSandbox(t) },
		SlowAgent: func(t *testing.T) hangar.Agent {
			system := "hangar-slow"
			return hangar.Agent{Type: "agent", ID: "agent_slow", Version: 1, Name: "slow", System: &system, Tools: json.RawMessage(`[]`)}
		},
	})
}

// urlEngine fills in the egress of the specs the conformance suite builds.
type urlEngine struct {
	*factory.Engine
	url string
}

func (e *urlEngine) Start(ctx context.Context, sb provider.Sandbox, s engine.Spec) (engine.Run, error) {
	s.Egress = engine.Egress{ModelBaseURL: e.url, Token: "tok_conformance"}
	return e.Engine.Start(ctx, sb, s)
}

func TestRealCLIToolRoundAndResume(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t)
	e := newEngine(t, binaryConfig(bin))
	system := "You are Hangar's test agent."
	agent := hangar.Agent{Type: "agent", ID: "agent_1", Version: 1, Name: "coder", Model: hangar.Model{ID: "claude-sonnet-4-6"}, System: &system}

	s := spec(agent, "TOOL:bash echo hello > out.txt", 0, url)
	recordTo(t, e, "tool_round.jsonl")
	evs := enginetest.RunTurn(t, e, sb, s)
	want := []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage}
	if diff := cmp.Diff(want, enginetest.Only(evs, want...)); diff != "" {
		t.Fatalf("turn 1 events (-want +got):\n%s\nall: %v", diff, enginetest.Types(evs))
	}
	var use, result, msg, end engine.Event
	var resume string
	for _, ev := range evs {
		switch ev.Type {
		case hangar.EventAgentToolUse:
			use = ev
		case hangar.EventAgentToolResult:
			result = ev
		case hangar.EventAgentMessage:
			msg = ev
		case hangar.EventModelRequestEnd:
			end = ev
		case engine.EventResume:
			resume = ev.Resume
		}
	}
	if b, _ := json.Marshal(use.Body); string(b) != `{"evaluated_permission":"allow","input":{"command":"echo hello \u003e out.txt"},"name":"bash"}` {
		t.Errorf("agent.tool_use body = %s", b)
	}
	if result.Ref != use.ID || use.ID == "" {
		t.Errorf("tool result ref %q, tool use id %q", result.Ref, use.ID)
	}
	if b, _ := json.Marshal(msg.Body); !strings.Contains(string(b), "done: ") {
		t.Errorf("agent.message body = %s", b)
	}
	if end.Usage == nil || end.Usage.InputTokens == 0 || end.Usage.OutputTokens == 0 {
		t.Errorf("span end usage = %+v", end.Usage)
	}
	if got, err := sb.GetFile(t.Context(), "/workspace/out.txt"); err != nil || string(got) != "hello\n" {
		t.Errorf("out.txt = %q, %v", got, err)
	}
	if resume == "" {
		t.Fatal("no EventResume")
	}
	reqs := fake.MessageRequests()
	if len(reqs) != 2 {
		t.Fatalf("the fake saw %d /v1/messages requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != "tok_session_1" {
			t.Errorf("x-api-key = %q, want the session token", got)
		}
		if r.Model != "claude-sonnet-4-6" {
			t.Errorf("model = %q", r.Model)
		}
		if !strings.Contains(string(r.System), system) {
			t.Errorf("the system prompt lacks the agent's")
		}
	}
	if res, ok := reqs[1].LastToolResult(); !ok || res.IsError {
		t.Errorf("second request's tool result %+v, %v", res, ok)
	}

	s2 := spec(agent, "second turn", 1, url)
	s2.Resume = resume
	recordTo(t, e, "resume.jsonl")
	evs2 := enginetest.RunTurn(t, e, sb, s2)
	if diff := cmp.Diff([]string{hangar.EventAgentMessage}, enginetest.Only(evs2, hangar.EventAgentMessage)); diff != "" {
		t.Errorf("turn 2 events (-want +got):\n%s", diff)
	}
	var resumed []string
	for _, ev := range evs2 {
		if ev.Type == engine.EventResume {
			resumed = append(resumed, ev.Resume)
		}
	}
	if diff := cmp.Diff([]string{resume}, resumed); diff != "" {
		t.Errorf("turn 2 sessions (-want +got, the loaded one):\n%s", diff)
	}
	reqs = fake.MessageRequests()
	if len(reqs) != 3 {
		t.Fatalf("turn 2: %d requests in all, want 3", len(reqs))
	}
	var history strings.Builder
	for _, m := range reqs[2].Messages {
		for _, b := range m.Content {
			history.WriteString(m.Role + ":" + b.Type + ":" + b.Text + b.ResultText() + "\n")
		}
	}
	for _, want := range []string{"TOOL:bash echo hello > out.txt", "user:tool_result:", "second turn"} {
		if !strings.Contains(history.String(), want) {
			t.Errorf("turn 2 request history lacks %q:\n%s", want, history.String())
		}
	}
}

func TestRealCLIInterrupt(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	held := make(chan struct{})
	var once sync.Once
	slow := fake.Script
	fake.Script = func(r fakemodel.Request) fakemodel.Response {
		once.Do(func() { close(held) })
		return slow(r)
	}
	e := newEngine(t, binaryConfig(bin))
	system := "hangar-slow"
	var out bytes.Buffer // droid's stdout; read after Wait
	e.RecordTo(&out)
	recordTo(t, e, "interrupt.jsonl")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	run, err := e.Start(ctx, newHostSandbox(t), spec(hangar.Agent{System: &system}, "take your time", 0, url))
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	for !slices.Contains(enginetest.Types(evs), hangar.EventModelRequestStart) {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			t.Fatalf("run ended early: %v", enginetest.Types(evs))
		}
		evs = append(evs, ev)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("droid made no model request")
	}
	start := time.Now()
	if err := run.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, enginetest.Drain(t, run)...)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait after interrupt = %v, want nil", err)
	}
	t.Logf("interrupt took %v", time.Since(start).Round(time.Millisecond))
	if *record == "" && !strings.Contains(out.String(), `"type":"agent_turn_completed","reason":"cancelled"`) {
		t.Errorf("droid did not end the turn as cancelled (the interrupt request was not honoured):\n%s", out.String())
	}
	enginetest.CheckEvents(t, evs)
	if slices.Contains(enginetest.Types(evs), hangar.EventAgentMessage) {
		t.Errorf("events after interrupt: %v", enginetest.Types(evs))
	}
}

func TestRealCLIModelError(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	fake.Script = func(fakemodel.Request) fakemodel.Response {
		return fakemodel.Response{Error: &fakemodel.APIError{Status: 401, Type: "authentication_error", Message: "invalid x-api-key"}}
	}
	e := newEngine(t, binaryConfig(bin))
	recordTo(t, e, "error_401.jsonl")
	run, err := e.Start(t.Context(), newHostSandbox(t), spec(hangar.Agent{}, "hi", 0, url))
	if err != nil {
		t.Fatal(err)
	}
	evs := enginetest.Drain(t, run)
	enginetest.CheckEvents(t, evs)
	var ee *engine.Error
	if err := run.Wait(); !errors.As(err, &ee) || ee.Type != "model_request_failed_error" {
		t.Fatalf("Wait = %v, want an engine.Error model_request_failed_error", err)
	}
}

// TestRealCLIInterruptAtStart interrupts a turn before droid has started it: stdin is
// closed before the user message is sent, and droid exits without calling the model.
func TestRealCLIInterruptAtStart(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	e := newEngine(t, binaryConfig(bin))
	run, err := e.Start(t.Context(), newHostSandbox(t), spec(hangar.Agent{}, "hi", 0, url))
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Interrupt(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs := enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait after interrupt = %v, want nil", err)
	}
	enginetest.CheckEvents(t, evs)
	if got := enginetest.Only(evs, hangar.EventAgentMessage, hangar.EventModelRequestStart); len(got) != 0 {
		t.Errorf("events of a turn interrupted before it started: %v", enginetest.Types(evs))
	}
	if n := len(fake.MessageRequests()); n != 0 {
		t.Errorf("the fake saw %d model requests, want 0", n)
	}
}

// TestRealCLIPermissionDeclined runs droid at autonomy level low with a command it rates
// high risk: droid asks for permission over JSON-RPC and the engine declines, as exec mode
// would: the tool call fails and droid ends the turn without error.
func TestRealCLIPermissionDeclined(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	_, url := newRiskyFake(t, "high")
	b, _ := json.Marshal(map[string]any{"binary": bin, "auto": "low"})
	e := newEngine(t, string(b))
	recordTo(t, e, "permission_declined.jsonl")
	sb := newHostSandbox(t)
	evs := enginetest.RunTurn(t, e, sb, spec(hangar.Agent{}, "TOOL:bash echo hello > out.txt", 0, url))
	want := []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult}
	if diff := cmp.Diff(want, enginetest.Only(evs, append(want, hangar.EventAgentMessage)...)); diff != "" {
		t.Fatalf("events (-want +got):\n%s\nall: %v", diff, enginetest.Types(evs))
	}
	for _, ev := range evs {
		if ev.Type == hangar.EventAgentToolResult {
			if b, _ := json.Marshal(ev.Body); !strings.Contains(string(b), `"is_error":true`) || !strings.Contains(string(b), "cancelled") {
				t.Errorf("tool result of a declined call = %s, want an error", b)
			}
		}
	}
	if _, err := sb.GetFile(t.Context(), "/workspace/out.txt"); err == nil {
		t.Error("the declined command ran: out.txt exists")
	}
}
