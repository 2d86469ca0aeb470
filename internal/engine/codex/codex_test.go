package codex_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// codexBinary returns the pinned CLI, skipping the test when it cannot be installed.
func codexBinary(t *testing.T) string { return enginetest.InstallCLI(t, codex.NPM()) }

// newHostSandbox returns a host sandbox that points a spec without a model endpoint or
// token at the fake, and has no PutFile.
func newHostSandbox(t *testing.T, baseURL string) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{
		Env: []string{codex.TokenEnv + "=tok_default"},
		Arg: func(_ *enginetest.HostSandbox, a string) string {
			if a == `model_providers.hangar.base_url="/v1"` {
				return `model_providers.hangar.base_url="` + baseURL + `/v1"`
			}
			return a
		},
		NoPutFile: true,
	})
}

// newFake starts a fake model with the Responses default script, except that requests
// whose last user text mentions "RATE" are rate limited.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	return enginetest.FakeModel(t, func(r fakemodel.Request) fakemodel.Response {
		if strings.Contains(r.LastUserText(), "RATE") {
			return fakemodel.RateLimited()
		}
		return fakemodel.ResponsesDefault(r)
	})
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

func TestRealCLIToolRoundAndResume(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	e := newEngine(t, bin)
	sb := newHostSandbox(t, url)

	spec := enginetest.Spec(agent("You are a careful agent."), "please TOOL:bash echo hello > out.txt", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session"}
	evs := enginetest.RunTurn(t, e, sb, spec)
	got, err := sb.GetFile(t.Context(), "/workspace/out.txt")
	if err != nil || string(got) != "hello\n" {
		t.Fatalf("out.txt = %q, %v; events %v", got, err, enginetest.Types(evs))
	}
	want := []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventModelRequestEnd,
		hangar.EventModelRequestStart, hangar.EventAgentMessage, hangar.EventModelRequestEnd}
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
	if strings.Count(string(reqs[1].System), "You are a careful agent.") != 1 {
		t.Errorf("system prompt not sent once: %.300s", reqs[1].System)
	}
	if _, ok := reqs[1].LastToolResult(); !ok {
		t.Errorf("second request carries no function_call_output")
	}

	// Turn 2 resumes the thread: the model sees the first turn's items.
	spec2 := enginetest.Spec(agent("You are a careful agent."), "TOOL:bash cat out.txt", 1)
	spec2.Egress = spec.Egress
	spec2.Resume = resume
	evs2 := enginetest.RunTurn(t, e, sb, spec2)
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
	if n := strings.Count(string(third.System), "You are a careful agent."); n != 1 {
		t.Errorf("resumed request has the system prompt %d times: %.500s", n, third.System)
	}
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
	if got := enginetest.Only(evs2, hangar.EventAgentMessage); len(got) != 1 {
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
	if time.Since(start) > time.Second {
		t.Errorf("interrupt took %v; turn/interrupt should end the turn at once", time.Since(start))
	}
	if got := enginetest.Types(evs); !slices.Equal(got, []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventModelRequestEnd}) {
		t.Errorf("events = %v", got)
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

// TestRealCLIToolConfirmation runs always_ask agents: the command or file change waits for
// the client's answer (an agent.tool_use with RequiresAction, answered through Send),
// runs on allow and is declined on deny.
func TestRealCLIToolConfirmation(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	tools := func(name string) json.RawMessage {
		return json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"` + name + `","permission_policy":{"type":"always_ask"}}]}]`)
	}
	tests := []struct {
		name      string
		tools     json.RawMessage
		text      string
		answer    string // allow, deny or interrupt
		file      string // the file the tool writes
		wantFile  string // its content, "" for none
		wantTool  string
		wantTypes []string
		wantText  string // in the agent.message
	}{
		{
			name: "allow", tools: tools("bash"), text: "TOOL:bash echo hi > f.txt", answer: "allow", file: "f.txt", wantFile: "hi\n", wantTool: "bash",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "done: ",
		},
		{
			name: "deny", tools: tools("bash"), text: "TOOL:bash echo hi > f.txt", answer: "deny", file: "f.txt", wantTool: "bash",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "rejected by user",
		},
		{
			// Codex runs commands it knows to be read-only without asking, except under
			// the "untrusted" policy the engine sets: then it asks for those too.
			name: "a read-only command asks too", tools: tools("bash"), text: "TOOL:bash echo hi", answer: "allow", wantTool: "bash",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "hi",
		},
		{
			name: "a file change asks as write", tools: tools("write"), text: "PATCH p.txt", answer: "allow", file: "p.txt", wantFile: "patched\n", wantTool: "write",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentMessage},
			wantText:  "Success.",
		},
		{
			name: "interrupt while asking", tools: tools("bash"), text: "TOOL:bash echo hi > f.txt", answer: "interrupt", file: "f.txt", wantTool: "bash",
			wantTypes: []string{hangar.EventAgentToolUse, hangar.EventAgentToolResult},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, url := enginetest.FakeModel(t, recordScript)
			sb := newHostSandbox(t, url)
			e := newEngine(t, bin)
			a := agent("")
			a.Tools = tt.tools
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			spec := enginetest.Spec(a, tt.text, 0)
			spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
			run, err := e.Start(ctx, sb, spec)
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
				!strings.Contains(string(body), `"name":"`+tt.wantTool+`"`) {
				t.Errorf("asking event %s %s", ask.Type, body)
			}
			in := engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: ask.ID, Allow: tt.answer == "allow", DenyMessage: "not today"}
			if err := run.Send(ctx, engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: ask.ID}); err == nil {
				t.Error("Send of a custom tool result for a tool confirmation succeeded")
			}
			start := time.Now()
			if tt.answer == "interrupt" {
				err = run.Interrupt(ctx)
			} else {
				err = run.Send(ctx, in)
			}
			if err != nil {
				t.Fatalf("answer %s: %v", tt.answer, err)
			}
			if err := run.Send(ctx, in); err == nil {
				t.Error("a second answer was accepted")
			}
			evs = append(evs, enginetest.Drain(t, run)...)
			if err := run.Wait(); err != nil {
				t.Fatalf("Wait = %v; events %v", err, enginetest.Types(evs))
			}
			t.Logf("%s answered; the run ended %v later", tt.answer, time.Since(start).Round(time.Millisecond))
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
					if isErr := strings.Contains(string(b), `"is_error":true`); isErr != (tt.answer != "allow") {
						t.Errorf("tool result %s", b)
					}
				case hangar.EventAgentMessage:
					if !strings.Contains(string(b), tt.wantText) {
						t.Errorf("agent.message %s, want %q in it", b, tt.wantText)
					}
				}
			}
			if tt.file == "" {
				return
			}
			got, err := sb.GetFile(t.Context(), "/workspace/"+tt.file)
			if tt.wantFile == "" && err == nil {
				t.Errorf("%s exists (%q) after %s", tt.file, got, tt.answer)
			}
			if tt.wantFile != "" && string(got) != tt.wantFile {
				t.Errorf("%s = %q, %v; want %q", tt.file, got, err, tt.wantFile)
			}
		})
	}
}
