package enginetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// preview is what CheckEvents gathered of one live preview.
type preview struct {
	of   string
	text map[int]string // agent.message fragments by content index, concatenated
}

// checkPreview checks one engine.EventPreview and adds it to previews.
func checkPreview(t *testing.T, i int, ev engine.Event, previews map[string]*preview) {
	t.Helper()
	p, ok := ev.Body.(engine.Preview)
	switch {
	case !ok:
		t.Errorf("event %d: preview body is %T, want engine.Preview", i, ev.Body)
		return
	case ev.ID == "":
		t.Errorf("event %d: preview without an id", i)
		return
	case p.Of != hangar.EventAgentMessage && p.Of != hangar.EventAgentThinking:
		t.Errorf("event %d: preview of %q", i, p.Of)
		return
	}
	pv := previews[ev.ID]
	if pv == nil {
		pv = &preview{of: p.Of, text: map[int]string{}}
		previews[ev.ID] = pv
	}
	if pv.of != p.Of {
		t.Errorf("event %d: preview %q of %s, opened as %s", i, ev.ID, p.Of, pv.of)
	}
	pv.text[p.Index] += p.Text
}

// checkConcluded checks that each preview's fragments are a prefix of its concluding
// event's text, when that event came (a preview may be abandoned).
func checkConcluded(t *testing.T, evs []engine.Event, previews map[string]*preview) {
	t.Helper()
	for _, ev := range evs {
		pv := previews[ev.ID]
		if ev.Type == engine.EventPreview || pv == nil {
			continue
		}
		if ev.Type != pv.of {
			t.Errorf("preview %q of %s concluded by %s", ev.ID, pv.of, ev.Type)
			continue
		}
		if ev.Type != hangar.EventAgentMessage {
			continue
		}
		var body struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		b, _ := json.Marshal(ev.Body)
		json.Unmarshal(b, &body)
		for idx, text := range pv.text {
			final := ""
			if idx < len(body.Content) {
				final = body.Content[idx].Text
			}
			if !strings.HasPrefix(final, text) {
				t.Errorf("preview %q content[%d] %q is not a prefix of the final text %q", ev.ID, idx, text, final)
			}
		}
	}
}

// WithoutPreviews returns evs without their live preview events, for tests about the
// events the runner stores.
func WithoutPreviews(evs []engine.Event) []engine.Event {
	out := make([]engine.Event, 0, len(evs))
	for _, ev := range evs {
		if ev.Type != engine.EventPreview {
			out = append(out, ev)
		}
	}
	return out
}
