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

// Translator turns droid's `exec -o stream-json` output, line by line, into CMA events.
// It keeps the state that spans lines: the CLI's session ID, the turn's model request
// span, the tool calls waiting for results, the completion and the errors reported. It
// never fails: a line it does not understand is reported to Unknown and skipped.
//
// droid reports model usage once per turn, summed over its model requests (the
// completion line), so a turn is one model request span: it opens with the user message
// and ends with the completion, carrying the turn's usage.
type Translator struct {
	// Unknown, when set, is told about every line the translator skips: its type (or
	// "invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)

	sessionID string
	span      string
	spans     int
	tools     map[string]bool // tool call IDs emitted whose result is awaited
	seen      map[string]bool // tool call IDs emitted
	done      *Completion
	err       *engine.Error
}

// Completion is the CLI's final "completion" line.
type Completion struct {
	FinalText  string `json:"finalText"`
	NumTurns   int    `json:"numTurns"`
	DurationMS int64  `json:"durationMs"`
	SessionID  string `json:"session_id"`
	Usage      *usage `json:"usage"`
}

type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

// line is the union of the fields of the stream-json lines the translator reads.
type line struct {
	Type       string          `json:"type"`
	Subtype    string          `json:"subtype"`
	SessionID  string          `json:"session_id"`
	Role       string          `json:"role"`
	ID         string          `json:"id"`
	Text       string          `json:"text"`
	ToolName   string          `json:"toolName"`
	ToolID     string          `json:"toolId"`
	Parameters json.RawMessage `json:"parameters"`
	IsError    bool            `json:"isError"`
	Value      json.RawMessage `json:"value"`
	Source     string          `json:"source"`
	Message    string          `json:"message"`
}

// SessionID returns the CLI's session ID, once the init line was seen.
func (t *Translator) SessionID() string { return t.sessionID }

// Completion returns the completion line, nil before it arrived.
func (t *Translator) Completion() *Completion { return t.done }

// Err returns the classified failure of the first error line, nil when there was none.
func (t *Translator) Err() *engine.Error { return t.err }

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
		if l.Subtype != "init" {
			t.unknown("system/"+l.Subtype, b)
			return nil
		}
		if l.SessionID == "" || t.sessionID != "" {
			return nil
		}
		t.sessionID = l.SessionID
		return []engine.Event{{Type: engine.EventResume, Resume: l.SessionID}}
	case "message":
		switch l.Role {
		case "user":
			return t.startSpan()
		case "assistant":
			out := t.startSpan()
			if strings.TrimSpace(l.Text) != "" {
				out = append(out, engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(l.Text)}})
			}
			return out
		}
		t.unknown("message/"+l.Role, b)
		return nil
	case "tool_call":
		return t.toolCall(l, b)
	case "tool_result":
		return t.toolResult(l, b)
	case "completion":
		var c Completion
		if err := json.Unmarshal(b, &c); err != nil {
			t.unknown("completion", b)
			return nil
		}
		t.done = &c
		if t.sessionID == "" {
			t.sessionID = c.SessionID
		}
		return t.endSpan(false, c.Usage)
	case "error":
		if t.err == nil {
			t.err = classify(l.Message)
		}
		return nil
	default:
		t.unknown(l.Type, b)
		return nil
	}
}

// Finish closes what the output left open (the span of an interrupted or crashed CLI);
// isError marks that span as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return t.endSpan(isError || t.err != nil, nil)
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
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
	var cacheWr int64
	if u != nil {
		hu = hangar.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, CacheReadInputTokens: u.CacheReadInputTokens}
		hu.CacheCreation.Ephemeral5mInputTokens = u.CacheCreationInputTokens
		cacheWr = u.CacheCreationInputTokens
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

func (t *Translator) toolCall(l line, b []byte) []engine.Event {
	if l.ID == "" || t.seen[l.ID] {
		t.unknown("tool_call", b)
		return nil
	}
	name := l.ToolName
	if name == "" {
		name = l.ToolID
	}
	input := l.Parameters
	if len(input) == 0 || !json.Valid(input) || input[0] != '{' {
		input = json.RawMessage(`{}`)
	}
	cma, ok := toolNames[name]
	if !ok {
		cma = name
	}
	if name == "Execute" {
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
	t.tools[l.ID], t.seen[l.ID] = true, true
	out := t.startSpan()
	return append(out, engine.Event{Type: hangar.EventAgentToolUse, ID: l.ID, Body: map[string]any{
		"name": cma, "input": input, "evaluated_permission": "allow",
	}})
}

func (t *Translator) toolResult(l line, b []byte) []engine.Event {
	if !t.tools[l.ID] {
		t.unknown("tool_result", b)
		return nil
	}
	delete(t.tools, l.ID)
	return []engine.Event{{Type: hangar.EventAgentToolResult, Ref: l.ID, Body: map[string]any{
		"content": engine.TextContent(valueText(l.Value)), "is_error": l.IsError,
	}}}
}

// valueText returns a tool result's value as text: a string as is, anything else as JSON.
func valueText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && string(t) != "null" {
		return string(t)
	}
	return ""
}

// classify returns the session error of an error line's message. Model API failures
// start with the HTTP status ("401 {\"error\":...}").
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
