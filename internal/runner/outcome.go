package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar"
)

// The outcome loop (§7.3, docs/outcomes.md). A user.define_outcome starts a turn on its
// own (its description, with the rubric, is the agent's prompt). When a turn of a session
// with an outcome in progress ends with end_turn, the runner does not go idle: it emits
// span.outcome_evaluation_start, asks the Grader for a verdict on what the agent did since
// the outcome was defined, and emits span.outcome_evaluation_end. needs_revision queues
// the grader's feedback as the agent's next turn (an internal continuation, not stored as
// a user.message); on the last iteration the result is max_iterations_reached and one
// final turn follows; satisfied and failed end the turn with status_idle end_turn.

// Grader scores an agent's work against an outcome's rubric (cmd/hangar: internal/grader
// over the server's model upstream).
type Grader interface {
	Grade(ctx context.Context, req GradeRequest) (Verdict, error)
}

// GradeRequest is what the Grader scores.
type GradeRequest struct {
	SessionID   string
	Description string
	Rubric      string
	Transcript  string
	Iteration   int
}

// Verdict is the Grader's answer: Result is satisfied, needs_revision or failed.
type Verdict struct {
	Result      string
	Explanation string
	Usage       SpanUsage
}

// SpanUsage is the usage of span.outcome_evaluation_end: the grader's model requests.
type SpanUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// outcomeTurn turns a stored user.define_outcome into the message its turn runs: the
// same event (ID, Seq, processed_at) shaped as a user.message whose text is the task.
func outcomeTurn(ev hangar.Event) hangar.Event {
	var def hangar.OutcomeDefinition
	json.Unmarshal(ev.Body, &def)
	text := def.Description + "\n\nYour work will be graded against this rubric:\n" + def.Rubric.Content
	ev.Type = hangar.EventUserMessage
	ev.Body = textMessage(text)
	return ev
}

func textMessage(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"content": []any{map[string]string{"type": "text", "text": text}}})
	return b
}

// defineOutcomes records the outcomes evs define in the session's outcome_evaluations
// (run inside the append transaction). One outcome at a time: another may follow only
// once the previous one reached a terminal result.
func defineOutcomes(s *hangar.Session, evs []hangar.Event) error {
	var list []hangar.OutcomeEvaluation
	for _, ev := range evs {
		if ev.Type != hangar.EventUserDefineOutcome {
			continue
		}
		if list == nil {
			list = outcomeList(s)
		}
		for _, o := range list {
			if !o.Terminal() {
				return hangar.Errorf(hangar.KindInvalidRequest, "outcome %s is still %s; a new outcome may be defined once it ends", o.OutcomeID, o.Result)
			}
		}
		var def hangar.OutcomeDefinition
		if err := json.Unmarshal(ev.Body, &def); err != nil {
			return fmt.Errorf("define_outcome body: %w", err)
		}
		list = append(list, hangar.OutcomeEvaluation{Type: "outcome_evaluation", OutcomeID: def.OutcomeID, Description: def.Description, Result: hangar.OutcomeResultRunning})
	}
	if list != nil {
		s.OutcomeEvaluations, _ = json.Marshal(list)
	}
	return nil
}

func outcomeList(s *hangar.Session) []hangar.OutcomeEvaluation {
	list := []hangar.OutcomeEvaluation{}
	json.Unmarshal(s.OutcomeEvaluations, &list)
	return list
}

// setOutcome applies f to the session's entry for outcome id.
func setOutcome(s *hangar.Session, id string, f func(*hangar.OutcomeEvaluation)) {
	list := outcomeList(s)
	for i := range list {
		if list[i].OutcomeID == id {
			f(&list[i])
		}
	}
	s.OutcomeEvaluations, _ = json.Marshal(list)
}

