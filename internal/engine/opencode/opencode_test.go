package opencode_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/opencode"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// opencodeBinary returns the pinned CLI, skipping the test when it cannot be installed.
func opencodeBinary(t *testing.T) string { return enginetest.InstallCLI(t, opencode.NPM()) }

// newHostSandbox returns a host sandbox that fills in the model endpoint when the spec
// has none.
func newHostSandbox(t *testing.T, baseURL string) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{
		Env: []string{"HANGAR_MODEL_BASE_URL=" + baseURL, "HANGAR_MODEL_TOKEN=tok_default"},
	})
}

// newFake starts a fake model with the default script, except that a tool marker in the
// user text calls opencode's bash tool.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	return enginetest.FakeModel(t, func(r fakemodel.Request) fakemodel.Response {
		text := r.LastUserText()
		if _, ok := r.LastToolResult(); !ok && r.HasTool("bash") {
			if i := strings.Index(text, fakemodel.ToolMarker); i >= 0 {
				cmd, _, _ := strings.Cut(text[i+len(fakemodel.ToolMarker):], "\n")
				return fakemodel.ToolUse("bash", map[string]string{"command": strings.TrimSpace(cmd), "description": "Run the command"})
			}
		}
		return fakemodel.Default(r)
	})
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
	evs := enginetest.RunTurn(t, e, sb, spec)
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
	evs2 := enginetest.RunTurn(t, e, sb, spec2)
	if diff := cmp.Diff([]string{hangar.EventAgentMessage}, enginetest.Only(evs2, hangar.EventAgentMessage)); diff != "" {
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
