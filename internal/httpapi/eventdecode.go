package httpapi

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/hangar-dev/hangar"
)

// Decoding and validation of the events clients send (POST /v1/sessions/{id}/events and
// initial_events of POST /v1/sessions), §4.2 of the contract. Each event is decoded into a
// typed struct with unknown fields rejected, checked, and re-marshaled: the stored body is
// the canonical JSON of what was validated, never the raw client bytes. Validation is
// all-or-nothing: one bad event rejects the whole request, naming its index.

// Limits of client events.
const (
	maxEventsPerRequest = 50
	maxDenyMessage      = 10000
)

// clientEvent is a validated client event: its type and its body (the fields other than
// type, as a JSON object).
type clientEvent struct {
	Type string
	Body json.RawMessage
}

// sendEventsRequest is the body of POST /v1/sessions/{id}/events.
type sendEventsRequest struct {
	Events []json.RawMessage `json:"events"`
}

// decodeSendEvents decodes and validates a whole POST .../events body.
func decodeSendEvents(body []byte) ([]clientEvent, error) {
	var req sendEventsRequest
	if err := decodeBytes(body, &req); err != nil {
		return nil, err
	}
	return validateEvents("events", req.Events, sendableEvents)
}

// sendableEvents are the event types POST .../events accepts.
var sendableEvents = []string{
	hangar.EventUserMessage,
	hangar.EventUserInterrupt,
	hangar.EventUserToolConfirmation,
	hangar.EventUserCustomToolResult,
	hangar.EventUserDefineOutcome,
	hangar.EventUserToolResult,
	hangar.EventSystemMessage,
}

// initialEvents are the event types initial_events of a new session accepts.
var initialEvents = []string{hangar.EventUserMessage, hangar.EventUserDefineOutcome}

