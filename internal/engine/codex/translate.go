package codex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Translator turns the JSONL output of `codex exec --json`, line by line, into CMA events.
// It keeps the state that spans lines: the thread ID, the open model request span (one
// per codex turn, since the output reports usage per turn only), the tool uses waiting
// for results and how the turn ended. It never fails: a line it does not understand is
// reported to Unknown and skipped.
//
// The lines it reads: thread.started (→ EventResume), turn.started / turn.completed
// (→ span.model_request_start / _end with the turn's usage), turn.failed (→ a failed span
// and Err), error (reconnect notices and the final error, kept for LastError), and
// item.started / item.updated / item.completed of the items agent_message (→
// agent.message), reasoning (→ agent.thinking), command_execution (→ agent.tool_use of
// bash + agent.tool_result), file_change (→ edit), mcp_tool_call (→ agent.mcp_tool_use +
// agent.mcp_tool_result), web_search (→ web_search) and error (a warning, logged).
type Translator struct {
	// Unknown, when set, is told about every line (or item) the translator skips: its
	// type ("invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)

	threadID string
	turns    int
	span     string
	tools    map[string]string // tool use IDs awaiting their result → result event type
	seen     map[string]bool   // tool use IDs emitted
	done     bool
	err      *engine.Error
	lastErr  string
}

// ThreadID returns the CLI's thread ID, once thread.started was seen.
func (t *Translator) ThreadID() string { return t.threadID }

// Done reports whether the turn ended (turn.completed or turn.failed).
func (t *Translator) Done() bool { return t.done }

// Err returns the classified failure of a turn.failed, nil otherwise.
func (t *Translator) Err() *engine.Error { return t.err }

// LastError returns the message of the last error line ("" when none).
func (t *Translator) LastError() string { return t.lastErr }

