package dream

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hangar-dev/hangar"
)

// maxTranscript bounds one session's transcript (bytes, keeping the end: the latest
// state of a session is what memories should reflect).
const maxTranscript = 100_000

// transcript renders a session's conversation as text: messages, tool calls and results.
// Runtime events (status, spans) carry nothing a memory should keep.
func (r *Runner) transcript(ctx context.Context, sessionID string) (Transcript, error) {
	if _, err := r.cfg.Store.GetSession(ctx, sessionID); hangar.IsKind(err, hangar.KindNotFound) {
		return Transcript{}, failf("invalid_request_error", "session %s no longer exists", sessionID)
	} else if err != nil {
		return Transcript{}, err
	}
	var b strings.Builder
	p := hangar.Page{Limit: 500}
	for {
		evs, res, err := r.cfg.Store.ListEvents(ctx, sessionID, hangar.EventFilter{Page: p,
			Types: []string{"user.message", "agent.message", "agent.tool_use", "agent.tool_result", "agent.custom_tool_use", "user.custom_tool_result"}})
		if err != nil {
			return Transcript{}, err
		}
		for _, ev := range evs {
			renderEvent(&b, ev)
		}
		if res.Next == "" {
			break
		}
		c, err := hangar.DecodeCursor(res.Next)
		if err != nil {
			return Transcript{}, err
		}
		p.Cursor = &c
	}
	text := b.String()
	if len(text) > maxTranscript {
		text = "…(earlier events omitted)…\n" + text[len(text)-maxTranscript:]
	}
	return Transcript{SessionID: sessionID, Text: text}, nil
}

// body is the part of an event body a transcript shows.
type body struct {
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"`
	Input   json.RawMessage `json:"input"`
	IsError bool            `json:"is_error"`
}

func renderEvent(b *strings.Builder, ev hangar.Event) {
	var m body
	if json.Unmarshal(ev.Body, &m) != nil {
		return
	}
	switch ev.Type {
	case "user.message":
		fmt.Fprintf(b, "user: %s\n", texts(m.Content))
	case "agent.message":
		fmt.Fprintf(b, "agent: %s\n", texts(m.Content))
	case "agent.tool_use", "agent.custom_tool_use":
		fmt.Fprintf(b, "tool call %s: %s\n", m.Name, clip(string(m.Input), 2000))
	case "agent.tool_result", "user.custom_tool_result":
		label := "tool result"
		if m.IsError {
			label = "tool error"
		}
		fmt.Fprintf(b, "%s: %s\n", label, clip(texts(m.Content), 2000))
	}
}

// texts joins the text blocks of a content array (or returns a plain string content).
func texts(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &blocks)
	var parts []string
	for _, bl := range blocks {
		if bl.Type == "text" {
			parts = append(parts, bl.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