// validateEvents validates a list of 1..50 client events at path, each of one of allowed.
func validateEvents(path string, raws []json.RawMessage, allowed []string) ([]clientEvent, error) {
	if raws == nil {
		return nil, invalidf("%s: field required", path)
	}
	if len(raws) < 1 || len(raws) > maxEventsPerRequest {
		return nil, invalidf("%s: must contain between 1 and %d events (got %d)", path, maxEventsPerRequest, len(raws))
	}
	out := make([]clientEvent, 0, len(raws))
	for i, raw := range raws {
		ev, err := decodeClientEvent(path+"["+strconv.Itoa(i)+"]", raw, allowed)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	if err := checkSystemMessageOrder(path, out); err != nil { // system_message.go
		return nil, err
	}
	return out, nil
}

// knownLaterEvents are client event types of the contract that Hangar does not accept yet.
var knownLaterEvents = map[string]bool{}

// decodeClientEvent validates one client event at path.
func decodeClientEvent(path string, raw json.RawMessage, allowed []string) (clientEvent, error) {
	typ, err := objectType(path, raw)
	if err != nil {
		return clientEvent{}, err
	}
	tpath := path + ".type"
	switch {
	case typ == "":
		return clientEvent{}, invalidf("%s: field required", tpath)
	case !contains(allowed, typ) && (knownLaterEvents[typ] || contains(sendableEvents, typ)):
		return clientEvent{}, invalidf("%s: %q events are not supported here (allowed: %s)", tpath, typ, quoteList(allowed))
	case !contains(allowed, typ) && isServerEvent(typ):
		return clientEvent{}, invalidf("%s: %q events are emitted by the server and cannot be sent (allowed: %s)", tpath, typ, quoteList(allowed))
	case !contains(allowed, typ):
		return clientEvent{}, invalidf("%s: must be one of %s (got %q)", tpath, quoteList(allowed), typ)
	}
	var body any
	switch typ {
	case hangar.EventUserMessage:
		body, err = decodeUserMessage(path, raw)
	case hangar.EventUserInterrupt:
		body, err = decodeUserInterrupt(path, raw)
	case hangar.EventUserToolConfirmation:
		body, err = decodeToolConfirmation(path, raw)
	case hangar.EventUserCustomToolResult:
		body, err = decodeCustomToolResult(path, raw)
	case hangar.EventUserDefineOutcome:
		body, err = decodeDefineOutcome(path, raw)
	case hangar.EventUserToolResult:
		body, err = decodeToolResult(path, raw)
	case hangar.EventSystemMessage:
		body, err = decodeSystemMessage(path, raw) // system_message.go
	}
	if err != nil {
		return clientEvent{}, err
	}
	return clientEvent{Type: typ, Body: mustJSON(body)}, nil
}

// isServerEvent reports whether typ is in a namespace only the server emits.
func isServerEvent(typ string) bool {
	for _, ns := range []string{"agent.", "session.", "span.", "workflow_run.", "event_"} {
		if len(typ) >= len(ns) && typ[:len(ns)] == ns {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// --- user.message

type userMessageParams struct {
	Type    string            `json:"type"`
	Content []json.RawMessage `json:"content"`
}

type userMessageBody struct {
	Content []any `json:"content"`
}

func decodeUserMessage(path string, raw json.RawMessage) (userMessageBody, error) {
	var p userMessageParams
	if err := decodeAt(path, raw, &p); err != nil {
		return userMessageBody{}, err
	}
	if p.Content == nil {
		return userMessageBody{}, invalidf("%s.content: field required", path)
	}
	if len(p.Content) == 0 {
		return userMessageBody{}, invalidf("%s.content: must contain at least one content block", path)
	}
	blocks, err := decodeBlocks(path+".content", p.Content, "text", "image", "document", "redacted")
	if err != nil {
		return userMessageBody{}, err
	}
	return userMessageBody{Content: blocks}, nil
}

// --- user.interrupt

type userInterruptParams struct {
	Type            string  `json:"type"`
	SessionThreadID *string `json:"session_thread_id"`
}

type userInterruptBody struct {
	SessionThreadID *string `json:"session_thread_id,omitempty"`
}

func decodeUserInterrupt(path string, raw json.RawMessage) (userInterruptBody, error) {
	var p userInterruptParams
	if err := decodeAt(path, raw, &p); err != nil {
		return userInterruptBody{}, err
	}
	if err := checkOptLen(path+".session_thread_id", p.SessionThreadID, 1, maxIDParamChars); err != nil {
		return userInterruptBody{}, err
	}
	return userInterruptBody{SessionThreadID: p.SessionThreadID}, nil
}

// --- user.tool_confirmation

type toolConfirmationParams struct {
	Type            string  `json:"type"`
	ToolUseID       *string `json:"tool_use_id"`
	Result          *string `json:"result"`
	DenyMessage     *string `json:"deny_message"`
	SessionThreadID *string `json:"session_thread_id"`
}

type toolConfirmationBody struct {
	ToolUseID       string  `json:"tool_use_id"`
	Result          string  `json:"result"`
	DenyMessage     *string `json:"deny_message,omitempty"`
	SessionThreadID *string `json:"session_thread_id,omitempty"`
}

func decodeToolConfirmation(path string, raw json.RawMessage) (toolConfirmationBody, error) {
	var p toolConfirmationParams
	if err := decodeAt(path, raw, &p); err != nil {
		return toolConfirmationBody{}, err
	}
	if err := requireString(path+".tool_use_id", p.ToolUseID, 1, maxIDParamChars); err != nil {
		return toolConfirmationBody{}, err
	}
	if p.Result == nil {
		return toolConfirmationBody{}, invalidf("%s.result: field required", path)
	}
	if err := checkOneOf(path+".result", *p.Result, "allow", "deny"); err != nil {
		return toolConfirmationBody{}, err
	}
	if p.DenyMessage != nil {
		if *p.Result != "deny" {
			return toolConfirmationBody{}, invalidf("%s.deny_message: only allowed when result is \"deny\"", path)
		}
		if err := checkLen(path+".deny_message", *p.DenyMessage, 0, maxDenyMessage); err != nil {
			return toolConfirmationBody{}, err
		}
	}
	if err := checkOptLen(path+".session_thread_id", p.SessionThreadID, 1, maxIDParamChars); err != nil {
		return toolConfirmationBody{}, err
	}
	return toolConfirmationBody{
		ToolUseID:       *p.ToolUseID,
		Result:          *p.Result,
		DenyMessage:     p.DenyMessage,
		SessionThreadID: p.SessionThreadID,
	}, nil
}

// --- user.custom_tool_result

type customToolResultParams struct {
	Type            string            `json:"type"`
	CustomToolUseID *string           `json:"custom_tool_use_id"`
	Content         []json.RawMessage `json:"content"`
	IsError         *bool             `json:"is_error"`
	SessionThreadID *string           `json:"session_thread_id"`
}

type customToolResultBody struct {
	CustomToolUseID string  `json:"custom_tool_use_id"`
	Content         []any   `json:"content,omitempty"`
	IsError         *bool   `json:"is_error,omitempty"`
	SessionThreadID *string `json:"session_thread_id,omitempty"`
}

func decodeCustomToolResult(path string, raw json.RawMessage) (customToolResultBody, error) {
	var p customToolResultParams
	if err := decodeAt(path, raw, &p); err != nil {
		return customToolResultBody{}, err
	}
	if err := requireString(path+".custom_tool_use_id", p.CustomToolUseID, 1, maxIDParamChars); err != nil {
		return customToolResultBody{}, err
	}
	if err := checkOptLen(path+".session_thread_id", p.SessionThreadID, 1, maxIDParamChars); err != nil {
		return customToolResultBody{}, err
	}
	out := customToolResultBody{CustomToolUseID: *p.CustomToolUseID, IsError: p.IsError, SessionThreadID: p.SessionThreadID}
	if len(p.Content) > 0 {
		blocks, err := decodeBlocks(path+".content", p.Content, "text", "image", "document", "search_result")
		if err != nil {
			return customToolResultBody{}, err
		}
		out.Content = blocks
	}
	return out, nil
}

// --- user.tool_result (a self_hosted worker's result of a delegated agent.tool_use)

type toolResultParams struct {
	Type            string            `json:"type"`
	ToolUseID       *string           `json:"tool_use_id"`
	Content         []json.RawMessage `json:"content"`
	IsError         *bool             `json:"is_error"`
	SessionThreadID *string           `json:"session_thread_id"`
}

type toolResultBody struct {
	ToolUseID       string  `json:"tool_use_id"`
	Content         []any   `json:"content,omitempty"`
	IsError         *bool   `json:"is_error,omitempty"`
	SessionThreadID *string `json:"session_thread_id,omitempty"`
}

func decodeToolResult(path string, raw json.RawMessage) (toolResultBody, error) {
	var p toolResultParams
	if err := decodeAt(path, raw, &p); err != nil {
		return toolResultBody{}, err
	}
	if err := requireString(path+".tool_use_id", p.ToolUseID, 1, maxIDParamChars); err != nil {
		return toolResultBody{}, err
	}
	if err := checkOptLen(path+".session_thread_id", p.SessionThreadID, 1, maxIDParamChars); err != nil {
		return toolResultBody{}, err
	}
	out := toolResultBody{ToolUseID: *p.ToolUseID, IsError: p.IsError, SessionThreadID: p.SessionThreadID}
	if len(p.Content) > 0 {
		blocks, err := decodeBlocks(path+".content", p.Content, "text", "image", "document", "search_result")
		if err != nil {
			return toolResultBody{}, err
		}
		out.Content = blocks
	}
	return out, nil
}

// --- content blocks

type textBlock struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

type imageBlock struct {
	Type   string          `json:"type"`
	Source json.RawMessage `json:"source"`
}

type documentBlock struct {
	Type    string          `json:"type"`
	Source  json.RawMessage `json:"source"`
	Title   *string         `json:"title"`
	Context *string         `json:"context"`
}

type documentBlockOut struct {
	Type    string  `json:"type"`
	Source  any     `json:"source"`
	Title   *string `json:"title,omitempty"`
	Context *string `json:"context,omitempty"`
}

type redactedBlock struct {
	Type string `json:"type"`
}

type searchResultOut struct {
	Type      string `json:"type"`
	Source    string `json:"source"`
	Title     string `json:"title"`
	Citations struct {
		Enabled bool `json:"enabled"`
	} `json:"citations"`
	Content []any `json:"content"`
}

// decodeBlocks validates content blocks of the allowed types and returns their canonical
// forms.
func decodeBlocks(path string, raws []json.RawMessage, allowed ...string) ([]any, error) {
	out := make([]any, 0, len(raws))
	for i, raw := range raws {
		b, err := decodeBlock(path+"["+strconv.Itoa(i)+"]", raw, allowed)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeBlock(path string, raw json.RawMessage, allowed []string) (any, error) {
	typ, err := objectType(path, raw)
	if err != nil {
		return nil, err
	}
	if typ == "" {
		return nil, invalidf("%s.type: field required", path)
	}
	if !contains(allowed, typ) {
		return nil, invalidf("%s.type: must be one of %s (got %q)", path, quoteList(allowed), typ)
	}
	switch typ {
	case "text":
		var b textBlock
		if err := decodeAt(path, raw, &b); err != nil {
			return nil, err
		}
		if err := requireString(path+".text", b.Text, 1, math.MaxInt); err != nil {
			return nil, err
		}
		return textBlock{Type: typ, Text: b.Text}, nil
	case "image":
		var b imageBlock
		if err := decodeAt(path, raw, &b); err != nil {
			return nil, err
		}
		src, err := decodeSource(path+".source", b.Source, "base64", "url", "file")
		if err != nil {
			return nil, err
		}
		return struct {
			Type   string `json:"type"`
			Source any    `json:"source"`
		}{typ, src}, nil
	case "document":
		var b documentBlock
		if err := decodeAt(path, raw, &b); err != nil {
			return nil, err
		}
		src, err := decodeSource(path+".source", b.Source, "base64", "text", "url", "file")
		if err != nil {
			return nil, err
		}
		return documentBlockOut{Type: typ, Source: src, Title: b.Title, Context: b.Context}, nil
	case "redacted":
		var b redactedBlock
		if err := decodeAt(path, raw, &b); err != nil {
			return nil, err
		}
		return redactedBlock{Type: typ}, nil
	case "search_result":
		return decodeSearchResult(path, raw)
	}
	return nil, invalidf("%s.type: unsupported block type %q", path, typ)
}

func decodeSearchResult(path string, raw json.RawMessage) (any, error) {
	var b struct {
		Type      string            `json:"type"`
		Source    *string           `json:"source"`
		Title     *string           `json:"title"`
		Citations json.RawMessage   `json:"citations"`
		Content   []json.RawMessage `json:"content"`
	}
	if err := decodeAt(path, raw, &b); err != nil {
		return nil, err
	}
	if err := requireString(path+".source", b.Source, 1, math.MaxInt); err != nil {
		return nil, err
	}
	if err := requireString(path+".title", b.Title, 0, math.MaxInt); err != nil {
		return nil, err
	}
	out := searchResultOut{Type: b.Type, Source: *b.Source, Title: *b.Title, Content: []any{}}
	if isNull(b.Citations) {
		return nil, invalidf("%s.citations: field required", path)
	}
	var cit struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeAt(path+".citations", b.Citations, &cit); err != nil {
		return nil, err
	}
	if cit.Enabled == nil {
		return nil, invalidf("%s.citations.enabled: field required", path)
	}
	out.Citations.Enabled = *cit.Enabled
	if b.Content == nil {
		return nil, invalidf("%s.content: field required", path)
	}
	blocks, err := decodeBlocks(path+".content", b.Content, "text")
	if err != nil {
		return nil, err
	}
	out.Content = blocks
	return out, nil
}

// sourceParams holds every field a content source may carry; decodeSource checks that the
// fields sent fit the source's type.
type sourceParams struct {
	Type      string  `json:"type"`
	MediaType *string `json:"media_type"`
	Data      *string `json:"data"`
	URL       *string `json:"url"`
	FileID    *string `json:"file_id"`
}

type sourceOut struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

// decodeSource validates an image or document source of one of the allowed types.
func decodeSource(path string, raw json.RawMessage, allowed ...string) (any, error) {
	if isNull(raw) {
		return nil, invalidf("%s: field required", path)
	}
	typ, err := objectType(path, raw)
	if err != nil {
		return nil, err
	}
	if typ == "" {
		return nil, invalidf("%s.type: field required", path)
	}
	if !contains(allowed, typ) {
		return nil, invalidf("%s.type: must be one of %s (got %q)", path, quoteList(allowed), typ)
	}
	var p sourceParams
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	// fields lists what each source type carries; anything else sent is an error.
	fields := map[string][]string{
		"base64": {"media_type", "data"},
		"text":   {"media_type", "data"},
		"url":    {"url"},
		"file":   {"file_id"},
	}[typ]
	for name, v := range map[string]*string{"media_type": p.MediaType, "data": p.Data, "url": p.URL, "file_id": p.FileID} {
		if v != nil && !contains(fields, name) {
			return nil, invalidf("%s.%s: extra inputs are not permitted for a %q source", path, name, typ)
		}
	}
	out := sourceOut{Type: typ}
	switch typ {
	case "base64":
		if err := requireString(path+".media_type", p.MediaType, 1, maxNameChars); err != nil {
			return nil, err
		}
		if err := requireString(path+".data", p.Data, 1, math.MaxInt); err != nil {
			return nil, err
		}
		out.MediaType, out.Data = *p.MediaType, *p.Data
	case "text":
		mt := "text/plain"
		if p.MediaType != nil {
			if err := checkOneOf(path+".media_type", *p.MediaType, "text/plain"); err != nil {
				return nil, err
			}
		}
		if p.Data == nil {
			return nil, invalidf("%s.data: field required", path)
		}
		out.MediaType, out.Data = mt, *p.Data
		if out.Data == "" {
			// Keep an empty plain-text document representable: omitempty would drop it.
			return struct {
				Type      string `json:"type"`
				MediaType string `json:"media_type"`
				Data      string `json:"data"`
			}{typ, mt, ""}, nil
		}
	case "url":
		if p.URL == nil {
			return nil, invalidf("%s.url: field required", path)
		}
		if err := checkURL(path+".url", *p.URL); err != nil {
			return nil, err
		}
		out.URL = *p.URL
	case "file":
		if err := requireString(path+".file_id", p.FileID, 1, maxIDParamChars); err != nil {
			return nil, err
		}
		out.FileID = *p.FileID
	}
	return out, nil
}
