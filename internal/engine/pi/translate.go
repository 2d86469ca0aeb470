package pi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// The MCP tool events (the root package names no constants for them).
const (
	eventMCPToolUse    = "agent.mcp_tool_use"
	eventMCPToolResult = "agent.mcp_tool_result"
)

// toolNames maps pi's built-in tools to the agent_toolset_20260401 names they stand for
// (find is pi's glob); ls has no CMA counterpart and keeps its name.
var toolNames = map[string]string{
	"bash": "bash", "read": "read", "write": "write", "edit": "edit", "grep": "grep", "find": "glob",
}

// cmaToolName returns the CMA name of a pi tool.
func cmaToolName(name string) string {
	if n, ok := toolNames[name]; ok {
		return n
	}
	return name
}

// Translator turns the stdout of `pi --mode rpc`, line by line, into CMA events. pi
// writes command responses ({"type":"response"}) and session events: agent_start /
// agent_end around the whole prompt, turn_start / turn_end around one model request and
// the tools it called, message_start / message_update / message_end per message (the
// translator reads finished assistant messages from message_end, with their usage and
// stop reason), tool_execution_start / _update / _end per tool call, and queue,
// compaction, retry and extension events.
//
// It keeps the state that spans lines: the open model request span, the tool calls seen,
// the session file, the classified error and whether the prompt ended (agent_end). It
// never fails: a line it does not understand is reported to Unknown and skipped.
type Translator struct {
	// Unknown, when set, is told about every line the translator skips: its type (or
	// "invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)
	// Reply, when set, receives the lines the translator writes back to pi's stdin: the
	// cancellation of an extension's dialog, which nobody is there to answer.
	Reply func(line []byte)
	// Custom names the agent's custom tools and Ask the pi tools that need the client's
	// confirmation: their calls are announced when the bridge asks the client (with
	// RequiresAction), not when the model makes them.
	Custom map[string]bool
	Ask    map[string]bool
	// MCP are the agent's MCP servers: calls of their tools (mcp__<server>__<tool>) are
	// agent.mcp_tool_use / agent.mcp_tool_result, announced by the bridge when their
	// toolset asks for confirmation.
	MCP []MCPServer

	session string // session file reported by get_state
	spans   int
	span    string          // engine-local ID of the open model request span
	ids     map[string]bool // engine-local IDs emitted
	used    map[string]bool // tool call IDs whose agent.tool_use was emitted
	done    map[string]bool // tool call IDs whose agent.tool_result was emitted
	held    map[string]call // tool calls whose announcement waits for the bridge
	custom  map[string]bool // tool call IDs of custom tools (the client has the result)
	mcpIDs  map[string]bool // tool call IDs of MCP tools
	pending map[string]Request
	ended   bool
	err     *engine.Error
}

// call is a tool call of an assistant message.
type call struct {
	name string
	args json.RawMessage
}

// Request returns the bridge dialog behind the event with engine-local ID id, which
// awaits the client's answer.
func (t *Translator) Request(id string) (Request, bool) {
	r, ok := t.pending[id]
	return r, ok
}

// Session returns the CLI's session file, once its get_state response reported it.
func (t *Translator) Session() string { return t.session }

// Ended reports whether the prompt is over: pi reported agent_end, or rejected the
// prompt.
func (t *Translator) Ended() bool { return t.ended }

// Err returns the classified failure of the turn, nil when there was none.
func (t *Translator) Err() *engine.Error { return t.err }

// line is the union of the fields of the JSON lines the translator reads.
type line struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Command string          `json:"command"`
	Success bool            `json:"success"`
	Error   string          `json:"error"`
	Data    json.RawMessage `json:"data"`

	Message json.RawMessage `json:"message"`

	ToolCallID string          `json:"toolCallId"`
	ToolName   string          `json:"toolName"`
	Args       json.RawMessage `json:"args"`
	Result     json.RawMessage `json:"result"`
	IsError    bool            `json:"isError"`

	Method      string `json:"method"`
	Title       string `json:"title"`
	Placeholder string `json:"placeholder"`
	StatusKey   string `json:"statusKey"`
	StatusText  string `json:"statusText"`
}

// message is an AgentMessage: user, assistant or toolResult.
type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Usage   *struct {
		Input      int64 `json:"input"`
		Output     int64 `json:"output"`
		CacheRead  int64 `json:"cacheRead"`
		CacheWrite int64 `json:"cacheWrite"`
	} `json:"usage"`
	StopReason   string `json:"stopReason"`
	ErrorMessage string `json:"errorMessage"`
}

// block is a content block of a message or tool result.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Data      string          `json:"data"`
	MimeType  string          `json:"mimeType"`
}

