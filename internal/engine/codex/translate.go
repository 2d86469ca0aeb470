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

// Translator turns the messages `codex app-server` writes (JSON-RPC notifications and
// server requests, one per line) into CMA events. It keeps the state that spans messages:
// the turn, the open model request span, the tool uses waiting for their result, the
// approvals waiting for the client and how the turn ended. It never fails: a message it
// does not understand is reported to Unknown and skipped. Responses to the client's own
// requests are not its business (the run handles them) and are skipped silently.
//
// The messages it reads (names and payloads from `codex app-server generate-ts` of
// 0.171.0):
//   - turn/started opens a span.model_request_start; thread/tokenUsage/updated, sent after
//     each model response with that request's usage in tokenUsage.last, ends it; the next
//     sign of model activity opens the next one. turn/completed ends the turn: completed,
//     interrupted, or failed (→ Err, classified from turn.error.codexErrorInfo).
//   - item/started and item/completed of the items agentMessage (→ agent.message),
//     reasoning (→ agent.thinking), commandExecution (→ agent.tool_use of bash +
//     agent.tool_result), fileChange (→ write or edit), mcpToolCall (→
//     agent.mcp_tool_use + agent.mcp_tool_result) and webSearch (→ web_search).
//   - error: retry notices (willRetry) and the final error, kept for LastError.
//   - the server requests item/commandExecution/requestApproval and
//     item/fileChange/requestApproval: for a tool that asks (Ask), the item's
//     agent.tool_use goes out with evaluated_permission "ask" and RequiresAction, and
//     Approval returns the answer to write once the client decides; any other request is
//     accepted at once through Respond. Other server requests get a JSON-RPC error.
//
// Deltas (item/agentMessage/delta...) only open spans: CMA has no partial events.
type Translator struct {
	// Unknown, when set, is told about every message (or item) the translator skips: its
	// method ("invalid" for a line that is not a JSON object) and the line itself.
	Unknown func(typ string, line []byte)
	// Ask reports whether a use of the CMA agent tool name ("bash", "edit", "write") must
	// wait for the client's confirmation; nil: no tool asks.
	Ask func(tool string) bool
	// Respond, when set, writes a JSON-RPC response line to the CLI (answers to the
	// server requests that do not wait for the client).
	Respond func(line []byte)

	turnID   string
	spans    int
	span     string
	tools    map[string]string   // tool use IDs awaiting their result → result event type
	seen     map[string]bool     // tool use IDs emitted
	held     map[string]heldItem // tool items whose use waits for their approval request
	asks     map[string]approval // tool use IDs awaiting the client → their approval request
	answered map[string]string   // item IDs → the decision given to their first approval
	done     bool
	status   string
	err      *engine.Error
	lastErr  string
}

// heldItem is a tool item whose agent.tool_use is held back until its approval request
// says whether it asks.
type heldItem struct {
	it      item
	useType string
	body    map[string]any
}

// approval is a server request awaiting the client's answer.
type approval struct {
	id json.RawMessage
}

// Done reports whether the turn ended (turn/completed).
func (t *Translator) Done() bool { return t.done }

// Status returns the status of the ended turn: completed, interrupted or failed.
func (t *Translator) Status() string { return t.status }

// Err returns the classified failure of a failed turn, nil otherwise.
func (t *Translator) Err() *engine.Error { return t.err }

// LastError returns the message of the last error notification ("" when none).
func (t *Translator) LastError() string { return t.lastErr }

// Approval returns the response line that answers the approval request behind the tool
// use id, which had RequiresAction, with the client's decision, and forgets the request.
func (t *Translator) Approval(id string, allow bool) ([]byte, bool) {
	a, ok := t.asks[id]
	if !ok {
		return nil, false
	}
	delete(t.asks, id)
	decision := "decline"
	if allow {
		decision = "accept"
	}
	t.answered[id] = decision
	return response(a.id, map[string]string{"decision": decision}), true
}

// Pending reports whether the tool use id awaits the client's answer.
func (t *Translator) Pending(id string) bool {
	_, ok := t.asks[id]
	return ok
}

type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type params struct {
	ThreadID   string          `json:"threadId"`
	TurnID     string          `json:"turnId"`
	ItemID     string          `json:"itemId"`
	ApprovalID string          `json:"approvalId"`
	Command    string          `json:"command"`
	Turn       *turn           `json:"turn"`
	Item       json.RawMessage `json:"item"`
	Error      *turnError      `json:"error"`
	WillRetry  bool            `json:"willRetry"`
	TokenUsage *struct {
		Last usage `json:"last"`
	} `json:"tokenUsage"`
}