// outcome runs the grader after a turn of a session with an outcome in progress. It
// reports whether it ended the turn itself (a continuation is queued, or the evaluation
// was interrupted); false leaves the turn to finish as usual.
func (t *turn) outcome(ctx context.Context, msg hangar.Event, res runResult) bool {
	r, st := t.r, t.st
	sess, err := r.store.GetSession(ctx, st.id)
	if err != nil {
		return false
	}
	var cur *hangar.OutcomeEvaluation
	for _, o := range outcomeList(sess) {
		if !o.Terminal() {
			cur = &o
		}
	}
	if cur == nil {
		return false
	}
	if res.err != nil || res.interrupted {
		// The agent's turn itself did not end: the outcome ends without an evaluation
		// (interrupted is reported by span events only once one started).
		result, expl := hangar.OutcomeResultFailed, "the agent's turn failed before it could be evaluated"
		if res.interrupted {
			result, expl = hangar.OutcomeResultInterrupted, "interrupted before evaluation"
		}
		t.updateOutcome(ctx, nil, cur.OutcomeID, func(o *hangar.OutcomeEvaluation) {
			o.Result, o.Explanation, o.CompletedAt = result, &expl, ptr(r.now())
		}, false)
		return false
	}
	def, seq, err := r.outcomeDefinition(ctx, st.id, cur.OutcomeID)
	if err != nil {
		r.log.Error("outcome definition", "session", st.id, "outcome", cur.OutcomeID, "err", err)
		return false
	}
	iter := cur.Iteration
	start := r.newEvent(hangar.EventOutcomeEvaluationStart, map[string]any{"outcome_id": cur.OutcomeID, "iteration": iter})
	if err := t.updateOutcome(ctx, []hangar.Event{start}, cur.OutcomeID, func(o *hangar.OutcomeEvaluation) { o.Result = hangar.OutcomeResultEvaluating }, false); err != nil {
		return ctx.Err() != nil
	}

	v, interrupted, gerr := t.grade(ctx, GradeRequest{
		SessionID: st.id, Description: def.Description, Rubric: def.Rubric.Content,
		Transcript: r.outcomeTranscript(ctx, st.id, seq), Iteration: iter,
	})
	if ctx.Err() != nil {
		return true
	}
	switch {
	case interrupted:
		v = Verdict{Result: hangar.OutcomeResultInterrupted, Explanation: "the evaluation was interrupted"}
	case gerr != nil:
		r.log.Warn("grade outcome", "session", st.id, "outcome", cur.OutcomeID, "err", gerr)
		v = Verdict{Result: hangar.OutcomeResultFailed, Explanation: "the grader could not evaluate the outcome: " + gerr.Error()}
	case v.Result == hangar.OutcomeResultNeedsRevision && iter+1 >= def.MaxIterations:
		v.Result = hangar.OutcomeResultMaxIterationsReached
	}
	end := r.newEvent(hangar.EventOutcomeEvaluationEnd, map[string]any{
		"outcome_evaluation_start_id": start.ID, "outcome_id": cur.OutcomeID, "iteration": iter,
		"result": v.Result, "explanation": v.Explanation, "usage": v.Usage,
	})
	cont := v.Result == hangar.OutcomeResultNeedsRevision || v.Result == hangar.OutcomeResultMaxIterationsReached
	now := r.now()
	t.updateOutcome(ctx, []hangar.Event{end}, cur.OutcomeID, func(o *hangar.OutcomeEvaluation) {
		o.Explanation = &v.Explanation
		if v.Result == hangar.OutcomeResultNeedsRevision {
			o.Result, o.Iteration = hangar.OutcomeResultRunning, iter+1
			return
		}
		o.Result, o.CompletedAt = v.Result, &now
	}, cont)
	switch {
	case interrupted:
		t.finish(ctx, msg, nil, true)
		return true
	case !cont:
		return false
	}
	var text string
	if v.Result == hangar.OutcomeResultNeedsRevision {
		text = fmt.Sprintf("Your work was evaluated against the rubric and needs revision (evaluation %d of %d). Grader feedback:\n\n%s\n\nRevise your work to satisfy every criterion of the rubric.", iter+1, def.MaxIterations, v.Explanation)
	} else {
		text = fmt.Sprintf("Your work was evaluated against the rubric %d times and still does not satisfy it; no further evaluation will run. Grader feedback:\n\n%s\n\nMake any final fixes you can, then summarize what is done and what remains.", def.MaxIterations, v.Explanation)
	}
	next := hangar.Event{ID: r.newID(hangar.PrefixEvent), SessionID: st.id, Type: hangar.EventUserMessage, Seq: msg.Seq, Body: textMessage(text), ProcessedAt: &now}
	st.mu.Lock()
	st.queue = append([]hangar.Event{next}, st.queue...)
	if st.turns >= 0 {
		st.turns++
	}
	if st.resume != st.runtime.Resume {
		rt := st.runtime
		rt.Resume = st.resume
		if err := r.store.SetSessionRuntime(ctx, st.id, rt); err == nil {
			st.runtime = rt
		}
	}
	st.mu.Unlock()
	t.end.Outcome = "end_turn"
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.TurnEnded("end_turn", now.Sub(t.start))
	}
	return true
}

func ptr[T any](v T) *T { return &v }

// updateOutcome appends evs while applying f to the outcome's entry. continuing adds the
// turn's active time so far (the next turn restarts the clock while the session stays
// running).
func (t *turn) updateOutcome(ctx context.Context, evs []hangar.Event, id string, f func(*hangar.OutcomeEvaluation), continuing bool) error {
	r, st := t.r, t.st
	now := r.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	err := r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
		setOutcome(s, id, f)
		if continuing && s.Status == hangar.StatusRunning {
			s.Stats.ActiveSeconds += now.Sub(t.since).Seconds()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		r.log.Error("record outcome evaluation", "session", st.id, "outcome", id, "err", err)
	}
	return err
}

