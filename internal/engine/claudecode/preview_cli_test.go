package claudecode_test

import (
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// TestRealCLIPreviews runs the pinned CLI against the fake model: its partial messages
// become previews of the turn's agent.message, concluded by it under the same ID, and a
// system turn reaches the model as a <system-reminder> block of the user message.
func TestRealCLIPreviews(t *testing.T) {
	bin := claudeBinary(t)
	t.Parallel()
	fake, url := newFake(t)
	sb := newHostSandbox(t, url)
	e := newEngine(t, bin)
	agent := hangar.Agent{Type: "agent", ID: "agent_1", Version: 1, Name: "coder", Model: hangar.Model{ID: "claude-sonnet-4-6"}}
	spec := enginetest.Spec(agent, "say something long enough to stream", 0)
	spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session_1"}
	spec.System = []string{"Answer in French."}
	const reply = "Bonjour, voici une réponse assez longue pour être diffusée en morceaux."
	fake.Push(fakemodel.Text(reply))
	evs := enginetest.RunTurn(t, e, sb, spec)
	enginetest.CheckEvents(t, evs)
	var frags strings.Builder
	var final engine.Event
	for _, ev := range evs {
		switch ev.Type {
		case engine.EventPreview:
			frags.WriteString(ev.Body.(engine.Preview).Text)
		case hangar.EventAgentMessage:
			final = ev
		}
	}
	if final.ID == "" || frags.Len() == 0 {
		t.Fatalf("agent.message %q with %d bytes of previews; events %v", final.ID, frags.Len(), enginetest.Types(evs))
	}
	if frags.String() != reply {
		t.Errorf("previews join to %q, want %q", frags.String(), reply)
	}
	found := false
	for _, r := range fake.MessageRequests() {
		for _, m := range r.Messages {
			for _, b := range m.Content {
				found = found || (m.Role == "user" && strings.Contains(b.Text, "<system-reminder>\nAnswer in French.\n</system-reminder>"))
			}
		}
	}
	if !found {
		t.Error("no model request carried the system turn as a <system-reminder> block")
	}
}
