package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/runner"
)

// fakeGrader answers with scripted verdicts, in order (the last one repeats), and records
// what it was asked. block, when set, makes Grade wait for ctx instead.
type fakeGrader struct {
	mu       sync.Mutex
	verdicts []runner.Verdict
	err      error
	block    bool
	reqs     []runner.GradeRequest
}

func (g *fakeGrader) Grade(ctx context.Context, req runner.GradeRequest) (runner.Verdict, error) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	block, err := g.block, g.err
	var v runner.Verdict
	if len(g.verdicts) > 0 {
		v = g.verdicts[0]
		if len(g.verdicts) > 1 {
			g.verdicts = g.verdicts[1:]
		}
	}
	g.mu.Unlock()
	if block {
		<-ctx.Done()
		return runner.Verdict{}, ctx.Err()
	}
	return v, err
}

func (g *fakeGrader) requests() []runner.GradeRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.reqs)
}

func withGrader(g runner.Grader) option {
	return func(e *env) { e.tune = func(c *runner.Config) { c.Grader = g } }
}

// defineOutcome is a user.define_outcome as httpapi stores it (outcome_id assigned).
func defineOutcome(desc, rubric string, maxIter int) hangar.Event {
	return clientEvent(hangar.EventUserDefineOutcome, hangar.OutcomeDefinition{
		OutcomeID: hangar.NewID(hangar.PrefixOutcome), Description: desc,
		Rubric: hangar.OutcomeRubric{Type: "text", Content: rubric}, MaxIterations: maxIter,
	})
}

// withoutModelSpans drops span.model_request_* events.
func withoutModelSpans(evs []hangar.Event) []hangar.Event {
	var out []hangar.Event
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Type, "span.model_request") && ev.Type != hangar.EventSessionUsage {
			out = append(out, ev)
		}
	}
	return out
}

func outcomeEvaluations(t *testing.T, e *env, id string) []hangar.OutcomeEvaluation {
	t.Helper()
	var list []hangar.OutcomeEvaluation
	if err := jsonUnmarshal(e.get(id).OutcomeEvaluations, &list); err != nil {
		t.Fatalf("outcome_evaluations: %v", err)
	}
	return list
}

