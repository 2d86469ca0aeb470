package claudecode_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// claudeBinary returns the pinned CLI, skipping the test when it cannot be installed.
func claudeBinary(t *testing.T) string { return enginetest.InstallCLI(t, claudecode.NPM()) }

// newHostSandbox returns a host sandbox that fills in the model endpoint when the spec
// has none, and has no PutFile.
func newHostSandbox(t *testing.T, baseURL string) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{
		Env:       []string{"ANTHROPIC_BASE_URL=" + baseURL, "ANTHROPIC_API_KEY=tok_default"},
		NoPutFile: true,
	})
}

// newFake starts a fake model with the default script.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	return enginetest.FakeModel(t, fakemodel.Default)
}

func newEngine(t *testing.T, bin string) *claudecode.Engine {
	t.Helper()
	e, err := claudecode.New(json.RawMessage(`{"binary":`+strconvQuote(bin)+`,"max_retries":1,"interrupt_grace_ms":2000}`), engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*claudecode.Engine)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConformance(t *testing.T) {
	bin := claudeBinary(t)
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
	bin := claudeBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t, url)
	e := newEngine(t, bin)
	agent := hangar.Agent{
		Type: "agent", ID: "agent_1", Version: 1, Name: "coder", Model: hangar.Model{ID: "claude-sonnet-4-6"},
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"web_search","enabled":false}]}]`),
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
		}
	}
	body, _ := json.Marshal(use.Body)
	if !strings.Contains(string(body), `"name":"bash"`) || !strings.Contains(string(body), `"command":"echo hello \u003e out.txt"`) {
		t.Errorf("agent.tool_use body = %s", body)
	}
	if result.Ref != use.ID || use.ID == "" {
		t.Errorf("tool result ref %q, tool use id %q", result.Ref, use.ID)
	}
	if b, _ := json.Marshal(msg.Body); !strings.Contains(string(b), "done: ") {
		t.Errorf("agent.message body = %s", b)
	}
	if got, err := sb.GetFile(t.Context(), "/workspace/out.txt"); err != nil || string(got) != "hello\n" {
		t.Errorf("out.txt = %q, %v", got, err)
	}
	if resume == "" {
		t.Fatal("no EventResume")
	}
	reqs := fake.MessageRequests()
	if len(reqs) == 0 {
		t.Fatal("the fake saw no /v1/messages request")
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != "tok_session_1" {
			t.Errorf("x-api-key = %q, want the session token", got)
		}
		if r.Model != "claude-sonnet-4-6" {
			t.Errorf("model = %q", r.Model)
		}
		if !r.HasTool("Bash") || r.HasTool("WebSearch") {
			t.Errorf("tools offered: %+v", r.Tools)
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
			t.Errorf("turn 2 resumed CLI session %q, want %q", ev.Resume, resume)
		}
	}
	reqs = fake.MessageRequests()
	if len(reqs) <= n {
		t.Fatal("turn 2 made no model request")
	}
	last := reqs[len(reqs)-1]
	var history strings.Builder
	for _, m := range last.Messages {
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

func TestRealCLIModelErrors(t *testing.T) {
	bin := claudeBinary(t)
	t.Parallel()
	tests := []struct {
		resp fakemodel.Response
		want string
	}{
		{fakemodel.Overloaded(), "model_overloaded_error"},
		{fakemodel.Response{Error: &fakemodel.APIError{Status: 401, Type: "authentication_error", Message: "invalid x-api-key"}}, "model_request_failed_error"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			fake, url := newFake(t)
			fake.Script = func(fakemodel.Request) fakemodel.Response { return tt.resp }
			e := newEngine(t, bin)
			run, err := e.Start(t.Context(), newHostSandbox(t, url), enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[]`)}, "hi", 0))
			if err != nil {
				t.Fatal(err)
			}
			evs := enginetest.Drain(t, run)
			enginetest.CheckEvents(t, evs)
			var ee *engine.Error
			if err := run.Wait(); !errors.As(err, &ee) || ee.Type != tt.want {
				t.Fatalf("Wait = %v, want an engine.Error %s", err, tt.want)
			}
		})
	}
}

