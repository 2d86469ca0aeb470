package hangar

import "encoding/json"

// Live previews (docs/streaming.md): stream-only frames that show an agent.message (or
// agent.thinking) while the model is still producing it, sent only to streams that asked
// for them with event_deltas[]. They are never stored, never replayed and carry no
// sequence number; the buffered event with the previewed id concludes them.
const (
	// EventStart opens the preview of the event whose type and id it names.
	EventStart = "event_start"
	// EventDelta is one fragment of an open agent.message preview.
	EventDelta = "event_delta"
)

// IsPreview reports whether typ is a live preview frame type.
func IsPreview(typ string) bool { return typ == EventStart || typ == EventDelta }

// PreviewOf returns the type of the event a preview frame previews (agent.message or
// agent.thinking), "" when ev is not a preview frame. A preview frame's Body is its whole
// wire object.
func PreviewOf(ev *Event) string {
	switch ev.Type {
	case EventDelta:
		// Only agent.message previews carry deltas; agent.thinking previews are
		// start-only.
		return EventAgentMessage
	case EventStart:
		var f struct {
			Event struct {
				Type string `json:"type"`
			} `json:"event"`
		}
		if json.Unmarshal(ev.Body, &f) != nil {
			return ""
		}
		return f.Event.Type
	}
	return ""
}

// StartFrame is the wire body of an event_start frame.
type StartFrame struct {
	Type  string       `json:"type"`
	Event PreviewedRef `json:"event"`
}

// PreviewedRef names the previewed event.
type PreviewedRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// DeltaFrame is the wire body of an event_delta frame.
type DeltaFrame struct {
	Type    string       `json:"type"`
	EventID string       `json:"event_id"`
	Delta   ContentDelta `json:"delta"`
}

// ContentDelta is a fragment of the previewed agent.message's content[Index].
type ContentDelta struct {
	Type    string    `json:"type"` // "content_delta"
	Index   int       `json:"index"`
	Content TextBlock `json:"content"`
}

// TextBlock is a text content block.
type TextBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}
