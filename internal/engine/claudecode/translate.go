package claudecode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// toolNames maps the agent_toolset_20260401 tool names to Claude Code's.
var toolNames = map[string]string{
	"bash": "Bash", "read": "Read", "write": "Write", "edit": "Edit",
	"glob": "Glob", "grep": "Grep", "web_fetch": "WebFetch", "web_search": "WebSearch",
}

// cmaToolName returns the CMA name of a Claude Code tool (Bash → bash), or name itself.
func cmaToolName(name string) string {
	for cma, cc := range toolNames {
		if cc == name {
			return cma
		}
	}
	return name
}

// Translator turns the CLI's stream-json output, line by line, into CMA events. It keeps
// the state that spans lines: the open model request span and its usage, the tool uses
// waiting for results, the CLI's session ID and the final result. It never fails: a line
// it does not understand is reported to Unknown and skipped.
//
// With Ask set, the translator also handles the CLI's permission requests (a
// control_request of subtype can_use_tool, sent under --permission-prompt-tool stdio): a
// request for a tool that asks becomes its agent.tool_use with evaluated_permission "ask"
// and RequiresAction, whose request Permission returns; any other request is allowed
// through Respond.
//
// With Custom and CustomServer set, the translator also serves the agent's custom tools
// as the in-process MCP server CustomServer (control requests of subtype mcp_message): a
// tools/call becomes an agent.custom_tool_use with RequiresAction, whose call CustomCall
// returns. The CLI's own tool_use and tool_result of those tools are not emitted.
type Translator struct {
	// Unknown, when set, is told about every line the translator skips: its type (or
	// "invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)
	// Ask reports whether uses of a Claude Code tool (Bash, mcp__docs__search...) await
	// the client's user.tool_confirmation. nil: none does.
	Ask func(tool string) bool
	// Respond, when set, is given the control_response lines the translator answers the
	// CLI's control requests with on its own (permission requests of tools that do not
	// ask, requests it does not support).
	Respond func(line []byte)
	// Custom are the agent's custom tools, offered by the SDK MCP server CustomServer
	// ("" when the agent has none).
	Custom       []CustomTool
	CustomServer string
	// Forget, when set, is told the engine-local ID of an agent.custom_tool_use that no
	// longer awaits an answer (the CLI cancelled the call, e.g. on interrupt).
	Forget func(id string)

	sessionID string
	resumed   bool

	span    string // message ID of the open model request span
	usage   hangar.Usage
	cacheWr int64
	closed  map[string]bool // message IDs whose span ended
	mcp     map[string]bool // tool use IDs that are MCP tool uses
	tools   map[string]bool // tool use IDs emitted whose result is awaited
	seen    map[string]bool // tool use IDs emitted
	held    map[string]block
	perms   map[string]Permission
	custom  map[string]bool // tool use IDs of custom tools (not emitted)
	calls   map[string]CustomCall
	pv      previews // preview.go

	result *Result
}

// Result is the CLI's final "result" line.
type Result struct {
	Subtype        string `json:"subtype"`
	IsError        bool   `json:"is_error"`
	Result         string `json:"result"`
	APIErrorStatus *int   `json:"api_error_status"`
	SessionID      string `json:"session_id"`
	StopReason     string `json:"stop_reason"`
}

// SessionID returns the CLI's session ID, once the init line was seen.
func (t *Translator) SessionID() string { return t.sessionID }

// Result returns the final result line, nil before it arrived.
func (t *Translator) Result() *Result { return t.result }

// Err returns the classified failure the result line reports, nil for a success or when
// no result arrived.
func (t *Translator) Err() *engine.Error {
	r := t.result
	if r == nil || (!r.IsError && !strings.HasPrefix(r.Subtype, "error")) {
		return nil
	}
	msg := strings.TrimSpace(r.Result)
	if msg == "" {
		msg = "claude ended with " + r.Subtype
	}
	typ := "unknown_error"
	status := 0
	if r.APIErrorStatus != nil {
		status = *r.APIErrorStatus
	}
	lower := strings.ToLower(msg)
	switch {
	case status == 529 || strings.Contains(lower, "overloaded"):
		typ = "model_overloaded_error"
	case status == 429 || strings.Contains(lower, "rate limit"):
		typ = "model_rate_limited_error"
	case status != 0 || strings.HasPrefix(msg, "API Error"):
		typ = "model_request_failed_error"
	}
	return &engine.Error{Type: typ, Message: msg}
}

