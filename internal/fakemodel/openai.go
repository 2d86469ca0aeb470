package fakemodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The OpenAI Responses API (POST /v1/responses), as codex uses it.
//
// A request's body is decoded into the same Anthropic-shaped fields as a Messages request,
// so Script, Push and the Request helpers work for both APIs: instructions and developer
// messages become System (a JSON string), user and assistant messages become text blocks,
// a function_call (or custom_tool_call) item becomes an assistant tool_use block whose ID
// is the call_id, a function_call_output (or custom_tool_call_output) item becomes a user
// tool_result block, and reasoning summaries become thinking blocks. Replies are scripted
// as Responses too: text blocks are sent as message items, thinking blocks as reasoning
// items and tool_use blocks as function_call items. Without Script, ResponsesDefault
// answers.

// ShellTools are the names of the shell tools ResponsesDefault calls for "TOOL:bash
// <command>", in order of preference, with the argument shapes codex gives them:
// exec_command{cmd} (codex 0.171), shell_command{command} and shell{command: argv}.
var ShellTools = []string{"exec_command", "shell_command", "shell"}

// ResponsesDefault is the reply of a server without Script to a Responses request: after
// a function call output, "done: <output>"; for a user text containing "TOOL:bash
// <command>" (and a request offering one of ShellTools), a call of that tool running the
// command; for "CUSTOM:<name> <JSON input>" a call of the offered tool name; otherwise
// "echo: <user text>".
func ResponsesDefault(req Request) Response {
	if res, ok := req.LastToolResult(); ok {
		return Text("done: " + res.ResultText())
	}
	text := req.LastUserText()
	if i := strings.Index(text, ToolMarker); i >= 0 {
		if r, ok := ShellCall(req, strings.TrimSpace(restOfLine(text[i+len(ToolMarker):]))); ok {
			return r
		}
	}
	return Default(req)
}

// ShellCall returns a reply that runs command with the first of ShellTools the request
// offers; ok is false when it offers none.
func ShellCall(req Request, command string) (resp Response, ok bool) {
	for _, name := range ShellTools {
		if !req.HasTool(name) {
			continue
		}
		switch name {
		case "exec_command":
			return ToolUse(name, map[string]string{"cmd": command}), true
		case "shell_command":
			return ToolUse(name, map[string]string{"command": command}), true
		default:
			return ToolUse(name, map[string][]string{"command": {"bash", "-lc", command}}), true
		}
	}
	return Response{}, false
}

// ResponsesRequests returns the POST /v1/responses requests served so far, in order.
func (s *Server) ResponsesRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/responses" {
			out = append(out, r)
		}
	}
	return out
}

// ResponsesItem is one item of a Responses request's input.
type ResponsesItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role,omitempty"`
	Content json.RawMessage `json:"content,omitempty"` // string or content parts
	// function_call / custom_tool_call
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	Input     string `json:"input,omitempty"`
	// function_call_output / custom_tool_call_output: a string or content parts
	Output json.RawMessage `json:"output,omitempty"`
	// reasoning
	Summary []struct {
		Text string `json:"text"`
	} `json:"summary,omitempty"`
}

// ResponsesInput returns the input items of a Responses request's body.
func (r Request) ResponsesInput() ([]ResponsesItem, error) {
	var raw struct {
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	var s string
	if json.Unmarshal(raw.Input, &s) == nil {
		c, _ := json.Marshal(s)
		return []ResponsesItem{{Type: "message", Role: "user", Content: c}}, nil
	}
	var items []ResponsesItem
	if len(raw.Input) > 0 {
		if err := json.Unmarshal(raw.Input, &items); err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
	}
	for i := range items {
		if items[i].Type == "" && items[i].Role != "" {
			items[i].Type = "message"
		}
	}
	return items, nil
}

// partsText returns the text of a string or of an array of content parts (input_text,
// output_text, text).
func partsText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var out []string
	for _, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			out = append(out, p.Text)
		}
	}
	return strings.Join(out, "")
}

