package main

import (
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// TestE2ELivePreviews: through the official SDK, a stream opened with event_deltas gets
// event_start / event_delta frames whose concatenated text equals the agent.message they
// preview (same id), and an agent.thinking start-only preview; a stream without
// event_deltas gets none.
func TestE2ELivePreviews(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	const text = "Live previews stream the answer — token by token."
	a := newAgent(t, c, "previews", scriptMetadata(t, []scriptStep{
		{"thinking": true, "preview": 1},
		{"message": text, "preview": 6},
	}))
	env := newEnvironment(t, c, "previews-env")
	sess := newSession(t, c, a.ID, env.ID)

	ctx := testContext(t)
	deltas := c.Beta.Sessions.Events.StreamEvents(ctx, sess.ID, anthropic.BetaSessionEventStreamParams{
		EventDeltas: []anthropic.BetaManagedAgentsDeltaType{
			anthropic.BetaManagedAgentsDeltaTypeAgentMessage, anthropic.BetaManagedAgentsDeltaTypeAgentThinking,
		},
	})
	if err := deltas.Err(); err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { deltas.Close() })
	plain := openStream(t, ctx, c, sess.ID)

	send(t, c, sess.ID, userMessage("go"))
	got := readUntil(t, deltas, isIdle)

	starts := map[string]string{} // previewed id → type
	var joined strings.Builder
	var final anthropic.BetaManagedAgentsStreamSessionEventsUnion
	thinkingConcluded := false
	for _, ev := range got {
		switch v := ev.AsAny().(type) {
		case anthropic.BetaManagedAgentsStartEvent:
			if _, dup := starts[v.Event.ID]; dup {
				t.Errorf("two event_start for %s", v.Event.ID)
			}
			starts[v.Event.ID] = v.Event.Type
		case anthropic.BetaManagedAgentsDeltaEvent:
			if starts[v.EventID] != "agent.message" {
				t.Errorf("event_delta for %s without its agent.message event_start", v.EventID)
			}
			if v.Delta.Type != "content_delta" || v.Delta.Index != 0 || v.Delta.Content.Type != "text" {
				t.Errorf("delta %s", v.RawJSON())
			}
			joined.WriteString(v.Delta.Content.Text)
		case anthropic.BetaManagedAgentsAgentMessageEvent:
			final = ev
		case anthropic.BetaManagedAgentsAgentThinkingEvent:
			thinkingConcluded = starts[v.ID] == "agent.thinking"
		}
	}
	if final.ID == "" || starts[final.ID] != "agent.message" {
		t.Fatalf("agent.message %q was not previewed (starts %v; events %v)", final.ID, starts, eventTypes(got))
	}
	if joined.String() != agentText(final) || joined.String() != text {
		t.Errorf("deltas join to %q, agent.message says %q", joined.String(), agentText(final))
	}
	if !thinkingConcluded {
		t.Error("agent.thinking did not conclude an agent.thinking event_start")
	}

	for _, ev := range readUntil(t, plain, isIdle) {
		if ev.Type == "event_start" || ev.Type == "event_delta" {
			t.Errorf("a stream without event_deltas got %s", ev.Type)
		}
	}
}
