package opencode

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// toolNames maps the agent_toolset_20260401 tool names to opencode's.
var toolNames = map[string]string{
	"bash": "bash", "read": "read", "write": "write", "edit": "edit",
	"glob": "glob", "grep": "grep", "web_fetch": "webfetch", "web_search": "websearch",
}

// cmaToolName returns the CMA name of an opencode tool (webfetch → web_fetch), or name
// itself for tools the agent toolset does not have (task, todowrite...).
func cmaToolName(name string) string {
	for cma, oc := range toolNames {
		if oc == name {
			return cma
		}
	}
	return name
}

// Translator turns the output of `opencode run --format json`, line by line, into CMA
// events. Each line is one finished part of the CLI's session: step_start and
// step_finish (one model request, with its token usage), text, reasoning, tool_use (a
// tool call with its final state: opencode emits no separate result, so the translator
// synthesizes the agent.tool_result from the state) and error. It keeps the state that
// spans lines: the CLI's session ID, the open model request span and the classified
// error. It never fails: a line it does not understand is reported to Unknown and
// skipped.
type Translator struct {
	// Unknown, when set, is told about every line the translator skips: its type (or
	// "invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)
	// MCPServers are the names of the agent's MCP servers: a tool named <server>_<tool>
	// for one of them is an agent.mcp_tool_use.
	MCPServers []string

	sessionID string
	span      string          // part ID of the open step (model request)
	ids       map[string]bool // engine-local IDs emitted (spans and tool uses)
	used      map[string]bool // tool call IDs whose agent.tool_use was emitted
	done      map[string]bool // tool call IDs whose agent.tool_result was emitted
	err       *engine.Error
}

// SessionID returns the CLI's session ID (ses_...), once a line reported it.
func (t *Translator) SessionID() string { return t.sessionID }

// Err returns the classified failure of the last error line, nil when there was none.
func (t *Translator) Err() *engine.Error { return t.err }

// line is the union of the fields of the JSON lines the translator reads.
type line struct {
	Type      string          `json:"type"`
	SessionID string          `json:"sessionID"`
	Part      json.RawMessage `json:"part"`
	Error     json.RawMessage `json:"error"`
}

type part struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Text   string `json:"text"`
	Tokens *struct {
		Input     int64 `json:"input"`
		Output    int64 `json:"output"`
		Reasoning int64 `json:"reasoning"`
		Cache     struct {
			Read  int64 `json:"read"`
			Write int64 `json:"write"`
		} `json:"cache"`
	} `json:"tokens"`
	Tool   string `json:"tool"`
	CallID string `json:"callID"`
	State  struct {
		Status string          `json:"status"`
		Input  json.RawMessage `json:"input"`
		Output string          `json:"output"`
		Error  string          `json:"error"`
	} `json:"state"`
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
	var out []engine.Event
	if l.SessionID != "" && t.sessionID == "" {
		t.sessionID = l.SessionID
		out = append(out, engine.Event{Type: engine.EventResume, Resume: l.SessionID})
	}
	var p part
	if l.Type != "error" && (len(l.Part) == 0 || json.Unmarshal(l.Part, &p) != nil) {
		t.unknown(l.Type, b)
		return out
	}
	switch l.Type {
	case "step_start":
		// A step that starts while another is open follows a failed attempt (opencode
		// retries a failed model request with a new step).
		out = append(out, t.endSpan(true, nil)...)
		if p.ID == "" || t.ids[p.ID] {
			t.unknown(l.Type, b)
			return out
		}
		t.markID(p.ID)
		t.span = p.ID
		out = append(out, engine.Event{Type: hangar.EventModelRequestStart, ID: p.ID})
	case "step_finish":
		out = append(out, t.endSpan(false, &p)...)
	case "text":
		if p.Text != "" {
			out = append(out, engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(p.Text)}})
		}
	case "reasoning":
		out = append(out, engine.Event{Type: hangar.EventAgentThinking})
	case "tool_use":
		out = append(out, t.toolUse(p, b)...)
	case "error":
		t.err = classify(l.Error)
		out = append(out, t.endSpan(true, nil)...)
	default:
		t.unknown(l.Type, b)
	}
	return out
}

// Finish closes what the output left open (the model request span of an interrupted or
// crashed CLI); isError marks that span as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return t.endSpan(isError, nil)
}

