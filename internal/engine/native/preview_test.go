package native_test

import (
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// TestLivePreviews: the Messages API stream's text_deltas become previews of the
// agent.message that concludes them under the same ID.
func TestLivePreviews(t *testing.T) {
	f := newFixture(t)
	const reply = "a reply streamed word by word, then concluded"
	f.fake.Push(fakemodel.Text(reply))
	run, err := f.engine(t).Start(t.Context(), sandbox(t), spec(agent(toolset), "hello"))
	if err != nil {
		t.Fatal(err)
	}
	evs := enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	enginetest.CheckEvents(t, evs)
	var frags []string
	var id string
	var final engine.Event
	for _, ev := range evs {
		switch ev.Type {
		case engine.EventPreview:
			if id == "" {
				id = ev.ID
			}
			if ev.ID != id {
				t.Errorf("preview %q, want one preview %q", ev.ID, id)
			}
			frags = append(frags, ev.Body.(engine.Preview).Text)
		case hangar.EventAgentMessage:
			final = ev
		}
	}
	if len(frags) < 2 || strings.Join(frags, "") != reply {
		t.Errorf("fragments %q, want several joining to %q", frags, reply)
	}
	if id == "" || final.ID != id {
		t.Errorf("agent.message id %q, preview %q", final.ID, id)
	}
}
