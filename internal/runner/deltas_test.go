package runner_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// TestLivePreviews: a run's previews reach a hub subscription that asked for them as
// event_start / event_delta frames (never stored, no seq) under the ID the concluding
// event is then stored with, while a plain subscription sees exactly the stored events.
func TestLivePreviews(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	const text = "héllo wörld, previewed"
	id := e.session("scripted", script([]map[string]any{
		{"thinking": true, "preview": 1},
		{"message": text, "preview": 5},
	}), "")
	ch, cancel := e.hub.SubscribePreviews(id, []string{hangar.EventAgentMessage, hangar.EventAgentThinking})
	t.Cleanup(cancel)
	previews := &stream{t: t, ch: ch}
	msgOnly, cancel2 := e.hub.SubscribePreviews(id, []string{hangar.EventAgentMessage})
	t.Cleanup(cancel2)
	plain := e.subscribe(id)

	e.send(id, userMessage("go"))
	got := previews.until(hangar.EventStatusIdle)
	stored := e.list(id)

	// The frames, in order, around the stored events.
	var shape []string
	var joined strings.Builder
	starts := map[string]string{} // previewed id → type
	for _, ev := range got {
		switch ev.Type {
		case hangar.EventStart:
			var f hangar.StartFrame
			if err := json.Unmarshal(ev.Body, &f); err != nil || f.Type != hangar.EventStart {
				t.Fatalf("event_start body %s: %v", ev.Body, err)
			}
			if _, dup := starts[f.Event.ID]; dup {
				t.Errorf("two event_start for %s", f.Event.ID)
			}
			starts[f.Event.ID] = f.Event.Type
			shape = append(shape, "start:"+f.Event.Type)
		case hangar.EventDelta:
			var f hangar.DeltaFrame
			if err := json.Unmarshal(ev.Body, &f); err != nil || f.Delta.Type != "content_delta" || f.Delta.Content.Type != "text" {
				t.Fatalf("event_delta body %s: %v", ev.Body, err)
			}
			if starts[f.EventID] != hangar.EventAgentMessage {
				t.Errorf("delta for %s before its event_start", f.EventID)
			}
			joined.WriteString(f.Delta.Content.Text)
			shape = append(shape, "delta")
		default:
			if ev.Seq == 0 {
				t.Errorf("stored event %s without seq", ev.Type)
			}
			if typ, ok := starts[ev.ID]; ok && typ != ev.Type {
				t.Errorf("%s concludes a preview of %s", ev.Type, typ)
			}
			if ev.Type == hangar.EventAgentMessage || ev.Type == hangar.EventAgentThinking {
				if _, ok := starts[ev.ID]; !ok {
					t.Errorf("%s %s was not previewed under its id", ev.Type, ev.ID)
				}
				shape = append(shape, ev.Type)
			}
		}
		if ev.Seq == 0 && ev.ID != "" {
			t.Errorf("preview frame %s carries an event id", ev.Type)
		}
	}
	want := []string{"start:agent.thinking", "agent.thinking", "start:agent.message", "delta", "delta", "delta", "delta", "delta", "agent.message"}
	if !slices.Equal(shape, want) {
		t.Errorf("shape %v, want %v", shape, want)
	}
	if joined.String() != text {
		t.Errorf("deltas join to %q, want %q", joined.String(), text)
	}

	// Never stored; a plain subscriber sees just the stored events.
	for _, ev := range stored {
		if hangar.IsPreview(ev.Type) {
			t.Errorf("stored a preview frame %s", ev.Type)
		}
	}
	plainGot := plain.until(hangar.EventStatusIdle)
	if !slices.Equal(types(plainGot), types(stored)) {
		t.Errorf("plain stream %v, want the stored events %v", types(plainGot), types(stored))
	}
	// A subscription for agent.message previews only gets no thinking event_start.
	for _, ev := range (&stream{t: t, ch: msgOnly}).until(hangar.EventStatusIdle) {
		if ev.Type == hangar.EventStart && hangar.PreviewOf(&ev) != hangar.EventAgentMessage {
			t.Errorf("agent.message-only stream got %s", ev.Body)
		}
	}
}

// TestLivePreviewsThreadScoped: a child thread's previews carry its thread ID (so only
// that thread's stream shows them), and its agent.message is stored under the previewed
// ID on the thread.
func TestLivePreviewsThreadScoped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	helper := e.agentIn("Helper", script([]map[string]any{{"message": "child says hi", "preview": 4}}), "")
	id := e.coordinatorSession(script([]map[string]any{
		delegateStep("delegate_to_helper", "say hi"),
		{"message": "lead done", "preview": 4},
	}), helper)
	ch, cancel := e.hub.SubscribePreviews(id, []string{hangar.EventAgentMessage})
	t.Cleanup(cancel)
	s := &stream{t: t, ch: ch}
	e.send(id, userMessage("go"))
	var frames []hangar.Event
	for {
		ev := s.next()
		if hangar.IsPreview(ev.Type) {
			frames = append(frames, ev)
		}
		if ev.Type == hangar.EventStatusIdle && ev.ThreadID == "" {
			break
		}
	}
	ts := e.threads(id)
	if len(ts) != 2 {
		t.Fatalf("threads %+v", ts)
	}
	child := ts[1].ID
	byThread := map[string]string{} // thread → previewed id
	text := map[string]string{}
	for _, f := range frames {
		switch f.Type {
		case hangar.EventStart:
			var sf hangar.StartFrame
			json.Unmarshal(f.Body, &sf)
			byThread[f.ThreadID] = sf.Event.ID
		case hangar.EventDelta:
			var df hangar.DeltaFrame
			json.Unmarshal(f.Body, &df)
			text[f.ThreadID] += df.Delta.Content.Text
		}
		if f.CrossPosted {
			t.Errorf("preview frame cross-posted: %s", f.Body)
		}
	}
	if text[""] != "lead done" || text[child] != "child says hi" {
		t.Errorf("previewed text by thread %q", text)
	}
	found := false
	for _, ev := range e.threadEvents(id, child) {
		found = found || (ev.Type == hangar.EventAgentMessage && ev.ID == byThread[child])
	}
	if !found {
		t.Errorf("the child's agent.message is not stored under its previewed id %s", byThread[child])
	}
}
