package main

import (
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestE2ESystemMessage: through the official SDK, a system.message sent after a
// user.message reaches the scripted engine with that turn, and a session whose engine
// cannot take system turns (codex) refuses it with a 400 naming the engine.
func TestE2ESystemMessage(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	env := newEnvironment(t, c, "system-env")
	sys := anthropic.BetaManagedAgentsEventParamsOfSystemMessage([]anthropic.BetaManagedAgentsSystemContentBlockParam{{Text: "answer in French"}})

	a := newAgent(t, c, "system", nil)
	sess := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)
	echo := send(t, c, sess.ID, userMessage("hello"), sys)
	if m := echo[1].AsSystemMessage(); echo[1].Type != "system.message" || len(m.Content) != 1 || m.Content[0].Text != "answer in French" || !m.ProcessedAt.IsZero() {
		t.Errorf("echo %s", echo[1].RawJSON())
	}
	var got string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.message" {
			got = agentText(ev)
		}
	}
	if got != "echo: hello [system: answer in French]" {
		t.Errorf("agent.message %q", got)
	}

	codex := newAgent(t, c, "codex-system", nil, option.WithJSONSet("engine", "codex"))
	cs := newSession(t, c, codex.ID, env.ID)
	_, err := c.Beta.Sessions.Events.Send(testContext(t), cs.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hello"), sys},
	})
	apiErr := wantStatus(t, err, 400, "invalid_request_error")
	if !strings.Contains(apiErr.Error(), `engine \"codex\" cannot take system.message events`) && !strings.Contains(apiErr.Error(), `engine "codex" cannot take system.message events`) {
		t.Errorf("error %v", apiErr)
	}
}
