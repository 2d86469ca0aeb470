package anthropic

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// refFields names the body field through which a remote event refers to an earlier one.
// The runner fills the same field with the local stored ID from Event.Ref.
var refFields = map[string]string{
	hangar.EventAgentToolResult: "tool_use_id",
	"agent.mcp_tool_result":     "mcp_tool_use_id",
	hangar.EventModelRequestEnd: "model_request_start_id",
}

// handle processes one remote event of the turn. end reports the end of the turn, with
// err the reason it failed (nil for a completed one).
func (r *run) handle(ctx context.Context, f frame) (end bool, err error) {
	var head struct {
		Type        string  `json:"type"`
		ID          string  `json:"id"`
		ProcessedAt *string `json:"processed_at"`
	}
	if f.event == "ping" || json.Unmarshal(f.data, &head) != nil || head.Type == "" {
		return false, nil
	}
	if head.ProcessedAt != nil && *head.ProcessedAt != "" {
		r.lastAt = *head.ProcessedAt
	}
	if head.ID != "" {
		if r.seen[head.ID] {
			return false, nil // replayed after a reconnect
		}
		r.seen[head.ID] = true
	}
	if !r.open {
		// Events before this turn's message (an earlier turn's, listed after a
		// reconnect) are not ours. Anthropic echoes user events on the stream; a live
		// status_running opens the turn too, in case the echo was missed.
		if (head.Type == hangar.EventUserMessage && head.ID == r.msgID) || (head.Type == hangar.EventStatusRunning && !f.replayed) {
			r.open = true
		}
		return false, nil
	}
	return r.translate(ctx, head.Type, head.ID, f.data)
}

// translate turns one remote event of the turn into engine events.
func (r *run) translate(ctx context.Context, typ, id string, data []byte) (end bool, err error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(data, &body); err != nil {
		return false, nil
	}
	delete(body, "type")
	delete(body, "id")
	delete(body, "processed_at")
	ev := engine.Event{Type: typ, ID: id}

	switch typ {
	case hangar.EventStatusIdle:
		switch stopReason(data) {
		case "requires_action":
			return false, nil // the events it lists were emitted with RequiresAction
		case "retries_exhausted":
			return true, r.failure("the remote turn failed")
		}
		return true, nil // end_turn, refusal, budget_reached
	case hangar.EventStatusTerminated:
		return true, r.failure("the remote session terminated")
	case hangar.EventSessionDeleted:
		return true, &engine.Error{Type: "unknown_error", Message: "the remote session was deleted"}
	case hangar.EventSessionError:
		var e struct {
			Error struct {
				Type        string `json:"type"`
				Message     string `json:"message"`
				RetryStatus struct {
					Type string `json:"type"`
				} `json:"retry_status"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		if e.Error.RetryStatus.Type == "retrying" {
			break // informational: the remote retries on its own
		}
		// The turn is over; the runner reports this error when the remote idles.
		t := e.Error.Type
		if t == "" {
			t = "unknown_error"
		}
		r.remoteErr = &engine.Error{Type: t, Message: e.Error.Message}
		return false, nil
	case hangar.EventAgentMessage, hangar.EventAgentThinking, "agent.thread_context_compacted",
		hangar.EventModelRequestStart:
	case hangar.EventAgentToolUse, "agent.mcp_tool_use":
		var p struct {
			EvaluatedPermission string `json:"evaluated_permission"`
		}
		_ = json.Unmarshal(data, &p)
		if p.EvaluatedPermission == "ask" {
			r.await(&ev, body, hangar.EventUserToolConfirmation)
		}
	case hangar.EventAgentCustomToolUse:
		r.await(&ev, body, hangar.EventUserCustomToolResult)
	case hangar.EventAgentToolResult, "agent.mcp_tool_result":
	case hangar.EventModelRequestEnd:
		ev.Usage = usageOf(body["model_usage"])
	default:
		// user.* echoes, the remote's own status events (the runner emits the local
		// ones), multi-agent thread events and newer types this engine does not map.
		if !strings.HasPrefix(typ, "user.") && !strings.HasPrefix(typ, "session.") {
			r.e.log.Debug("remote event not forwarded", "type", typ)
		}
		return false, nil
	}
	if field, ok := refFields[typ]; ok {
		var ref string
		if json.Unmarshal(body[field], &ref) == nil && r.emitted[ref] {
			ev.Ref = ref
			delete(body, field) // the runner writes the local ID here
		}
	}
	if len(body) > 0 {
		ev.Body = body
	}
	if id != "" {
		r.emitted[id] = true
	}
	return false, r.emit(ctx, ev)
}

// await marks ev as awaiting the client's answer of type answer.
func (r *run) await(ev *engine.Event, body map[string]json.RawMessage, answer string) {
	var thread string
	_ = json.Unmarshal(body["session_thread_id"], &thread)
	ev.RequiresAction = true
	r.mu.Lock()
	r.pending[ev.ID] = pendingUse{answer: answer, thread: thread}
	r.mu.Unlock()
}

// failure is the error of a turn the remote ended unsuccessfully: its session.error when
// it sent one.
func (r *run) failure(fallback string) error {
	if r.remoteErr != nil {
		return r.remoteErr
	}
	return &engine.Error{Type: "unknown_error", Message: fallback}
}

// usageOf reads a span's model_usage.
func usageOf(raw json.RawMessage) *hangar.Usage {
	var m struct {
		InputTokens              int64 `json:"input_tokens"`
		OutputTokens             int64 `json:"output_tokens"`
		CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	u := &hangar.Usage{InputTokens: m.InputTokens, OutputTokens: m.OutputTokens, CacheReadInputTokens: m.CacheReadInputTokens}
	// The span does not split cache writes by TTL; 5 minutes is the API's default.
	u.CacheCreation.Ephemeral5mInputTokens = m.CacheCreationInputTokens
	return u
}