func TestOutcomeRevisionLoop(t *testing.T) {
	t.Parallel()
	g := &fakeGrader{verdicts: []runner.Verdict{
		{Result: "needs_revision", Explanation: "the haiku has no title", Usage: runner.SpanUsage{InputTokens: 10, OutputTokens: 5}},
		{Result: "satisfied", Explanation: "titled and 5-7-5"},
	}}
	e := newEnv(t, withGrader(g))
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)

	def := defineOutcome("Write a haiku", "Has a title; 5-7-5 syllables", 3)
	sent := e.send(id, def)
	if sent[0].ProcessedAt == nil {
		t.Errorf("define_outcome processed_at null; it is processed on receipt")
	}
	if sess := e.get(id); sess.Status != hangar.StatusRunning {
		t.Errorf("status after define_outcome %q, want running (it starts work on its own)", sess.Status)
	}
	var got []hangar.Event
	for {
		got = append(got, s.until(hangar.EventStatusIdle)...)
		if stopReason(t, got[len(got)-1]).Type == "end_turn" {
			break
		}
	}
	want := []string{
		"user.define_outcome", "session.status_running", "agent.message",
		"span.outcome_evaluation_start", "span.outcome_evaluation_end",
		"session.status_running", "agent.message",
		"span.outcome_evaluation_start", "span.outcome_evaluation_end",
		"session.status_idle",
	}
	got = withoutModelSpans(got)
	if !slices.Equal(types(got), want) {
		t.Fatalf("types %v\nwant  %v", types(got), want)
	}
	outcomeID := field[string](t, sent[0], "outcome_id")
	// The first turn's prompt is the task and rubric; the second is the grader's feedback.
	if txt := text(t, got[2]); !strings.Contains(txt, "Write a haiku") || !strings.Contains(txt, "5-7-5 syllables") {
		t.Errorf("first answer %q does not echo the task and rubric", txt)
	}
	if txt := text(t, got[6]); !strings.Contains(txt, "needs revision") || !strings.Contains(txt, "the haiku has no title") {
		t.Errorf("second answer %q does not echo the grader's feedback", txt)
	}
	for i, iter := range map[int]int{3: 0, 4: 0, 7: 1, 8: 1} {
		if o := field[string](t, got[i], "outcome_id"); o != outcomeID {
			t.Errorf("%s outcome_id %q, want %q", got[i].Type, o, outcomeID)
		}
		if n := field[int](t, got[i], "iteration"); n != iter {
			t.Errorf("event %d %s iteration %d, want %d", i, got[i].Type, n, iter)
		}
	}
	for _, c := range []struct {
		end, start int
		result     string
	}{{4, 3, "needs_revision"}, {8, 7, "satisfied"}} {
		if ref := field[string](t, got[c.end], "outcome_evaluation_start_id"); ref != got[c.start].ID {
			t.Errorf("outcome_evaluation_start_id %q, want %q", ref, got[c.start].ID)
		}
		if r := field[string](t, got[c.end], "result"); r != c.result {
			t.Errorf("result %q, want %q", r, c.result)
		}
	}
	if u := field[runner.SpanUsage](t, got[4], "usage"); u.InputTokens != 10 || u.OutputTokens != 5 {
		t.Errorf("usage %+v", u)
	}
	reqs := g.requests()
	if len(reqs) != 2 || reqs[0].Rubric != "Has a title; 5-7-5 syllables" || reqs[1].Iteration != 1 {
		t.Fatalf("grader requests %+v", reqs)
	}
	if !strings.Contains(reqs[0].Transcript, "[agent message]\necho: Write a haiku") || !strings.Contains(reqs[1].Transcript, "the haiku has no title") {
		t.Errorf("transcripts:\n%s\n---\n%s", reqs[0].Transcript, reqs[1].Transcript)
	}
	list := outcomeEvaluations(t, e, id)
	if len(list) != 1 || list[0].Result != "satisfied" || list[0].Iteration != 1 || list[0].CompletedAt == nil ||
		list[0].Explanation == nil || *list[0].Explanation != "titled and 5-7-5" || list[0].OutcomeID != outcomeID || list[0].Type != "outcome_evaluation" {
		t.Errorf("outcome_evaluations %+v", list)
	}
	if sess := e.get(id); sess.Status != hangar.StatusIdle {
		t.Errorf("status %q", sess.Status)
	}
	// A new outcome may follow a terminal one.
	e.send(id, defineOutcome("Another", "x", 1))
}

func TestOutcomeMaxIterations(t *testing.T) {
	t.Parallel()
	g := &fakeGrader{verdicts: []runner.Verdict{{Result: "needs_revision", Explanation: "still wrong"}}}
	e := newEnv(t, withGrader(g))
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)
	e.send(id, defineOutcome("Task", "Rubric", 2))
	var got []hangar.Event
	for {
		got = append(got, s.until(hangar.EventStatusIdle)...)
		if stopReason(t, got[len(got)-1]).Type == "end_turn" {
			break
		}
	}
	var results []string
	messages := 0
	for _, ev := range got {
		switch ev.Type {
		case hangar.EventOutcomeEvaluationEnd:
			results = append(results, field[string](t, ev, "result"))
		case hangar.EventAgentMessage:
			messages++
		}
	}
	if !slices.Equal(results, []string{"needs_revision", "max_iterations_reached"}) {
		t.Errorf("results %v", results)
	}
	// Two graded iterations, then one final acknowledgment turn, then idle.
	if messages != 3 {
		t.Errorf("%d agent turns, want 3", messages)
	}
	if last := got[len(got)-2]; last.Type != hangar.EventAgentMessage && !strings.HasPrefix(last.Type, "span.model") && last.Type != hangar.EventSessionUsage {
		t.Errorf("event before idle %s, want the final turn's", last.Type)
	}
	if txt := text(t, withoutModelSpans(got)[len(withoutModelSpans(got))-2]); !strings.Contains(txt, "no further evaluation will run") {
		t.Errorf("final turn answered %q", txt)
	}
	if list := outcomeEvaluations(t, e, id); list[0].Result != "max_iterations_reached" || list[0].Iteration != 1 {
		t.Errorf("outcome_evaluations %+v", list)
	}
}

