package native_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// fixture is a native engine talking to a fake Messages API.
type fixture struct {
	fake *fakemodel.Server
	url  string
	dir  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{fake: &fakemodel.Server{}, dir: t.TempDir()}
	f.fake.Unexpected = func(r fakemodel.Request) { t.Errorf("unexpected request %s %s", r.Method, r.Path) }
	srv := httptest.NewServer(f.fake)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) engine(t *testing.T) engine.Engine {
	t.Helper()
	cfg, _ := json.Marshal(native.Config{BaseURL: f.url, APIKey: "sk-test", StateDir: f.dir})
	e, err := native.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sandbox is a host sandbox whose /workspace and /home/agent arguments (find, grep roots,
// the bash state file) map to the host.
func sandbox(t *testing.T) *enginetest.HostSandbox {
	return enginetest.NewHostSandbox(t, enginetest.HostOptions{Arg: func(s *enginetest.HostSandbox, arg string) string {
		if strings.HasPrefix(arg, "/workspace") || strings.HasPrefix(arg, "/home/agent") {
			return s.Host(arg)
		}
		return arg
	}})
}

const toolset = `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[]}]`

func agent(tools string) hangar.Agent {
	sys := "be brief"
	return hangar.Agent{Type: "agent", ID: "agent_n", Version: 1, Name: "n", Model: hangar.Model{ID: "claude-test"}, System: &sys, Tools: json.RawMessage(tools)}
}

// turn runs one turn and returns its events (spans included, resume excluded) and the
// resume token, answering events that wait on the client with answer.
func turn(t *testing.T, e engine.Engine, sb provider.Sandbox, spec engine.Spec, answer func(engine.Event) []engine.Input) ([]engine.Event, string, error) {
	t.Helper()
	run, err := e.Start(t.Context(), sb, spec)
	if err != nil {
		return nil, "", err
	}
	var evs []engine.Event
	resume := ""
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			break
		}
		if ev.Type == engine.EventResume {
			resume = ev.Resume
			continue
		}
		if ev.Type == engine.EventPreview {
			continue // live previews: preview_test.go
		}
		evs = append(evs, ev)
		if (ev.RequiresAction || ev.AwaitsResult) && answer != nil {
			for _, in := range answer(ev) {
				in.ToolUseID = ev.ID
				if err := run.Send(t.Context(), in); err != nil {
					t.Fatalf("Send %s: %v", in.Type, err)
				}
			}
		}
	}
	enginetest.CheckEvents(t, evs)
	return evs, resume, run.Wait()
}

func spec(a hangar.Agent, text string) engine.Spec {
	return enginetest.Spec(a, text, 0)
}

func body(t *testing.T, ev engine.Event) map[string]any {
	t.Helper()
	b, err := json.Marshal(ev.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func lastResult(t *testing.T, f *fixture) fakemodel.Block {
	t.Helper()
	reqs := f.fake.MessageRequests()
	res, ok := reqs[len(reqs)-1].LastToolResult()
	if !ok {
		t.Fatalf("last request answers no tool call: %+v", reqs[len(reqs)-1].Messages)
	}
	return res
}

func TestConformance(t *testing.T) {
	f := newFixture(t)
	f.fake.Script = func(r fakemodel.Request) fakemodel.Response {
		if r.LastUserText() == "go" {
			return fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "never"}}, Hold: make(chan struct{})}
		}
		return fakemodel.Default(r)
	}
	enginetest.Run(t, enginetest.Harness{
		New:       f.engine,
		Sandbox:   func(t *testing.T) provider.Sandbox { return sandbox(t) },
		Agent:     func(t *testing.T) hangar.Agent { return agent(toolset) },
		SlowAgent: func(t *testing.T) hangar.Agent { return agent(toolset) },
	})
}

