package runner_test

import (
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

func systemMessage(text string) hangar.Event {
	return clientEvent(hangar.EventSystemMessage, map[string]any{"content": engine.TextContent(text)})
}

// TestSystemMessageDelivered: a system.message reaches the engine with the turn of the
// user.message it accompanies (the scripted echo shows it), is stored unprocessed and
// marked processed once delivered, and is not handed to later turns again.
func TestSystemMessageDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)

	echo := e.send(id, userMessage("hi"), systemMessage("be brief"))
	if echo[1].Type != hangar.EventSystemMessage || echo[1].ProcessedAt != nil {
		t.Fatalf("echo %s processed_at %v, want a system.message not processed yet", echo[1].Type, echo[1].ProcessedAt)
	}
	var msgs []string
	for _, ev := range s.until(hangar.EventStatusIdle) {
		if ev.Type == hangar.EventAgentMessage {
			msgs = append(msgs, text(t, ev))
		}
	}
	e.send(id, userMessage("again"))
	for _, ev := range s.until(hangar.EventStatusIdle) {
		if ev.Type == hangar.EventAgentMessage {
			msgs = append(msgs, text(t, ev))
		}
	}
	want := []string{"echo: hi [system: be brief]", "echo: again"}
	if len(msgs) != 2 || msgs[0] != want[0] || msgs[1] != want[1] {
		t.Errorf("agent messages %q, want %q", msgs, want)
	}
	for _, ev := range e.list(id) {
		if ev.Type == hangar.EventSystemMessage && ev.ProcessedAt == nil {
			t.Error("system.message still unprocessed after its turn")
		}
	}
}