// grade calls the Grader, stopping when the client interrupts the session.
func (t *turn) grade(ctx context.Context, req GradeRequest) (Verdict, bool, error) {
	g := t.r.cfg.Grader
	if g == nil {
		return Verdict{}, false, fmt.Errorf("no grader is configured on this server (it needs a model API credential)")
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		v   Verdict
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := g.Grade(gctx, req)
		done <- result{v, err}
	}()
	for {
		select {
		case res := <-done:
			return res.v, false, res.err
		case <-t.st.signal:
			t.st.mu.Lock()
			intr := t.st.interrupt
			t.st.interrupt = false
			t.st.mu.Unlock()
			if intr {
				cancel()
				<-done
				return Verdict{}, true, nil
			}
		case <-ctx.Done():
			cancel()
			<-done
			return Verdict{}, false, ctx.Err()
		}
	}
}

// outcomeDefinition finds the user.define_outcome event of outcome id.
func (r *Runner) outcomeDefinition(ctx context.Context, sessionID, id string) (hangar.OutcomeDefinition, int64, error) {
	f := hangar.EventFilter{Types: []string{hangar.EventUserDefineOutcome}, Page: hangar.Page{Limit: 100}}
	for {
		evs, page, err := r.store.ListEvents(ctx, sessionID, f)
		if err != nil {
			return hangar.OutcomeDefinition{}, 0, err
		}
		for _, ev := range evs {
			var def hangar.OutcomeDefinition
			if json.Unmarshal(ev.Body, &def) == nil && def.OutcomeID == id {
				if def.MaxIterations <= 0 {
					def.MaxIterations = hangar.DefaultOutcomeMaxIterations
				}
				return def, ev.Seq, nil
			}
		}
		if page.Next == "" || len(evs) == 0 {
			return hangar.OutcomeDefinition{}, 0, fmt.Errorf("no user.define_outcome event for outcome %s", id)
		}
		c, err := hangar.DecodeCursor(page.Next)
		if err != nil {
			return hangar.OutcomeDefinition{}, 0, err
		}
		f.Page.Cursor = &c
	}
}

// maxTranscriptField bounds each tool input or result in the grader's transcript.
const maxTranscriptField = 4000

// outcomeTranscript renders what the agent did since the outcome was defined (event seq
// after): its messages, tool calls and results.
func (r *Runner) outcomeTranscript(ctx context.Context, sessionID string, after int64) string {
	var b strings.Builder
	f := hangar.EventFilter{AfterSeq: after, Page: hangar.Page{Limit: 200},
		Types: []string{hangar.EventAgentMessage, hangar.EventAgentToolUse, hangar.EventAgentToolResult, hangar.EventAgentCustomToolUse, "agent.mcp_tool_use", "agent.mcp_tool_result"}}
	for {
		evs, page, err := r.store.ListEvents(ctx, sessionID, f)
		if err != nil {
			r.log.Warn("outcome transcript", "session", sessionID, "err", err)
			return b.String()
		}
		for _, ev := range evs {
			writeTranscript(&b, ev)
		}
		if page.Next == "" || len(evs) == 0 {
			return b.String()
		}
		c, err := hangar.DecodeCursor(page.Next)
		if err != nil {
			return b.String()
		}
		f.Page.Cursor = &c
	}
}

func writeTranscript(b *strings.Builder, ev hangar.Event) {
	var body struct {
		Name    string          `json:"name"`
		Input   json.RawMessage `json:"input"`
		Content json.RawMessage `json:"content"`
		IsError bool            `json:"is_error"`
	}
	json.Unmarshal(ev.Body, &body)
	switch ev.Type {
	case hangar.EventAgentMessage:
		fmt.Fprintf(b, "[agent message]\n%s\n\n", blocksText(body.Content))
	case hangar.EventAgentToolResult, "agent.mcp_tool_result":
		label := "tool result"
		if body.IsError {
			label = "tool error"
		}
		fmt.Fprintf(b, "[%s]\n%s\n\n", label, clip(blocksText(body.Content)))
	default:
		fmt.Fprintf(b, "[tool call %s]\n%s\n\n", body.Name, clip(string(body.Input)))
	}
}

func blocksText(raw json.RawMessage) string {
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	var parts []string
	for _, bl := range blocks {
		if bl.Type == "text" {
			parts = append(parts, bl.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func clip(s string) string {
	if len(s) <= maxTranscriptField {
		return s
	}
	return s[:maxTranscriptField] + "…(truncated)"
}