func TestToolRoundRunsInSandbox(t *testing.T) {
	f := newFixture(t)
	sb := sandbox(t)
	f.fake.Push(
		fakemodel.Response{Content: []fakemodel.Block{{Type: "thinking", Thinking: "plan"}, {Type: "text", Text: "writing"},
			{Type: "tool_use", Name: "write", Input: json.RawMessage(`{"file_path":"notes/a.txt","content":"hello native"}`)}}},
		fakemodel.Text("written"),
	)
	e := f.engine(t)
	evs, resume, err := turn(t, e, sb, spec(agent(toolset), "write it"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"span.model_request_start", "agent.thinking", "agent.message", "span.model_request_end", "agent.tool_use", "agent.tool_result",
		"span.model_request_start", "agent.message", "span.model_request_end"}
	if got := enginetest.Types(evs); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	use, res := evs[4], evs[5]
	if b := body(t, use); b["name"] != "write" || b["evaluated_permission"] != "allow" || res.Ref != use.ID || use.AwaitsResult || use.RequiresAction {
		t.Errorf("tool_use %+v / result ref %q", b, res.Ref)
	}
	if b := body(t, res); b["is_error"] != false || !strings.Contains(engine.Text(mustJSON(b["content"])), "wrote 12 bytes") {
		t.Errorf("tool_result = %v", b)
	}
	got, err := os.ReadFile(filepath.Join(sb.Host("/workspace"), "notes/a.txt"))
	if err != nil || string(got) != "hello native" {
		t.Fatalf("file = %q, %v", got, err)
	}
	if n := native.TranscriptLen(resume); n != 4 {
		t.Errorf("resume holds %d messages, want 4 (user, assistant, tool results, assistant)", n)
	}
	reqs := f.fake.MessageRequests()
	if len(reqs) != 2 || reqs[0].Model != "claude-test" || string(reqs[0].System) != `"be brief"` || reqs[0].Header.Get("x-api-key") != "sk-test" {
		t.Fatalf("requests: %d, first model %q system %s", len(reqs), reqs[0].Model, reqs[0].System)
	}
	for _, name := range []string{"bash", "read", "write", "edit", "glob", "grep", "web_search", "web_fetch"} {
		if !reqs[0].HasTool(name) {
			t.Errorf("request does not offer %s", name)
		}
	}
	// The thinking block goes back with its signature.
	if b := reqs[1].Messages[1].Content[0]; b.Type != "thinking" || b.Thinking != "plan" || b.Signature == "" {
		t.Errorf("assistant thinking block sent back = %+v", b)
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// A second turn continues the conversation from the resume token alone, through a new
// engine with no state dir (a restarted server, or another instance).
func TestConversationContinuesAcrossTurnsAndRestarts(t *testing.T) {
	f := newFixture(t)
	sb := sandbox(t)
	a := agent(toolset)
	_, resume, err := turn(t, f.engine(t), sb, spec(a, `CUSTOM:write {"file_path":"x.txt","content":"42"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := spec(a, "TOOL:bash cat x.txt")
	s.Resume, s.Turn = resume, 1
	evs, resume2, err := turn(t, f.engine(t), sb, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, ev := range evs {
		if ev.Type == hangar.EventAgentToolResult {
			out = engine.Text(mustJSON(body(t, ev)["content"]))
		}
	}
	if out != "42" {
		t.Errorf("bash result = %q, want 42", out)
	}
	reqs := f.fake.MessageRequests()
	last := reqs[len(reqs)-1]
	if len(last.Messages) != 7 || last.Messages[0].Content[0].Text != `CUSTOM:write {"file_path":"x.txt","content":"42"}` {
		t.Errorf("last request has %d messages: %+v", len(last.Messages), last.Messages)
	}
	if n := native.TranscriptLen(resume2); n != 8 {
		t.Errorf("resume holds %d messages, want 8", n)
	}
	// A retried turn (same resume token) starts from the same conversation.
	s.Resume = resume
	if _, _, err := turn(t, f.engine(t), sb, s, nil); err != nil {
		t.Fatal(err)
	}
	reqs = f.fake.MessageRequests()
	if n := len(reqs[len(reqs)-2].Messages); n != 5 {
		t.Errorf("retried turn's first request has %d messages, want 5", n)
	}
}

func TestCustomTool(t *testing.T) {
	f := newFixture(t)
	tools := `[{"type":"custom","name":"lookup","description":"look up","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}]`
	evs, _, err := turn(t, f.engine(t), nil, spec(agent(tools), `CUSTOM:lookup {"q":"x"}`), func(ev engine.Event) []engine.Input {
		return []engine.Input{{Type: hangar.EventUserCustomToolResult, Content: mustJSON(engine.TextContent("found 7"))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(evs, func(e engine.Event) bool { return e.Type == hangar.EventAgentCustomToolUse })
	if i < 0 || !evs[i].RequiresAction || body(t, evs[i])["name"] != "lookup" {
		t.Fatalf("events %v", enginetest.Types(evs))
	}
	if res := lastResult(t, f); res.ResultText() != "found 7" || res.IsError {
		t.Errorf("model got %+v", res)
	}
	if evs[len(evs)-2].Type != hangar.EventAgentMessage || engine.Text(mustJSON(body(t, evs[len(evs)-2])["content"])) != "done: found 7" {
		t.Errorf("final message: %v", body(t, evs[len(evs)-2]))
	}
	if f.fake.MessageRequests()[0].HasTool("bash") {
		t.Error("an agent without the toolset was offered bash")
	}
}

func TestAlwaysAsk(t *testing.T) {
	ask := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[{"name":"bash","permission_policy":{"type":"always_ask"}}]}]`
	for _, tt := range []struct {
		name     string
		delegate bool
		answers  []engine.Input
		want     string
		isError  bool
	}{
		{"allow runs the call", false, []engine.Input{{Type: hangar.EventUserToolConfirmation, Allow: true}}, "hi", false},
		{"deny tells the model", false, []engine.Input{{Type: hangar.EventUserToolConfirmation, DenyMessage: "not now"}}, "the user denied this tool call: not now", true},
		{"delegated allow awaits the worker", true, []engine.Input{{Type: hangar.EventUserToolConfirmation, Allow: true},
			{Type: hangar.EventUserToolResult, Content: mustJSON(engine.TextContent("from worker"))}}, "from worker", false},
		{"delegated deny", true, []engine.Input{{Type: hangar.EventUserToolConfirmation}}, "the user denied this tool call", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			var sb provider.Sandbox
			if !tt.delegate {
				sb = sandbox(t)
			}
			s := spec(agent(ask), "TOOL:bash echo hi")
			s.Delegate = tt.delegate
			evs, _, err := turn(t, f.engine(t), sb, s, func(ev engine.Event) []engine.Input {
				if ev.Type != hangar.EventAgentToolUse || !ev.RequiresAction || ev.AwaitsResult != tt.delegate || body(t, ev)["evaluated_permission"] != "ask" {
					t.Errorf("tool use %+v %v", ev, body(t, ev))
				}
				return tt.answers
			})
			if err != nil {
				t.Fatal(err)
			}
			if res := lastResult(t, f); res.ResultText() != tt.want || res.IsError != tt.isError {
				t.Errorf("model got %q (is_error %v), want %q (%v)", res.ResultText(), res.IsError, tt.want, tt.isError)
			}
			results := 0
			for _, ev := range evs {
				if ev.Type == hangar.EventAgentToolResult {
					results++
				}
			}
			// A delegated call's result is the worker's user.tool_result: no agent.tool_result.
			if want := map[bool]int{true: 0, false: 1}[tt.delegate && !tt.isError]; results != want {
				t.Errorf("%d agent.tool_result events, want %d: %v", results, want, enginetest.Types(evs))
			}
		})
	}
}

func TestDelegatedToolUse(t *testing.T) {
	f := newFixture(t)
	s := spec(agent(toolset), `CUSTOM:write {"file_path":"a.txt","content":"x"}`)
	s.Delegate = true
	evs, _, err := turn(t, f.engine(t), nil, s, func(ev engine.Event) []engine.Input {
		if ev.RequiresAction || body(t, ev)["evaluated_permission"] != "allow" {
			t.Errorf("delegated call %+v", ev)
		}
		return []engine.Input{{Type: hangar.EventUserToolResult, IsError: true, Content: mustJSON(engine.TextContent("disk full"))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"span.model_request_start", "span.model_request_end", "agent.tool_use", "span.model_request_start", "agent.message", "span.model_request_end"}
	if got := enginetest.Types(evs); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	if res := lastResult(t, f); res.ResultText() != "disk full" || !res.IsError {
		t.Errorf("model got %+v", res)
	}
}

func TestSendRejectsUnexpectedAnswers(t *testing.T) {
	f := newFixture(t)
	s := spec(agent(toolset), `CUSTOM:write {"file_path":"a.txt","content":"x"}`)
	s.Delegate = true
	run, err := f.engine(t).Start(t.Context(), nil, s)
	if err != nil {
		t.Fatal(err)
	}
	var use engine.Event
	for use.Type != hangar.EventAgentToolUse {
		use, _ = enginetest.Next(t, run)
	}
	for _, in := range []engine.Input{
		{Type: hangar.EventUserToolConfirmation, ToolUseID: use.ID, Allow: true}, // not asked
		{Type: hangar.EventUserToolResult, ToolUseID: "toolu_other"},
	} {
		if err := run.Send(t.Context(), in); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("Send(%s, %s) = %v, want invalid_request", in.Type, in.ToolUseID, err)
		}
	}
	run.Interrupt(t.Context())
	enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
}

func TestInterruptMidStream(t *testing.T) {
	f := newFixture(t)
	hold := make(chan struct{})
	defer close(hold)
	// Scripted rather than pushed: the interrupt may come before the request is sent.
	f.fake.Script = func(r fakemodel.Request) fakemodel.Response {
		if r.LastUserText() == "slow" {
			return fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "never"}}, Hold: hold}
		}
		return fakemodel.Default(r)
	}
	e := f.engine(t)
	run, err := e.Start(t.Context(), nil, spec(agent(toolset), "slow"))
	if err != nil {
		t.Fatal(err)
	}
	start, _ := enginetest.Next(t, run)
	if start.Type != hangar.EventModelRequestStart {
		t.Fatalf("first event %s", start.Type)
	}
	run.Interrupt(t.Context())
	evs := enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := enginetest.Types(evs); !slices.Equal(got, []string{"span.model_request_end", engine.EventResume}) {
		t.Fatalf("events after interrupt = %v", got)
	}
	if b := body(t, evs[0]); b["is_error"] != false || evs[0].Ref != start.ID {
		t.Errorf("span end = %v ref %s", b, evs[0].Ref)
	}
	// The interrupted message stays in the conversation; the next one joins it.
	s := spec(agent(toolset), "again")
	s.Resume = evs[1].Resume
	if _, _, err := turn(t, e, nil, s, nil); err != nil {
		t.Fatal(err)
	}
	// (The interrupted request may reach the fake after this one, or never.)
	reqs := f.fake.MessageRequests()
	i := slices.IndexFunc(reqs, func(r fakemodel.Request) bool { return strings.Contains(r.LastUserText(), "again") })
	if i < 0 || len(reqs[i].Messages) != 1 || len(reqs[i].Messages[0].Content) != 2 {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestInterruptWhileAwaitingWorker(t *testing.T) {
	f := newFixture(t)
	e := f.engine(t)
	s := spec(agent(toolset), "TOOL:bash sleep 100")
	s.Delegate = true
	run, err := e.Start(t.Context(), nil, s)
	if err != nil {
		t.Fatal(err)
	}
	for ev, ok := enginetest.Next(t, run); ok && !ev.AwaitsResult; ev, ok = enginetest.Next(t, run) {
	}
	run.Interrupt(t.Context())
	evs := enginetest.Drain(t, run)
	if err := run.Wait(); err != nil || len(evs) != 1 || evs[0].Type != engine.EventResume {
		t.Fatalf("after interrupt: %v, %v", enginetest.Types(evs), err)
	}
	// The unanswered call is settled in the saved conversation, so the next turn is valid.
	s2 := spec(agent(toolset), "next")
	s2.Resume = evs[0].Resume
	if _, _, err := turn(t, e, nil, s2, nil); err != nil {
		t.Fatal(err)
	}
	reqs := f.fake.MessageRequests()
	m := reqs[len(reqs)-1].Messages
	if len(m) != 3 || m[2].Content[0].Type != "tool_result" || !m[2].Content[0].IsError || m[2].Content[1].Text != "next" {
		t.Errorf("next request messages = %+v", m)
	}
}

func TestModelErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		resp fakemodel.Response
		want string
	}{
		{"429", fakemodel.RateLimited(), "model_rate_limited_error"},
		{"529", fakemodel.Overloaded(), "model_overloaded_error"},
		{"500", fakemodel.Response{Error: &fakemodel.APIError{Status: 500, Type: "api_error", Message: "boom"}}, "model_request_failed_error"},
		{"400", fakemodel.Response{Error: &fakemodel.APIError{Status: 400, Type: "invalid_request_error", Message: "bad"}}, "model_request_failed_error"},
		{"overloaded mid-stream", fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "x"}}, StreamError: "overloaded_error"}, "model_overloaded_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.fake.Push(tt.resp)
			evs, _, err := turn(t, f.engine(t), nil, spec(agent(toolset), "hi"), nil)
			var ee *engine.Error
			if !errors.As(err, &ee) || ee.Type != tt.want {
				t.Fatalf("Wait = %v, want %s", err, tt.want)
			}
			if got := enginetest.Types(evs); !slices.Equal(got, []string{"span.model_request_start", "span.model_request_end"}) || body(t, evs[1])["is_error"] != true {
				t.Errorf("events = %v (%v)", got, body(t, evs[len(evs)-1]))
			}
		})
	}
}

func TestUsage(t *testing.T) {
	f := newFixture(t)
	f.fake.Push(fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "hi"}},
		Usage: &fakemodel.Usage{InputTokens: 11, OutputTokens: 7, CacheCreationInputTokens: 5, CacheReadInputTokens: 3}})
	evs, _, err := turn(t, f.engine(t), nil, spec(agent(`[]`), "hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	end := evs[len(evs)-1]
	want := hangar.Usage{InputTokens: 11, OutputTokens: 7, CacheReadInputTokens: 3, CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 5}}
	if end.Type != hangar.EventModelRequestEnd || end.Usage == nil || *end.Usage != want {
		t.Fatalf("span end %s usage %+v, want %+v", end.Type, end.Usage, want)
	}
	mu := body(t, end)["model_usage"].(map[string]any)
	if mu["input_tokens"] != 11.0 || mu["cache_creation_input_tokens"] != 5.0 {
		t.Errorf("model_usage = %v", mu)
	}
}

func TestVaultCredentialOverrides(t *testing.T) {
	f := newFixture(t)
	s := spec(agent(`[]`), "hi")
	s.ModelAuthToken = "tok-from-vault"
	if _, _, err := turn(t, f.engine(t), nil, s, nil); err != nil {
		t.Fatal(err)
	}
	h := f.fake.MessageRequests()[0].Header
	if h.Get("authorization") != "Bearer tok-from-vault" || h.Get("x-api-key") != "" {
		t.Errorf("auth headers: %q / %q", h.Get("authorization"), h.Get("x-api-key"))
	}
}

func TestDisabledToolsAreNotOffered(t *testing.T) {
	f := newFixture(t)
	tools := `[{"type":"agent_toolset_20260401","default_config":{"enabled":false,"permission_policy":{"type":"always_allow"}},"configs":[{"name":"read","enabled":true}]}]`
	if _, _, err := turn(t, f.engine(t), nil, spec(agent(tools), "hi"), nil); err != nil {
		t.Fatal(err)
	}
	req := f.fake.MessageRequests()[0]
	if len(req.Tools) != 1 || !req.HasTool("read") {
		t.Errorf("tools = %+v", req.Tools)
	}
	if req.Header.Get("anthropic-beta") != "" {
		t.Errorf("beta header %q without web_fetch", req.Header.Get("anthropic-beta"))
	}
}

func TestCancelEndsRun(t *testing.T) {
	f := newFixture(t)
	f.fake.Push(fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "x"}}, Hold: make(chan struct{})})
	ctx, cancel := context.WithCancel(t.Context())
	run, err := f.engine(t).Start(ctx, nil, spec(agent(`[]`), "hi"))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Next(t, run)
	cancel()
	enginetest.Drain(t, run)
	run.Wait()
}