// line is the union of the fields of the stream-json lines the translator reads.
type line struct {
	Type      string          `json:"type"`
	Subtype   string          `json:"subtype"`
	SessionID string          `json:"session_id"`
	Message   json.RawMessage `json:"message"`
	Event     json.RawMessage `json:"event"`
	// Content is read when Message is absent (the abbreviated lines of some transcripts).
	Content json.RawMessage `json:"content"`
	// parent_tool_use_id is set on the lines of a sub-agent (Task tool).
	ParentToolUseID *string `json:"parent_tool_use_id"`
}

type apiMessage struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Content json.RawMessage `json:"content"`
	Usage   *apiUsage       `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type apiUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		Ephemeral1h int64 `json:"ephemeral_1h_input_tokens"`
		Ephemeral5m int64 `json:"ephemeral_5m_input_tokens"`
	} `json:"cache_creation"`
}

type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
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
	case "system":
		if l.Subtype == "init" {
			if l.SessionID != "" && !t.resumed {
				t.sessionID, t.resumed = l.SessionID, true
				return []engine.Event{{Type: engine.EventResume, Resume: l.SessionID}}
			}
			return nil
		}
		if l.Subtype != "status" {
			t.unknown("system/"+l.Subtype, b)
		}
		return nil
	case "stream_event", "assistant", "user":
		if l.ParentToolUseID != nil && *l.ParentToolUseID != "" {
			// A sub-agent's (Task tool) conversation: its outcome reaches the main one
			// as the Task tool's result.
			t.unknown(l.Type+"/subagent", b)
			return nil
		}
	}
	if len(l.Message) == 0 && len(l.Content) > 0 {
		l.Message, _ = json.Marshal(map[string]json.RawMessage{"content": l.Content})
	}
	switch l.Type {
	case "stream_event":
		return t.streamEvent(l, b)
	case "assistant":
		return t.assistant(l, b)
	case "user":
		return t.user(l, b)
	case "result":
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			t.unknown("result", b)
			return nil
		}
		t.result = &r
		if r.SessionID != "" && t.sessionID == "" {
			t.sessionID = r.SessionID
		}
		return t.endSpan(false)
	case "control_request":
		return t.controlRequest(b)
	case "control_response", "control_cancel_request", "rate_limit_event", "keep_alive":
		return nil
	default:
		t.unknown(l.Type, b)
		return nil
	}
}

// Finish closes what the output left open (a model request span of an interrupted or
// crashed CLI); isError marks that span as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return t.endSpan(isError)
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

func (t *Translator) streamEvent(l line, b []byte) []engine.Event {
	var ev struct {
		Type    string          `json:"type"`
		Message json.RawMessage `json:"message"`
		Usage   *apiUsage       `json:"usage"`
	}
	if json.Unmarshal(l.Event, &ev) != nil {
		t.unknown("stream_event", b)
		return nil
	}
	switch ev.Type {
	case "message_start":
		var m apiMessage
		if json.Unmarshal(ev.Message, &m) != nil || m.ID == "" {
			t.unknown("stream_event/message_start", b)
			return nil
		}
		out := t.startSpan(m.ID)
		t.addUsage(m.Usage)
		return out
	case "message_delta":
		t.addUsage(ev.Usage)
	case "message_stop":
		return t.endSpan(false)
	case "content_block_start", "content_block_delta":
		// Partial content: live previews (preview.go); the assistant lines carry the
		// same content, authoritatively.
		return t.blockEvent(ev.Type, l.Event)
	case "content_block_stop", "ping":
	default:
		t.unknown("stream_event/"+ev.Type, b)
	}
	return nil
}

// startSpan opens the span of model response id, closing another open one first.
func (t *Translator) startSpan(id string) []engine.Event {
	if t.span == id || t.closed[id] {
		return nil
	}
	out := t.endSpan(false)
	t.span, t.usage, t.cacheWr = id, hangar.Usage{}, 0
	return append(out, engine.Event{Type: hangar.EventModelRequestStart, ID: id})
}

func (t *Translator) endSpan(isError bool) []engine.Event {
	if t.span == "" {
		return nil
	}
	if t.closed == nil {
		t.closed = map[string]bool{}
	}
	t.closed[t.span] = true
	t.resetPreviews()
	u := t.usage
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: t.span, Usage: &u, Body: map[string]any{
		"is_error": isError,
		"model_usage": map[string]int64{
			"input_tokens":                u.InputTokens,
			"output_tokens":               u.OutputTokens,
			"cache_creation_input_tokens": t.cacheWr,
			"cache_read_input_tokens":     u.CacheReadInputTokens,
		},
	}}
	t.span = ""
	return []engine.Event{ev}
}

// addUsage merges a usage report into the open span's: the API reports cumulative counts,
// so each field keeps its largest value.
func (t *Translator) addUsage(u *apiUsage) {
	if u == nil || t.span == "" {
		return
	}
	t.usage.InputTokens = max(t.usage.InputTokens, u.InputTokens)
	t.usage.OutputTokens = max(t.usage.OutputTokens, u.OutputTokens)
	t.usage.CacheReadInputTokens = max(t.usage.CacheReadInputTokens, u.CacheReadInputTokens)
	t.cacheWr = max(t.cacheWr, u.CacheCreationInputTokens)
	if c := u.CacheCreation; c != nil {
		t.usage.CacheCreation.Ephemeral1hInputTokens = max(t.usage.CacheCreation.Ephemeral1hInputTokens, c.Ephemeral1h)
		t.usage.CacheCreation.Ephemeral5mInputTokens = max(t.usage.CacheCreation.Ephemeral5mInputTokens, c.Ephemeral5m)
	} else if u.CacheCreationInputTokens > 0 && t.usage.CacheCreation == (hangar.CacheCreation{}) {
		t.usage.CacheCreation.Ephemeral5mInputTokens = u.CacheCreationInputTokens
	}
}

func (t *Translator) assistant(l line, b []byte) []engine.Event {
	var m apiMessage
	if json.Unmarshal(l.Message, &m) != nil {
		t.unknown("assistant", b)
		return nil
	}
	var blocks []block
	if json.Unmarshal(m.Content, &blocks) != nil {
		t.unknown("assistant", b)
		return nil
	}
	if m.Model == "<synthetic>" && (len(m.Error) > 0 && string(m.Error) != "null" || syntheticAPIError(blocks)) {
		// The CLI's own rendering of a failed request; the result line reports the error.
		return nil
	}
	var out []engine.Event
	if m.ID != "" && m.Model != "<synthetic>" {
		out = t.startSpan(m.ID)
		if t.span == m.ID {
			t.addUsage(m.Usage)
		}
	}
	for _, c := range blocks {
		switch c.Type {
		case "text":
			id := t.concludes(m.ID) // preview.go
			if c.Text == "" {
				continue
			}
			out = append(out, engine.Event{Type: hangar.EventAgentMessage, ID: id, Body: map[string]any{"content": engine.TextContent(c.Text)}})
		case "thinking", "redacted_thinking":
			out = append(out, engine.Event{Type: hangar.EventAgentThinking, ID: t.concludes(m.ID)})
		case "tool_use", "server_tool_use":
			out = append(out, t.toolUse(c)...)
		default:
			t.unknown("assistant/"+c.Type, b)
		}
	}
	return out
}

func syntheticAPIError(blocks []block) bool {
	return len(blocks) == 1 && blocks[0].Type == "text" && strings.HasPrefix(blocks[0].Text, "API Error")
}

func (t *Translator) toolUse(c block) []engine.Event {
	if c.ID == "" || t.seen[c.ID] {
		return nil // no ID to answer, or already emitted
	}
	if t.isCustom(c.Name) {
		// The CLI calls the tool through the MCP server: the tools/call emits the
		// agent.custom_tool_use, and its tool_result is the client's answer.
		if t.custom == nil {
			t.custom = map[string]bool{}
		}
		t.custom[c.ID] = true
		return nil
	}
	if t.Ask != nil && t.Ask(c.Name) {
		// The CLI asks before it runs the tool: the permission request emits the use.
		if t.held == nil {
			t.held = map[string]block{}
		}
		t.held[c.ID] = c
		return nil
	}
	return []engine.Event{t.useEvent(c, "allow")}
}

// useEvent returns the agent.tool_use (or agent.mcp_tool_use) of c and marks it emitted.
func (t *Translator) useEvent(c block, permission string) engine.Event {
	if t.tools == nil {
		t.tools = map[string]bool{}
	}
	t.tools[c.ID] = true
	t.markSeen(c.ID)
	delete(t.held, c.ID)
	input := c.Input
	if len(bytes.TrimSpace(input)) == 0 || !json.Valid(input) || bytes.TrimSpace(input)[0] != '{' {
		input = json.RawMessage(`{}`)
	}
	if server, tool, ok := mcpName(c.Name); ok {
		if t.mcp == nil {
			t.mcp = map[string]bool{}
		}
		t.mcp[c.ID] = true
		return engine.Event{Type: "agent.mcp_tool_use", ID: c.ID, Body: map[string]any{
			"name": tool, "mcp_server_name": server, "input": input, "evaluated_permission": permission,
		}}
	}
	return engine.Event{Type: hangar.EventAgentToolUse, ID: c.ID, Body: map[string]any{
		"name": cmaToolName(c.Name), "input": input, "evaluated_permission": permission,
	}}
}

// markSeen records that the event with engine-local id was emitted.
func (t *Translator) markSeen(id string) {
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	t.seen[id] = true
}

// Permission is a permission request of the CLI awaiting the client's confirmation.
type Permission struct {
	// RequestID is the control request's request_id.
	RequestID string
	// Input is the tool input the CLI asked about; an allow answer passes it back
	// unchanged as updatedInput.
	Input json.RawMessage
}

// Permission returns the permission request behind the agent.tool_use with engine-local
// id that had RequiresAction, and forgets it.
func (t *Translator) Permission(id string) (Permission, bool) {
	p, ok := t.perms[id]
	delete(t.perms, id)
	return p, ok
}

// Response returns the control_response line answering p: allow runs the tool with its
// input; deny makes the CLI report message to the model as the tool's error result.
func (p Permission) Response(allow bool, message string) []byte {
	return permissionResponse(p.RequestID, allow, p.Input, message)
}

func permissionResponse(requestID string, allow bool, input json.RawMessage, message string) []byte {
	resp := map[string]any{"behavior": "allow", "updatedInput": input}
	if !allow {
		if message == "" {
			message = "denied by the user"
		}
		resp = map[string]any{"behavior": "deny", "message": message}
	}
	b, _ := json.Marshal(map[string]any{
		"type":     "control_response",
		"response": map[string]any{"subtype": "success", "request_id": requestID, "response": resp},
	})
	return append(b, '\n')
}

// controlRequest handles a control request of the CLI.
func (t *Translator) controlRequest(b []byte) []engine.Event {
	var l struct {
		RequestID string `json:"request_id"`
		Request   struct {
			Subtype   string          `json:"subtype"`
			ToolName  string          `json:"tool_name"`
			Input     json.RawMessage `json:"input"`
			ToolUseID string          `json:"tool_use_id"`
			// mcp_message
			ServerName string          `json:"server_name"`
			Message    json.RawMessage `json:"message"`
		} `json:"request"`
	}
	if json.Unmarshal(b, &l) != nil || l.RequestID == "" {
		t.unknown("control_request", b)
		return nil
	}
	rq := l.Request
	if rq.Subtype == "mcp_message" {
		return t.mcpMessage(l.RequestID, rq.ServerName, rq.Message)
	}
	if rq.Subtype != "can_use_tool" {
		t.unknown("control_request/"+rq.Subtype, b)
		t.respond(controlError(l.RequestID, "hangar: unsupported control request "+rq.Subtype))
		return nil
	}
	input := rq.Input
	if len(bytes.TrimSpace(input)) == 0 || !json.Valid(input) {
		input = json.RawMessage(`{}`)
	}
	id := rq.ToolUseID
	if id == "" {
		id = "perm_" + l.RequestID
	}
	if t.Ask == nil || !t.Ask(rq.ToolName) || t.seen[id] {
		// The agent's policy allows the tool (Claude Code asks for tools it does not
		// know to be safe, e.g. outside --allowedTools).
		t.respond(permissionResponse(l.RequestID, true, input, ""))
		return nil
	}
	if t.perms == nil {
		t.perms = map[string]Permission{}
	}
	t.perms[id] = Permission{RequestID: l.RequestID, Input: input}
	ev := t.useEvent(block{ID: id, Name: rq.ToolName, Input: input}, "ask")
	ev.RequiresAction = true
	return []engine.Event{ev}
}

func controlError(requestID, msg string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":     "control_response",
		"response": map[string]any{"subtype": "error", "request_id": requestID, "error": msg},
	})
	return append(b, '\n')
}

func (t *Translator) respond(line []byte) {
	if t.Respond != nil {
		t.Respond(line)
	}
}

// mcpName splits Claude Code's name of an MCP tool, mcp__<server>__<tool>.
func mcpName(name string) (server, tool string, ok bool) {
	rest, ok := strings.CutPrefix(name, "mcp__")
	if !ok {
		return "", "", false
	}
	server, tool, ok = strings.Cut(rest, "__")
	if !ok || server == "" || tool == "" {
		return "", "", false
	}
	return server, tool, true
}

func (t *Translator) user(l line, b []byte) []engine.Event {
	var m struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(l.Message, &m) != nil {
		t.unknown("user", b)
		return nil
	}
	var blocks []block
	if json.Unmarshal(m.Content, &blocks) != nil {
		// A plain string: a replayed prompt, not a tool result.
		return nil
	}
	var out []engine.Event
	for _, c := range blocks {
		if c.Type != "tool_result" {
			continue // e.g. "[Request interrupted by user]"
		}
		if t.custom[c.ToolUseID] {
			// The client's answer to an agent.custom_tool_use, already an event.
			delete(t.custom, c.ToolUseID)
			continue
		}
		if h, ok := t.held[c.ToolUseID]; ok {
			// The CLI ran (or refused) the tool without asking.
			out = append(out, t.useEvent(h, "allow"))
		}
		if !t.tools[c.ToolUseID] {
			t.unknown("user/tool_result", b)
			continue
		}
		typ := hangar.EventAgentToolResult
		if t.mcp[c.ToolUseID] {
			typ = "agent.mcp_tool_result"
		}
		delete(t.tools, c.ToolUseID)
		out = append(out, engine.Event{Type: typ, Ref: c.ToolUseID, Body: map[string]any{
			"content": resultContent(c.Content), "is_error": c.IsError,
		}})
	}
	// The model request of the tool use is over, whatever partial output said.
	return append(t.endSpan(false), out...)
}

// resultContent returns tool result content as CMA content blocks: a string becomes one
// text block; text and image blocks are kept; others become text.
func resultContent(raw json.RawMessage) []any {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []any{map[string]string{"type": "text", "text": s}}
	}
	var blocks []json.RawMessage
	if json.Unmarshal(raw, &blocks) != nil {
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			return []any{}
		}
		return []any{map[string]string{"type": "text", "text": string(raw)}}
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
