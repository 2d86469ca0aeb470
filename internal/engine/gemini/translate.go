package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// ShellTool is the Gemini CLI's shell tool, reported as the CMA bash tool.
const ShellTool = "run_shell_command"

// Translator turns the CLI's stream-json output (--output-format stream-json), line by
// line, into CMA events. It never fails: a line it does not understand is reported to
// Unknown and skipped.
//
// The CLI reports no model request boundaries, so the translator infers them: a model
// request starts with the turn (init) and again once every tool result of the previous
// response is in; it ends at the response's first tool use and at the result line. The
// assistant's text deltas of one response become one agent.message, emitted when the
// response ends. The result line carries the turn's total usage only; it goes on the last
// span.
type Translator struct {
	// Unknown, when set, is told about every line the translator skips: its type (or
	// "invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)
	// MCPServers are the names of the agent's MCP servers: a tool use named
	// mcp_<server>_<tool> for one of them is an agent.mcp_tool_use.
	MCPServers []string

	sessionID string
	mcp       map[string]bool // tool use IDs that are MCP tool uses
	model     string
	spans     int
	span      string          // engine-local ID of the open model request span
	text      strings.Builder // assistant text of the open response
	pending   []string        // tool use IDs emitted whose result is awaited
	seen      map[string]bool // tool use IDs emitted
	lastError string          // message of the last error line
	result    *Result
}

// Result is the CLI's final "result" line.
type Result struct {
	Status string `json:"status"`
	Error  *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	Stats *Stats `json:"stats"`
}

