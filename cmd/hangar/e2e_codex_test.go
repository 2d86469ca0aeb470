package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestE2ECodexToolConfirmation runs an always_ask codex agent through the SDK, the real
// CLI's app server in the local sandbox and the egress proxy: the command waits for the
// client's user.tool_confirmation (requires_action), runs on allow, and is declined on
// deny, the model being told so.
func TestE2ECodexToolConfirmation(t *testing.T) {
	t.Parallel()
	srv, _ := engineServer(t, engineCase{name: "codex", model: "gpt-5.1-codex"})
	c := srv.Client
	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:  "careful-codex",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "gpt-5.1-codex"},
	}, option.WithJSONSet("engine", "codex"), option.WithJSONSet("tools", []map[string]any{{
		"type":           "agent_toolset_20260401",
		"default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}},
	}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	env := newEnvironment(t, c, "sandbox")
	for _, tc := range []struct {
		result   string
		wantFile bool
		wantText string
	}{{"allow", true, "done: "}, {"deny", false, "rejected by user"}} {
		t.Run(tc.result, func(t *testing.T) {
			sess := newSession(t, c, a.ID, env.ID)
			stream := openStream(t, testContext(t), c, sess.ID)
			send(t, c, sess.ID, userMessage("TOOL:bash echo confirmed > confirmed.txt"))
			evs := readUntil(t, stream, isIdle)
			idle := evs[len(evs)-1]
			var use anthropic.BetaManagedAgentsStreamSessionEventsUnion
			for _, ev := range evs {
				if ev.Type == "agent.tool_use" {
					use = ev
				}
			}
			if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID || use.EvaluatedPermission != "ask" {
				logEvents(t, evs)
				t.Fatalf("want the tool_use (ask) and requires_action naming it; got use %s and idle %s", use.RawJSON(), idle.RawJSON())
			}
			if _, err := os.Stat(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "confirmed.txt")); err == nil {
				t.Fatal("the command ran before it was confirmed")
			}
			send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{
				ToolUseID: use.ID,
				Result:    anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResult(tc.result),
			}})
			evs = readUntil(t, stream, isIdle)
			if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
				logEvents(t, evs)
				t.Fatalf("after %s: %s", tc.result, idle.RawJSON())
			}
			var result, message string
			for _, ev := range evs {
				switch ev.Type {
				case "agent.tool_result":
					result = ev.RawJSON()
				case "agent.message":
					message = ev.RawJSON()
				}
			}
			if !strings.Contains(result, use.ID) || strings.Contains(result, `"is_error":true`) == tc.wantFile {
				t.Errorf("after %s: tool_result %s", tc.result, result)
			}
			if !strings.Contains(message, tc.wantText) {
				t.Errorf("after %s: agent.message %s, want %q in it", tc.result, message, tc.wantText)
			}
			_, err := os.Stat(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "confirmed.txt"))
			if got := err == nil; got != tc.wantFile {
				t.Errorf("after %s the file exists = %v, want %v", tc.result, got, tc.wantFile)
			}
		})
	}
}
