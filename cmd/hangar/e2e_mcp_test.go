package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// mcpTestToken is the static_bearer credential of the test MCP server. It must reach the
// server and never the sandbox.
const mcpTestToken = "mcp-secret-token-for-tests"

// mcpTestServer is a minimal MCP server over streamable HTTP (JSON responses only): it
// answers initialize, tools/list and tools/call of one tool, lookup, and records the
// Authorization header and method of every request.
type mcpTestServer struct {
	mu      sync.Mutex
	auths   []string
	methods []string
}

func (m *mcpTestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.auths = append(m.auths, r.Header.Get("Authorization"))
	m.mu.Unlock()
	if r.Method != http.MethodPost {
		// No server-initiated stream: the spec lets a server answer GET with 405.
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+mcpTestToken {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			ProtocolVersion string         `json:"protocolVersion"`
			Name            string         `json:"name"`
			Arguments       map[string]any `json:"arguments"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.methods = append(m.methods, msg.Method)
	m.mu.Unlock()
	if len(msg.ID) == 0 { // a notification (notifications/initialized)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	reply := map[string]any{"jsonrpc": "2.0", "id": msg.ID}
	switch msg.Method {
	case "initialize":
		reply["result"] = map[string]any{"protocolVersion": msg.Params.ProtocolVersion,
			"capabilities": map[string]any{"tools": map[string]any{}}, "serverInfo": map[string]any{"name": "test-docs", "version": "1.0.0"}}
	case "tools/list":
		reply["result"] = map[string]any{"tools": []any{map[string]any{
			"name": "lookup", "description": "Look up a word in the docs",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}, "required": []string{"q"}},
		}}}
	case "tools/call":
		q, _ := msg.Params.Arguments["q"].(string)
		reply["result"] = map[string]any{"content": []any{map[string]any{"type": "text", "text": "definition of " + q}}, "isError": false}
	case "ping":
		reply["result"] = map[string]any{}
	default:
		reply["error"] = map[string]any{"code": -32601, "message": "method not found"}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(reply)
}

func (m *mcpTestServer) seen() (auths, methods []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.auths...), append([]string(nil), m.methods...)
}

// TestE2EMCPStaticBearer runs the real Claude Code CLI in bubblewrap with an agent whose
// URL MCP server needs a bearer token held in the session's vault (static_bearer). The CLI
// reaches the server only through the egress proxy's /mcp/docs/ route with its session
// token; the proxy sends the vault's token. The tool call comes out as
// agent.mcp_tool_use/agent.mcp_tool_result, and the token is nowhere in the sandbox.
func TestE2EMCPStaticBearer(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	mcp := &mcpTestServer{}
	mcpSrv := httptest.NewServer(mcp)
	t.Cleanup(mcpSrv.Close)
	mcpURL := mcpSrv.URL + "/mcp"

	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "mcp user",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("tools", []map[string]any{
		{"type": "agent_toolset_20260401"},
		{"type": "mcp_toolset", "mcp_server_name": "docs", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_allow"}}},
	}), option.WithJSONSet("mcp_servers", []map[string]any{{"type": "url", "name": "docs", "url": mcpURL}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	// Limited networking: the MCP server is reachable only because allow_mcp_servers adds
	// its host (a loopback IP literal, which the proxy allows only when named).
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "mcp"},
		option.WithJSONSet("config", map[string]any{
			"type":       "cloud",
			"networking": map[string]any{"type": "limited", "allowed_hosts": []string{}, "allow_mcp_servers": true},
		}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "mcp creds"})
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
	var use, result anthropic.BetaManagedAgentsStreamSessionEventsUnion
	evs := readUntil(t, stream, isIdle)
	for _, ev := range evs {
		switch ev.Type {
		case "agent.mcp_tool_use":
			use = ev
		case "agent.mcp_tool_result":
			result = ev
		}
	}
	input, _ := use.Input.(map[string]any)
	if use.Name != "lookup" || use.MCPServerName != "docs" || input["q"] != "hangar" {
		t.Fatalf("want agent.mcp_tool_use(docs, lookup, q=hangar); events %q, use %s", eventTypes(evs), use.RawJSON())
	}
	if !strings.Contains(result.RawJSON(), "definition of hangar") || !strings.Contains(result.RawJSON(), use.ID) {
		t.Fatalf("want agent.mcp_tool_result of %s with the server's text; got %s", use.ID, result.RawJSON())
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

	// The token is nowhere in the sandbox: not in the CLI's environment or files (the
	// command splits it so its own text cannot match), nor under the session's host
	// directories.
	send(t, c, sess.ID, userMessage(`TOOL:bash env; ps -ef; grep -rl "mcp-secret-token""-for-tests" $HOME /workspace /tmp /etc /run 2>/dev/null; echo end-of-scan`))
	var scan string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			scan = ev.RawJSON()
		}
	}
	if !strings.Contains(scan, "end-of-scan") || !strings.Contains(scan, "ANTHROPIC_API_KEY=") {
		t.Fatalf("the scan did not run: %s", scan)
	}
	if strings.Contains(scan, mcpTestToken) {
		t.Fatalf("the MCP token is visible inside the sandbox: %s", scan)
	}
	root := filepath.Join(srv.DataDir, "sandboxes", sess.ID)
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), mcpTestToken) {
			t.Errorf("%s contains the MCP token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
