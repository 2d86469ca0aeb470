package runner

import (
	"encoding/json"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Live previews (docs/streaming.md). An engine emits engine.EventPreview events while the
// model streams an agent.message or agent.thinking. The runner never stores them: the
// first preview of an engine-local ID pre-assigns the stored ID the concluding event will
// carry and publishes an event_start frame; each later fragment is an event_delta frame.
// The hub hands these frames only to streams that asked for event_deltas of that type,
// and record stores the concluding event under the pre-assigned ID.

// preview publishes the frames of one engine preview event of the primary thread.
func (t *turn) preview(ev engine.Event) {
	if t.previews == nil {
		t.previews = map[string]string{}
	}
	t.r.publishPreview(t.st, "", t.previews, "", ev)
}

// previewedID returns the stored ID an engine event of the primary thread was previewed
// under ("" when it was not), consuming the preview: an ID is concluded once.
func (t *turn) previewedID(ev engine.Event) string {
	return previewedID(t.previews, "", ev)
}

// childPreviewKey prefixes a child thread's open previews in its ids map (engine-local
// ID → stored ID), apart from the engine-local IDs of its recorded events.
const childPreviewKey = "\x00preview:"

// childPreview publishes the frames of one engine preview event of child thread
// threadID: deltas are thread-scoped, so only that thread's streams show them.
func (r *Runner) childPreview(st *session, threadID string, ids map[string]string, ev engine.Event) {
	r.publishPreview(st, threadID, ids, childPreviewKey, ev)
}

// childPreviewedID is previewedID for a child thread's ids map.
func childPreviewedID(ids map[string]string, ev engine.Event) string {
	return previewedID(ids, childPreviewKey, ev)
}

// publishPreview publishes the frames of preview event ev, opening it (pre-assigning the
// stored ID of its concluding event in open[prefix+ev.ID]) on its first fragment.
func (r *Runner) publishPreview(st *session, threadID string, open map[string]string, prefix string, ev engine.Event) {
	p, ok := ev.Body.(engine.Preview)
	if !ok || ev.ID == "" || (p.Of != hangar.EventAgentMessage && p.Of != hangar.EventAgentThinking) {
		return // malformed: previews are best effort
	}
	id, opened := open[prefix+ev.ID]
	var frames []hangar.Event
	if !opened {
		id = r.newID(hangar.PrefixEvent)
		open[prefix+ev.ID] = id
		frames = append(frames, previewFrame(hangar.EventStart, hangar.StartFrame{
			Type: hangar.EventStart, Event: hangar.PreviewedRef{Type: p.Of, ID: id},
		}))
	}
	if p.Of == hangar.EventAgentMessage && p.Text != "" {
		frames = append(frames, previewFrame(hangar.EventDelta, hangar.DeltaFrame{
			Type: hangar.EventDelta, EventID: id, Delta: hangar.ContentDelta{
				Type: "content_delta", Index: p.Index, Content: hangar.TextBlock{Type: "text", Text: p.Text},
			},
		}))
	}
	if len(frames) == 0 || r.hub == nil {
		return
	}
	// Under st.mu like stored events, so a stream sees frames and events in the order
	// the runs produced them.
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, f := range frames {
		f.SessionID, f.ThreadID = st.id, threadID
		r.hub.Publish(f)
	}
}

// previewFrame is a preview frame as the hub carries it: no ID, no Seq, and its whole
// wire object as Body (and Wire).
func previewFrame(typ string, frame any) hangar.Event {
	b, _ := json.Marshal(frame) // plain structs of strings and ints
	return hangar.Event{Type: typ, Body: b, Wire: b}
}

// previewedID returns the stored ID pre-assigned to concluding event ev in open (under
// prefix), "" when it was not previewed, and forgets it.
func previewedID(open map[string]string, prefix string, ev engine.Event) string {
	if ev.ID == "" || (ev.Type != hangar.EventAgentMessage && ev.Type != hangar.EventAgentThinking) {
		return ""
	}
	id, ok := open[prefix+ev.ID]
	if !ok {
		return ""
	}
	delete(open, prefix+ev.ID)
	return id
}
