package hangar

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event types the API accepts from clients.
const (
	EventUserMessage          = "user.message"
	EventUserInterrupt        = "user.interrupt"
	EventUserToolConfirmation = "user.tool_confirmation"
	EventUserCustomToolResult = "user.custom_tool_result"
	// EventUserToolResult is a self_hosted worker's result of an agent.tool_use the
	// server delegated to it.
	EventUserToolResult = "user.tool_result"
)

// Event types Hangar emits.
const (
	EventAgentMessage       = "agent.message"
	EventAgentThinking      = "agent.thinking"
	EventAgentToolUse       = "agent.tool_use"
	EventAgentToolResult    = "agent.tool_result"
	EventAgentCustomToolUse = "agent.custom_tool_use"
	EventStatusRunning      = "session.status_running"
	EventStatusIdle         = "session.status_idle"
	EventStatusRescheduled  = "session.status_rescheduled"
	EventStatusTerminated   = "session.status_terminated"
	EventSessionError       = "session.error"
	EventSessionDeleted     = "session.deleted"
	EventSessionUpdated     = "session.updated"
	EventModelRequestStart  = "span.model_request_start"
	EventModelRequestEnd    = "span.model_request_end"
)

// Event is one entry of a session's event log. Seq is the per-session sequence number
// (1, 2, 3...) assigned by the store; it is the SSE "id:" and the Last-Event-ID resume point.
// Body holds the event's fields other than type, id and processed_at, as a JSON object.
type Event struct {
	ID          string
	SessionID   string
	Seq         int64
	Type        string
	ProcessedAt *time.Time
	Body        json.RawMessage
	// Wire, when set, is the event's encoded wire JSON (MarshalJSON's output), computed
	// once by a publisher fanning the event out to many streams. Never stored.
	Wire json.RawMessage
	// ThreadID is the child session thread the event belongs to; "" for the primary
	// thread (the session-level stream). CrossPosted marks a child thread's event that
	// the primary stream shows too (thread status, requests for the client). See
	// docs/threads.md.
	ThreadID    string
	CrossPosted bool
}

// OnPrimary reports whether the session-level (primary thread) stream shows the event.
func (e *Event) OnPrimary() bool { return e.ThreadID == "" || e.CrossPosted }

// MarshalJSON writes the wire form: {"type", "id", ...Body fields, "processed_at"}.
func (e Event) MarshalJSON() ([]byte, error) {
	head := struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}{e.Type, e.ID}
	out, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	out = out[:len(out)-1]
	if body := trimObject(e.Body); len(body) > 0 {
		out = append(out, ',')
		out = append(out, body...)
	}
	out = append(out, `,"processed_at":`...)
	if e.ProcessedAt == nil {
		out = append(out, "null"...)
	} else {
		ts, _ := e.ProcessedAt.UTC().MarshalJSON()
		out = append(out, ts...)
	}
	return append(out, '}'), nil
}

// trimObject returns the inside of a JSON object ("a":1,"b":2) or nil for empty/null.
func trimObject(b json.RawMessage) []byte {
	s := string(b)
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\n' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	if len(s) < 2 || s[0] != '{' {
		return nil
	}
	inner := s[1 : len(s)-1]
	for len(inner) > 0 && (inner[0] == ' ' || inner[0] == '\n' || inner[0] == '\t' || inner[0] == '\r') {
		inner = inner[1:]
	}
	if inner == "" {
		return nil
	}
	return []byte(inner)
}

// NewEvent builds an event of type typ whose body is fields marshaled as a JSON object
// (nil for none). It panics if fields does not marshal to an object: a programming error.
func NewEvent(typ string, fields any) Event {
	e := Event{Type: typ}
	if fields != nil {
		b, err := json.Marshal(fields)
		if err != nil || len(b) == 0 || b[0] != '{' {
			panic(fmt.Sprintf("hangar: event %s body is not an object: %v", typ, err))
		}
		e.Body = b
	}
	return e
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	Types       []string
	AfterSeq    int64 // only events with Seq > AfterSeq
	ProcessedAt TimeRange
	// Thread selects the events of one child thread; "" selects the primary view (the
	// primary thread's events and those cross-posted to it).
	Thread string
	Page   Page
}

// StopReason is the stop_reason of a session.status_idle event.
type StopReason struct {
	Type     string   `json:"type"`
	EventIDs []string `json:"event_ids,omitempty"`
}

// SessionError is the error object of a session.error event.
type SessionError struct {
	Type        string      `json:"type"`
	Message     string      `json:"message"`
	RetryStatus RetryStatus `json:"retry_status"`
}

// RetryStatus tells whether a session error is being retried.
type RetryStatus struct {
	Type string `json:"type"` // retrying, exhausted, terminal
}
