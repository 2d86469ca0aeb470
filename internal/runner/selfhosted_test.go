package runner_test

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/runner"
)

// selfHostedEnv is an env whose sessions are on a self_hosted environment, with the native
// engine over a fake model.
func selfHostedEnv(t *testing.T) (*env, *fakemodel.Server) {
	t.Helper()
	fake := &fakemodel.Server{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := newEnv(t, func(e *env) {
		e.tune = func(cfg *runner.Config) {
			cfg.Engines.Register("native", func(json.RawMessage, engine.Deps) (engine.Engine, error) {
				cfg, _ := json.Marshal(native.Config{BaseURL: srv.URL, APIKey: "sk-test"})
				return native.New(cfg, engine.Deps{})
			})
		}
	})
	e.envID = hangar.NewID(hangar.PrefixEnvironment)
	now := hangar.Now()
	if err := e.store.CreateEnvironment(e.ctx, &hangar.Environment{Type: "environment", ID: e.envID, Name: "worker-" + e.envID, Config: hangar.EnvironmentConfig{Type: "self_hosted"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	e.start()
	return e, fake
}

// A self_hosted session runs the native engine whatever the agent names ("claude" is not
// even registered here): its toolset call is delegated, the session stays running until
// the worker's user.tool_result, which goes to the model.
func TestSelfHostedDelegatesToolUse(t *testing.T) {
	t.Parallel()
	e, fake := selfHostedEnv(t)
	tools := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[]}]`
	id := e.session("claude", nil, tools)
	s := e.subscribe(id)
	e.send(id, userMessage(`CUSTOM:write {"file_path":"a.txt","content":"x"}`))
	var use hangar.Event
	for use.Type != hangar.EventAgentToolUse {
		use = s.next()
		if use.Type == hangar.EventStatusIdle || use.Type == hangar.EventSessionError {
			t.Fatalf("got %s %s before the tool use", use.Type, use.Body)
		}
	}
	if field[string](t, use, "name") != "write" || field[string](t, use, "evaluated_permission") != "allow" {
		t.Fatalf("tool use %s", use.Body)
	}
	if st := e.get(id).Status; st != hangar.StatusRunning {
		t.Errorf("status while the worker runs the call = %s, want running", st)
	}

	for _, bad := range []string{"sevt_nope", ""} {
		_, err := e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserToolResult, map[string]any{"tool_use_id": bad})}, "")
		if !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("tool result for %q: %v, want invalid_request_error", bad, err)
		}
	}
	e.send(id, clientEvent(hangar.EventUserToolResult, map[string]any{"tool_use_id": use.ID, "content": engine.TextContent("wrote 1 bytes")}))
	rest := selfHostedQuiet(s.until(hangar.EventStatusIdle))
	if want := []string{"user.tool_result", "agent.message", "session.status_idle"}; !slices.Equal(types(rest), want) {
		t.Fatalf("after the result: %v, want %v", types(rest), want)
	}
	if rest[0].ProcessedAt == nil || text(t, rest[1]) != "done: wrote 1 bytes" || stopReason(t, rest[2]).Type != "end_turn" {
		t.Errorf("events %s / %s / %s", rest[0].Body, rest[1].Body, rest[2].Body)
	}
	// Answered: a second result for the same call is refused.
	if _, err := e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserToolResult, map[string]any{"tool_use_id": use.ID})}, ""); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("second tool result: %v, want invalid_request_error", err)
	}
	reqs := fake.MessageRequests()
	if res, ok := reqs[len(reqs)-1].LastToolResult(); !ok || res.ResultText() != "wrote 1 bytes" {
		t.Errorf("model got %+v", res)
	}
}

// An always_ask call on a self_hosted session first waits idle for the confirmation, then,
// allowed, runs (status running) until the worker's result.
func TestSelfHostedConfirmThenResult(t *testing.T) {
	t.Parallel()
	e, _ := selfHostedEnv(t)
	tools := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_ask"}},"configs":[]}]`
	id := e.session("native", nil, tools)
	s := e.subscribe(id)
	e.send(id, userMessage("TOOL:bash ls"))
	first := selfHostedQuiet(s.until(hangar.EventStatusIdle))
	use := first[len(first)-2]
	if use.Type != hangar.EventAgentToolUse || field[string](t, use, "evaluated_permission") != "ask" {
		t.Fatalf("events %v", types(first))
	}
	if sr := stopReason(t, first[len(first)-1]); sr.Type != "requires_action" || !slices.Equal(sr.EventIDs, []string{use.ID}) {
		t.Fatalf("stop_reason %+v", sr)
	}
	// A result before the confirmation is refused.
	if _, err := e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserToolResult, map[string]any{"tool_use_id": use.ID})}, ""); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("early tool result: %v, want invalid_request_error", err)
	}
	// The worker may post the result right after seeing the confirmation.
	e.send(id, clientEvent(hangar.EventUserToolConfirmation, map[string]any{"tool_use_id": use.ID, "result": "allow"}))
	e.send(id, clientEvent(hangar.EventUserToolResult, map[string]any{"tool_use_id": use.ID, "content": engine.TextContent("a.txt")}))
	rest := selfHostedQuiet(s.until(hangar.EventStatusIdle))
	want := []string{"user.tool_confirmation", "user.tool_result", "session.status_running", "agent.message", "session.status_idle"}
	if !slices.Equal(types(rest), want) && !slices.Equal(types(rest), []string{want[0], want[2], want[1], want[3], want[4]}) {
		t.Fatalf("after the confirmation: %v, want %v", types(rest), want)
	}
	if text(t, rest[3]) != "done: a.txt" || stopReason(t, rest[4]).Type != "end_turn" {
		t.Errorf("end %s %s", rest[3].Body, rest[4].Body)
	}
}

// selfHostedQuiet drops span and session.usage events.
func selfHostedQuiet(evs []hangar.Event) []hangar.Event {
	return slices.DeleteFunc(withoutSpans(evs), func(ev hangar.Event) bool { return ev.Type == "session.usage" })
}
