package native

import (
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Live previews (docs/streaming.md): each text_delta of the Messages API stream becomes
// an engine.EventPreview fragment of the text block's agent.message, which carries the
// preview's ID when the block completes. Blocks stream one after another, so one open
// preview per model request suffices. Thinking blocks are not previewed: their
// agent.thinking is emitted as soon as the block starts.

// deltaHandler is a blockHandler that also wants text fragments as they arrive.
type deltaHandler interface {
	blockDelta(index int, text string) error
}

func (h *streamHandler) blockDelta(_ int, text string) error {
	if h.preview == "" {
		h.preview = h.r.id("msg")
	}
	return h.r.emit(h.ctx, engine.Event{Type: engine.EventPreview, ID: h.preview, Body: engine.Preview{Of: hangar.EventAgentMessage, Text: text}})
}

// takePreview returns the open preview's ID for the agent.message that concludes it, and
// closes it.
func (h *streamHandler) takePreview() string {
	id := h.preview
	h.preview = ""
	return id
}