// Line translates one output line into zero or more events.
func (t *Translator) Line(b []byte) []engine.Event {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil || l.Type == "" {
		t.unknown("invalid", b)
		return nil
	}
	switch l.Type {
	case "response":
		return t.response(l, b)
	case "turn_start":
		out := t.endSpan(true, nil)
		return append(out, t.startSpan())
	case "message_end":
		var m message
		if json.Unmarshal(l.Message, &m) != nil {
			t.unknown(l.Type, b)
			return nil
		}
		if m.Role != "assistant" {
			return nil
		}
		return t.assistant(m, b)
	case "tool_execution_start":
		if l.ToolCallID == "" || t.used[l.ToolCallID] || t.isHeld(l.ToolCallID) {
			return nil
		}
		// A tool call the assistant message did not announce (an extension's).
		return t.toolUse(l.ToolCallID, l.ToolName, l.Args, b)
	case "tool_execution_end":
		return t.toolResult(l, b)
	case "turn_end":
		return t.endSpan(false, nil)
	case "agent_end":
		t.ended = true
		return t.endSpan(false, nil)
	case "compaction_end":
		var r struct {
			Result json.RawMessage `json:"result"`
		}
		json.Unmarshal(b, &r)
		if len(r.Result) == 0 || string(r.Result) == "null" {
			return nil
		}
		return []engine.Event{{Type: "agent.thread_context_compacted"}}
	case "extension_ui_request":
		if l.Method == "setStatus" && l.StatusKey == statusMCPError {
			return t.mcpError(l, b)
		}
		if l.Method == "input" && (l.Title == dialogCustomTool || l.Title == dialogConfirmation) {
			if evs, ok := t.dialog(l); ok {
				return evs
			}
			t.unknown(l.Type, b)
		}
		switch l.Method {
		case "select", "confirm", "input", "editor":
			if t.Reply != nil && l.ID != "" {
				reply, _ := json.Marshal(map[string]any{"type": "extension_ui_response", "id": l.ID, "cancelled": true})
				t.Reply(append(reply, '\n'))
			}
		}
		return nil
	case "agent_start", "message_start", "message_update", "tool_execution_update", "queue_update",
		"compaction_start", "auto_retry_start", "auto_retry_end":
		return nil
	default: // extension_error and anything newer
		t.unknown(l.Type, b)
		return nil
	}
}

// response handles the answer to a command Hangar sent.
func (t *Translator) response(l line, b []byte) []engine.Event {
	switch {
	case l.Command == "get_state" && l.Success:
		var d struct {
			SessionFile string `json:"sessionFile"`
		}
		if json.Unmarshal(l.Data, &d) != nil || d.SessionFile == "" || t.session != "" {
			t.unknown("response", b)
			return nil
		}
		t.session = d.SessionFile
		return []engine.Event{{Type: engine.EventResume, Resume: d.SessionFile}}
	case l.Command == "prompt" && !l.Success:
		// pi refused the prompt before running it: no agent_end follows.
		msg := strings.TrimSpace(l.Error)
		if msg == "" {
			msg = "pi rejected the prompt"
		}
		t.err = &engine.Error{Type: "unknown_error", Message: msg}
		t.ended = true
		return t.endSpan(true, nil)
	case l.Success:
		return nil
	default:
		t.unknown("response", b)
		return nil
	}
}

// Finish closes what the output left open (the model request span of an interrupted or
// crashed CLI); isError marks that span as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return t.endSpan(isError, nil)
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

func (t *Translator) markID(id string) {
	if t.ids == nil {
		t.ids = map[string]bool{}
	}
	t.ids[id] = true
}

// startSpan opens a model request span.
func (t *Translator) startSpan() engine.Event {
	for {
		t.spans++
		id := "req_" + strconv.Itoa(t.spans)
		if !t.ids[id] {
			t.markID(id)
			t.span = id
			return engine.Event{Type: hangar.EventModelRequestStart, ID: id}
		}
	}
}

// endSpan ends the open span with the usage of assistant message m (nil: none reported).
func (t *Translator) endSpan(isError bool, m *message) []engine.Event {
	if t.span == "" {
		return nil
	}
	var u hangar.Usage
	var cacheWrite int64
	if m != nil && m.Usage != nil {
		cacheWrite = m.Usage.CacheWrite
		u = hangar.Usage{
			InputTokens:          m.Usage.Input,
			OutputTokens:         m.Usage.Output,
			CacheReadInputTokens: m.Usage.CacheRead,
			CacheCreation:        hangar.CacheCreation{Ephemeral5mInputTokens: cacheWrite},
		}
	}
	body := map[string]any{
		"is_error": isError,
		"model_usage": map[string]int64{
			"input_tokens":                u.InputTokens,
			"output_tokens":               u.OutputTokens,
			"cache_creation_input_tokens": cacheWrite,
			"cache_read_input_tokens":     u.CacheReadInputTokens,
		},
	}
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: t.span, Usage: &u, Body: body}
	t.span = ""
	return []engine.Event{ev}
}