type turn struct {
	ID     string     `json:"id"`
	Status string     `json:"status"`
	Error  *turnError `json:"error"`
}

type turnError struct {
	Message        string          `json:"message"`
	CodexErrorInfo json.RawMessage `json:"codexErrorInfo"`
}

type usage struct {
	InputTokens           int64 `json:"inputTokens"`
	CachedInputTokens     int64 `json:"cachedInputTokens"`
	CacheWriteInputTokens int64 `json:"cacheWriteInputTokens"`
	OutputTokens          int64 `json:"outputTokens"`
}

type item struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	Text             string          `json:"text"`
	Command          string          `json:"command"`
	AggregatedOutput *string         `json:"aggregatedOutput"`
	ExitCode         *int            `json:"exitCode"`
	Status           string          `json:"status"`
	Changes          []fileChange    `json:"changes"`
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

type fileChange struct {
	Path string `json:"path"`
	Kind struct {
		Type string `json:"type"`
	} `json:"kind"`
	Diff string `json:"diff"`
}

// quiet are the notifications that carry nothing for CMA and are skipped without a word.
var quiet = map[string]bool{
	"thread/started": true, "thread/status/changed": true, "thread/goal/cleared": true,
	"thread/name/updated": true, "thread/settings/updated": true, "turn/diff/updated": true,
	"turn/plan/updated": true, "item/plan/delta": true, "serverRequest/resolved": true,
	"account/rateLimits/updated": true, "remoteControl/status/changed": true,
	"mcpServer/startupStatus/updated": true, "skills/changed": true,
	"item/commandExecution/outputDelta": true, "item/fileChange/outputDelta": true,
	"item/fileChange/patchUpdated": true, "item/commandExecution/terminalInteraction": true,
	"item/mcpToolCall/progress": true, "deprecationNotice": true,
}

// Line translates one message into zero or more events.
func (t *Translator) Line(b []byte) []engine.Event {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		t.unknown("invalid", b)
		return nil
	}
	if m.Method == "" {
		return nil // a response to one of the run's requests
	}
	var p params
	if len(m.Params) > 0 && json.Unmarshal(m.Params, &p) != nil {
		t.unknown(m.Method, b)
		return nil
	}
	if len(m.ID) > 0 {
		return t.request(m, p, b)
	}
	switch m.Method {
	case "turn/started":
		if p.Turn == nil || t.turnID != "" {
			return nil
		}
		t.turnID = p.Turn.ID
		return t.openSpan()
	case "turn/completed":
		if p.Turn == nil || t.done || (t.turnID != "" && p.Turn.ID != t.turnID) {
			return nil
		}
		t.done, t.status = true, p.Turn.Status
		switch p.Turn.Status {
		case "failed":
			msg, info := t.lastErr, json.RawMessage(nil)
			if e := p.Turn.Error; e != nil {
				msg, info = e.Message, e.CodexErrorInfo
			}
			if msg == "" {
				msg = "codex turn failed"
			}
			t.err = classify(msg, info)
			return append(t.closeTools("turn failed"), t.endSpan(true, nil)...)
		case "interrupted":
			return append(t.closeTools("interrupted"), t.endSpan(false, nil)...)
		default:
			return append(t.closeTools("turn ended"), t.endSpan(false, nil)...)
		}
	case "thread/tokenUsage/updated":
		// Resuming a thread replays the usage of its last turn before the new one starts.
		if p.TokenUsage == nil || t.turnID == "" || p.TurnID != t.turnID || t.done {
			return nil
		}
		out := t.openSpan()
		return append(out, t.endSpan(false, &p.TokenUsage.Last)...)
	case "error":
		if p.Error != nil {
			t.lastErr = p.Error.Message
		}
		return nil
	case "item/agentMessage/delta", "item/reasoning/summaryTextDelta", "item/reasoning/textDelta", "item/reasoning/summaryPartAdded":
		if t.turnID == "" || t.done {
			return nil
		}
		return t.openSpan()
	case "item/started", "item/completed":
		var it item
		if err := json.Unmarshal(p.Item, &it); err != nil || t.done {
			t.unknown(m.Method, b)
			return nil
		}
		return t.item(m.Method == "item/completed", it, b)
	default:
		if !quiet[m.Method] {
			t.unknown(m.Method, b)
		}
		return nil
	}
}

