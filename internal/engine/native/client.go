package native

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// The Messages API client: one streaming POST /v1/messages per model request, its SSE
// events folded into the assistant message as they arrive (docs: "Streaming Messages").
// Written over net/http rather than the SDK so the loop sees every block as it starts and
// ends (thinking progress, server tool results) and classifies errors itself.

// apiVersion is the anthropic-version header the loop speaks.
const apiVersion = "2023-06-01"

// webFetchBeta enables the web_fetch server tool.
const webFetchBeta = "web-fetch-2025-09-10"

// request is the body of POST /v1/messages.
type request struct {
	Model     string            `json:"model"`
	MaxTokens int               `json:"max_tokens"`
	Stream    bool              `json:"stream"`
	System    string            `json:"system,omitempty"`
	Messages  []message         `json:"messages"`
	Tools     []json.RawMessage `json:"tools,omitempty"`
	// ToolChoice is {"type":"none"} for the compaction request (compact.go).
	ToolChoice json.RawMessage `json:"tool_choice,omitempty"`
}

// message is one conversation message; Content holds the API's content blocks verbatim
// (what the model wrote is sent back exactly, thinking signatures included).
type message struct {
	Role    string            `json:"role"`
	Content []json.RawMessage `json:"content"`
}

// block is the union of the content block fields the loop reads.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

// apiUsage is the usage object of message_start and message_delta.
type apiUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreation            *struct {
		Ephemeral5m int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

// usage is a model request's usage as the loop reports it.
type usage struct {
	Input, Output, CacheCreation, CacheRead int64
	Cache5m, Cache1h                        int64
}

func (u *usage) merge(a *apiUsage) {
	if a == nil {
		return
	}
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&u.Input, a.InputTokens)
	set(&u.Output, a.OutputTokens)
	set(&u.CacheCreation, a.CacheCreationInputTokens)
	set(&u.CacheRead, a.CacheReadInputTokens)
	if a.CacheCreation != nil {
		u.Cache5m, u.Cache1h = a.CacheCreation.Ephemeral5m, a.CacheCreation.Ephemeral1h
	}
}

// session is the usage the runner adds to the session.
func (u usage) session() hangar.Usage {
	c5 := u.Cache5m
	if c5+u.Cache1h == 0 {
		c5 = u.CacheCreation // no TTL split reported: count it as 5-minute writes
	}
	return hangar.Usage{InputTokens: u.Input, OutputTokens: u.Output, CacheReadInputTokens: u.CacheRead,
		CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: c5, Ephemeral1hInputTokens: u.Cache1h}}
}