func TestOutcomeGraderFails(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		grader runner.Grader
		want   string
	}{
		{"grader error", &fakeGrader{err: errors.New("upstream 529")}, "upstream 529"},
		{"no grader", nil, "no grader is configured"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withGrader(tt.grader))
			e.start()
			id := e.session("scripted", nil, "")
			s := e.subscribe(id)
			e.send(id, defineOutcome("Task", "Rubric", 3))
			got := s.until(hangar.EventStatusIdle)
			end := got[len(got)-2]
			if end.Type != hangar.EventOutcomeEvaluationEnd || field[string](t, end, "result") != "failed" || !strings.Contains(field[string](t, end, "explanation"), tt.want) {
				t.Fatalf("before idle: %s %s", end.Type, end.Body)
			}
			if sr := stopReason(t, got[len(got)-1]); sr.Type != "end_turn" {
				t.Errorf("stop_reason %+v", sr)
			}
			if list := outcomeEvaluations(t, e, id); list[0].Result != "failed" || list[0].CompletedAt == nil {
				t.Errorf("outcome_evaluations %+v", list)
			}
		})
	}
}

func TestOutcomeInterruptDuringEvaluation(t *testing.T) {
	t.Parallel()
	g := &fakeGrader{block: true}
	e := newEnv(t, withGrader(g))
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)
	e.send(id, defineOutcome("Task", "Rubric", 3))
	s.until(hangar.EventOutcomeEvaluationStart)
	e.send(id, clientEvent(hangar.EventUserInterrupt, map[string]any{}))
	got := withoutModelSpans(s.until(hangar.EventStatusIdle))
	want := []string{"user.interrupt", "span.outcome_evaluation_end", "session.status_idle"}
	if !slices.Equal(types(got), want) {
		t.Fatalf("types %v, want %v", types(got), want)
	}
	if r := field[string](t, got[1], "result"); r != "interrupted" {
		t.Errorf("result %q", r)
	}
	if list := outcomeEvaluations(t, e, id); list[0].Result != "interrupted" {
		t.Errorf("outcome_evaluations %+v", list)
	}
}

func TestOutcomeOneAtATime(t *testing.T) {
	t.Parallel()
	g := &fakeGrader{block: true}
	e := newEnv(t, withGrader(g))
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)
	e.send(id, defineOutcome("Task", "Rubric", 3))
	s.until(hangar.EventOutcomeEvaluationStart)
	_, err := e.runner.Send(e.ctx, id, []hangar.Event{defineOutcome("Other", "R", 1)}, "")
	if !hangar.IsKind(err, hangar.KindInvalidRequest) || !strings.Contains(err.Error(), "is still evaluating") {
		t.Errorf("second outcome: %v, want invalid_request (one outcome at a time)", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestOutcomeInterruptDuringTurn(t *testing.T) {
	t.Parallel()
	g := &fakeGrader{verdicts: []runner.Verdict{{Result: "satisfied"}}}
	e := newEnv(t, withGrader(g))
	e.start()
	id := e.session("scripted", script([]map[string]any{{"sleep_ms": 60000}}), "")
	s := e.subscribe(id)
	e.send(id, defineOutcome("Task", "Rubric", 3))
	s.until(hangar.EventStatusRunning)
	e.send(id, clientEvent(hangar.EventUserInterrupt, map[string]any{}))
	got := s.until(hangar.EventStatusIdle)
	for _, ev := range got {
		if strings.HasPrefix(ev.Type, "span.outcome_evaluation") {
			t.Errorf("%s emitted: no evaluation starts for an interrupted turn", ev.Type)
		}
	}
	if len(g.requests()) != 0 {
		t.Errorf("grader called for an interrupted turn")
	}
	if list := outcomeEvaluations(t, e, id); list[0].Result != "interrupted" || list[0].CompletedAt == nil {
		t.Errorf("outcome_evaluations %+v", list)
	}
	// The outcome is over: a new one may be defined.
	e.send(id, defineOutcome("Again", "R", 1))
}
