package scripted_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
)

func newEngine(t *testing.T) engine.Engine {
	e, err := scripted.New(nil, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func agentWith(script string, tools string) hangar.Agent {
	a := hangar.Agent{Type: "agent", ID: "agent_x", Version: 1, Name: "x", Tools: json.RawMessage(`[]`)}
	if tools != "" {
		a.Tools = json.RawMessage(tools)
	}
	if script != "" {
		a.Metadata = map[string]string{scripted.MetadataKey: script}
	}
	return a
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, enginetest.Harness{
		New: newEngine,
		SlowAgent: func(t *testing.T) hangar.Agent {
			return agentWith(`{"turns":[{"steps":[{"message":"working"},{"sleep_ms":600000},{"message":"done"}]}]}`, "")
		},
	})
}

func TestFakeConformance(t *testing.T) {
	enginetest.Run(t, enginetest.Harness{New: func(t *testing.T) engine.Engine {
		return &enginetest.Scripted{Events: []engine.Event{{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent("hi")}}}}
	}})
}

// play starts one turn and returns its events (without spans and resume), answering
// events that require action with answer.
func play(t *testing.T, a hangar.Agent, text string, turn int, resume string, answer func(engine.Event) engine.Input) ([]engine.Event, error) {
	t.Helper()
	spec := enginetest.Spec(a, text, turn)
	spec.Resume = resume
	run, err := newEngine(t).Start(t.Context(), nil, spec)
	if err != nil {
		return nil, err
	}
	var all []engine.Event
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			break
		}
		all = append(all, ev)
		if ev.RequiresAction {
			in := answer(ev)
			in.ToolUseID = ev.ID
			if err := run.Send(t.Context(), in); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
	}
	enginetest.CheckEvents(t, all)
	var out []engine.Event
	for _, ev := range all {
		if ev.Type != hangar.EventModelRequestStart && ev.Type != hangar.EventModelRequestEnd {
			out = append(out, ev)
		}
	}
	return out, run.Wait()
}

func text(t *testing.T, ev engine.Event) string {
	t.Helper()
	b, _ := json.Marshal(ev.Body)
	var body struct {
		Content json.RawMessage `json:"content"`
	}
	json.Unmarshal(b, &body)
	return engine.Text(body.Content)
}

