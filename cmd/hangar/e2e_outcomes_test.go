package main

import (
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"

	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var updateOutcomeGolden = flag.Bool("update-outcome", false, "rewrite testdata/outcome_transcript.golden")

// defineOutcome is a user.define_outcome param with a text rubric.
func defineOutcome(desc, rubric string, maxIter int64) anthropic.BetaManagedAgentsEventParamsUnion {
	p := &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
		Description: desc,
		Rubric:      anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfText: &anthropic.BetaManagedAgentsTextRubricParams{Content: rubric}},
	}
	if maxIter > 0 {
		p.MaxIterations = anthropic.Int(maxIter)
	}
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserDefineOutcome: p}
}

// TestE2EOutcomeRevisionLoop: an outcome changes what the agent does. The grader (the
// Messages API at the server's upstream, here fakemodel) finds the first answer needs
// revision; the agent gets the feedback as its next turn and answers again; the second
// evaluation is satisfied and the session goes idle.
func TestE2EOutcomeRevisionLoop(t *testing.T) {
	t.Parallel()
	fm := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { t.Errorf("unexpected model request %s %s", r.Method, r.Path) }}
	fm.Push(
		fakemodel.Text(`{"result":"needs_revision","explanation":"The haiku has no title."}`),
		fakemodel.Text(`{"result":"satisfied","explanation":"Titled, and 5-7-5."}`),
	)
	upstream := httptest.NewServer(fm)
	t.Cleanup(upstream.Close)
	srv := startServer(t, func(c *Config) {
		c.UpstreamURL, c.UpstreamKey, c.GraderModel = upstream.URL, "sk-upstream", "claude-grader-test"
	})
	c := srv.Client
	a := newAgent(t, c, "outcomes", nil) // no script: the agent echoes its prompt
	env := newEnvironment(t, c, "outcomes-env")
	sess := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	echo := send(t, c, sess.ID, defineOutcome("Write a haiku about autumn", "It has a title. Its lines have 5, 7 and 5 syllables.", 0))[0].AsUserDefineOutcome()
	if !strings.HasPrefix(echo.OutcomeID, "outc_") || echo.MaxIterations != 3 || echo.ProcessedAt.IsZero() ||
		echo.Rubric.Type != "text" || echo.Rubric.Content != "It has a title. Its lines have 5, 7 and 5 syllables." {
		t.Fatalf("define_outcome echo %s", echo.RawJSON())
	}

	var got []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for {
		got = append(got, readUntil(t, stream, isIdle)...)
		if got[len(got)-1].AsSessionStatusIdle().StopReason.Type == "end_turn" {
			break
		}
	}
	var answers []string
	var ends []anthropic.BetaManagedAgentsSpanOutcomeEvaluationEndEvent
	starts := map[string]int64{}
	for _, ev := range got {
		switch ev.Type {
		case "agent.message":
			answers = append(answers, agentText(ev))
		case "span.outcome_evaluation_start":
			s := ev.AsSpanOutcomeEvaluationStart()
			starts[s.ID] = s.Iteration
		case "span.outcome_evaluation_end":
			ends = append(ends, ev.AsSpanOutcomeEvaluationEnd())
		}
	}
	if len(answers) != 2 || !strings.Contains(answers[0], "Write a haiku about autumn") || !strings.Contains(answers[1], "The haiku has no title.") {
		t.Fatalf("agent answers %q: want the task, then the grader's feedback", answers)
	}
	if len(ends) != 2 || ends[0].Result != "needs_revision" || ends[1].Result != "satisfied" || ends[1].Explanation != "Titled, and 5-7-5." {
		t.Fatalf("evaluations %+v", ends)
	}
	for i, e := range ends {
		if it, ok := starts[e.OutcomeEvaluationStartID]; !ok || it != int64(i) || e.Iteration != int64(i) || e.OutcomeID != echo.OutcomeID {
			t.Errorf("evaluation %d: %s", i, e.RawJSON())
		}
		if e.Usage.OutputTokens == 0 || !e.JSON.Usage.Valid() {
			t.Errorf("evaluation %d usage %s", i, e.RawJSON())
		}
	}

	// The grader saw the rubric and the agent's work, with the server's credential.
	reqs := fm.MessageRequests()
	if len(reqs) != 2 {
		t.Fatalf("%d grader requests, want 2", len(reqs))
	}
	if r := reqs[0]; r.Model != "claude-grader-test" || r.Header.Get("x-api-key") != "sk-upstream" ||
		!strings.Contains(r.LastUserText(), "5, 7 and 5 syllables") || !strings.Contains(r.LastUserText(), "echo: Write a haiku about autumn") {
		t.Errorf("first grader request model=%q key=%q:\n%s", r.Model, r.Header.Get("x-api-key"), r.LastUserText())
	}

	s, err := c.Beta.Sessions.Get(testContext(t), sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "idle" || len(s.OutcomeEvaluations) != 1 {
		t.Fatalf("session %s", s.RawJSON())
	}
	if o := s.OutcomeEvaluations[0]; o.OutcomeID != echo.OutcomeID || o.Result != "satisfied" || o.Iteration != 1 ||
		o.CompletedAt.IsZero() || o.Explanation != "Titled, and 5-7-5." || o.Description != "Write a haiku about autumn" || o.Type != "outcome_evaluation" {
		t.Errorf("outcome_evaluations[0] %s", o.RawJSON())
	}
	checkOutcomeGolden(t, c, sess.ID)
}

