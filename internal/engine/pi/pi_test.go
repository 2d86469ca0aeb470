package pi_test

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
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/pi"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// piEntry returns the pinned CLI's entry point, skipping the test when it cannot be
// installed.
func piEntry(t *testing.T) string { return enginetest.InstallCLI(t, pi.NPM()) }

// newHostSandbox returns a host sandbox that maps the sandbox paths of pi's arguments
// (--session, --append-system-prompt) to its host directories.
func newHostSandbox(t *testing.T) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{
		Arg: func(s *enginetest.HostSandbox, arg string) string { return s.Host(arg) },
	})
}

// newFake starts a fake model with the default script, except that a tool marker in the
// user text calls pi's bash tool.
func newFake(t *testing.T) (*fakemodel.Server, string) {
	return enginetest.FakeModel(t, script)
}

func script(r fakemodel.Request) fakemodel.Response {
	text := r.LastUserText()
	if _, ok := r.LastToolResult(); !ok && r.HasTool("bash") {
		if i := strings.Index(text, fakemodel.ToolMarker); i >= 0 {
			cmd, _, _ := strings.Cut(text[i+len(fakemodel.ToolMarker):], "\n")
			return fakemodel.ToolUse("bash", map[string]string{"command": strings.TrimSpace(cmd)})
		}
	}
	return fakemodel.Default(r)
}

func newEngine(t *testing.T, entry string, graceMS int) *pi.Engine {
	t.Helper()
	cfg, _ := json.Marshal(pi.Config{Entry: entry, InterruptGraceMS: graceMS})
	e, err := pi.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*pi.Engine)
}

// withEgress gives every turn the fake model's endpoint, as the runner gives the egress
// proxy's (the conformance suite's specs name none).
type withEgress struct {
	*pi.Engine
	url string
}

func (e withEgress) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	spec.Egress = engine.Egress{ModelBaseURL: e.url, Token: "tok_conformance"}
	return e.Engine.Start(ctx, sb, spec)
}

func TestConformance(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	_, url := newFake(t)
	enginetest.Run(t, enginetest.Harness{
		New:     func(t *testing.T) engine.Engine { return withEgress{newEngine(t, entry, 2000), url} },
		Sandbox: func(t *testing.T) provider.Sandbox { return newHostSandbox(t) },
		SlowAgent: func(t *testing.T) hangar.Agent {
			system := "hangar-slow"
			return hangar.Agent{Type: "agent", ID: "agent_slow", Version: 1, Name: "slow", System: &system, Tools: json.RawMessage(`[]`)}
		},
	})
}

