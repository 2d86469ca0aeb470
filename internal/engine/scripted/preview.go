package scripted

import (
	"context"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Live previews of scripted steps (Step.Preview, docs/streaming.md): the fragments a
// model's stream would produce, then the concluding event under the same engine ID.

// sayPreviewed emits text as preview fragments of about size bytes, then its agent.message.
func (r *run) sayPreviewed(ctx context.Context, text string, size int) error {
	id := r.id("msg")
	for _, ev := range engine.PreviewEvents(id, text, size) {
		if err := r.emit(ctx, ev); err != nil {
			return err
		}
	}
	r.outputText = append(r.outputText, text)
	return r.emit(ctx, engine.Event{Type: hangar.EventAgentMessage, ID: id, Body: map[string]any{"content": engine.TextContent(text)}})
}

// think emits agent.thinking, opening its (start-only) preview first when preview > 0.
func (r *run) think(ctx context.Context, preview int) error {
	if preview <= 0 {
		return r.emit(ctx, engine.Event{Type: hangar.EventAgentThinking})
	}
	id := r.id("thinking")
	if err := r.emit(ctx, engine.Event{Type: engine.EventPreview, ID: id, Body: engine.Preview{Of: hangar.EventAgentThinking}}); err != nil {
		return err
	}
	return r.emit(ctx, engine.Event{Type: hangar.EventAgentThinking, ID: id})
}
