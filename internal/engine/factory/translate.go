package factory

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// toolNames maps droid's tool names to the agent_toolset_20260401 names.
var toolNames = map[string]string{
	"Execute": "bash", "Read": "read", "Create": "write", "Edit": "edit", "ApplyPatch": "edit",
	"Glob": "glob", "Grep": "grep", "FetchUrl": "web_fetch", "WebSearch": "web_search",
}

// Translator turns droid's `exec --output-format stream-jsonrpc` output, line by line, into
// CMA events. The output is JSON-RPC 2.0, one message a line: responses to Hangar's
// requests, droid.session_notification notifications (the turn's messages, tool results,
// completion) and droid's own requests (permission prompts, questions), which Reply answers.
//
// It keeps the state that spans lines: the CLI's session ID, the answered request IDs, the
// turn's model request span, the tool calls waiting for results, the completion and the
// first error. It never fails: a line it does not understand is reported to Unknown and
// skipped.
//
// droid reports model usage once per turn (agent_turn_completed), so a turn is one model
// request span: it opens with the user message and ends with the completion, carrying the
// turn's usage.
type Translator struct {
	// Unknown, when set, is told about every line the translator skips: its type (or
	// "invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)
	// Reply, when set, is given the response line (without newline) to each request droid
	// makes: permission prompts are declined (droid asks only for what exceeds the
	// configured autonomy level, which exec mode refuses outright), questions cancelled.
	Reply func(line []byte)
	// MCPServers are the names of the agent's MCP servers: a tool named <server>___<tool>
	// for one of them is an agent.mcp_tool_use.
	MCPServers []string

	sessionID  string
	mcp        map[string]bool // tool call IDs that are MCP tool uses
	mcpSettled bool            // droid reported every MCP server connected or failed
	answered   map[string]bool // IDs of Hangar's requests droid answered
	failed     map[string]bool // those it answered with an error
	messages   map[string]bool // IDs of the messages translated
	span       string
	spans      int
	tools      map[string]bool // tool call IDs emitted whose result is awaited
	seen       map[string]bool // tool call IDs emitted
	done       *Completion
	err        *engine.Error
	lastErr    *engine.Error // of the first error notification
}

// Completion is the turn's agent_turn_completed notification.
type Completion struct {
	// Reason is "completed", "cancelled", "permission_rejected", or why the turn failed
	// ("error", "model_authentication_failed", "model_rate_limited"...).
	Reason     string `json:"reason"`
	TurnID     string `json:"turnId"`
	TokenUsage *usage `json:"tokenUsage"`
}

type usage struct {
	InputTokens         int64 `json:"inputTokens"`
	OutputTokens        int64 `json:"outputTokens"`
	CacheCreationTokens int64 `json:"cacheCreationTokens"`
	CacheReadTokens     int64 `json:"cacheReadTokens"`
}