// assistant translates a finished assistant message: its thinking, text and tool calls
// in order, then the end of its model request span. An error stop reason is the turn's
// classified error (pi's own retries are off, so the prompt ends with it).
func (t *Translator) assistant(m message, b []byte) []engine.Event {
	var out []engine.Event
	if t.span == "" {
		out = append(out, t.startSpan())
	}
	var blocks []block
	json.Unmarshal(m.Content, &blocks)
	var text []map[string]string
	flush := func() {
		if len(text) > 0 {
			out = append(out, engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": text}})
			text = nil
		}
	}
	for _, bl := range blocks {
		switch bl.Type {
		case "text":
			if bl.Text != "" {
				text = append(text, map[string]string{"type": "text", "text": bl.Text})
			}
		case "thinking":
			flush()
			out = append(out, engine.Event{Type: hangar.EventAgentThinking})
		case "toolCall":
			flush()
			if (t.Custom[bl.Name] || t.asks(bl.Name)) && bl.ID != "" && !t.ids[bl.ID] && !t.isHeld(bl.ID) {
				if t.held == nil {
					t.held = map[string]call{}
				}
				t.held[bl.ID] = call{bl.Name, bl.Arguments}
				continue
			}
			out = append(out, t.toolUse(bl.ID, bl.Name, bl.Arguments, b)...)
		}
	}
	flush()
	switch m.StopReason {
	case "error":
		t.err = classify(m.ErrorMessage)
		return append(out, t.endSpan(true, &m)...)
	default:
		t.err = nil
		return append(out, t.endSpan(false, &m)...)
	}
}

// asks reports whether calls of the pi tool name await the client's confirmation.
func (t *Translator) asks(name string) bool {
	if s, tool, ok := t.mcpTool(name); ok {
		return s.asks(tool)
	}
	return t.Ask[name]
}

// mcpTool returns the MCP server and tool behind a pi tool name (not a custom tool's).
func (t *Translator) mcpTool(name string) (MCPServer, string, bool) {
	if len(t.MCP) == 0 || t.Custom[name] {
		return MCPServer{}, "", false
	}
	return mcpTool(name, t.MCP)
}

// use returns the agent.tool_use, or agent.mcp_tool_use, of tool call id.
func (t *Translator) use(id, name string, in map[string]any, permission string) engine.Event {
	if s, tool, ok := t.mcpTool(name); ok {
		if t.mcpIDs == nil {
			t.mcpIDs = map[string]bool{}
		}
		t.mcpIDs[id] = true
		return engine.Event{Type: eventMCPToolUse, ID: id, Body: map[string]any{
			"name": tool, "mcp_server_name": s.Name, "input": in, "evaluated_permission": permission,
		}}
	}
	return engine.Event{Type: hangar.EventAgentToolUse, ID: id, Body: map[string]any{
		"name": cmaToolName(name), "input": in, "evaluated_permission": permission,
	}}
}

func (t *Translator) isHeld(id string) bool {
	_, ok := t.held[id]
	return ok
}

// mcpError returns the session.error of an MCP server the bridge could not connect: an
// authentication failure when it answered 401, a connection failure otherwise (a 403 may
// be the egress policy refusing the host). The turn goes on without the server's tools;
// the next turn connects it again.
func (t *Translator) mcpError(l line, b []byte) []engine.Event {
	var f struct {
		Server  string `json:"server"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(l.StatusText), &f) != nil || f.Server == "" {
		t.unknown(l.Type, b)
		return nil
	}
	typ := "mcp_connection_failed_error"
	if f.Status == 401 {
		typ = "mcp_authentication_failed_error"
	}
	return []engine.Event{{Type: hangar.EventSessionError, Body: map[string]any{"error": map[string]any{
		"type": typ, "message": fmt.Sprintf("MCP server %q: %s", f.Server, f.Message),
		"mcp_server_name": f.Server, "retry_status": map[string]string{"type": "retrying"},
	}}}}
}

// dialog turns a bridge dialog into the event that awaits the client: the
// agent.custom_tool_use of a custom tool call, or the agent.tool_use of a call to confirm.
func (t *Translator) dialog(l line) ([]engine.Event, bool) {
	var p struct {
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	if json.Unmarshal([]byte(l.Placeholder), &p) != nil || p.ID == "" || p.Name == "" || l.ID == "" || t.ids[p.ID] {
		return nil, false
	}
	delete(t.held, p.ID)
	t.markID(p.ID)
	var in map[string]any
	if json.Unmarshal(p.Input, &in) != nil || in == nil {
		in = map[string]any{}
	}
	if t.pending == nil {
		t.pending = map[string]Request{}
	}
	confirm := l.Title == dialogConfirmation
	t.pending[p.ID] = Request{UIID: l.ID, Confirmation: confirm}
	if !confirm {
		if t.custom == nil {
			t.custom = map[string]bool{}
		}
		t.custom[p.ID] = true
		return []engine.Event{{Type: hangar.EventAgentCustomToolUse, ID: p.ID, RequiresAction: true,
			Body: map[string]any{"name": p.Name, "input": in}}}, true
	}
	if t.used == nil {
		t.used = map[string]bool{}
	}
	t.used[p.ID] = true
	ev := t.use(p.ID, p.Name, in, "ask")
	ev.RequiresAction = true
	return []engine.Event{ev}, true
}

// toolUse returns the agent.tool_use (agent.mcp_tool_use for an MCP tool) of a tool call.
func (t *Translator) toolUse(id, name string, args json.RawMessage, b []byte) []engine.Event {
	if id == "" || name == "" || t.ids[id] {
		t.unknown("tool_call", b)
		return nil
	}
	t.markID(id)
	if t.used == nil {
		t.used = map[string]bool{}
	}
	t.used[id] = true
	var in map[string]any
	if json.Unmarshal(args, &in) != nil || in == nil {
		in = map[string]any{}
	}
	return []engine.Event{t.use(id, name, in, "allow")}
}

// toolResult returns the agent.tool_result (agent.mcp_tool_result for an MCP tool) of a
// finished tool execution.
func (t *Translator) toolResult(l line, b []byte) []engine.Event {
	delete(t.pending, l.ToolCallID)
	if t.custom[l.ToolCallID] {
		// The result is the client's own answer.
		delete(t.custom, l.ToolCallID)
		return nil
	}
	var out []engine.Event
	if c, ok := t.held[l.ToolCallID]; ok {
		// The call failed before the bridge asked (invalid arguments, an interrupt).
		delete(t.held, l.ToolCallID)
		if t.Custom[c.name] {
			t.unknown(l.Type, b)
			return nil
		}
		out = t.toolUse(l.ToolCallID, c.name, c.args, b)
	}
	if !t.used[l.ToolCallID] || t.done[l.ToolCallID] {
		t.unknown(l.Type, b)
		return out
	}
	if t.done == nil {
		t.done = map[string]bool{}
	}
	t.done[l.ToolCallID] = true
	var r struct {
		Content []block `json:"content"`
	}
	json.Unmarshal(l.Result, &r)
	content := []map[string]any{}
	for _, c := range r.Content {
		switch c.Type {
		case "text":
			content = append(content, map[string]any{"type": "text", "text": c.Text})
		case "image":
			content = append(content, map[string]any{"type": "image", "source": map[string]string{
				"type": "base64", "media_type": c.MimeType, "data": c.Data,
			}})
		}
	}
	if len(content) == 0 {
		content = append(content, map[string]any{"type": "text", "text": ""})
	}
	typ := hangar.EventAgentToolResult
	if t.mcpIDs[l.ToolCallID] {
		typ = eventMCPToolResult
	}
	return append(out, engine.Event{Type: typ, Ref: l.ToolCallID, Body: map[string]any{
		"content": content, "is_error": l.IsError,
	}})
}

// classify returns the engine error of an assistant message's errorMessage, which pi
// writes as "<HTTP status> <response body>" for API errors ("429 {"type":"error",
// "error":{"type":"rate_limit_error","message":"..."}}") and as the client's message
// otherwise ("Connection error.").
func classify(msg string) *engine.Error {
	msg = strings.TrimSpace(msg)
	var status int
	rest := msg
	if head, tail, ok := strings.Cut(msg, " "); ok {
		if n, err := strconv.Atoi(head); err == nil && n >= 100 && n < 600 {
			status, rest = n, strings.TrimSpace(tail)
		}
	}
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	text := rest
	if json.Unmarshal([]byte(rest), &body) == nil && body.Error.Message != "" {
		text = body.Error.Message
	}
	if text == "" {
		text = "pi reported an error"
	}
	if status != 0 {
		text = fmt.Sprintf("%s (HTTP %d)", text, status)
	}
	lower := strings.ToLower(msg)
	typ := "model_request_failed_error"
	switch {
	case status == 529 || body.Error.Type == "overloaded_error" || strings.Contains(lower, "overloaded"):
		typ = "model_overloaded_error"
	case status == 429 || body.Error.Type == "rate_limit_error" || strings.Contains(lower, "rate limit"):
		typ = "model_rate_limited_error"
	}
	return &engine.Error{Type: typ, Message: text}
}
