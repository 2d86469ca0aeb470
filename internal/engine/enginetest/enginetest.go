package enginetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Harness describes the engine under test.
type Harness struct {
	// New returns the engine under test.
	New func(t *testing.T) engine.Engine
	// Sandbox returns the sandbox runs get; nil passes a nil sandbox (engines with
	// Capabilities.NoSandbox).
	Sandbox func(t *testing.T) provider.Sandbox
	// Agent returns the agent of a plain turn: one user message must produce at least one
	// agent.message and end. nil uses an agent with no configuration.
	Agent func(t *testing.T) hangar.Agent
	// SlowAgent, when set, returns an agent whose turn runs until interrupted (e.g. a
	// scripted sleep, or a fake model that stalls). It enables the interrupt tests.
	SlowAgent func(t *testing.T) hangar.Agent
}

// knownTypes are the event types an engine may emit.
var knownTypes = []string{
	hangar.EventAgentMessage, hangar.EventAgentThinking, hangar.EventAgentToolUse,
	hangar.EventAgentToolResult, hangar.EventAgentCustomToolUse, "agent.mcp_tool_use",
	"agent.mcp_tool_result", hangar.EventModelRequestStart, hangar.EventModelRequestEnd,
	hangar.EventSessionError, "agent.thread_context_compacted", engine.EventResume,
	engine.EventPreview,
}

// Run runs the engine conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	agent := func(t *testing.T) hangar.Agent {
		if h.Agent != nil {
			return h.Agent(t)
		}
		return hangar.Agent{Type: "agent", ID: "agent_test", Version: 1, Name: "test", Tools: json.RawMessage(`[]`)}
	}
	start := func(t *testing.T, ctx context.Context, a hangar.Agent, text string) engine.Run {
		t.Helper()
		e := h.New(t)
		var sb provider.Sandbox
		if h.Sandbox != nil {
			sb = h.Sandbox(t)
		}
		run, err := e.Start(ctx, sb, Spec(a, text, 0))
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return run
	}

	t.Run("a turn ends with an agent message", func(t *testing.T) {
		t.Parallel()
		run := start(t, ctxFor(t), agent(t), "hello")
		evs := Drain(t, run)
		if err := wait(t, run); err != nil {
			t.Fatalf("Wait = %v", err)
		}
		CheckEvents(t, evs)
		if !slices.ContainsFunc(evs, func(e engine.Event) bool { return e.Type == hangar.EventAgentMessage }) {
			t.Errorf("no agent.message in %v", Types(evs))
		}
		if err := run.Interrupt(ctxFor(t)); err != nil {
			t.Errorf("Interrupt after the end = %v, want nil", err)
		}
		if err := run.Send(ctxFor(t), engine.Input{Type: hangar.EventUserCustomToolResult, ToolUseID: "nope"}); err == nil {
			t.Error("Send of an answer nobody awaits succeeded")
		}
	})

	if h.SlowAgent == nil {
		return
	}

	t.Run("interrupt ends a running turn without error", func(t *testing.T) {
		t.Parallel()
		run := start(t, ctxFor(t), h.SlowAgent(t), "go")
		first, ok := next(t, run)
		if !ok {
			t.Fatal("slow run ended before its first event")
		}
		if err := run.Interrupt(ctxFor(t)); err != nil {
			t.Fatalf("Interrupt = %v", err)
		}
		evs := append([]engine.Event{first}, Drain(t, run)...)
		if err := wait(t, run); err != nil {
			t.Errorf("Wait after interrupt = %v, want nil", err)
		}
		CheckEvents(t, evs)
	})

	t.Run("cancelling the context ends a running turn", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(ctxFor(t))
		run := start(t, ctx, h.SlowAgent(t), "go")
		if _, ok := next(t, run); !ok {
			t.Fatal("slow run ended before its first event")
		}
		cancel()
		Drain(t, run)
		wait(t, run)
	})
}

// Spec returns the spec of turn n of a fresh session of agent a with user text.
func Spec(a hangar.Agent, text string, turn int) engine.Spec {
	content, _ := json.Marshal(engine.TextContent(text))
	msg := hangar.NewEvent(hangar.EventUserMessage, map[string]any{"content": json.RawMessage(content)})
	msg.ID = "sevt_test_message"
	return engine.Spec{
		Session: &hangar.Session{Type: "session", ID: "sesn_test", Status: hangar.StatusRunning, Agent: a},
		Message: msg, Content: content, Turn: turn, WorkDir: "/workspace", HomeDir: "/home/agent",
	}
}

// Drain reads a run's events until the channel closes, failing after a generous deadline.
func Drain(t *testing.T, run engine.Run) []engine.Event {
	t.Helper()
	var evs []engine.Event
	for {
		ev, ok := next(t, run)
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

// Next returns the run's next event; ok is false when the channel closed.
func Next(t *testing.T, run engine.Run) (engine.Event, bool) {
	t.Helper()
	return next(t, run)
}

func next(t *testing.T, run engine.Run) (engine.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-run.Events():
		return ev, ok
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for an engine event")
		return engine.Event{}, false
	}
}

func wait(t *testing.T, run engine.Run) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("timed out in Wait")
		return nil
	}
}

// Types returns the types of evs.
func Types(evs []engine.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// CheckEvents checks the invariants of a run's events: known types, bodies that marshal
// to JSON objects, unique engine IDs, Refs to earlier IDs, balanced model request spans.
func CheckEvents(t *testing.T, evs []engine.Event) {
	t.Helper()
	ids := map[string]bool{}
	open := map[string]bool{}
	previews := map[string]*preview{}
	for i, ev := range evs {
		if !slices.Contains(knownTypes, ev.Type) {
			t.Errorf("event %d: unknown type %q", i, ev.Type)
		}
		if ev.Body != nil {
			b, err := json.Marshal(ev.Body)
			if err != nil || !strings.HasPrefix(string(b), "{") {
				t.Errorf("event %d (%s): body %s is not a JSON object (%v)", i, ev.Type, b, err)
			}
		}
		if ev.Type == engine.EventPreview {
			checkPreview(t, i, ev, previews)
			continue // its ID is its concluding event's
		}
		if ev.ID != "" {
			if ids[ev.ID] {
				t.Errorf("event %d: duplicate engine id %q", i, ev.ID)
			}
			ids[ev.ID] = true
		}
		if ev.Ref != "" && !ids[ev.Ref] {
			t.Errorf("event %d (%s): ref %q to no earlier event", i, ev.Type, ev.Ref)
		}
		switch ev.Type {
		case hangar.EventModelRequestStart:
			if ev.ID == "" {
				t.Errorf("event %d: span.model_request_start without an id", i)
			}
			open[ev.ID] = true
		case hangar.EventModelRequestEnd:
			if !open[ev.Ref] {
				t.Errorf("event %d: span.model_request_end for %q, which is not open", i, ev.Ref)
			}
			delete(open, ev.Ref)
		case hangar.EventAgentCustomToolUse:
			if !ev.RequiresAction || ev.ID == "" {
				t.Errorf("event %d: agent.custom_tool_use must have an id and RequiresAction", i)
			}
		}
	}
	if len(open) > 0 {
		t.Errorf("model request spans left open: %v", open)
	}
	checkConcluded(t, evs, previews)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
