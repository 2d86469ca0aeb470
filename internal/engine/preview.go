package engine

// EventPreview is a control event, never stored: a live preview of an agent.message or
// agent.thinking the run is still producing (docs/streaming.md). Its ID is the
// engine-local ID the concluding event will carry (Event.ID of that agent.message or
// agent.thinking), and its Body is a Preview. The first preview of an ID opens it; the
// runner assigns the concluding event's stored ID then, publishes event_start and
// event_delta frames to the streams that asked for them, and stores the concluding event
// under that ID. A preview never concluded (an interrupt, an empty block) is simply
// abandoned: the model request's span end closes it for clients.
const EventPreview = "hangar.preview"

// Preview is the body of an EventPreview.
type Preview struct {
	// Of is the previewed event's type: hangar.EventAgentMessage or
	// hangar.EventAgentThinking (start-only: its Text is ignored).
	Of string
	// Index is the entry of the agent.message's content array the fragment lands in.
	Index int
	// Text is the fragment; "" only opens the preview. The fragments of an ID, in order,
	// must concatenate to a prefix of the concluding event's text at Index.
	Text string
}

// PreviewEvents returns the events that preview an agent.message with engine-local ID id
// and text content text, cut into chunks of about size bytes (on rune boundaries), opened
// by an empty preview. Engines without a streaming source (scripted) use it.
func PreviewEvents(id, text string, size int) []Event {
	out := []Event{{Type: EventPreview, ID: id, Body: Preview{Of: "agent.message"}}}
	if size < 1 {
		size = 1
	}
	for len(text) > 0 {
		n := min(size, len(text))
		for n < len(text) && !runeStart(text[n]) {
			n++
		}
		out = append(out, Event{Type: EventPreview, ID: id, Body: Preview{Of: "agent.message", Text: text[:n]}})
		text = text[n:]
	}
	return out
}

// runeStart reports whether b begins a UTF-8 sequence.
func runeStart(b byte) bool { return b&0xC0 != 0x80 }
