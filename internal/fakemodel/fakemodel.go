// Package fakemodel is a fake Anthropic Messages API for tests: an http.Handler whose zero
// value answers POST /v1/messages (streaming SSE or JSON) from a per-test script, so real
// agent CLIs can run against it by pointing their base URL at an httptest.Server.
//
// The zero value follows a default script that is useful end to end (see Server.Default):
// it echoes the user's text, calls the Bash tool for "TOOL:bash <command>" and any
// offered tool for "CUSTOM:<name> <JSON input>", and reports the result of a tool call. Tests script their own replies with Server.Script or queue
// them with Server.Push, inject API errors (429, 529) and slow or stalled streams, and
// assert on every recorded request.
package fakemodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Server is the fake Messages API. The zero value is ready to use; set the exported
// fields before serving the first request.
type Server struct {
	// Script, when set, chooses the reply to every /v1/messages request that the queue
	// (Push) does not answer. nil uses Default.
	Script func(req Request) Response
	// Unexpected, when set, is called for every request the fake does not serve (it then
	// answers 404 not_found_error). Tests set it to fail: func(r Request) { t.Errorf(...) }.
	Unexpected func(req Request)
	// ChunkDelay is the default pause between SSE events (Response.ChunkDelay overrides).
	ChunkDelay time.Duration

	mu       sync.Mutex
	queue    []Response
	requests []Request
	msgs     int
	tools    int
}

// Request is one recorded HTTP request, with its /v1/messages body decoded.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte

	// Messages API fields (zero for other requests).
	Model    string
	Stream   bool
	System   json.RawMessage
	Messages []Message
	Tools    []Tool
}

// Message is one message of a request; string content is normalized to one text block.
type Message struct {
	Role    string  `json:"role"`
	Content []Block `json:"content"`
}

// Tool is a tool the request offers the model.
type Tool struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// Block is a content block, in requests and in scripted responses.
type Block struct {
	Type string `json:"type"`
	// text
	Text string `json:"text,omitempty"`
	// thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// Namespace, on a Responses API function call, names the namespace tool whose
	// function Name is (codex offers each MCP server's tools as namespace mcp__<server>).
	Namespace string `json:"namespace,omitempty"`
	// tool_result (Content is a string or an array of blocks)
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

// ResultText returns the text of a tool_result block's content.
func (b Block) ResultText() string {
	var s string
	if json.Unmarshal(b.Content, &s) == nil {
		return s
	}
	var blocks []Block
	if json.Unmarshal(b.Content, &blocks) != nil {
		return ""
	}
	var parts []string
	for _, c := range blocks {
		if c.Type == "text" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "")
}

// Response is a scripted reply.
type Response struct {
	// Content is the assistant's content blocks (text, thinking, tool_use). A tool_use
	// block without ID gets a generated one; a nil Input is {}.
	Content []Block
	// StopReason defaults to "tool_use" when Content has a tool_use block, else "end_turn".
	StopReason string
	// Usage overrides the token counts (by default derived from the words read and written).
	Usage *Usage
	// Error, when set, answers with this API error instead of a message.
	Error *APIError
	// StreamError, when set, fails a streaming reply mid-way: after message_start the
	// stream sends an SSE error event of this type (e.g. "overloaded_error") and ends.
	StreamError string
	// ChunkDelay pauses between SSE events (timers, so tests never sleep).
	ChunkDelay time.Duration
	// Hold, when non-nil, stalls a streaming reply after message_start until Hold is
	// closed or the client goes away: a model that never finishes, for interrupt tests.
	Hold <-chan struct{}
}

// Usage is the token usage the fake reports.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

// APIError is an HTTP error answer with the Anthropic error envelope.
type APIError struct {
	Status  int
	Type    string
	Message string
	// RetryAfter, when set, is sent as the retry-after header (seconds).
	RetryAfter string
}

// Text returns a reply with one text block.
func Text(s string) Response { return Response{Content: []Block{{Type: "text", Text: s}}} }

// ToolUse returns a reply that calls tool name with input (a JSON object).
func ToolUse(name string, input any) Response {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(input); err != nil {
		panic(fmt.Sprintf("fakemodel.ToolUse: %v", err))
	}
	return Response{Content: []Block{{Type: "tool_use", Name: name, Input: bytes.TrimSpace(buf.Bytes())}}}
}

// RateLimited returns a 429 rate_limit_error reply.
func RateLimited() Response {
	return Response{Error: &APIError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Message: "Number of request tokens has exceeded your per-minute rate limit"}}
}