func field(t *testing.T, ev engine.Event, name string) any {
	t.Helper()
	b, _ := json.Marshal(ev.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m[name]
}

func noAnswer(t *testing.T) func(engine.Event) engine.Input {
	return func(ev engine.Event) engine.Input {
		t.Fatalf("unexpected event requiring action: %+v", ev)
		return engine.Input{}
	}
}

func TestEcho(t *testing.T) {
	t.Parallel()
	evs, err := play(t, agentWith("", ""), "hello there", 0, "", noAnswer(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := enginetest.Types(evs); !slices.Equal(got, []string{hangar.EventAgentMessage, engine.EventResume}) {
		t.Fatalf("types %v", got)
	}
	if got := text(t, evs[0]); got != "echo: hello there" {
		t.Errorf("text = %q", got)
	}
}

func TestTurnsCycle(t *testing.T) {
	t.Parallel()
	a := agentWith(`{"turns":[{"steps":[{"message":"first"}]},{"steps":[{"thinking":true},{"message":"second"}]}]}`, "")
	tests := []struct {
		turn   int
		resume string
		want   string
	}{
		{0, "", "first"}, {1, "", "second"}, {2, "", "first"}, {0, "1", "second"}, {5, "garbage", "second"},
	}
	for _, tt := range tests {
		evs, err := play(t, a, "x", tt.turn, tt.resume, noAnswer(t))
		if err != nil {
			t.Fatal(err)
		}
		msg := evs[slices.IndexFunc(evs, func(e engine.Event) bool { return e.Type == hangar.EventAgentMessage })]
		if got := text(t, msg); got != tt.want {
			t.Errorf("turn %d resume %q: said %q, want %q", tt.turn, tt.resume, got, tt.want)
		}
	}
}

func TestSystemPromptScript(t *testing.T) {
	t.Parallel()
	a := agentWith("", "")
	sys := `{"turns":[{"steps":[{"message":"from system"}]}]}`
	a.System = &sys
	evs, err := play(t, a, "x", 0, "", noAnswer(t))
	if err != nil || text(t, evs[0]) != "from system" {
		t.Fatalf("evs %+v err %v", evs, err)
	}
	plain := "You are helpful. {not a script}"
	a.System = &plain
	evs, _ = play(t, a, "x", 0, "", noAnswer(t))
	if got := text(t, evs[0]); got != "echo: x" {
		t.Errorf("plain system prompt: said %q, want echo", got)
	}
}

func TestInvalidScript(t *testing.T) {
	t.Parallel()
	for _, script := range []string{`{`, `{"turns":[]}`, `{"turns":[{"steps":[{"message":"a","thinking":true}]}]}`, `{"turns":[{"steps":[{"bogus":1}]}]}`} {
		_, err := play(t, agentWith(script, ""), "x", 0, "", noAnswer(t))
		var ee *engine.Error
		if !errors.As(err, &ee) || ee.Type != "unknown_error" {
			t.Errorf("script %s: err %v, want an unknown_error engine.Error", script, err)
		}
	}
}

func TestCustomTool(t *testing.T) {
	t.Parallel()
	answer := func(ev engine.Event) engine.Input {
		return engine.Input{Type: hangar.EventUserCustomToolResult, Content: json.RawMessage(`[{"type":"text","text":"sunny"}]`)}
	}
	single := agentWith(`{"turns":[{"steps":[{"custom_tool_use":{"name":"get_weather","input":{"city":"Paris"}}}]}]}`, "")
	evs, err := play(t, single, "weather?", 0, "", answer)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{hangar.EventAgentCustomToolUse, hangar.EventAgentMessage, engine.EventResume}
	if got := enginetest.Types(evs); !slices.Equal(got, want) {
		t.Fatalf("types %v, want %v", got, want)
	}
	if got := field(t, evs[0], "name"); got != "get_weather" {
		t.Errorf("name = %v", got)
	}
	if got := text(t, evs[1]); got != "tool said: sunny" {
		t.Errorf("reply %q", got)
	}

	multi := agentWith(`{"turns":[{"steps":[{"custom_tool_use":{"name":"get_weather"}}]},{"steps":[{"message":"It is sunny."}]}]}`, "")
	evs, err = play(t, multi, "weather?", 0, "", answer)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, evs[1]); got != "It is sunny." {
		t.Errorf("multi-turn reply %q", got)
	}
	if last := evs[len(evs)-1]; last.Type != engine.EventResume || last.Resume != "2" {
		t.Errorf("resume event %+v, want token 2", last)
	}
}

func TestToolConfirmation(t *testing.T) {
	t.Parallel()
	script := `{"turns":[{"steps":[{"tool_use":{"name":"bash","input":{"command":"ls"}},"result":"a.txt"},{"message":"after"}]}]}`
	ask := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[{"name":"bash","enabled":true,"permission_policy":{"type":"always_ask"}}]}]`
	tests := []struct {
		name      string
		tools     string
		allow     bool
		wantTypes []string
		wantText  string
	}{
		{"always_allow runs at once", "", false, []string{"agent.tool_use", "agent.tool_result", "agent.message", engine.EventResume}, "after"},
		{"always_ask allowed", ask, true, []string{"agent.tool_use", "agent.tool_result", "agent.message", engine.EventResume}, "after"},
		{"always_ask denied", ask, false, []string{"agent.tool_use", "agent.message", "agent.message", engine.EventResume}, "tool use denied: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked := false
			evs, err := play(t, agentWith(script, tt.tools), "x", 0, "", func(ev engine.Event) engine.Input {
				asked = true
				if ev.Type != hangar.EventAgentToolUse || field(t, ev, "evaluated_permission") != "ask" {
					t.Errorf("asked with %+v", ev)
				}
				return engine.Input{Type: hangar.EventUserToolConfirmation, Allow: tt.allow, DenyMessage: "no"}
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := enginetest.Types(evs); !slices.Equal(got, tt.wantTypes) {
				t.Fatalf("types %v, want %v", got, tt.wantTypes)
			}
			if asked != (tt.tools != "") {
				t.Errorf("asked = %v", asked)
			}
			if evs[1].Type == hangar.EventAgentToolResult && (evs[1].Ref != evs[0].ID || text(t, evs[1]) != "a.txt") {
				t.Errorf("tool_result %+v does not answer %+v", evs[1], evs[0])
			}
			if tt.name == "always_ask denied" {
				if got := text(t, evs[1]); got != tt.wantText {
					t.Errorf("denial said %q", got)
				}
			}
		})
	}
}

func TestErrorStep(t *testing.T) {
	t.Parallel()
	_, err := play(t, agentWith(`{"turns":[{"steps":[{"message":"hm"},{"error":"model_overloaded_error"}]}]}`, ""), "x", 0, "", noAnswer(t))
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Type != "model_overloaded_error" {
		t.Fatalf("Wait = %v, want model_overloaded_error", err)
	}
}

func TestSendRejectsUnknown(t *testing.T) {
	t.Parallel()
	a := agentWith(`{"turns":[{"steps":[{"custom_tool_use":{"name":"t"}}]}]}`, "")
	run, err := newEngine(t).Start(t.Context(), nil, enginetest.Spec(a, "x", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer run.Interrupt(context.Background())
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			t.Fatal("run ended")
		}
		if ev.RequiresAction {
			err := run.Send(t.Context(), engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: ev.ID})
			if !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("wrong answer type: %v", err)
			}
			err = run.Send(t.Context(), engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: "other"})
			if !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("unknown id: %v", err)
			}
			return
		}
	}
}