// TestE2EOutcomeInitialEvent: a define_outcome in initial_events starts the work on its
// own; a first satisfied verdict ends the outcome at iteration 0.
func TestE2EOutcomeInitialEvent(t *testing.T) {
	t.Parallel()
	fm := &fakemodel.Server{}
	fm.Push(fakemodel.Text(`{"result":"satisfied","explanation":"done"}`))
	upstream := httptest.NewServer(fm)
	t.Cleanup(upstream.Close)
	srv := startServer(t, func(c *Config) { c.UpstreamURL, c.UpstreamKey = upstream.URL, "sk-upstream" })
	c := srv.Client
	a := newAgent(t, c, "outcomes-initial", nil)
	env := newEnvironment(t, c, "outcomes-initial-env")
	ev := defineOutcome("Say hi", "Says hi", 2)
	sess, err := c.Beta.Sessions.New(testContext(t), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
		EnvironmentID: env.ID,
		InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{{OfUserDefineOutcome: ev.OfUserDefineOutcome}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Replay from the start: the turn may have begun before the stream opened.
	stream := c.Beta.Sessions.Events.StreamEvents(testContext(t), sess.ID, anthropic.BetaSessionEventStreamParams{}, option.WithHeader("Last-Event-ID", "0"))
	t.Cleanup(func() { stream.Close() })
	got := readUntil(t, stream, isIdle)
	want := []string{"user.define_outcome", "session.status_running", "agent.message", "span.outcome_evaluation_start", "span.outcome_evaluation_end", "session.status_idle"}
	if types := eventTypes(withoutModelSpans(got)); !cmp.Equal(types, want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	s, err := c.Beta.Sessions.Get(testContext(t), sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.OutcomeEvaluations) != 1 || s.OutcomeEvaluations[0].Result != "satisfied" || s.OutcomeEvaluations[0].Iteration != 0 {
		t.Errorf("outcome_evaluations %s", s.RawJSON())
	}
}

func withoutModelSpans(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	var out []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Type, "span.model_request") && ev.Type != "session.usage" {
			out = append(out, ev)
		}
	}
	return out
}

// TestE2EOutcomeValidation: user.define_outcome is validated as the SDK shapes it.
func TestE2EOutcomeValidation(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	a := newAgent(t, c, "outcomes-bad", nil)
	env := newEnvironment(t, c, "outcomes-bad-env")
	sess := newSession(t, c, a.ID, env.ID)
	bad := []struct {
		name string
		ev   anthropic.BetaManagedAgentsEventParamsUnion
	}{
		{"max_iterations over 20", defineOutcome("x", "y", 21)},
		{"empty rubric", defineOutcome("x", "", 0)},
		{"empty description", defineOutcome("", "y", 0)},
		{"file rubric", anthropic.BetaManagedAgentsEventParamsUnion{OfUserDefineOutcome: &anthropic.BetaManagedAgentsUserDefineOutcomeEventParams{
			Description: "x", Rubric: anthropic.BetaManagedAgentsUserDefineOutcomeEventParamsRubricUnion{OfFile: &anthropic.BetaManagedAgentsFileRubricParams{FileID: "file_1"}},
		}}},
	}
	for _, tt := range bad {
		_, err := c.Beta.Sessions.Events.Send(testContext(t), sess.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{tt.ev}})
		wantStatus(t, err, 400, "invalid_request_error")
	}
}

// outcomeIDs matches generated IDs in event JSON.
var outcomeIDs = regexp.MustCompile(`\b(sevt|sesn|agent|env|outc)_[0-9A-Za-z]+`)

// checkOutcomeGolden compares the stored transcript, one event per line without
// timestamps and model spans, IDs numbered by first appearance.
func checkOutcomeGolden(t *testing.T, c anthropic.Client, sessionID string) {
	t.Helper()
	iter := c.Beta.Sessions.Events.ListAutoPaging(testContext(t), sessionID, anthropic.BetaSessionEventListParams{})
	var b strings.Builder
	for iter.Next() {
		var m map[string]any
		if err := json.Unmarshal([]byte(iter.Current().RawJSON()), &m); err != nil {
			t.Fatal(err)
		}
		// Model spans and their session.usage snapshots carry timings.
		if typ, _ := m["type"].(string); strings.HasPrefix(typ, "span.model_request") || typ == "session.usage" {
			continue
		}
		delete(m, "processed_at")
		line, _ := json.Marshal(m)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	seen, n := map[string]string{}, map[string]int{}
	got := outcomeIDs.ReplaceAllStringFunc(b.String(), func(id string) string {
		if v, ok := seen[id]; ok {
			return v
		}
		prefix := id[:strings.Index(id, "_")]
		n[prefix]++
		seen[id] = prefix + "_" + strconv.Itoa(n[prefix])
		return seen[id]
	})
	path := filepath.Join("testdata", "outcome_transcript.golden")
	if *updateOutcomeGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-outcome to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("transcript mismatch (-want +got):\n%s", diff)
	}
}