// decodeResponses parses a Responses API body into the request's Anthropic-shaped fields.
func (r *Request) decodeResponses() error {
	var raw struct {
		Model        string `json:"model"`
		Stream       bool   `json:"stream"`
		Instructions string `json:"instructions"`
		Tools        []Tool `json:"tools"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	items, err := r.ResponsesInput()
	if err != nil {
		return err
	}
	r.Model, r.Stream, r.Tools = raw.Model, raw.Stream, raw.Tools
	system := []string{}
	if raw.Instructions != "" {
		system = append(system, raw.Instructions)
	}
	for _, it := range items {
		switch it.Type {
		case "message":
			text := partsText(it.Content)
			switch it.Role {
			case "system", "developer":
				system = append(system, text)
			default:
				r.Messages = append(r.Messages, Message{Role: it.Role, Content: []Block{{Type: "text", Text: text}}})
			}
		case "function_call", "custom_tool_call":
			input := json.RawMessage(it.Arguments)
			if it.Type == "custom_tool_call" || !json.Valid(input) {
				input, _ = json.Marshal(it.Arguments + it.Input)
			}
			r.Messages = append(r.Messages, Message{Role: "assistant", Content: []Block{{Type: "tool_use", ID: it.CallID, Name: it.Name, Input: input}}})
		case "function_call_output", "custom_tool_call_output":
			out, _ := json.Marshal(partsText(it.Output))
			r.Messages = append(r.Messages, Message{Role: "user", Content: []Block{{Type: "tool_result", ToolUseID: it.CallID, Content: out}}})
		case "reasoning":
			var parts []string
			for _, p := range it.Summary {
				parts = append(parts, p.Text)
			}
			r.Messages = append(r.Messages, Message{Role: "assistant", Content: []Block{{Type: "thinking", Thinking: strings.Join(parts, "\n")}}})
		}
	}
	if len(system) > 0 {
		r.System, _ = json.Marshal(strings.Join(system, "\n\n"))
	}
	return nil
}

// amend replaces the recorded copy of req (the one sharing its body) with req.
func (s *Server) amend(req Request) {
	if len(req.Body) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.requests) - 1; i >= 0; i-- {
		if b := s.requests[i].Body; len(b) > 0 && &b[0] == &req.Body[0] {
			s.requests[i] = req
			return
		}
	}
}

// nextResponse picks the reply to a Responses request (queue, Script, ResponsesDefault)
// and numbers its response and call IDs.
func (s *Server) nextResponse(req Request) (Response, string) {
	s.mu.Lock()
	var resp Response
	queued := len(s.queue) > 0
	if queued {
		resp = s.queue[0]
		s.queue = s.queue[1:]
	}
	script := s.Script
	s.mu.Unlock()
	if !queued {
		if script == nil {
			script = ResponsesDefault
		}
		resp = script(req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs++
	id := fmt.Sprintf("resp_fake_%04d", s.msgs)
	content := make([]Block, len(resp.Content))
	for i, b := range resp.Content {
		if b.Type == "tool_use" {
			if b.ID == "" {
				s.tools++
				b.ID = fmt.Sprintf("call_fake_%04d", s.tools)
			}
			if len(bytes.TrimSpace(b.Input)) == 0 {
				b.Input = json.RawMessage(`{}`)
			}
		}
		content[i] = b
	}
	resp.Content = content
	if resp.ChunkDelay == 0 {
		resp.ChunkDelay = s.ChunkDelay
	}
	return resp, id
}

// responsesUsage is the usage object of a Responses reply.
type responsesUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

func toResponsesUsage(u Usage) responsesUsage {
	var out responsesUsage
	out.InputTokens = u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	out.InputTokensDetails.CachedTokens = u.CacheReadInputTokens
	out.OutputTokens = u.OutputTokens
	out.TotalTokens = out.InputTokens + out.OutputTokens
	return out
}

// outputItems returns the Responses output items of a reply, with their IDs.
func outputItems(resp Response, id string) []map[string]any {
	n := strings.TrimPrefix(id, "resp_fake_")
	items := make([]map[string]any, 0, len(resp.Content))
	for i, b := range resp.Content {
		itemID := fmt.Sprintf("%s_%s_%d", map[string]string{"text": "msg", "thinking": "rs", "tool_use": "fc"}[b.Type], n, i)
		switch b.Type {
		case "text":
			items = append(items, map[string]any{"id": itemID, "type": "message", "status": "completed", "role": "assistant",
				"content": []any{map[string]any{"type": "output_text", "text": b.Text, "annotations": []any{}}}})
		case "thinking":
			items = append(items, map[string]any{"id": itemID, "type": "reasoning",
				"summary": []any{map[string]string{"type": "summary_text", "text": b.Thinking}}})
		case "tool_use":
			item := map[string]any{"id": itemID, "type": "function_call", "status": "completed",
				"call_id": b.ID, "name": b.Name, "arguments": string(b.Input)}
			if b.Namespace != "" {
				item["namespace"] = b.Namespace
			}
			items = append(items, item)
		}
	}
	return items
}

// responseObject is the Responses API response object.
func responseObject(id, model, status string, output []map[string]any, usage *responsesUsage, errObj any) map[string]any {
	if output == nil {
		output = []map[string]any{}
	}
	return map[string]any{
		"id": id, "object": "response", "created_at": 1700000000, "status": status, "model": model,
		"output": output, "usage": usage, "error": errObj,
	}
}

// responses serves the OpenAI Responses API (POST /v1/responses).
func (s *Server) responses(w http.ResponseWriter, r *http.Request, req Request) {
	if err := req.decodeResponses(); err != nil {
		writeOpenAIError(w, &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error()})
		return
	}
	s.amend(req)
	resp, id := s.nextResponse(req)
	if resp.Error != nil {
		writeOpenAIError(w, resp.Error)
		return
	}
	usage := toResponsesUsage(resp.usage(req))
	items := outputItems(resp, id)
	if !req.Stream {
		writeJSON(w, http.StatusOK, responseObject(id, req.Model, "completed", items, &usage, nil))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("x-request-id", "req_fake_"+strings.TrimPrefix(id, "resp_fake_"))
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, ctx: r.Context().Done(), delay: resp.ChunkDelay}
	writeResponsesStream(sw, resp, id, req.Model, items, usage)
}

// writeResponsesStream writes the SSE events of a streaming Responses reply.
func writeResponsesStream(sw *sseWriter, resp Response, id, model string, items []map[string]any, usage responsesUsage) {
	seq := 0
	event := func(typ string, fields map[string]any) bool {
		fields["type"] = typ
		fields["sequence_number"] = seq
		seq++
		return sw.event(typ, fields)
	}
	if !event("response.created", map[string]any{"response": responseObject(id, model, "in_progress", nil, nil, nil)}) {
		return
	}
	if resp.Hold != nil {
		select {
		case <-resp.Hold:
		case <-sw.ctx:
			return
		}
	}
	if resp.StreamError != "" {
		event("response.failed", map[string]any{"response": responseObject(id, model, "failed", nil, nil,
			map[string]string{"code": resp.StreamError, "message": errorMessage(resp.StreamError)})})
		return
	}
	if !event("response.in_progress", map[string]any{"response": responseObject(id, model, "in_progress", nil, nil, nil)}) {
		return
	}
	for i, item := range items {
		b := resp.Content[i]
		itemID := item["id"]
		var added map[string]any
		switch b.Type {
		case "text":
			added = map[string]any{"id": itemID, "type": "message", "status": "in_progress", "role": "assistant", "content": []any{}}
		case "thinking":
			added = map[string]any{"id": itemID, "type": "reasoning", "summary": []any{}}
		case "tool_use":
			added = map[string]any{"id": itemID, "type": "function_call", "status": "in_progress", "call_id": b.ID, "name": b.Name, "arguments": ""}
			if b.Namespace != "" {
				added["namespace"] = b.Namespace
			}
		}
		if !event("response.output_item.added", map[string]any{"output_index": i, "item": added}) {
			return
		}
		at := map[string]any{"item_id": itemID, "output_index": i}
		with := func(kv ...any) map[string]any {
			m := map[string]any{}
			for k, v := range at {
				m[k] = v
			}
			for j := 0; j+1 < len(kv); j += 2 {
				m[kv[j].(string)] = kv[j+1]
			}
			return m
		}
		switch b.Type {
		case "text":
			part := map[string]any{"type": "output_text", "text": "", "annotations": []any{}}
			if !event("response.content_part.added", with("content_index", 0, "part", part)) {
				return
			}
			for _, c := range chunks(b.Text) {
				if !event("response.output_text.delta", with("content_index", 0, "delta", c)) {
					return
				}
			}
			if !event("response.output_text.done", with("content_index", 0, "text", b.Text)) {
				return
			}
			part = map[string]any{"type": "output_text", "text": b.Text, "annotations": []any{}}
			if !event("response.content_part.done", with("content_index", 0, "part", part)) {
				return
			}
		case "thinking":
			for _, c := range chunks(b.Thinking) {
				if !event("response.reasoning_summary_text.delta", with("summary_index", 0, "delta", c)) {
					return
				}
			}
			if !event("response.reasoning_summary_text.done", with("summary_index", 0, "text", b.Thinking)) {
				return
			}
		case "tool_use":
			for _, c := range jsonChunks(string(b.Input)) {
				if !event("response.function_call_arguments.delta", with("delta", c)) {
					return
				}
			}
			if !event("response.function_call_arguments.done", with("arguments", string(b.Input))) {
				return
			}
		}
		if !event("response.output_item.done", map[string]any{"output_index": i, "item": item}) {
			return
		}
	}
	event("response.completed", map[string]any{"response": responseObject(id, model, "completed", items, &usage, nil)})
}

// writeOpenAIError writes an API error with the OpenAI error envelope.
func writeOpenAIError(w http.ResponseWriter, e *APIError) {
	if e.RetryAfter != "" {
		w.Header().Set("retry-after", e.RetryAfter)
	}
	msg := e.Message
	if msg == "" {
		msg = errorMessage(e.Type)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": e.Type, "param": nil, "code": e.Type}})
}