// Stats is the usage of a result line.
type Stats struct {
	TotalTokens  int64 `json:"total_tokens"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	Cached       int64 `json:"cached"`
	DurationMS   int64 `json:"duration_ms"`
	ToolCalls    int64 `json:"tool_calls"`
}

// SessionID returns the CLI's session ID (for --resume), once the init line was seen.
func (t *Translator) SessionID() string { return t.sessionID }

// Result returns the final result line, nil before it arrived.
func (t *Translator) Result() *Result { return t.result }

// Err returns the classified failure the result line reports, nil for a success or when
// no result arrived.
func (t *Translator) Err() *engine.Error {
	r := t.result
	if r == nil || r.Status == "success" {
		return nil
	}
	msg := t.lastError
	if r.Error != nil && r.Error.Message != "" {
		msg = r.Error.Message
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		msg = "gemini ended with status " + r.Status
	}
	return &engine.Error{Type: classify(msg), Message: msg}
}

// classify maps an error message of the CLI to a CMA session error type. API errors
// embed the Gemini error envelope: {"error":{"code":429,...,"status":"RESOURCE_EXHAUSTED"}}.
func classify(msg string) string {
	var status int
	var rpc string
	if i := strings.Index(msg, `{"error":`); i >= 0 {
		var env struct {
			Error struct {
				Code   int    `json:"code"`
				Status string `json:"status"`
			} `json:"error"`
		}
		if json.NewDecoder(strings.NewReader(msg[i:])).Decode(&env) == nil {
			status, rpc = env.Error.Code, env.Error.Status
		}
	}
	lower := strings.ToLower(msg)
	switch {
	case status == 503 || status == 529 || rpc == "UNAVAILABLE" || strings.Contains(lower, "overloaded"):
		return "model_overloaded_error"
	case status == 429 || rpc == "RESOURCE_EXHAUSTED" || strings.Contains(lower, "rate limit") || strings.Contains(lower, "quota"):
		return "model_rate_limited_error"
	case status != 0 || strings.Contains(msg, "API Error") || strings.Contains(lower, "model stream"):
		return "model_request_failed_error"
	}
	return "unknown_error"
}

// line is the union of the fields of the stream-json lines the translator reads.
type line struct {
	Type      string          `json:"type"`
	SessionID string          `json:"session_id"`
	Model     string          `json:"model"`
	Role      string          `json:"role"`
	Content   string          `json:"content"`
	Delta     bool            `json:"delta"`
	ToolName  string          `json:"tool_name"`
	ToolID    string          `json:"tool_id"`
	Params    json.RawMessage `json:"parameters"`
	Status    string          `json:"status"`
	Output    *string         `json:"output"`
	Error     json.RawMessage `json:"error"`
	Severity  string          `json:"severity"`
	Message   string          `json:"message"`
}

// Line translates one output line.
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
	case "init":
		var out []engine.Event
		if l.SessionID != "" && t.sessionID == "" {
			t.sessionID = l.SessionID
			out = append(out, engine.Event{Type: engine.EventResume, Resume: l.SessionID})
		}
		t.model = l.Model
		return append(out, t.startSpan()...)
	case "message":
		if l.Role == "user" {
			return nil // the prompt, echoed
		}
		if l.Role != "assistant" {
			t.unknown("message/"+l.Role, b)
			return nil
		}
		out := t.startSpan()
		if !l.Delta {
			t.text.Reset()
		}
		t.text.WriteString(l.Content)
		return out
	case "tool_use":
		return t.toolUse(l, b)
	case "tool_result":
		return t.toolResult(l, b)
	case "error":
		if l.Severity != "warning" {
			t.lastError = l.Message
		}
		t.unknown("error/"+l.Severity, b)
		return nil
	case "result":
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			t.unknown("result", b)
			return nil
		}
		out := t.flushText()
		out = append(out, t.synthesizeResults("the turn ended before the tool returned")...)
		u := hangar.Usage{}
		if s := r.Stats; s != nil {
			u = hangar.Usage{InputTokens: max(s.InputTokens-s.Cached, 0), OutputTokens: s.OutputTokens, CacheReadInputTokens: s.Cached}
		}
		if t.span == "" && u != (hangar.Usage{}) {
			// Usage without an open span (a result right after tool results): report it on
			// a span of its own, so the session's usage stays complete.
			out = append(out, t.startSpan()...)
		}
		out = append(out, t.endSpan(r.Status != "success", &u)...)
		t.result = &r
		return out
	default:
		t.unknown(l.Type, b)
		return nil
	}
}

// Finish returns the events that close what is still open when the CLI's output ends:
// the pending text, results of pending tool uses (errors) and the open span. isError
// marks the span as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	out := t.flushText()
	out = append(out, t.synthesizeResults("the run ended before the tool returned")...)
	return append(out, t.endSpan(isError, nil)...)
}

func (t *Translator) toolUse(l line, b []byte) []engine.Event {
	if l.ToolID == "" || l.ToolName == "" || t.seen[l.ToolID] {
		t.unknown("tool_use", b)
		return nil
	}
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	t.seen[l.ToolID] = true
	// The model's response ends with its tool calls; the CLI runs them next.
	out := append(t.flushText(), t.endSpan(false, nil)...)
	name, input := l.ToolName, l.Params
	if len(bytes.TrimSpace(input)) == 0 || !json.Valid(input) || bytes.TrimSpace(input)[0] != '{' {
		input = json.RawMessage(`{}`)
	}
	if name == ShellTool {
		var p struct {
			Command string `json:"command"`
		}
		json.Unmarshal(input, &p)
		name = "bash"
		input, _ = json.Marshal(map[string]string{"command": p.Command})
	}
	t.pending = append(t.pending, l.ToolID)
	if server, tool, ok := mcpToolName(name, t.MCPServers); ok {
		if t.mcp == nil {
			t.mcp = map[string]bool{}
		}
		t.mcp[l.ToolID] = true
		return append(out, engine.Event{Type: "agent.mcp_tool_use", ID: l.ToolID, Body: map[string]any{
			"name": tool, "mcp_server_name": server, "input": input, "evaluated_permission": "allow",
		}})
	}
	return append(out, engine.Event{Type: hangar.EventAgentToolUse, ID: l.ToolID, Body: map[string]any{
		"name": name, "input": input, "evaluated_permission": "allow",
	}})
}

func (t *Translator) toolResult(l line, b []byte) []engine.Event {
	i := indexOf(t.pending, l.ToolID)
	if i < 0 {
		t.unknown("tool_result", b)
		return nil
	}
	t.pending = append(t.pending[:i], t.pending[i+1:]...)
	var text string
	if l.Output != nil {
		text = *l.Output
	}
	isError := l.Status != "success"
	if isError {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(l.Error, &e) == nil && e.Message != "" {
			if text != "" {
				text += "\n"
			}
			text += e.Message
		}
	}
	content := []map[string]string{}
	if text != "" {
		content = engine.TextContent(text)
	}
	typ := hangar.EventAgentToolResult
	if t.mcp[l.ToolID] {
		typ = "agent.mcp_tool_result"
	}
	out := []engine.Event{{Type: typ, Ref: l.ToolID, Body: map[string]any{
		"content": content, "is_error": isError,
	}}}
	if len(t.pending) == 0 {
		// The CLI sends the results back to the model at once.
		out = append(out, t.startSpan()...)
	}
	return out
}

// synthesizeResults returns error results for the tool uses still awaiting theirs.
func (t *Translator) synthesizeResults(msg string) []engine.Event {
	var out []engine.Event
	for _, id := range t.pending {
		typ := hangar.EventAgentToolResult
		if t.mcp[id] {
			typ = "agent.mcp_tool_result"
		}
		out = append(out, engine.Event{Type: typ, Ref: id, Body: map[string]any{
			"content": engine.TextContent(msg), "is_error": true,
		}})
	}
	t.pending = nil
	return out
}

// flushText returns the agent.message of the assistant text accumulated so far.
func (t *Translator) flushText() []engine.Event {
	text := t.text.String()
	t.text.Reset()
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return []engine.Event{{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(text)}}}
}

// startSpan opens a model request span unless one is open.
func (t *Translator) startSpan() []engine.Event {
	if t.span != "" || t.result != nil {
		return nil
	}
	t.spans++
	t.span = fmt.Sprintf("model_request_%d", t.spans)
	return []engine.Event{{Type: hangar.EventModelRequestStart, ID: t.span}}
}

// endSpan closes the open span, with usage u (nil: unknown, reported as zero).
func (t *Translator) endSpan(isError bool, u *hangar.Usage) []engine.Event {
	if t.span == "" {
		return nil
	}
	if u == nil {
		u = &hangar.Usage{}
	}
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: t.span, Usage: u, Body: map[string]any{
		"is_error": isError,
		"model_usage": map[string]int64{
			"input_tokens":                u.InputTokens,
			"output_tokens":               u.OutputTokens,
			"cache_creation_input_tokens": 0,
			"cache_read_input_tokens":     u.CacheReadInputTokens,
		},
	}}
	t.span = ""
	return []engine.Event{ev}
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
