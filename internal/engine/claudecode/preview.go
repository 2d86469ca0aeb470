package claudecode

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Live previews (docs/streaming.md). Under --include-partial-messages the CLI forwards
// the Messages API stream as stream_event lines: a content_block_start of a text or
// thinking block opens a preview whose engine-local ID is "<message id>/<block index>",
// each text_delta is a fragment of it, and the assistant line that carries the finished
// block (it comes after the block's deltas, before its content_block_stop) concludes it:
// its agent.message or agent.thinking gets that ID. Thinking previews are start-only.

// previews is the translator's state of open previews.
type previews struct {
	blocks  map[int]string // block index → preview ID, for the open message's text blocks
	pending []string       // preview IDs opened and not yet concluded, in block order
}

// blockEvent handles content_block_start and content_block_delta stream events.
func (t *Translator) blockEvent(typ string, raw json.RawMessage) []engine.Event {
	var ev struct {
		Index        int `json:"index"`
		ContentBlock struct {
			Type string `json:"type"`
		} `json:"content_block"`
		Delta struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"delta"`
	}
	if t.span == "" || json.Unmarshal(raw, &ev) != nil {
		return nil
	}
	switch typ {
	case "content_block_start":
		of := ""
		switch ev.ContentBlock.Type {
		case "text":
			of = hangar.EventAgentMessage
		case "thinking", "redacted_thinking":
			of = hangar.EventAgentThinking
		default:
			return nil
		}
		id := t.span + "/" + strconv.Itoa(ev.Index)
		if t.pv.blocks == nil {
			t.pv.blocks = map[int]string{}
		}
		if of == hangar.EventAgentMessage {
			t.pv.blocks[ev.Index] = id
		}
		t.pv.pending = append(t.pv.pending, id)
		return []engine.Event{{Type: engine.EventPreview, ID: id, Body: engine.Preview{Of: of}}}
	case "content_block_delta":
		id, ok := t.pv.blocks[ev.Index]
		if !ok || ev.Delta.Type != "text_delta" || ev.Delta.Text == "" {
			return nil
		}
		return []engine.Event{{Type: engine.EventPreview, ID: id, Body: engine.Preview{Of: hangar.EventAgentMessage, Text: ev.Delta.Text}}}
	}
	return nil
}

// concludes returns the preview ID that an assistant line's block of message msgID
// concludes ("" for none): the oldest open preview of that message. Previews of earlier
// messages left open (a block the CLI never reported) are dropped.
func (t *Translator) concludes(msgID string) string {
	if msgID == "" {
		return ""
	}
	for len(t.pv.pending) > 0 {
		id := t.pv.pending[0]
		t.pv.pending = t.pv.pending[1:]
		if strings.HasPrefix(id, msgID+"/") {
			return id
		}
	}
	return ""
}

// resetPreviews forgets the open message's block previews when its span ends.
func (t *Translator) resetPreviews() {
	clear(t.pv.blocks)
}