// envelope is a JSON-RPC message of the stream.
type envelope struct {
	Type   string          `json:"type"`
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// notification is the union of the fields of the session notifications the translator reads.
type notification struct {
	Type      string          `json:"type"`
	Message   json.RawMessage `json:"message"` // create_message: an object; error: a string
	ToolUseID string          `json:"toolUseId"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"isError"`
	// mcp_status_changed
	Servers []struct {
		Status string `json:"status"`
		// RequiresAuth appears once droid has probed a connected server (after its
		// tools/list): only then are its tools found by ToolSearch.
		RequiresAuth *bool `json:"requiresAuth"`
	} `json:"servers"`
	Summary *struct {
		Total      int `json:"total"`
		Connecting int `json:"connecting"`
	} `json:"summary"`
}

// message is a create_message notification's message.
type message struct {
	ID         string  `json:"id"`
	Role       string  `json:"role"`
	Visibility string  `json:"visibility"`
	Content    []block `json:"content"`
}

type block struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// silent are the session notifications that carry nothing the translator needs (state
// changes, deltas of what create_message repeats whole, settings).
var silent = map[string]bool{
	"droid_working_state_changed": true, "settings_updated": true, "mcp_status_changed": true,
	"session_title_updated": true, "tool_call": true, "tool_execution_phase_changed": true,
	"tool_progress_update": true, "assistant_text_delta": true, "assistant_text_complete": true,
	"thinking_text_delta": true, "thinking_text_complete": true, "session_token_usage_changed": true,
	"permission_resolved": true,
}

// MCPSettled reports whether droid is done connecting the agent's MCP servers (each
// connected or failed), or the agent has none. droid connects them in the background and
// hides their tools behind ToolSearch until then; a message sent earlier may not see them.
func (t *Translator) MCPSettled() bool { return len(t.MCPServers) == 0 || t.mcpSettled }

// SessionID returns the CLI's session ID, once the initialize response or a notification
// naming it was seen.
func (t *Translator) SessionID() string { return t.sessionID }

// Answered reports whether droid answered Hangar's request id (successfully or not).
func (t *Translator) Answered(id string) bool { return t.answered[id] }

// Failed reports whether droid answered Hangar's request id with an error.
func (t *Translator) Failed(id string) bool { return t.failed[id] }

// Completion returns the turn's completion, nil before it arrived.
func (t *Translator) Completion() *Completion { return t.done }

// Err returns the classified failure of the turn, nil when there was none. Before the
// completion it is the first error droid reported, if any.
func (t *Translator) Err() *engine.Error {
	if t.err == nil && t.done == nil {
		return t.lastErr
	}
	return t.err
}

// Line translates one output line into zero or more events.
func (t *Translator) Line(b []byte) []engine.Event {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.unknown("invalid", b)
		return nil
	}
	switch env.Type {
	case "response":
		return t.response(env, b)
	case "request":
		t.request(env, b)
		return nil
	case "notification":
		if env.Method != "droid.session_notification" {
			t.unknown("notification/"+env.Method, b)
			return nil
		}
		var p struct {
			SessionID    string          `json:"sessionId"`
			Notification json.RawMessage `json:"notification"`
		}
		if json.Unmarshal(env.Params, &p) != nil {
			t.unknown("notification", b)
			return nil
		}
		// A loaded session's ID is not in the load response; its notifications carry it.
		return append(t.session(p.SessionID), t.notification(p.Notification, b)...)
	}
	t.unknown(env.Type, b)
	return nil
}

// Finish closes what the output left open (the span of an interrupted or crashed CLI);
// isError marks that span as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return t.endSpan(isError || t.Err() != nil, nil)
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

func (t *Translator) fail(e *engine.Error) {
	if t.err == nil {
		t.err = e
	}
}