func TestRealCLIToolConfirmation(t *testing.T) {
	bin := claudeBinary(t)
	t.Parallel()
	agent := hangar.Agent{
		Type: "agent", ID: "agent_ask", Version: 1, Name: "careful", Model: hangar.Model{ID: "claude-sonnet-4-6"},
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"bash","permission_policy":{"type":"always_ask"}}]}]`),
	}
	tests := []struct {
		name      string
		command   string
		answer    string // allow, deny or interrupt
		wantFile  string // content of f.txt, "" for none
		wantTypes []string
		wantText  string // in the agent.message
	}{
		{
			name: "allow", command: "echo hi > f.txt", answer: "allow", wantFile: "hi\n",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "done: ",
		},
		{
			name: "deny", command: "echo hi > f.txt", answer: "deny",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "done: not today",
		},
		{
			// Claude Code runs read-only commands without asking unless an ask rule says so.
			name: "a read-only command asks too", command: "echo hi", answer: "allow",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "done: hi",
		},
		{
			// The CLI settles the pending tool use with an error result.
			name: "interrupt while asking", command: "echo hi > f.txt", answer: "interrupt",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, url := newFake(t)
			sb := newHostSandbox(t, url)
			e := newEngine(t, bin)
			if !e.Capabilities().ToolConfirmation {
				t.Error("Capabilities().ToolConfirmation = false")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			run, err := e.Start(ctx, sb, enginetest.Spec(agent, "TOOL:bash "+tt.command, 0))
			if err != nil {
				t.Fatal(err)
			}
			var evs []engine.Event
			var ask engine.Event
			for ask.ID == "" {
				ev, ok := enginetest.Next(t, run)
				if !ok {
					t.Fatalf("run ended before asking; events %v", enginetest.Types(evs))
				}
				evs = append(evs, ev)
				if ev.RequiresAction {
					ask = ev
				}
			}
			body, _ := json.Marshal(ask.Body)
			if ask.Type != hangar.EventAgentToolUse || !strings.Contains(string(body), `"evaluated_permission":"ask"`) ||
				!strings.Contains(string(body), `"name":"bash"`) {
				t.Errorf("asking event %s %s", ask.Type, body)
			}
			in := engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: ask.ID, Allow: tt.answer == "allow"}
			if tt.answer == "deny" {
				in.DenyMessage = "not today"
			}
			if err := run.Send(ctx, engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: ask.ID}); err == nil {
				t.Error("Send of a custom tool result for a tool confirmation succeeded")
			}
			if tt.answer == "interrupt" {
				err = run.Interrupt(ctx)
			} else {
				err = run.Send(ctx, in)
			}
			if err != nil {
				t.Fatalf("answer %s: %v", tt.answer, err)
			}
			if err := run.Send(ctx, in); err == nil && tt.answer != "interrupt" {
				t.Error("a second answer was accepted")
			}
			evs = append(evs, enginetest.Drain(t, run)...)
			if err := run.Wait(); err != nil {
				t.Fatalf("Wait = %v; events %v", err, enginetest.Types(evs))
			}
			enginetest.CheckEvents(t, evs)
			types := []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage}
			if diff := cmp.Diff(tt.wantTypes, enginetest.Only(evs, types...)); diff != "" {
				t.Fatalf("events (-want +got):\n%s\nall: %v", diff, enginetest.Types(evs))
			}
			for _, ev := range evs {
				b, _ := json.Marshal(ev.Body)
				switch ev.Type {
				case hangar.EventAgentToolResult:
					if ev.Ref != ask.ID {
						t.Errorf("tool result ref %q, want %q", ev.Ref, ask.ID)
					}
					t.Logf("tool result %s", b)
					if isErr := strings.Contains(string(b), `"is_error":true`); isErr != (tt.answer != "allow") {
						t.Errorf("tool result %s", b)
					}
				case hangar.EventAgentMessage:
					if !strings.Contains(string(b), tt.wantText) {
						t.Errorf("agent.message %s, want %q in it", b, tt.wantText)
					}
				}
			}
			got, err := sb.GetFile(t.Context(), "/workspace/f.txt")
			if tt.wantFile == "" && err == nil {
				t.Errorf("f.txt exists (%q) after %s", got, tt.answer)
			}
			if tt.wantFile != "" && string(got) != tt.wantFile {
				t.Errorf("f.txt = %q, %v; want %q", got, err, tt.wantFile)
			}
		})
	}
}

func TestRealCLICustomTool(t *testing.T) {
	bin := claudeBinary(t)
	t.Parallel()
	agent := hangar.Agent{
		Type: "agent", ID: "agent_custom", Version: 1, Name: "weather", Model: hangar.Model{ID: "claude-sonnet-4-6"},
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"},{"type":"custom","name":"get_weather","description":"Get the weather in a city",
			"input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`),
	}
	tests := []struct {
		name      string
		answer    string // result, error or interrupt
		wantTypes []string
		wantText  string // in the agent.message
	}{
		{name: "result", answer: "result", wantTypes: []string{hangar.EventAgentCustomToolUse, hangar.EventAgentMessage}, wantText: "done: sunny"},
		{name: "error result", answer: "error", wantTypes: []string{hangar.EventAgentCustomToolUse, hangar.EventAgentMessage}, wantText: "done: no such city"},
		{name: "interrupt while waiting", answer: "interrupt", wantTypes: []string{hangar.EventAgentCustomToolUse}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, url := newFake(t)
			e := newEngine(t, bin)
			if !e.Capabilities().CustomTools {
				t.Error("Capabilities().CustomTools = false")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			run, err := e.Start(ctx, newHostSandbox(t, url), enginetest.Spec(agent, `CUSTOM:get_weather {"city":"Paris"}`, 0))
			if err != nil {
				t.Fatal(err)
			}
			var evs []engine.Event
			var use engine.Event
			for use.ID == "" {
				ev, ok := enginetest.Next(t, run)
				if !ok {
					t.Fatalf("run ended before the custom tool use; events %v", enginetest.Types(evs))
				}
				evs = append(evs, ev)
				if ev.RequiresAction {
					use = ev
				}
			}
			body, _ := json.Marshal(use.Body)
			if want := `{"input":{"city":"Paris"},"name":"get_weather"}`; use.Type != hangar.EventAgentCustomToolUse || string(body) != want {
				t.Errorf("awaiting event %s %s, want %s %s", use.Type, body, hangar.EventAgentCustomToolUse, want)
			}
			if err := run.Send(ctx, engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: use.ID, Allow: true}); err == nil {
				t.Error("Send of a tool confirmation for a custom tool use succeeded")
			}
			in := engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: use.ID, Content: json.RawMessage(`[{"type":"text","text":"sunny"}]`)}
			switch tt.answer {
			case "interrupt":
				err = run.Interrupt(ctx)
			case "error":
				in.Content, in.IsError = json.RawMessage(`[{"type":"text","text":"no such city"}]`), true
				fallthrough
			default:
				err = run.Send(ctx, in)
			}
			if err != nil {
				t.Fatalf("answer %s: %v", tt.answer, err)
			}
			if err := run.Send(ctx, in); err == nil && tt.answer != "interrupt" {
				t.Error("a second answer was accepted")
			}
			evs = append(evs, enginetest.Drain(t, run)...)
			if err := run.Wait(); err != nil {
				t.Fatalf("Wait = %v; events %v", err, enginetest.Types(evs))
			}
			enginetest.CheckEvents(t, evs)
			types := []string{hangar.EventAgentCustomToolUse, hangar.EventAgentToolUse, "agent.mcp_tool_use",
				hangar.EventAgentToolResult, "agent.mcp_tool_result", hangar.EventAgentMessage}
			if diff := cmp.Diff(tt.wantTypes, enginetest.Only(evs, types...)); diff != "" {
				t.Fatalf("events (-want +got):\n%s\nall: %v", diff, enginetest.Types(evs))
			}
			for _, ev := range evs {
				if b, _ := json.Marshal(ev.Body); ev.Type == hangar.EventAgentMessage && !strings.Contains(string(b), tt.wantText) {
					t.Errorf("agent.message %s, want %q in it", b, tt.wantText)
				}
			}
			reqs := fake.MessageRequests()
			if len(reqs) == 0 || !reqs[0].HasTool("mcp__hangar__get_weather") {
				t.Fatal("the model was not offered mcp__hangar__get_weather")
			}
			if tt.answer != "interrupt" {
				res, ok := reqs[len(reqs)-1].LastToolResult()
				if !ok || res.IsError != (tt.answer == "error") {
					t.Errorf("last request's tool result %+v, %v", res, ok)
				}
			}
		})
	}
}