// Finish closes what the messages left open (the span and tool uses of an interrupted or
// crashed CLI); isError marks them as failed.
func (t *Translator) Finish(isError bool) []engine.Event {
	return append(t.closeTools("interrupted"), t.endSpan(isError, nil)...)
}

func (t *Translator) unknown(typ string, b []byte) {
	if t.Unknown != nil {
		t.Unknown(typ, b)
	}
}

func (t *Translator) respond(id json.RawMessage, result any) {
	if t.Respond != nil {
		t.Respond(response(id, result))
	}
}

// response returns the JSON-RPC response line answering request id with result.
func response(id json.RawMessage, result any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
	return append(b, '\n')
}

// request handles a server request.
func (t *Translator) request(m message, p params, b []byte) []engine.Event {
	switch m.Method {
	case "item/commandExecution/requestApproval", "item/fileChange/requestApproval":
	default:
		t.unknown(m.Method, b)
		if t.Respond != nil {
			eb, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID,
				"error": map[string]any{"code": -32601, "message": "hangar does not support " + m.Method}})
			t.Respond(append(eb, '\n'))
		}
		return nil
	}
	if t.held == nil {
		t.init()
	}
	id := p.ItemID
	if d, ok := t.answered[id]; ok || id == "" {
		// A further approval of an item already decided (a subcommand of its command),
		// or one about no item: it gets the item's decision, or is accepted.
		if d == "" {
			d = "accept"
		}
		t.respond(m.ID, map[string]string{"decision": d})
		return nil
	}
	h, ok := t.held[id]
	if !ok {
		if t.seen[id] {
			t.answered[id] = "accept"
			t.respond(m.ID, map[string]string{"decision": "accept"})
			return nil
		}
		// An approval before its item started: the use is built from the request.
		it := item{ID: id, Type: "commandExecution", Command: p.Command}
		if m.Method == "item/fileChange/requestApproval" {
			it.Type = "fileChange"
		}
		h = t.hold(it)
	}
	delete(t.held, id)
	name, _ := h.body["name"].(string)
	if t.Ask == nil || !t.Ask(name) {
		t.answered[id] = "accept"
		t.respond(m.ID, map[string]string{"decision": "accept"})
		return t.use(h, "allow")
	}
	t.asks[id] = approval{id: m.ID}
	evs := t.use(h, "ask")
	evs[len(evs)-1].RequiresAction = true
	return evs
}

func (t *Translator) init() {
	t.tools, t.seen = map[string]string{}, map[string]bool{}
	t.held, t.asks, t.answered = map[string]heldItem{}, map[string]approval{}, map[string]string{}
}

// hold returns the tool use of a command or file change item, not emitted yet.
func (t *Translator) hold(it item) heldItem {
	if it.Type == "fileChange" {
		name := "edit"
		if len(it.Changes) > 0 && !slices.ContainsFunc(it.Changes, func(c fileChange) bool { return c.Kind.Type != "add" }) {
			name = "write"
		}
		changes := make([]map[string]string, 0, len(it.Changes))
		for _, c := range it.Changes {
			changes = append(changes, map[string]string{"path": c.Path, "kind": c.Kind.Type, "diff": c.Diff})
		}
		return heldItem{it: it, useType: hangar.EventAgentToolUse, body: map[string]any{"name": name, "input": map[string]any{"changes": changes}}}
	}
	return heldItem{it: it, useType: hangar.EventAgentToolUse, body: map[string]any{"name": "bash", "input": map[string]any{"command": unwrapShell(it.Command)}}}
}

// use emits the held tool use with its evaluated permission.
func (t *Translator) use(h heldItem, permission string) []engine.Event {
	h.body["evaluated_permission"] = permission
	return t.tool(false, h.it, h.useType, h.body, "", false)
}