// Overloaded returns a 529 overloaded_error reply.
func Overloaded() Response {
	return Response{Error: &APIError{Status: 529, Type: "overloaded_error", Message: "Overloaded"}}
}

// Push queues replies: the next /v1/messages requests get them in order, before Script.
func (s *Server) Push(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, rs...)
}

// Requests returns every request served so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// MessageRequests returns the POST /v1/messages requests served so far, in order.
func (s *Server) MessageRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/messages" {
			out = append(out, r)
		}
	}
	return out
}

// LastUserText returns the text the user typed in the request's last user message: its
// text blocks, without the <system-reminder> blocks agent CLIs add.
func (r Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := r.Messages[i]
		if m.Role != "user" {
			continue
		}
		var parts []string
		for _, b := range m.Content {
			if b.Type == "text" && !strings.HasPrefix(strings.TrimSpace(b.Text), "<system-reminder>") {
				parts = append(parts, b.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// LastToolResult returns the last tool_result block of the request's last message when
// that is a user message answering a tool call.
func (r Request) LastToolResult() (Block, bool) {
	if len(r.Messages) == 0 {
		return Block{}, false
	}
	m := r.Messages[len(r.Messages)-1]
	if m.Role != "user" {
		return Block{}, false
	}
	for i := len(m.Content) - 1; i >= 0; i-- {
		if m.Content[i].Type == "tool_result" {
			return m.Content[i], true
		}
	}
	return Block{}, false
}

// HasTool reports whether the request offers the model a tool called name.
func (r Request) HasTool(name string) bool {
	for _, t := range r.Tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

// ToolMarker is the text that makes Default call the Bash tool: "TOOL:bash <command>"
// (the command runs to the end of the line).
const ToolMarker = "TOOL:bash "

// CustomMarker is the text that makes Default call a tool by name:
// "CUSTOM:<tool name> <JSON input>" (the input runs to the end of the line).
const CustomMarker = "CUSTOM:"

// Default is the reply of a server without Script: after a tool result, "done: <result
// text>"; for a user text containing "TOOL:bash <command>" (and a request offering the Bash
// tool, else the agent toolset's lowercase bash), a tool_use of it with {"command":
// command}; for a user text containing
// "CUSTOM:<name> <JSON input>" (and a request offering a tool called name, or whose name
// ends with "__"+name as agent CLIs name MCP tools: mcp__<server>__<name>), a tool_use of
// that tool with the input; otherwise "echo: <user text>".
func Default(req Request) Response {
	if res, ok := req.LastToolResult(); ok {
		return Text("done: " + res.ResultText())
	}
	text := req.LastUserText()
	if i := strings.Index(text, ToolMarker); i >= 0 && req.HasTool("Bash") {
		return ToolUse("Bash", map[string]string{"command": strings.TrimSpace(restOfLine(text[i+len(ToolMarker):]))})
	}
	if i := strings.Index(text, ToolMarker); i >= 0 && req.HasTool("bash") {
		// The agent toolset's lowercase bash (Hangar's native engine).
		return ToolUse("bash", map[string]string{"command": strings.TrimSpace(restOfLine(text[i+len(ToolMarker):]))})
	}
	if i := strings.Index(text, CustomMarker); i >= 0 {
		name, input, _ := strings.Cut(strings.TrimSpace(restOfLine(text[i+len(CustomMarker):])), " ")
		input = strings.TrimSpace(input)
		if input == "" {
			input = "{}"
		}
		if tool, ok := req.toolNamed(name); ok && json.Valid([]byte(input)) {
			return Response{Content: []Block{{Type: "tool_use", Name: tool, Input: json.RawMessage(input)}}}
		}
	}
	return Text("echo: " + text)
}

// toolNamed returns the request's tool called name, or else one whose name ends with
// "__"+name (an MCP tool of any server).
func (r Request) toolNamed(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if r.HasTool(name) {
		return name, true
	}
	for _, t := range r.Tools {
		if strings.HasSuffix(t.Name, "__"+name) {
			return t.Name, true
		}
	}
	return "", false
}

func restOfLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	switch {
	case (r.Method == http.MethodHead || r.Method == http.MethodGet) && r.URL.Path == "/":
		s.record(req)
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		if err := req.decode(); err != nil {
			s.record(req)
			writeError(w, &APIError{Status: 400, Type: "invalid_request_error", Message: err.Error()})
			return
		}
		s.record(req)
		writeJSON(w, http.StatusOK, map[string]int{"input_tokens": inputTokens(req)})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		if err := req.decode(); err != nil {
			s.record(req)
			writeError(w, &APIError{Status: 400, Type: "invalid_request_error", Message: err.Error()})
			return
		}
		s.record(req)
		s.messages(w, r, req)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/responses":
		s.record(req)
		s.responses(w, r, req)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1beta/models/"):
		s.record(req)
		s.gemini(w, r, req)
	default:
		s.record(req)
		if s.Unexpected != nil {
			s.Unexpected(req)
		}
		writeError(w, &APIError{Status: http.StatusNotFound, Type: "not_found_error", Message: fmt.Sprintf("fakemodel: no route for %s %s", r.Method, r.URL.Path)})
	}
}

func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
}

// decode parses a Messages API body.
func (r *Request) decode() error {
	var raw struct {
		Model    string          `json:"model"`
		Stream   bool            `json:"stream"`
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []Tool `json:"tools"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	r.Model, r.Stream, r.System, r.Tools = raw.Model, raw.Stream, raw.System, raw.Tools
	for i, m := range raw.Messages {
		msg := Message{Role: m.Role}
		var s string
		if err := json.Unmarshal(m.Content, &s); err == nil {
			msg.Content = []Block{{Type: "text", Text: s}}
		} else if err := json.Unmarshal(m.Content, &msg.Content); err != nil {
			return fmt.Errorf("messages.%d.content: %w", i, err)
		}
		r.Messages = append(r.Messages, msg)
	}
	return nil
}

// next picks the reply to req and numbers its message and tool use IDs.
func (s *Server) next(req Request) (Response, string) {
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
			script = Default
		}
		resp = script(req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs++
	id := fmt.Sprintf("msg_fake_%04d", s.msgs)
	content := make([]Block, len(resp.Content))
	for i, b := range resp.Content {
		if b.Type == "tool_use" {
			if b.ID == "" {
				s.tools++
				b.ID = fmt.Sprintf("toolu_fake_%04d", s.tools)
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

func (s *Server) messages(w http.ResponseWriter, r *http.Request, req Request) {
	resp, id := s.next(req)
	if resp.Error != nil {
		writeError(w, resp.Error)
		return
	}
	usage := resp.usage(req)
	stop := resp.stopReason()
	if !req.Stream {
		writeJSON(w, http.StatusOK, message{
			ID: id, Type: "message", Role: "assistant", Model: req.Model,
			Content: wireContent(resp.Content), StopReason: &stop, Usage: usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("request-id", "req_fake_"+strings.TrimPrefix(id, "msg_fake_"))
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, ctx: r.Context().Done(), delay: resp.ChunkDelay}
	writeStream(sw, resp, id, req.Model, usage, stop)
}

// writeStream writes the SSE events of a streaming reply.
func writeStream(sw *sseWriter, resp Response, id, model string, usage Usage, stop string) {
	start := usage
	start.OutputTokens = 1
	if !sw.event("message_start", map[string]any{"type": "message_start", "message": message{
		ID: id, Type: "message", Role: "assistant", Model: model, Content: []any{}, Usage: start,
	}}) {
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
		sw.event("error", map[string]any{"type": "error", "error": map[string]string{"type": resp.StreamError, "message": errorMessage(resp.StreamError)}})
		return
	}
	sw.event("ping", map[string]string{"type": "ping"})
	for i, b := range resp.Content {
		var start any
		var deltas []any
		switch b.Type {
		case "text":
			start = map[string]string{"type": "text", "text": ""}
			for _, c := range chunks(b.Text) {
				deltas = append(deltas, map[string]string{"type": "text_delta", "text": c})
			}
		case "thinking":
			start = map[string]string{"type": "thinking", "thinking": "", "signature": ""}
			for _, c := range chunks(b.Thinking) {
				deltas = append(deltas, map[string]string{"type": "thinking_delta", "thinking": c})
			}
			deltas = append(deltas, map[string]string{"type": "signature_delta", "signature": signature(b)})
		case "tool_use":
			start = map[string]any{"type": "tool_use", "id": b.ID, "name": b.Name, "input": map[string]any{}}
			for _, c := range jsonChunks(string(b.Input)) {
				deltas = append(deltas, map[string]string{"type": "input_json_delta", "partial_json": c})
			}
		default:
			start = b
		}
		if !sw.event("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": start}) {
			return
		}
		for _, d := range deltas {
			if !sw.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": d}) {
				return
			}
		}
		if !sw.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i}) {
			return
		}
	}
	if !sw.event("message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": usage,
	}) {
		return
	}
	sw.event("message_stop", map[string]string{"type": "message_stop"})
}

// sseWriter writes server-sent events, flushing each, pausing delay between them.
type sseWriter struct {
	w     io.Writer
	ctx   <-chan struct{}
	delay time.Duration
	n     int
}

// event writes one event; it reports false when the client went away.
func (s *sseWriter) event(name string, data any) bool {
	if s.n > 0 && s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-s.ctx:
			t.Stop()
			return false
		}
	}
	s.n++
	b, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("fakemodel: marshal %s: %v", name, err))
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b); err != nil {
		return false
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return true
}

// message is the wire shape of a Messages API message.
type message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      any     `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

func wireContent(bs []Block) []any {
	out := make([]any, 0, len(bs))
	for _, b := range bs {
		switch b.Type {
		case "text":
			out = append(out, map[string]string{"type": "text", "text": b.Text})
		case "thinking":
			out = append(out, map[string]string{"type": "thinking", "thinking": b.Thinking, "signature": signature(b)})
		case "tool_use":
			out = append(out, map[string]any{"type": "tool_use", "id": b.ID, "name": b.Name, "input": b.Input})
		default:
			out = append(out, b)
		}
	}
	return out
}

func (r Response) stopReason() string {
	if r.StopReason != "" {
		return r.StopReason
	}
	for _, b := range r.Content {
		if b.Type == "tool_use" {
			return "tool_use"
		}
	}
	return "end_turn"
}

func (r Response) usage(req Request) Usage {
	if r.Usage != nil {
		return *r.Usage
	}
	out := 0
	for _, b := range r.Content {
		out += words(b.Text) + words(b.Thinking) + words(string(b.Input))
	}
	return Usage{InputTokens: inputTokens(req), OutputTokens: max(out, 1)}
}

// inputTokens is the fake's token count of a request: its words, at least 1.
func inputTokens(req Request) int {
	n := words(string(req.System))
	for _, m := range req.Messages {
		for _, b := range m.Content {
			n += words(b.Text) + words(b.Thinking) + words(string(b.Input)) + words(b.ResultText())
		}
	}
	return max(n, 1)
}

func words(s string) int { return len(strings.Fields(s)) }

func signature(b Block) string {
	if b.Signature != "" {
		return b.Signature
	}
	return "fakesig"
}

// chunks splits text into deltas of a word each (with its trailing spaces).
func chunks(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			out = append(out, s)
			break
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		out = append(out, s[:j])
		s = s[j:]
	}
	return out
}

// jsonChunks splits a JSON text into partial_json pieces of at most 16 bytes, as the
// API streams tool inputs.
func jsonChunks(s string) []string {
	var out []string
	for len(s) > 16 {
		n := 16
		for n > 1 && !utf8.RuneStart(s[n]) {
			n--
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func errorMessage(typ string) string {
	switch typ {
	case "overloaded_error":
		return "Overloaded"
	case "rate_limit_error":
		return "Rate limited"
	}
	return "fakemodel: " + typ
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *APIError) {
	if e.RetryAfter != "" {
		w.Header().Set("retry-after", e.RetryAfter)
	}
	w.Header().Set("request-id", "req_fake_error")
	msg := e.Message
	if msg == "" {
		msg = errorMessage(e.Type)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"type": e.Type, "message": msg}})
}