func (t *Translator) markID(id string) {
	if t.ids == nil {
		t.ids = map[string]bool{}
	}
	t.ids[id] = true
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

// endSpan ends the open span with the usage of step_finish p (nil: none reported).
func (t *Translator) endSpan(isError bool, p *part) []engine.Event {
	if t.span == "" {
		return nil
	}
	var u hangar.Usage
	var cacheWrite int64
	body := map[string]any{"is_error": isError}
	if p != nil && p.Tokens != nil {
		tk := p.Tokens
		cacheWrite = tk.Cache.Write
		u = hangar.Usage{
			InputTokens:          tk.Input,
			OutputTokens:         tk.Output + tk.Reasoning,
			CacheReadInputTokens: tk.Cache.Read,
			CacheCreation:        hangar.CacheCreation{Ephemeral5mInputTokens: cacheWrite},
		}
	}
	body["model_usage"] = map[string]int64{
		"input_tokens":                u.InputTokens,
		"output_tokens":               u.OutputTokens,
		"cache_creation_input_tokens": cacheWrite,
		"cache_read_input_tokens":     u.CacheReadInputTokens,
	}
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: t.span, Usage: &u, Body: body}
	t.span = ""
	return []engine.Event{ev}
}

// toolUse returns the agent.tool_use of a tool part and, once its state is final, the
// agent.tool_result synthesized from the state.
func (t *Translator) toolUse(p part, b []byte) []engine.Event {
	id := p.CallID
	if id == "" {
		id = p.ID
	}
	if id == "" || p.Tool == "" || t.done[id] || t.ids[id] && !t.used[id] {
		t.unknown("tool_use", b)
		return nil
	}
	var out []engine.Event
	if !t.used[id] {
		if t.used == nil {
			t.used = map[string]bool{}
		}
		t.used[id] = true
		t.markID(id)
		if server, tool, ok := mcpToolName(p.Tool, t.MCPServers); ok {
			out = append(out, engine.Event{Type: "agent.mcp_tool_use", ID: id, Body: map[string]any{
				"name": tool, "mcp_server_name": server, "input": toolInput(p.Tool, p.State.Input), "evaluated_permission": "allow",
			}})
		} else {
			out = append(out, engine.Event{Type: hangar.EventAgentToolUse, ID: id, Body: map[string]any{
				"name": cmaToolName(p.Tool), "input": toolInput(p.Tool, p.State.Input), "evaluated_permission": "allow",
			}})
		}
	}
	var text string
	isError := false
	switch p.State.Status {
	case "completed":
		text = p.State.Output
	case "error":
		text, isError = p.State.Error, true
	default: // pending, running: the result comes with a later line
		return out
	}
	if t.done == nil {
		t.done = map[string]bool{}
	}
	t.done[id] = true
	typ := hangar.EventAgentToolResult
	if _, _, ok := mcpToolName(p.Tool, t.MCPServers); ok {
		typ = "agent.mcp_tool_result"
	}
	return append(out, engine.Event{Type: typ, Ref: id, Body: map[string]any{
		"content": engine.TextContent(text), "is_error": isError,
	}})
}

// toolInput returns a tool call's input as a JSON object, without the description
// opencode's bash tool asks the model for (the CMA bash tool has none).
func toolInput(tool string, raw json.RawMessage) any {
	var in map[string]json.RawMessage
	if json.Unmarshal(raw, &in) != nil || in == nil {
		return map[string]any{}
	}
	if tool == "bash" {
		delete(in, "description")
	}
	return in
}

// classify returns the engine error of an error line's error object
// ({"name":"APIError","data":{"message":...,"statusCode":529,...}}).
func classify(raw json.RawMessage) *engine.Error {
	var e struct {
		Name string `json:"name"`
		Data struct {
			Message    string `json:"message"`
			StatusCode int    `json:"statusCode"`
		} `json:"data"`
	}
	_ = json.Unmarshal(raw, &e)
	msg := strings.TrimSpace(e.Data.Message)
	if msg == "" {
		msg = e.Name
	}
	if msg == "" {
		msg = "opencode reported an error"
	}
	lower := strings.ToLower(msg)
	typ := "unknown_error"
	switch {
	case e.Data.StatusCode == 529 || strings.Contains(lower, "overloaded"):
		typ = "model_overloaded_error"
	case e.Data.StatusCode == 429 || strings.Contains(lower, "rate limit") || strings.Contains(lower, "rate_limit"):
		typ = "model_rate_limited_error"
	case e.Data.StatusCode != 0 || e.Name == "APIError" || e.Name == "ProviderAuthError":
		typ = "model_request_failed_error"
	}
	return &engine.Error{Type: typ, Message: msg}
}