func TestRealCLIToolRoundAndResume(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t)
	e := newEngine(t, entry, 2000)
	system := "You are the hangar test agent."
	agent := hangar.Agent{
		Type: "agent", ID: "agent_1", Version: 1, Name: "coder", Model: hangar.Model{ID: "claude-sonnet-4-6"}, System: &system,
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","enabled":false},{"name":"edit","enabled":false}]}]`),
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
	spans := 0
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
			spans++
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
	if spans != 2 || usage.InputTokens == 0 || usage.OutputTokens == 0 {
		t.Errorf("%d model request spans, usage %+v; want 2 with usage", spans, usage)
	}
	if got, err := sb.GetFile(t.Context(), "/workspace/out.txt"); err != nil || string(got) != "hello\n" {
		t.Errorf("out.txt = %q, %v", got, err)
	}
	if !strings.HasSuffix(resume, "/home/.pi/agent/sessions/hangar/sesn_test.jsonl") {
		t.Fatalf("EventResume %q, want the session file", resume)
	}
	if got, err := sb.GetFile(t.Context(), "/home/agent/.pi/agent/models.json"); err != nil || strings.Contains(string(got), "tok_session_1") {
		t.Errorf("models.json holds the session token or is missing: %s, %v", got, err)
	}
	reqs := fake.MessageRequests()
	if len(reqs) != 2 {
		t.Errorf("the fake saw %d /v1/messages requests, want 2", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != "tok_session_1" {
			t.Errorf("x-api-key = %q, want the session token", got)
		}
		if r.Model != "claude-sonnet-4-6" {
			t.Errorf("model = %q", r.Model)
		}
		if !r.HasTool("bash") || !r.HasTool("find") || r.HasTool("edit") {
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
			t.Errorf("turn 2 continued pi session %q, want %q", ev.Resume, resume)
		}
	}
	reqs = fake.MessageRequests()
	if len(reqs) != n+1 {
		t.Fatalf("turn 2 made %d model requests, want 1", len(reqs)-n)
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

// TestRealCLIInterruptAborts checks that Interrupt stops pi through the RPC abort
// command: the turn ends well within the (long) grace period after which it would be
// signalled.
func TestRealCLIInterruptAborts(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	_, url := newFake(t)
	e := newEngine(t, entry, 20000)
	system := "hangar-slow"
	spec := enginetest.Spec(hangar.Agent{System: &system, Tools: json.RawMessage(`[]`)}, "go", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	run, err := e.Start(t.Context(), newHostSandbox(t), spec)
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
	took := time.Since(start)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	enginetest.CheckEvents(t, evs)
	t.Logf("interrupt to end of run: %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the interrupted turn took %v to end: the abort command did not stop pi", took)
	}
}

func TestRealCLIModelErrors(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	tests := []struct {
		name     string
		resp     fakemodel.Response
		errType  string
		msg      string
		requests int // the Anthropic client inside pi retries 429 and 5xx twice
	}{
		{"unauthorized", fakemodel.Response{Error: &fakemodel.APIError{Status: 401, Type: "authentication_error", Message: "invalid x-api-key"}},
			"model_request_failed_error", "invalid x-api-key", 1},
		{"bad request", fakemodel.Response{Error: &fakemodel.APIError{Status: 400, Type: "invalid_request_error", Message: "messages.0.content: field required"}},
			"model_request_failed_error", "field required", 1},
		{"rate limited", fakemodel.RateLimited(), "model_rate_limited_error", "rate limit", 3},
		{"overloaded", fakemodel.Overloaded(), "model_overloaded_error", "Overloaded", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, url := newFake(t)
			fake.Script = func(fakemodel.Request) fakemodel.Response { return tt.resp }
			e := newEngine(t, entry, 2000)
			spec := enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[]`)}, "hi", 0)
			spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
			run, err := e.Start(t.Context(), newHostSandbox(t), spec)
			if err != nil {
				t.Fatal(err)
			}
			evs := enginetest.Drain(t, run)
			enginetest.CheckEvents(t, evs)
			var ee *engine.Error
			if err := run.Wait(); !errors.As(err, &ee) || ee.Type != tt.errType || !strings.Contains(ee.Message, tt.msg) {
				t.Fatalf("Wait = %v, want an engine.Error %s", err, tt.errType)
			}
			if n := len(fake.MessageRequests()); n != tt.requests {
				t.Errorf("%d model requests, want %d", n, tt.requests)
			}
		})
	}
}

// bridgeAgent has a custom tool and a bash tool whose policy is always_ask, the two
// features of the bridge extension.
func bridgeAgent() hangar.Agent {
	return hangar.Agent{Model: hangar.Model{ID: "claude-sonnet-4-6"}, Tools: json.RawMessage(`[
		{"type":"agent_toolset_20260401","configs":[{"name":"bash","permission_policy":{"type":"always_ask"}}]},
		{"type":"custom","name":"get_weather","description":"Get the weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`)}
}

// runAnswering runs a turn to its end, answering each event that requires action with
// answer, and returns its events.
func runAnswering(t *testing.T, e engine.Engine, sb provider.Sandbox, spec engine.Spec, answer func(engine.Event) engine.Input) []engine.Event {
	t.Helper()
	run, err := e.Start(t.Context(), sb, spec)
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			break
		}
		evs = append(evs, ev)
		if ev.RequiresAction {
			if err := run.Send(t.Context(), answer(ev)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("Wait = %v; events %v", err, enginetest.Types(evs))
	}
	enginetest.CheckEvents(t, evs)
	return evs
}

func TestRealCLICustomToolAndConfirmation(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t)
	e := newEngine(t, entry, 2000)
	egress := engine.Egress{ModelBaseURL: url, Token: "tok"}
	body := func(ev engine.Event) string { b, _ := json.Marshal(ev.Body); return string(b) }

	// A custom tool call: the client's result goes back to the model.
	spec := enginetest.Spec(bridgeAgent(), `CUSTOM:get_weather {"city":"Paris"}`, 0)
	spec.Egress = egress
	var use engine.Event
	evs := runAnswering(t, e, sb, spec, func(ev engine.Event) engine.Input {
		use = ev
		return engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: ev.ID, Content: json.RawMessage(`[{"type":"text","text":"sunny"}]`)}
	})
	if use.Type != hangar.EventAgentCustomToolUse || body(use) != `{"input":{"city":"Paris"},"name":"get_weather"}` {
		t.Errorf("awaited %s %s, want the agent.custom_tool_use", use.Type, body(use))
	}
	want := []string{hangar.EventAgentCustomToolUse, hangar.EventAgentMessage}
	if diff := cmp.Diff(want, enginetest.Only(evs, append(want, hangar.EventAgentToolUse, hangar.EventAgentToolResult)...)); diff != "" {
		t.Errorf("custom tool turn (-want +got):\n%s", diff)
	}
	if got := body(evs[len(evs)-2]); !strings.Contains(got, "done: sunny") {
		t.Errorf("reply %s, want the custom tool result", got)
	}
	reqs := fake.MessageRequests()
	if !reqs[0].HasTool("get_weather") || !reqs[0].HasTool("bash") {
		t.Errorf("tools offered: %+v", reqs[0].Tools)
	}

	// A denied bash call does not run; an allowed one does.
	for i, allow := range []bool{false, true} {
		spec := enginetest.Spec(bridgeAgent(), "TOOL:bash echo ran > ran.txt", i+1)
		spec.Egress = egress
		var asked engine.Event
		evs := runAnswering(t, e, sb, spec, func(ev engine.Event) engine.Input {
			asked = ev
			return engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: ev.ID, Allow: allow, DenyMessage: "not now"}
		})
		if asked.Type != hangar.EventAgentToolUse || body(asked) != `{"evaluated_permission":"ask","input":{"command":"echo ran \u003e ran.txt"},"name":"bash"}` {
			t.Errorf("awaited %s %s, want the agent.tool_use to confirm", asked.Type, body(asked))
		}
		var result engine.Event
		for _, ev := range evs {
			if ev.Type == hangar.EventAgentToolResult {
				result = ev
			}
		}
		_, err := sb.GetFile(t.Context(), "/workspace/ran.txt")
		switch {
		case !allow && (!strings.Contains(body(result), `"is_error":true`) || !strings.Contains(body(result), "not now") || err == nil):
			t.Errorf("denied: tool result %s, ran.txt exists: %v", body(result), err == nil)
		case allow && (!strings.Contains(body(result), `"is_error":false`) || err != nil):
			t.Errorf("allowed: tool result %s, ran.txt: %v", body(result), err)
		}
	}
}

// TestRealCLIInterruptWhileAwaiting interrupts a turn whose custom tool call awaits the
// client: the abort command cancels the bridge's dialog and the turn ends.
func TestRealCLIInterruptWhileAwaiting(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	_, url := newFake(t)
	e := newEngine(t, entry, 20000)
	spec := enginetest.Spec(bridgeAgent(), `CUSTOM:get_weather {"city":"Paris"}`, 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	run, err := e.Start(t.Context(), newHostSandbox(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	var awaiting engine.Event
	for awaiting.ID == "" {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			t.Fatalf("run ended before the custom tool call: %v", enginetest.Types(evs))
		}
		evs = append(evs, ev)
		if ev.RequiresAction {
			awaiting = ev
		}
	}
	start := time.Now()
	run.Interrupt(t.Context())
	evs = append(evs, enginetest.Drain(t, run)...)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait = %v, want nil", err)
	}
	took := time.Since(start)
	t.Logf("interrupt of an awaited custom tool call to end of run: %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the interrupted turn took %v to end", took)
	}
	enginetest.CheckEvents(t, evs)
	if err := run.Send(t.Context(), engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: awaiting.ID}); err == nil {
		t.Error("Send after the run ended succeeded")
	}
}

func TestStartWithoutCLI(t *testing.T) {
	cfg, _ := json.Marshal(pi.Config{CacheDir: t.TempDir()})
	e, err := pi.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Start(t.Context(), newHostSandbox(t), enginetest.Spec(hangar.Agent{}, "hi", 0))
	var ee *engine.Error
	if !errors.As(err, &ee) || !errors.Is(err, engine.ErrNotInstalled) {
		t.Fatalf("Start = %v, want an engine.Error wrapping ErrNotInstalled", err)
	}
	if m := e.(*pi.Engine).Mounts(); m != nil {
		t.Errorf("Mounts = %v, want nil without the CLI", m)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []string{`{"nope":1}`, `{"interrupt_grace_ms":-1}`} {
		if _, err := pi.New(json.RawMessage(cfg), engine.Deps{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}