// response records the answer to one of Hangar's requests; the initialize and load
// responses carry the session ID.
func (t *Translator) response(env envelope, b []byte) []engine.Event {
	var id string
	if json.Unmarshal(env.ID, &id) != nil || id == "" {
		t.unknown("response", b)
		return nil
	}
	if t.answered == nil {
		t.answered = map[string]bool{}
	}
	t.answered[id] = true
	if env.Error != nil {
		if t.failed == nil {
			t.failed = map[string]bool{}
		}
		t.failed[id] = true
		// Only the session and the message are the turn; a failed rename or interrupt is not.
		if id == reqSession || id == reqMessage {
			t.fail(&engine.Error{Type: "unknown_error", Message: "droid: request " + id + " failed: " + env.Error.Message})
		}
		return nil
	}
	var r struct {
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(env.Result, &r)
	return t.session(r.SessionID)
}

// session records the CLI's session ID the first time one is seen.
func (t *Translator) session(id string) []engine.Event {
	if id == "" || t.sessionID != "" {
		return nil
	}
	t.sessionID = id
	return []engine.Event{{Type: engine.EventResume, Resume: id}}
}

// request answers droid's request through Reply.
func (t *Translator) request(env envelope, b []byte) {
	var result any
	switch env.Method {
	case "droid.request_permission":
		var p struct {
			Options []struct {
				Value string `json:"value"`
			} `json:"options"`
		}
		_ = json.Unmarshal(env.Params, &p)
		option := ""
		for _, o := range p.Options {
			if o.Value == "cancel" {
				option = o.Value
				break
			}
			if option == "" && !strings.HasPrefix(o.Value, "proceed") {
				option = o.Value
			}
		}
		if option == "" {
			option = "cancel"
		}
		result = map[string]string{"selectedOption": option}
	case "droid.ask_user":
		result = map[string]any{"cancelled": true, "answers": []any{}}
	default:
		t.unknown("request/"+env.Method, b)
	}
	if t.Reply == nil || len(env.ID) == 0 {
		return
	}
	resp := map[string]any{"jsonrpc": "2.0", "factoryApiVersion": apiVersion, "type": "response", "id": env.ID}
	if result != nil {
		resp["result"] = result
	} else {
		resp["error"] = rpcError{Code: -32601, Message: "Hangar does not handle " + env.Method}
	}
	line, err := json.Marshal(resp)
	if err == nil {
		t.Reply(line)
	}
}

func (t *Translator) notification(raw json.RawMessage, b []byte) []engine.Event {
	var n notification
	if json.Unmarshal(raw, &n) != nil {
		t.unknown("notification", b)
		return nil
	}
	switch n.Type {
	case "mcp_status_changed":
		if n.Summary != nil && n.Summary.Total > 0 && n.Summary.Connecting == 0 {
			probed := true
			for _, sv := range n.Servers {
				if sv.Status == "connected" && sv.RequiresAuth == nil {
					probed = false // its tools may not be searchable yet
				}
			}
			t.mcpSettled = probed
		}
		return nil
	case "create_message":
		var m message
		if json.Unmarshal(n.Message, &m) != nil {
			t.unknown("create_message", b)
			return nil
		}
		return t.message(m)
	case "tool_result":
		return t.toolResult(n, b)
	case "error":
		// droid may report errors it recovers from; the completion decides.
		var msg string
		_ = json.Unmarshal(n.Message, &msg)
		if t.lastErr == nil {
			t.lastErr = classify(msg)
		}
		return nil
	case "agent_turn_completed":
		var c Completion
		if json.Unmarshal(raw, &c) != nil {
			t.unknown("agent_turn_completed", b)
			return nil
		}
		if t.done != nil {
			return nil
		}
		t.done = &c
		failed := !succeeded(c.Reason)
		if failed && t.lastErr != nil {
			t.fail(t.lastErr)
		} else if failed {
			t.fail(reasonError(c.Reason))
		}
		return t.endSpan(failed, c.TokenUsage)
	}
	if !silent[n.Type] {
		t.unknown("notification/"+n.Type, b)
	}
	return nil
}

// message translates a create_message notification: the user message opens the turn's
// span; an assistant message's blocks become agent.message, agent.thinking and
// agent.tool_use events. Messages only the model sees (context, system notes) are skipped.
func (t *Translator) message(m message) []engine.Event {
	if m.ID != "" {
		if t.messages[m.ID] {
			return nil
		}
		if t.messages == nil {
			t.messages = map[string]bool{}
		}
		t.messages[m.ID] = true
	}
	if m.Visibility == "llm_only" {
		return nil
	}
	switch m.Role {
	case "user":
		return t.startSpan()
	case "assistant":
	default:
		return nil
	}
	out := t.startSpan()
	var text strings.Builder
	for _, bl := range m.Content {
		if bl.Type == "text" {
			text.WriteString(bl.Text)
		}
	}
	if strings.TrimSpace(text.String()) != "" {
		out = append(out, engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(text.String())}})
	}
	for _, bl := range m.Content {
		switch bl.Type {
		case "thinking", "redacted_thinking":
			out = append(out, engine.Event{Type: hangar.EventAgentThinking})
		case "tool_use":
			out = append(out, t.toolUse(bl)...)
		}
	}
	return out
}

func (t *Translator) startSpan() []engine.Event {
	if t.span != "" || t.done != nil {
		return nil
	}
	t.spans++
	t.span = "span_" + strconv.Itoa(t.spans)
	return []engine.Event{{Type: hangar.EventModelRequestStart, ID: t.span}}
}

func (t *Translator) endSpan(isError bool, u *usage) []engine.Event {
	if t.span == "" {
		return nil
	}
	var hu hangar.Usage
	if u != nil {
		hu = hangar.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CacheReadTokens}
		hu.CacheCreation.Ephemeral5mInputTokens = u.CacheCreationTokens
	}
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: t.span, Usage: &hu, Body: map[string]any{
		"is_error": isError,
		"model_usage": map[string]int64{
			"input_tokens":                hu.InputTokens,
			"output_tokens":               hu.OutputTokens,
			"cache_creation_input_tokens": hu.CacheCreation.Ephemeral5mInputTokens,
			"cache_read_input_tokens":     hu.CacheReadInputTokens,
		},
	}}
	t.span = ""
	return []engine.Event{ev}
}

