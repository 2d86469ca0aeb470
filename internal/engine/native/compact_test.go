package native_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// compactingEngine is the fixture's engine compacting at 1000 tokens.
func (f *fixture) compactingEngine(t *testing.T) engine.Engine {
	t.Helper()
	cfg, _ := json.Marshal(native.Config{BaseURL: f.url, APIKey: "sk-test", CompactAtTokens: 1000})
	e, err := native.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// isCompaction reports whether r is the compaction request: tool_choice none and the
// summary prompt last.
func isCompaction(r fakemodel.Request) bool {
	var body struct {
		ToolChoice struct {
			Type string `json:"type"`
		} `json:"tool_choice"`
	}
	json.Unmarshal(r.Body, &body)
	return body.ToolChoice.Type == "none" && strings.Contains(r.LastUserText(), "context window is nearly full")
}

func types(evs []engine.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// A turn that starts with the context near the threshold (the last reply's usage,
// carried in the resume token) first compacts the conversation into a summary, then sends
// the new prompt after it.
func TestCompactionAtTurnStart(t *testing.T) {
	f := newFixture(t)
	f.fake.Script = func(r fakemodel.Request) fakemodel.Response {
		if isCompaction(r) {
			return fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "SUMMARY: the user asked about the first thing"}}, Usage: &fakemodel.Usage{InputTokens: 950, OutputTokens: 12}}
		}
		res := fakemodel.Default(r)
		res.Usage = &fakemodel.Usage{InputTokens: 400, CacheReadInputTokens: 450, OutputTokens: 200}
		return res
	}
	e := f.compactingEngine(t)
	a := agent(`[]`)
	evs, resume, err := turn(t, e, nil, spec(a, "first thing"), nil)
	if err != nil || slices.Contains(types(evs), "agent.thread_context_compacted") {
		t.Fatalf("turn 1: %v %v", types(evs), err)
	}
	s := spec(a, "second thing")
	s.Resume, s.Turn = resume, 1
	evs, resume, err = turn(t, e, nil, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"span.model_request_start", "span.model_request_end", "agent.thread_context_compacted",
		"span.model_request_start", "agent.message", "span.model_request_end"}
	if !slices.Equal(types(evs), want) {
		t.Fatalf("turn 2 events %v, want %v", types(evs), want)
	}
	if u := evs[1].Usage; u == nil || u.InputTokens != 950 || u.OutputTokens != 12 {
		t.Errorf("compaction request usage %+v", u)
	}
	reqs := f.fake.MessageRequests()
	if len(reqs) != 3 || !isCompaction(reqs[1]) || len(reqs[1].Messages) != 3 {
		t.Fatalf("requests: %d; second compaction=%t with %d messages", len(reqs), isCompaction(reqs[1]), len(reqs[1].Messages))
	}
	last := reqs[2]
	if len(last.Messages) != 1 || len(last.Messages[0].Content) != 2 ||
		!strings.Contains(last.Messages[0].Content[0].Text, "SUMMARY: the user asked about the first thing") ||
		last.Messages[0].Content[1].Text != "second thing" {
		t.Fatalf("request after compaction: %+v", last.Messages)
	}
	if n := native.TranscriptLen(resume); n != 2 {
		t.Errorf("saved conversation has %d messages, want 2 (summary+prompt, reply)", n)
	}
}

// Mid-turn, between tool rounds, the conversation with the round's results is compacted
// and the model is told to go on with the task.
func TestCompactionMidTurn(t *testing.T) {
	f := newFixture(t)
	f.fake.Script = func(r fakemodel.Request) fakemodel.Response {
		switch {
		case isCompaction(r):
			return fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "SUMMARY: ran echo"}}, Usage: &fakemodel.Usage{OutputTokens: 5}}
		case len(r.Messages) == 1 && strings.Contains(r.LastUserText(), "SUMMARY"):
			return fakemodel.Text("carried on")
		}
		res := fakemodel.Default(r)
		res.Usage = &fakemodel.Usage{InputTokens: 1500, OutputTokens: 20}
		return res
	}
	evs, _, err := turn(t, f.compactingEngine(t), sandbox(t), spec(agent(toolset), "TOOL:bash echo hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"span.model_request_start", "span.model_request_end", "agent.tool_use", "agent.tool_result",
		"span.model_request_start", "span.model_request_end", "agent.thread_context_compacted",
		"span.model_request_start", "agent.message", "span.model_request_end"}
	if !slices.Equal(types(evs), want) {
		t.Fatalf("events %v, want %v", types(evs), want)
	}
	reqs := f.fake.MessageRequests()
	if res, ok := reqs[1].LastToolResult(); !isCompaction(reqs[1]) || !ok || res.ResultText() != "hi" {
		t.Errorf("compaction request does not hold the round's result: %+v", reqs[1].Messages)
	}
	if got := reqs[2].LastUserText(); !strings.HasSuffix(got, "Continue the current task from where it was left off.") {
		t.Errorf("request after compaction: %q", got)
	}
	if text(t, evs) != "carried on" {
		t.Errorf("reply %q", text(t, evs))
	}
}

// A context that stays full however often it is compacted fails the turn with
// compaction_limit_reached_error; negative CompactAtTokens never compacts.
func TestCompactionLimit(t *testing.T) {
	f := newFixture(t)
	f.fake.Script = func(r fakemodel.Request) fakemodel.Response {
		if isCompaction(r) {
			return fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "SUMMARY"}}, Usage: &fakemodel.Usage{OutputTokens: 5}}
		}
		res := fakemodel.ToolUse("bash", map[string]string{"command": "true"})
		res.Usage = &fakemodel.Usage{InputTokens: 5000}
		return res
	}
	_, _, err := turn(t, f.compactingEngine(t), sandbox(t), spec(agent(toolset), "loop"), nil)
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Type != "compaction_limit_reached_error" {
		t.Fatalf("err = %v, want compaction_limit_reached_error", err)
	}
	if n := len(slices.DeleteFunc(f.fake.MessageRequests(), func(r fakemodel.Request) bool { return !isCompaction(r) })); n != 3 {
		t.Errorf("%d compactions, want 3", n)
	}

	// Never compacting: the same conversation just goes on (until the round limit).
	cfg, _ := json.Marshal(native.Config{BaseURL: f.url, APIKey: "sk-test", CompactAtTokens: -1, MaxRounds: 3})
	e, err := native.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = turn(t, e, sandbox(t), spec(agent(toolset), "loop"), nil)
	if !errors.As(err, &ee) || ee.Type != "tool_use_limit_reached_error" {
		t.Fatalf("err = %v, want tool_use_limit_reached_error", err)
	}
}