func (t *Translator) item(completed bool, it item, b []byte) []engine.Event {
	if t.held == nil {
		t.init()
	}
	switch it.Type {
	case "userMessage":
		return nil
	case "agentMessage":
		out := t.openSpan()
		if completed && it.Text != "" {
			out = append(out, engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(it.Text)}})
		}
		return out
	case "reasoning":
		out := t.openSpan()
		if completed {
			out = append(out, engine.Event{Type: hangar.EventAgentThinking})
		}
		return out
	case "commandExecution", "fileChange":
		out := t.openSpan()
		h, held := t.held[it.ID]
		if !held {
			h = t.hold(it)
		}
		name, _ := h.body["name"].(string)
		if !completed {
			if !t.seen[it.ID] && t.Ask != nil && t.Ask(name) {
				// Its approval request comes next, and says whether it asks.
				t.held[it.ID] = h
				return out
			}
			return append(out, t.use(h, "allow")...)
		}
		delete(t.held, it.ID)
		if !t.seen[it.ID] {
			out = append(out, t.use(h, "allow")...)
		}
		return append(out, t.result(it)...)
	case "mcpToolCall":
		out := t.openSpan()
		body := map[string]any{"name": it.Tool, "mcp_server_name": it.Server, "input": rawOr(it.Arguments, `{}`)}
		out = append(out, t.tool(false, it, "agent.mcp_tool_use", body, "", false)...)
		if !completed {
			return out
		}
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
	case "webSearch":
		out := t.openSpan()
		body := map[string]any{"name": "web_search", "input": map[string]any{"query": it.Query}, "evaluated_permission": "allow"}
		return append(out, t.tool(completed, it, hangar.EventAgentToolUse, body, "", false)...)
	default:
		if completed {
			t.unknown("item/"+it.Type, b)
		}
		return nil
	}
}

// result returns the tool result of a completed command or file change item.
func (t *Translator) result(it item) []engine.Event {
	typ, ok := t.tools[it.ID]
	if !ok {
		return nil
	}
	delete(t.tools, it.ID)
	var text string
	isError := it.Status == "failed" || it.Status == "declined"
	if it.Type == "fileChange" {
		var lines []string
		for _, c := range it.Changes {
			lines = append(lines, c.Kind.Type+" "+c.Path)
		}
		text = strings.Join(lines, "\n")
	} else {
		if it.AggregatedOutput != nil {
			text = *it.AggregatedOutput
		}
		isError = isError || (it.ExitCode != nil && *it.ExitCode != 0)
	}
	if it.Status == "declined" && text == "" {
		text = "The user declined this tool use."
	}
	return []engine.Event{{Type: typ, Ref: it.ID, Body: map[string]any{"content": engine.TextContent(text), "is_error": isError}}}
}

// tool emits the tool use of item it (once) with body, and on completion its result
// holding output.
func (t *Translator) tool(completed bool, it item, useType string, body map[string]any, output string, isError bool) []engine.Event {
	if it.ID == "" {
		return nil
	}
	var out []engine.Event
	if !t.seen[it.ID] {
		t.seen[it.ID] = true
		resultType := hangar.EventAgentToolResult
		if useType == "agent.mcp_tool_use" {
			resultType = "agent.mcp_tool_result"
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

// closeTools ends the tool uses still awaiting a result with an error result saying why,
// and forgets the approvals still awaiting the client.
func (t *Translator) closeTools(why string) []engine.Event {
	var out []engine.Event
	for _, id := range slices.Sorted(maps.Keys(t.tools)) {
		typ := t.tools[id]
		delete(t.tools, id)
		out = append(out, engine.Event{Type: typ, Ref: id, Body: map[string]any{
			"content": engine.TextContent(why), "is_error": true,
		}})
	}
	clear(t.asks)
	clear(t.held)
	return out
}

// openSpan opens a model request span when none is open, during the turn.
func (t *Translator) openSpan() []engine.Event {
	if t.span != "" || t.turnID == "" || t.done {
		return nil
	}
	t.spans++
	t.span = fmt.Sprintf("request_%d", t.spans)
	return []engine.Event{{Type: hangar.EventModelRequestStart, ID: t.span}}
}

// endSpan ends the open model request span with the request's usage. Codex reports input
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

// classify returns the session error of a failed turn from its message and
// codexErrorInfo: a string ("serverOverloaded") or an object whose one key names the
// error and may hold the upstream httpStatusCode.
func classify(msg string, info json.RawMessage) *engine.Error {
	kind, status := "", 0
	var s string
	var obj map[string]struct {
		HTTPStatusCode *int `json:"httpStatusCode"`
	}
	switch {
	case json.Unmarshal(info, &s) == nil:
		kind = s
	case json.Unmarshal(info, &obj) == nil:
		for k, v := range obj {
			kind = k
			if v.HTTPStatusCode != nil {
				status = *v.HTTPStatusCode
			}
		}
	}
	lower := strings.ToLower(msg)
	typ := "model_request_failed_error"
	switch {
	case kind == "rateLimitExceeded" || kind == "usageLimitExceeded" || status == 429 ||
		strings.Contains(lower, "429") || strings.Contains(lower, "rate limit") || strings.Contains(lower, "too many requests"):
		typ = "model_rate_limited_error"
	case kind == "serverOverloaded" || status == 529 || strings.Contains(lower, "529") || strings.Contains(lower, "overloaded"):
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
