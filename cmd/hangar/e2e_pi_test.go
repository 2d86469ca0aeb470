package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestE2EPiCustomToolAndConfirmation drives pi's bridge extension through the real
// server and sandbox: a custom tool call waits for the client's result
// (requires_action), and an always_ask bash call waits for its confirmation, then runs.
func TestE2EPiCustomToolAndConfirmation(t *testing.T) {
	t.Parallel()
	srv, _ := engineServer(t, engineCase{name: "pi", model: "claude-sonnet-4-6", shell: "bash"})
	c := srv.Client
	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:  "pi-bridge",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
	}, option.WithJSONSet("engine", "pi"), option.WithJSONSet("tools", []map[string]any{
		{"type": "agent_toolset_20260401", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}}},
		{"type": "custom", "name": "get_weather", "description": "Current weather of a city",
			"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}},
	}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	awaited := func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion, typ string) anthropic.BetaManagedAgentsStreamSessionEventsUnion {
		t.Helper()
		var use anthropic.BetaManagedAgentsStreamSessionEventsUnion
		for _, ev := range evs {
			if ev.Type == typ {
				use = ev
			}
		}
		idle := evs[len(evs)-1]
		if use.ID == "" || idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
			logEvents(t, evs)
			t.Fatalf("want a %s and requires_action naming it; got %s and %s", typ, use.RawJSON(), idle.RawJSON())
		}
		return use
	}
	reply := func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) string {
		t.Helper()
		if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
			logEvents(t, evs)
			t.Fatalf("turn ended with %s", idle.RawJSON())
		}
		var text string
		for _, ev := range evs {
			if ev.Type == "agent.message" {
				text = agentText(ev)
			}
		}
		return text
	}

	send(t, c, sess.ID, userMessage(`CUSTOM:get_weather {"city":"Paris"}`))
	use := awaited(readUntil(t, stream, isIdle), "agent.custom_tool_use")
	if input, _ := use.Input.(map[string]any); use.Name != "get_weather" || input["city"] != "Paris" {
		t.Errorf("custom tool use %s", use.RawJSON())
	}
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: use.ID,
		Content: []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{
			{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny"}},
		},
	}})
	if got := reply(readUntil(t, stream, isIdle)); !strings.Contains(got, "done: sunny") {
		t.Errorf("after the custom tool result: %q", got)
	}

	send(t, c, sess.ID, userMessage("TOOL:bash echo confirmed > confirmed.txt"))
	use = awaited(readUntil(t, stream, isIdle), "agent.tool_use")
	if use.EvaluatedPermission != "ask" || use.Name != "bash" {
		t.Errorf("tool use %s", use.RawJSON())
	}
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{
		ToolUseID: use.ID,
		Result:    anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResult("allow"),
	}})
	reply(readUntil(t, stream, isIdle))
	if _, err := os.Stat(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "confirmed.txt")); err != nil {
		t.Errorf("the confirmed command did not run: %v", err)
	}
}
