package opencode_test

import (
	"encoding/json"
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var recordMCP = flag.Bool("record-mcp", false, "record testdata/mcp_tool.jsonl from a real run")

func mcpAgent(url string) hangar.Agent {
	return enginetest.WithMCPServer(hangar.Agent{Type: "agent", ID: "agent_1", Version: 1, Name: "mcp",
		Model: hangar.Model{ID: "claude-sonnet-4-6"}, Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`)}, url)
}

// TestRealCLIMCPTool runs the real CLI with the agent's MCP server (reached directly: the
// host sandbox has no egress proxy): the model calls docs_lookup, the server answers, and
// the events show the MCP tool use and result.
func TestRealCLIMCPTool(t *testing.T) {
	bin := opencodeBinary(t)
	t.Parallel()
	mcpURL, methods := enginetest.MCPServer(t)
	_, url := enginetest.FakeModel(t, enginetest.MCPScript(fakemodel.Default))
	s := enginetest.Spec(mcpAgent(mcpURL), `CUSTOM:lookup {"q":"hangar"}`, 0)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	enginetest.MCPTurn(t, newEngine(t, bin), newHostSandbox(t, url), s, "mcp_tool.jsonl", *recordMCP)
	if m := methods(); !slices.Contains(m, "tools/call") {
		t.Errorf("MCP server methods %q", m)
	}
}

// TestConfigMCPServers checks opencode.json's mcp section: the proxy route with the
// token as an {env:} reference, or the server's URL without the proxy.
func TestConfigMCPServers(t *testing.T) {
	e := newEngine(t, "opencode")
	s := enginetest.Spec(mcpAgent("https://mcp.example.com/x"), "hi", 0)
	s.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "tok_session_1", HTTPProxy: "http://127.0.0.1:4100"}
	var cfg struct {
		MCP map[string]map[string]any `json:"mcp"`
	}
	b := e.ConfigFile(s)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"docs": {"type": "remote", "url": "http://127.0.0.1:4100/mcp/docs/", "enabled": true, "oauth": false,
		"headers": map[string]any{"Authorization": "Bearer {env:HANGAR_MODEL_TOKEN}"}}}
	if diff := cmp.Diff(want, cfg.MCP); diff != "" {
		t.Errorf("mcp (-want +got):\n%s", diff)
	}
	if strings.Contains(string(b), "tok_session_1") {
		t.Error("the token is in the file")
	}
	s.Egress = engine.Egress{ModelBaseURL: "https://hangar.example.com/egress", Token: "tok"}
	json.Unmarshal(e.ConfigFile(s), &cfg)
	if cfg.MCP["docs"]["url"] != "https://mcp.example.com/x" || cfg.MCP["docs"]["headers"] != nil {
		t.Errorf("without the proxy: %v", cfg.MCP)
	}
}