type line struct {
	Type     string          `json:"type"`
	ThreadID string          `json:"thread_id"`
	Message  string          `json:"message"`
	Usage    *usage          `json:"usage"`
	Item     json.RawMessage `json:"item"`
	Error    *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type usage struct {
	InputTokens           int64 `json:"input_tokens"`
	CachedInputTokens     int64 `json:"cached_input_tokens"`
	CacheWriteInputTokens int64 `json:"cache_write_input_tokens"`
	OutputTokens          int64 `json:"output_tokens"`
}

type item struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	Text             string          `json:"text"`
	Message          string          `json:"message"`
	Command          string          `json:"command"`
	AggregatedOutput string          `json:"aggregated_output"`
	ExitCode         *int            `json:"exit_code"`
	Status           string          `json:"status"`
	Changes          json.RawMessage `json:"changes"`
	Server           string          `json:"server"`
	Tool             string          `json:"tool"`
	Arguments        json.RawMessage `json:"arguments"`
	Result           *struct {
		Content json.RawMessage `json:"content"`
	} `json:"result"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
	Query string `json:"query"`
}

// Line translates one output line into zero or more events.
func (t *Translator) Line(b []byte) []engine.Event {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		t.unknown("invalid", b)
		return nil
	}
	switch l.Type {
	case "thread.started":
		if l.ThreadID == "" || t.threadID != "" {
			return nil
		}
		t.threadID = l.ThreadID
		return []engine.Event{{Type: engine.EventResume, Resume: l.ThreadID}}
	case "turn.started":
		out := t.endSpan(false, nil)
		t.turns++
		t.span = fmt.Sprintf("turn_%d", t.turns)
		return append(out, engine.Event{Type: hangar.EventModelRequestStart, ID: t.span})
	case "turn.completed":
		t.done = true
		return append(t.closeTools("turn ended"), t.endSpan(false, l.Usage)...)
	case "turn.failed":
		t.done = true
		msg := t.lastErr
		if l.Error != nil && l.Error.Message != "" {
			msg = l.Error.Message
		}
		if msg == "" {
			msg = "codex turn failed"
		}
		t.err = classify(msg)
		return append(t.closeTools("turn failed"), t.endSpan(true, l.Usage)...)
	case "error":
		// Reconnect notices ("Reconnecting... 1/5 (...)") and the final error before
		// turn.failed; the turn's outcome is turn.completed or turn.failed.
		t.lastErr = l.Message
		return nil
	case "item.started", "item.updated", "item.completed":
		var it item
		if err := json.Unmarshal(l.Item, &it); err != nil {
			t.unknown(l.Type, b)
			return nil
		}
		return t.item(l.Type == "item.completed", it, b)
	default:
		t.unknown(l.Type, b)
		return nil
	}
}

// Finish closes what the output left open (the span and tool uses of an interrupted or
// crashed CLI); isError marks them as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return append(t.closeTools("interrupted"), t.endSpan(isError, nil)...)
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

func (t *Translator) item(completed bool, it item, b []byte) []engine.Event {
	switch it.Type {
	case "agent_message":
		if !completed || it.Text == "" {
			return nil
		}
		return []engine.Event{{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(it.Text)}}}
	case "reasoning":
		if !completed {
			return nil
		}
		return []engine.Event{{Type: hangar.EventAgentThinking}}
	case "command_execution":
		input := map[string]any{"command": unwrapShell(it.Command)}
		return t.tool(completed, it, hangar.EventAgentToolUse, map[string]any{"name": "bash", "input": input},
			it.AggregatedOutput, it.Status == "failed" || it.Status == "declined" || (it.ExitCode != nil && *it.ExitCode != 0))
	case "file_change":
		var changes []struct {
			Path string `json:"path"`
			Kind string `json:"kind"`
		}
		_ = json.Unmarshal(it.Changes, &changes)
		var lines []string
		for _, c := range changes {
			lines = append(lines, c.Kind+" "+c.Path)
		}
		input := map[string]any{"changes": rawOr(it.Changes, `[]`)}
		return t.tool(completed, it, hangar.EventAgentToolUse, map[string]any{"name": "edit", "input": input},
			strings.Join(lines, "\n"), it.Status == "failed")
	case "mcp_tool_call":
		body := map[string]any{"name": it.Tool, "mcp_server_name": it.Server, "input": rawOr(it.Arguments, `{}`)}
		if !completed {
			return t.tool(false, it, "agent.mcp_tool_use", body, "", false)
		}
		out := t.tool(false, it, "agent.mcp_tool_use", body, "", false)
		if typ, ok := t.tools[it.ID]; ok {
			delete(t.tools, it.ID)
			var content []any
			isError := it.Status == "failed" || it.Error != nil
			switch {
			case it.Error != nil:
				content = []any{map[string]string{"type": "text", "text": it.Error.Message}}
			case it.Result != nil:
				content = resultContent(it.Result.Content)
			default:
				content = []any{}
			}
			out = append(out, engine.Event{Type: typ, Ref: it.ID, Body: map[string]any{"content": content, "is_error": isError}})
		}
		return out
	case "web_search":
		return t.tool(completed, it, hangar.EventAgentToolUse, map[string]any{"name": "web_search", "input": map[string]any{"query": it.Query}},
			"", false)
	case "error":
		// A warning, e.g. "Model metadata for `x` not found"; the turn goes on.
		if completed {
			t.unknown("item/error", b)
		}
		return nil
	default:
		if completed {
			t.unknown("item/"+it.Type, b)
		}
		return nil
	}
}

// tool emits the tool use of item it (once, when it starts or, failing that, completes)
// with body, and on completion its result holding output.
func (t *Translator) tool(completed bool, it item, useType string, body map[string]any, output string, isError bool) []engine.Event {
	if it.ID == "" {
		return nil
	}
	var out []engine.Event
	if !t.seen[it.ID] {
		if t.seen == nil {
			t.seen, t.tools = map[string]bool{}, map[string]string{}
		}
		t.seen[it.ID] = true
		resultType := hangar.EventAgentToolResult
		if useType == "agent.mcp_tool_use" {
			resultType = "agent.mcp_tool_result"
		} else {
			body["evaluated_permission"] = "allow"
		}
		t.tools[it.ID] = resultType
		out = append(out, engine.Event{Type: useType, ID: it.ID, Body: body})
	}
	if completed {
		if typ, ok := t.tools[it.ID]; ok {
			delete(t.tools, it.ID)
			out = append(out, engine.Event{Type: typ, Ref: it.ID, Body: map[string]any{
				"content": engine.TextContent(output), "is_error": isError,
			}})
		}
	}
	return out
}

// closeTools ends the tool uses still awaiting a result with an error result saying why.
func (t *Translator) closeTools(why string) []engine.Event {
	var out []engine.Event
	for _, id := range slices.Sorted(maps.Keys(t.tools)) {
		typ := t.tools[id]
		delete(t.tools, id)
		out = append(out, engine.Event{Type: typ, Ref: id, Body: map[string]any{
			"content": engine.TextContent(why), "is_error": true,
		}})
	}
	return out
}

// endSpan ends the open model request span with the turn's usage. Codex reports input
// tokens including cached ones (OpenAI's convention); the span reports them apart, as the
// Messages API does.
func (t *Translator) endSpan(isError bool, u *usage) []engine.Event {
	if t.span == "" {
		return nil
	}
	var hu hangar.Usage
	var cacheWr int64
	if u != nil {
		hu.InputTokens = max(u.InputTokens-u.CachedInputTokens, 0)
		hu.OutputTokens = u.OutputTokens
		hu.CacheReadInputTokens = u.CachedInputTokens
		hu.CacheCreation.Ephemeral5mInputTokens = u.CacheWriteInputTokens
		cacheWr = u.CacheWriteInputTokens
	}
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: t.span, Usage: &hu, Body: map[string]any{
		"is_error": isError,
		"model_usage": map[string]int64{
			"input_tokens":                hu.InputTokens,
			"output_tokens":               hu.OutputTokens,
			"cache_creation_input_tokens": cacheWr,
			"cache_read_input_tokens":     hu.CacheReadInputTokens,
		},
	}}
	t.span = ""
	return []engine.Event{ev}
}

// classify returns the session error of a failed turn's message.
func classify(msg string) *engine.Error {
	lower := strings.ToLower(msg)
	typ := "model_request_failed_error"
	switch {
	case strings.Contains(lower, "429") || strings.Contains(lower, "rate limit") || strings.Contains(lower, "too many requests"):
		typ = "model_rate_limited_error"
	case strings.Contains(lower, "529") || strings.Contains(lower, "overloaded"):
		typ = "model_overloaded_error"
	}
	return &engine.Error{Type: typ, Message: msg}
}

// unwrapShell returns the script of a command codex reports as it ran it, `/bin/bash -lc
// '<script>'`; other commands are returned unchanged.
func unwrapShell(cmd string) string {
	for _, sh := range []string{"/bin/bash", "bash", "/bin/sh", "sh", "/bin/zsh", "zsh"} {
		for _, flag := range []string{" -lc ", " -c "} {
			rest, ok := strings.CutPrefix(cmd, sh+flag)
			if !ok {
				continue
			}
			if s, ok := unquote(rest); ok {
				return s
			}
			return cmd
		}
	}
	return cmd
}

// unquote undoes POSIX shell single quoting ('…' pieces joined by \'), reporting false
// when s is not one such word.
func unquote(s string) (string, bool) {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(s[1 : 1+end])
			s = s[end+2:]
		case strings.HasPrefix(s, `\'`):
			b.WriteByte('\'')
			s = s[2:]
		default:
			return "", false
		}
	}
	return b.String(), true
}

// rawOr returns raw when it is JSON of the same kind (object or array) as def, else def.
func rawOr(raw json.RawMessage, def string) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != def[0] || !json.Valid(raw) {
		return json.RawMessage(def)
	}
	return raw
}

// resultContent returns MCP tool result content as CMA content blocks: text and image
// blocks are kept; others become text.
func resultContent(raw json.RawMessage) []any {
	var blocks []json.RawMessage
	if json.Unmarshal(raw, &blocks) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []any{map[string]string{"type": "text", "text": s}}
		}
		return []any{}
	}
	out := make([]any, 0, len(blocks))
	for _, rb := range blocks {
		var b struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(rb, &b) != nil {
			out = append(out, map[string]string{"type": "text", "text": string(rb)})
			continue
		}
		switch b.Type {
		case "text":
			out = append(out, map[string]string{"type": "text", "text": b.Text})
		case "image":
			out = append(out, rb)
		default:
			out = append(out, map[string]string{"type": "text", "text": fmt.Sprintf("[%s]", b.Type)})
		}
	}
	return out
}