func (t *Translator) toolUse(bl block) []engine.Event {
	if bl.ID == "" || t.seen[bl.ID] || t.done != nil {
		return nil
	}
	input := bl.Input
	if len(input) == 0 || !json.Valid(input) || input[0] != '{' {
		input = json.RawMessage(`{}`)
	}
	cma, ok := toolNames[bl.Name]
	if !ok {
		cma = bl.Name
	}
	if bl.Name == "Execute" {
		// Keep the CMA bash input: droid's summary and risk assessment are its own.
		var p struct {
			Command string `json:"command"`
		}
		_ = json.Unmarshal(input, &p)
		input, _ = json.Marshal(map[string]string{"command": p.Command})
	}
	if t.tools == nil {
		t.tools, t.seen = map[string]bool{}, map[string]bool{}
	}
	t.tools[bl.ID], t.seen[bl.ID] = true, true
	if server, tool, ok := mcpToolName(bl.Name, t.MCPServers); ok {
		if t.mcp == nil {
			t.mcp = map[string]bool{}
		}
		t.mcp[bl.ID] = true
		return []engine.Event{{Type: "agent.mcp_tool_use", ID: bl.ID, Body: map[string]any{
			"name": tool, "mcp_server_name": server, "input": input, "evaluated_permission": "allow",
		}}}
	}
	return []engine.Event{{Type: hangar.EventAgentToolUse, ID: bl.ID, Body: map[string]any{
		"name": cma, "input": input, "evaluated_permission": "allow",
	}}}
}

func (t *Translator) toolResult(n notification, b []byte) []engine.Event {
	if !t.tools[n.ToolUseID] {
		t.unknown("tool_result", b)
		return nil
	}
	delete(t.tools, n.ToolUseID)
	typ := hangar.EventAgentToolResult
	if t.mcp[n.ToolUseID] {
		typ = "agent.mcp_tool_result"
	}
	return []engine.Event{{Type: typ, Ref: n.ToolUseID, Body: map[string]any{
		"content": engine.TextContent(valueText(n.Content)), "is_error": n.IsError,
	}}}
}

// valueText returns a tool result's content as text: a string as is, the text of content
// blocks, anything else as JSON.
func valueText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []block
	if json.Unmarshal(raw, &blocks) == nil {
		var sb strings.Builder
		for _, bl := range blocks {
			sb.WriteString(bl.Text)
		}
		return sb.String()
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		return string(t)
	}
	return ""
}

// succeeded reports whether a turn that ended for reason did what it was asked: it
// finished, was interrupted, or stopped at a declined permission prompt.
func succeeded(reason string) bool {
	switch reason {
	case "completed", "cancelled", "permission_rejected":
		return true
	}
	return false
}

// reasonError returns the session error of a turn that failed for reason, when no error
// notification said more.
func reasonError(reason string) *engine.Error {
	msg := "droid ended the turn: " + reason
	switch reason {
	case "model_rate_limited":
		return &engine.Error{Type: "model_rate_limited_error", Message: msg}
	case "model_provider_unavailable":
		return &engine.Error{Type: "model_overloaded_error", Message: msg}
	case "model_authentication_failed", "model_request_rejected", "model_usage_exhausted", "model_provider_unreachable":
		return &engine.Error{Type: "model_request_failed_error", Message: msg}
	}
	return &engine.Error{Type: "unknown_error", Message: msg}
}

// classify returns the session error of an error notification's message. Model API
// failures start with the HTTP status ("401 {\"error\":...}").
func classify(msg string) *engine.Error {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		msg = "droid failed"
	}
	status := 0
	if code, _, ok := strings.Cut(msg, " "); ok && len(code) == 3 {
		status, _ = strconv.Atoi(code)
	}
	lower := strings.ToLower(msg)
	typ := "unknown_error"
	switch {
	case status == 529 || strings.Contains(lower, "overloaded"):
		typ = "model_overloaded_error"
	case status == 429 || strings.Contains(lower, "rate limit"):
		typ = "model_rate_limited_error"
	case status >= 400:
		typ = "model_request_failed_error"
	}
	return &engine.Error{Type: typ, Message: msg}
}