// streamEvent is the union of the SSE data objects of a streaming reply.
type streamEvent struct {
	Type    string `json:"type"`
	Message *struct {
		Usage *apiUsage `json:"usage"`
	} `json:"message"`
	Index        int             `json:"index"`
	ContentBlock json.RawMessage `json:"content_block"`
	Delta        *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		Signature   string `json:"signature"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *apiUsage `json:"usage"`
	Error *apiError `json:"error"`
}

type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// reply is a finished model response.
type reply struct {
	Content    []json.RawMessage
	StopReason string
	Usage      usage
}

// blockHandler is told about each content block as it starts and once it is complete.
type blockHandler interface {
	blockStart(b block) error
	blockDone(b block, raw json.RawMessage) error
}

// client calls the Messages API.
type client struct {
	http      *http.Client
	baseURL   string
	apiKey    string
	authToken string
}

// stream sends req and folds the streamed reply, calling h for every content block. Errors
// are *engine.Error classified as the CMA session error types.
func (c *client) stream(ctx context.Context, req *request, beta []string, h blockHandler) (*reply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("native: encode request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.baseURL, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	hr.Header.Set("content-type", "application/json")
	hr.Header.Set("accept", "text/event-stream")
	hr.Header.Set("anthropic-version", apiVersion)
	if len(beta) > 0 {
		hr.Header.Set("anthropic-beta", strings.Join(beta, ","))
	}
	switch {
	case c.apiKey != "":
		hr.Header.Set("x-api-key", c.apiKey)
	case c.authToken != "":
		hr.Header.Set("authorization", "Bearer "+c.authToken)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &engine.Error{Type: "model_request_failed_error", Message: "the model API could not be reached", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var env struct {
			Error apiError `json:"error"`
		}
		json.Unmarshal(b, &env)
		return nil, classify(resp.StatusCode, env.Error)
	}
	r, err := fold(resp.Body, h)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return r, err
}

// classify maps a Messages API failure to a session error.
func classify(status int, e apiError) *engine.Error {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	typ := "model_request_failed_error"
	switch {
	case status == 529 || e.Type == "overloaded_error":
		typ = "model_overloaded_error"
	case status == http.StatusTooManyRequests || e.Type == "rate_limit_error":
		typ = "model_rate_limited_error"
	case status == http.StatusPaymentRequired || e.Type == "billing_error":
		typ = "billing_error"
	}
	label := e.Type
	if label == "" {
		label = fmt.Sprintf("HTTP %d", status)
	}
	return &engine.Error{Type: typ, Message: "model API error (" + label + "): " + msg}
}

// partial is a content block being streamed.
type partial struct {
	head      map[string]json.RawMessage // the content_block of content_block_start
	typ       string
	text      strings.Builder
	thinking  strings.Builder
	signature string
	json      strings.Builder
}

// fold reads the SSE stream of one reply.
func fold(body io.Reader, h blockHandler) (*reply, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	r := &reply{}
	blocks := map[int]*partial{}
	var order []int
	done := false
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
			continue
		case len(line) != 0:
			continue // event:, id:, comments
		}
		if len(data) == 0 {
			continue
		}
		var ev streamEvent
		err := json.Unmarshal(data, &ev)
		data = data[:0]
		if err != nil {
			return nil, &engine.Error{Type: "model_request_failed_error", Message: "the model API sent a malformed stream event", Err: err}
		}
		switch ev.Type {
		case "message_start":
			if ev.Message != nil {
				r.Usage.merge(ev.Message.Usage)
			}
		case "content_block_start":
			p := &partial{}
			if err := json.Unmarshal(ev.ContentBlock, &p.head); err != nil {
				return nil, &engine.Error{Type: "model_request_failed_error", Message: "the model API sent a malformed content block", Err: err}
			}
			json.Unmarshal(p.head["type"], &p.typ)
			blocks[ev.Index] = p
			order = append(order, ev.Index)
			var b block
			json.Unmarshal(ev.ContentBlock, &b)
			if err := h.blockStart(b); err != nil {
				return nil, err
			}
		case "content_block_delta":
			p := blocks[ev.Index]
			if p == nil || ev.Delta == nil {
				continue
			}
			switch ev.Delta.Type {
			case "text_delta":
				p.text.WriteString(ev.Delta.Text)
				if d, ok := h.(deltaHandler); ok && ev.Delta.Text != "" { // preview.go
					if err := d.blockDelta(ev.Index, ev.Delta.Text); err != nil {
						return nil, err
					}
				}
			case "thinking_delta":
				p.thinking.WriteString(ev.Delta.Thinking)
			case "signature_delta":
				p.signature += ev.Delta.Signature
			case "input_json_delta":
				p.json.WriteString(ev.Delta.PartialJSON)
			}
		case "content_block_stop":
			p := blocks[ev.Index]
			if p == nil {
				continue
			}
			raw, b, err := p.finish()
			if err != nil {
				return nil, err
			}
			r.Content = append(r.Content, raw)
			if err := h.blockDone(b, raw); err != nil {
				return nil, err
			}
		case "message_delta":
			if ev.Delta != nil && ev.Delta.StopReason != "" {
				r.StopReason = ev.Delta.StopReason
			}
			r.Usage.merge(ev.Usage)
		case "message_stop":
			done = true
		case "error":
			e := apiError{Type: "api_error"}
			if ev.Error != nil {
				e = *ev.Error
			}
			status := http.StatusInternalServerError
			switch e.Type {
			case "overloaded_error":
				status = 529
			case "rate_limit_error":
				status = http.StatusTooManyRequests
			}
			return nil, classify(status, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &engine.Error{Type: "model_request_failed_error", Message: "the model API stream broke off", Err: err}
	}
	if !done {
		return nil, &engine.Error{Type: "model_request_failed_error", Message: "the model API stream ended before message_stop", Err: io.ErrUnexpectedEOF}
	}
	return r, nil
}

// finish returns a streamed block's final JSON and its decoded fields.
func (p *partial) finish() (json.RawMessage, block, error) {
	head := p.head
	switch p.typ {
	case "text":
		head["text"] = mustJSON(p.text.String())
	case "thinking":
		head["thinking"] = mustJSON(p.thinking.String())
		if p.signature != "" {
			head["signature"] = mustJSON(p.signature)
		}
	case "tool_use", "server_tool_use":
		in := strings.TrimSpace(p.json.String())
		if in == "" {
			if len(head["input"]) > 0 {
				in = string(head["input"])
			} else {
				in = "{}"
			}
		}
		if !json.Valid([]byte(in)) {
			return nil, block{}, &engine.Error{Type: "model_request_failed_error", Message: "the model API sent a tool call with malformed input"}
		}
		head["input"] = json.RawMessage(in)
	}
	raw, err := json.Marshal(head)
	if err != nil {
		return nil, block{}, fmt.Errorf("native: encode block: %w", err)
	}
	var b block
	json.Unmarshal(raw, &b)
	return raw, b, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
