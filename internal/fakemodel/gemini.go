package fakemodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// GeminiShellTool is the name of the Gemini CLI's shell tool, which GeminiDefault calls for
// "TOOL:bash <command>".
const GeminiShellTool = "run_shell_command"

// GeminiDefault is the reply to a Gemini request of a server without Script: Default, with
// the Gemini CLI's shell tool (run_shell_command) in place of Bash: after a function
// response, "done: <its output>"; for a user text containing "TOOL:bash <command>" (and a
// request declaring run_shell_command), a run_shell_command call with {"command": command};
// otherwise "echo: <user text>". The user text leaves out the <session_context> part the
// CLI adds to a session's first prompt.
func GeminiDefault(req Request) Response {
	if _, ok := req.LastToolResult(); ok {
		return Default(req)
	}
	text := geminiUserText(req)
	if i := strings.Index(text, ToolMarker); i >= 0 && req.HasTool(GeminiShellTool) {
		return ToolUse(GeminiShellTool, map[string]string{"command": strings.TrimSpace(restOfLine(text[i+len(ToolMarker):]))})
	}
	return Text("echo: " + geminiUserText(req))
}

// geminiUserText is LastUserText without the <session_context> part the Gemini CLI adds
// to the first prompt of a session.
func geminiUserText(req Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != "user" {
			continue
		}
		var parts []string
		for _, b := range m.Content {
			if t := strings.TrimSpace(b.Text); b.Type == "text" && !strings.HasPrefix(t, "<session_context>") && !strings.HasPrefix(t, "<system-reminder>") {
				parts = append(parts, b.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// GeminiRequests returns the recorded generateContent and streamGenerateContent requests,
// in order.
func (s *Server) GeminiRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if _, method, ok := geminiRoute(r.Path); ok && r.Method == http.MethodPost &&
			(method == "generateContent" || method == "streamGenerateContent") {
			out = append(out, r)
		}
	}
	return out
}

// geminiRoute splits /v1beta/models/{model}:{method}.
func geminiRoute(p string) (model, method string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v1beta/models/")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

// geminiPart is a part of a Gemini content, in requests and replies.
type geminiPart struct {
	Text             string                  `json:"text,omitempty"`
	Thought          bool                    `json:"thought,omitempty"`
	ThoughtSignature string                  `json:"thoughtSignature,omitempty"`
	FunctionCall     *geminiFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *geminiFunctionResponse `json:"functionResponse,omitempty"`
}

type geminiFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type geminiFunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

// decodeGemini parses a generateContent body into the Messages API fields of r: the
// system instruction's text as System (a JSON string), contents as Messages (role model →
// assistant; functionCall → tool_use, functionResponse → tool_result whose content is
// the response's output, or the whole response), function declarations as Tools.
func (r *Request) decodeGemini(model, method string) error {
	var raw struct {
		Contents          []geminiContent `json:"contents"`
		SystemInstruction *geminiContent  `json:"systemInstruction"`
		Tools             []struct {
			FunctionDeclarations []Tool `json:"functionDeclarations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	r.Model, r.Stream = model, method == "streamGenerateContent"
	if si := raw.SystemInstruction; si != nil {
		var parts []string
		for _, p := range si.Parts {
			parts = append(parts, p.Text)
		}
		r.System, _ = json.Marshal(strings.Join(parts, "\n"))
	}
	for _, t := range raw.Tools {
		r.Tools = append(r.Tools, t.FunctionDeclarations...)
	}
	for _, c := range raw.Contents {
		msg := Message{Role: c.Role}
		if msg.Role == "model" {
			msg.Role = "assistant"
		}
		for _, p := range c.Parts {
			switch {
			case p.FunctionCall != nil:
				msg.Content = append(msg.Content, Block{Type: "tool_use", ID: p.FunctionCall.ID, Name: p.FunctionCall.Name, Input: p.FunctionCall.Args})
			case p.FunctionResponse != nil:
				id := p.FunctionResponse.ID
				if id == "" {
					id = p.FunctionResponse.Name
				}
				out := p.FunctionResponse.Response
				var resp struct {
					Output json.RawMessage `json:"output"`
				}
				if json.Unmarshal(out, &resp) == nil && resp.Output != nil {
					out = resp.Output
				}
				msg.Content = append(msg.Content, Block{Type: "tool_result", ToolUseID: id, Name: p.FunctionResponse.Name, Content: out})
			case p.Thought:
				msg.Content = append(msg.Content, Block{Type: "thinking", Thinking: p.Text, Signature: p.ThoughtSignature})
			default:
				msg.Content = append(msg.Content, Block{Type: "text", Text: p.Text})
			}
		}
		r.Messages = append(r.Messages, msg)
	}
	return nil
}

// utilityReply answers the Gemini CLI's JSON-mode utility requests (the model router's
// classifier, the next-speaker check), which never reach the script: it reports false for
// other requests.
func utilityReply(req Request) (Response, bool) {
	var raw struct {
		GenerationConfig struct {
			ResponseMimeType string `json:"responseMimeType"`
		} `json:"generationConfig"`
	}
	if json.Unmarshal(req.Body, &raw) != nil || raw.GenerationConfig.ResponseMimeType != "application/json" {
		return Response{}, false
	}
	body := string(req.Body)
	switch {
	case strings.Contains(body, "model_choice"):
		return Text(`{"reasoning":"fakemodel routes every request to flash","model_choice":"flash"}`), true
	case strings.Contains(body, "next_speaker"):
		return Text(`{"reasoning":"fakemodel always yields to the user","next_speaker":"user"}`), true
	}
	return Text(`{}`), true
}

// gemini serves the Gemini API: POST /v1beta/models/{model}:streamGenerateContent (SSE,
// with ?alt=sse), :generateContent (JSON) and :countTokens. Replies come from the queue
// (Push), then Script, then GeminiDefault; tool_use blocks become functionCall parts,
// thinking blocks thought parts.
func (s *Server) gemini(w http.ResponseWriter, r *http.Request, req Request) {
	model, method, _ := geminiRoute(r.URL.Path)
	switch method {
	case "generateContent", "streamGenerateContent", "countTokens":
	default:
		if s.Unexpected != nil {
			s.Unexpected(req)
		}
		writeGeminiError(w, &APIError{Status: http.StatusNotFound, Type: "not_found_error", Message: "fakemodel: no Gemini method " + method})
		return
	}
	if err := req.decodeGemini(model, method); err != nil {
		writeGeminiError(w, &APIError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: err.Error()})
		return
	}
	s.mu.Lock()
	s.requests[len(s.requests)-1] = req // the recorded request, now decoded
	s.mu.Unlock()
	if method == "countTokens" {
		writeJSON(w, http.StatusOK, map[string]int{"totalTokens": inputTokens(req)})
		return
	}
	resp, ok := utilityReply(req)
	if !ok {
		resp = s.nextGemini(req)
	}
	if resp.Error != nil {
		writeGeminiError(w, resp.Error)
		return
	}
	if resp.ChunkDelay == 0 {
		resp.ChunkDelay = s.ChunkDelay
	}
	usage := resp.usage(req)
	meta := map[string]int{
		"promptTokenCount":     usage.InputTokens,
		"candidatesTokenCount": usage.OutputTokens,
		"totalTokenCount":      usage.InputTokens + usage.OutputTokens,
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, geminiChunk(geminiParts(resp.Content, false), "STOP", meta, model))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if resp.Hold != nil {
		select {
		case <-resp.Hold:
		case <-r.Context().Done():
			return
		}
	}
	sw := &sseWriter{w: w, ctx: r.Context().Done(), delay: resp.ChunkDelay}
	if resp.StreamError != "" {
		sw.data(map[string]any{"error": geminiErrorBody(&APIError{Type: resp.StreamError})})
		return
	}
	parts := geminiParts(resp.Content, true)
	for i, p := range parts {
		var chunk map[string]any
		if i == len(parts)-1 {
			chunk = geminiChunk([]geminiPart{p}, "STOP", meta, model)
		} else {
			chunk = geminiChunk([]geminiPart{p}, "", nil, model)
		}
		if !sw.data(chunk) {
			return
		}
	}
	if len(parts) == 0 {
		sw.data(geminiChunk([]geminiPart{{Text: ""}}, "STOP", meta, model))
	}
}

// nextGemini picks the reply to a Gemini request: the queue, then Script, then
// GeminiDefault.
func (s *Server) nextGemini(req Request) Response {
	s.mu.Lock()
	if len(s.queue) > 0 {
		resp := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		return resp
	}
	script := s.Script
	s.mu.Unlock()
	if script == nil {
		script = GeminiDefault
	}
	return script(req)
}

// geminiParts converts reply blocks to parts; split makes one part per word of text, as
// a stream's chunks.
func geminiParts(blocks []Block, split bool) []geminiPart {
	var out []geminiPart
	for _, b := range blocks {
		switch b.Type {
		case "text", "thinking":
			text, thought := b.Text, false
			if b.Type == "thinking" {
				text, thought = b.Thinking, true
			}
			pieces := []string{text}
			if split {
				pieces = chunks(text)
			}
			for _, c := range pieces {
				out = append(out, geminiPart{Text: c, Thought: thought})
			}
		case "tool_use":
			args := b.Input
			if len(bytes.TrimSpace(args)) == 0 {
				args = json.RawMessage(`{}`)
			}
			out = append(out, geminiPart{FunctionCall: &geminiFunctionCall{ID: b.ID, Name: b.Name, Args: args}})
		}
	}
	return out
}

func geminiChunk(parts []geminiPart, finish string, usage map[string]int, model string) map[string]any {
	if parts == nil {
		parts = []geminiPart{}
	}
	cand := map[string]any{"content": geminiContent{Role: "model", Parts: parts}, "index": 0}
	if finish != "" {
		cand["finishReason"] = finish
	}
	out := map[string]any{"candidates": []any{cand}, "modelVersion": model}
	if usage != nil {
		out["usageMetadata"] = usage
	}
	return out
}

// data writes one unnamed SSE event (Gemini's "data: {...}" lines); it reports false when
// the client went away.
func (s *sseWriter) data(v any) bool {
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("fakemodel: marshal gemini chunk: %v", err))
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", bytes.TrimSpace(buf.Bytes())); err != nil {
		return false
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return true
}

// geminiStatus maps an Anthropic error type to the Google RPC status and HTTP code of
// the Gemini API.
func geminiStatus(e *APIError) (string, int) {
	switch e.Type {
	case "rate_limit_error":
		return "RESOURCE_EXHAUSTED", http.StatusTooManyRequests
	case "overloaded_error":
		return "UNAVAILABLE", http.StatusServiceUnavailable
	case "invalid_request_error":
		return "INVALID_ARGUMENT", http.StatusBadRequest
	case "authentication_error":
		return "UNAUTHENTICATED", http.StatusUnauthorized
	case "permission_error":
		return "PERMISSION_DENIED", http.StatusForbidden
	case "not_found_error":
		return "NOT_FOUND", http.StatusNotFound
	}
	return "INTERNAL", http.StatusInternalServerError
}

func geminiErrorBody(e *APIError) map[string]any {
	status, code := geminiStatus(e)
	if e.Status != 0 && e.Status != 529 {
		code = e.Status
	}
	msg := e.Message
	if msg == "" {
		msg = errorMessage(e.Type)
	}
	return map[string]any{"code": code, "message": msg, "status": status}
}

// writeGeminiError writes e with the Gemini error envelope
// {"error":{"code","message","status"}}. A 529 (Anthropic's overloaded) becomes 503.
func writeGeminiError(w http.ResponseWriter, e *APIError) {
	if e.RetryAfter != "" {
		w.Header().Set("retry-after", e.RetryAfter)
	}
	body := geminiErrorBody(e)
	writeJSON(w, body["code"].(int), map[string]any{"error": body})
}
