package main

import (
	"strings"
	"testing"

	"net/http/httptest"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// The native loop speaks MCP itself: a self_hosted session (no sandbox) whose agent has
// a URL MCP server needing the vault's static_bearer token. The server process reaches
// the MCP server through the egress proxy's route with the session token, and the proxy
// sends the vault's token; the call asks first (always_ask), and comes out as
// agent.mcp_tool_use / agent.mcp_tool_result.
func TestE2ENativeMCP(t *testing.T) {
	t.Parallel()
	srv, fake := nativeServer(t)
	c := srv.Client
	ctx := testContext(t)
	mcp := &mcpTestServer{}
	mcpSrv := httptest.NewServer(mcp)
	t.Cleanup(mcpSrv.Close)
	mcpURL := mcpSrv.URL + "/mcp"

	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "native mcp",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("engine", "native"), option.WithJSONSet("tools", []map[string]any{
		{"type": "mcp_toolset", "mcp_server_name": "docs", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}}},
	}), option.WithJSONSet("mcp_servers", []map[string]any{{"type": "url", "name": "docs", "url": mcpURL}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name:   "native-mcp-workers",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "native mcp creds"})
	if err != nil {
		t.Fatalf("create vault: %v", err)
	}
	if _, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
			Token: mcpTestToken, MCPServerURL: mcpURL,
		}},
	}); err != nil {
		t.Fatalf("create credential: %v", err)
	}
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
		VaultIDs:      []string{v.ID},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	stream := openStream(t, ctx, c, sess.ID)

	send(t, c, sess.ID, userMessage(`CUSTOM:lookup {"q":"hangar"}`))
	evs := readUntil(t, stream, isIdle)
	use := evs[len(evs)-2]
	input, _ := use.Input.(map[string]any)
	if use.Type != "agent.mcp_tool_use" || use.Name != "lookup" || use.MCPServerName != "docs" || input["q"] != "hangar" || use.EvaluatedPermission != "ask" {
		logEvents(t, evs)
		t.Fatalf("want agent.mcp_tool_use(docs, lookup, ask) before the idle; got %s", use.RawJSON())
	}
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
		t.Fatalf("idle %s, want requires_action for %s", idle.RawJSON(), use.ID)
	}
	if _, methods := mcp.seen(); contains(methods, "tools/call") {
		t.Fatal("the MCP tool ran before its confirmation")
	}
	if _, err := c.Beta.Sessions.Events.Send(ctx, sess.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{{
		OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{ToolUseID: use.ID, Result: anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResultAllow},
	}}}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	evs = readUntil(t, stream, isIdle)
	var result anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, ev := range evs {
		if ev.Type == "agent.mcp_tool_result" {
			result = ev
		}
	}
	if !strings.Contains(result.RawJSON(), "definition of hangar") || result.MCPToolUseID != use.ID {
		logEvents(t, evs)
		t.Fatalf("want agent.mcp_tool_result of %s with the server's text; got %s", use.ID, result.RawJSON())
	}
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
		t.Fatalf("turn ended %s", idle.RawJSON())
	}
	auths, methods := mcp.seen()
	if !contains(methods, "initialize") || !contains(methods, "tools/call") {
		t.Errorf("the MCP server saw methods %q", methods)
	}
	for _, a := range auths {
		if a != "Bearer "+mcpTestToken {
			t.Errorf("the MCP server saw Authorization %q, want the vault's token", a)
		}
	}
	reqs := fake.MessageRequests()
	if r, ok := reqs[len(reqs)-1].LastToolResult(); !ok || r.ResultText() != "definition of hangar" {
		t.Errorf("the model got %+v", r)
	}
}
