package native

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
)

// Context compaction: before a model request whose context would reach
// Config.CompactAtTokens (estimated from the last reply's usage, input and cache tokens
// plus its output, and about a token per 4 bytes of what was added since), the loop asks
// the model, in one request with tool_choice none, for a summary of the whole
// conversation, and continues from a conversation holding only that summary (then the new
// prompt, at the start of a turn, or a note to go on with the task, mid-turn). The
// session gets agent.thread_context_compacted. A turn that needs more than
// maxCompactions compactions (a context that stays full even when compacted) fails with
// compaction_limit_reached_error.

// DefaultCompactAtTokens suits the 200k-token context window of current Claude models.
const DefaultCompactAtTokens = 160_000

// maxCompactions caps the compactions of one turn.
const maxCompactions = 3

// compactPrompt asks for the summary.
const compactPrompt = `Your context window is nearly full, so this conversation is about to be replaced by a summary of it. Write that summary now, for yourself: the user's requests and constraints, what has been done and found (files, commands, results, errors), decisions made and why, and exactly what remains to be done and what you were doing last. Reply with the summary only, without calling tools.`

// compactedIntro and compactedContinue frame the summary in the compacted conversation.
const (
	compactedIntro    = "This session continues an earlier conversation that was compacted to fit the context window. Summary of the conversation so far:\n\n"
	compactedContinue = "\n\nContinue the current task from where it was left off."
)

// maybeCompact compacts conv when it has grown to the threshold. midTurn tells whether
// the loop is in the middle of a turn (the conversation then ends with tool results or
// the prompt; at the start of a turn it ends with the last turn's reply).
func (r *run) maybeCompact(ctx context.Context, conv *conversation, midTurn bool) error {
	limit := int64(r.e.cfg.CompactAtTokens)
	if limit <= 0 || len(conv.msgs) == 0 {
		return nil
	}
	pre := conv.estimate()
	if pre < limit {
		return nil
	}
	if r.compactions >= maxCompactions {
		return &engine.Error{Type: "compaction_limit_reached_error", Message: fmt.Sprintf("the conversation still fills the context window after %d compactions in one turn", r.compactions)}
	}
	r.compactions++
	ask := &conversation{msgs: slices.Clone(conv.msgs)}
	if last := &ask.msgs[len(ask.msgs)-1]; last.Role == "user" {
		last.Content = slices.Clone(last.Content) // addUser appends to it
	}
	ask.addUser(mustJSON(map[string]string{"type": "text", "text": compactPrompt}))
	req := r.newRequest(ask.msgs)
	req.ToolChoice = json.RawMessage(`{"type":"none"}`)
	rep, err := r.request(ctx, req, quietHandler{})
	if err != nil {
		return err
	}
	var summary strings.Builder
	for _, raw := range rep.Content {
		var b block
		json.Unmarshal(raw, &b)
		if b.Type == "text" {
			summary.WriteString(b.Text)
		}
	}
	if strings.TrimSpace(summary.String()) == "" {
		return &engine.Error{Type: "model_request_failed_error", Message: "the model wrote no summary when the conversation was compacted"}
	}
	text := compactedIntro + summary.String()
	if midTurn {
		text += compactedContinue
	}
	conv.msgs = []message{{Role: "user", Content: []json.RawMessage{mustJSON(map[string]string{"type": "text", "text": text})}}}
	conv.calls, conv.results = nil, nil
	conv.tokens, conv.measured = rep.Usage.Output, 1
	r.log.Info("native: conversation compacted", "estimated_tokens", pre, "summary_tokens", rep.Usage.Output)
	return r.emit(ctx, engine.Event{Type: eventContextCompacted})
}

// eventContextCompacted is the event of a compaction (no fields).
const eventContextCompacted = "agent.thread_context_compacted"

// quietHandler ignores the streamed blocks of the compaction request: the summary is not
// an agent.message.
type quietHandler struct{}

func (quietHandler) blockStart(block) error                 { return nil }
func (quietHandler) blockDone(block, json.RawMessage) error { return nil }
