package factory_test

import (
	"encoding/json"
	"flag"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/factory"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var recordMCP = flag.Bool("record-mcp", false, "record testdata/mcp_tool.jsonl from a real run")

func mcpAgent(url string) hangar.Agent {
	return enginetest.WithMCPServer(hangar.Agent{Type: "agent", ID: "agent_1", Version: 1, Name: "mcp",
		Model: hangar.Model{ID: "claude-sonnet-4-6"}, Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`)}, url)
}

// TestRealCLIMCPTool runs the real CLI with the agent's MCP server (reached directly: the
// host sandbox has no egress proxy): the model loads docs___lookup with ToolSearch and
// calls it, the server answers, and the events show the MCP tool use and result. The
// engine holds the message until droid reports the server connected.
func TestRealCLIMCPTool(t *testing.T) {
	bin := droidBinary(t)
	t.Parallel()
	mcpURL, methods := enginetest.MCPServer(t)
	_, url := enginetest.FakeModel(t, enginetest.MCPScript(fakemodel.Default))
	enginetest.MCPTurn(t, newEngine(t, binaryConfig(bin)), newHostSandbox(t), spec(mcpAgent(mcpURL), `CUSTOM:lookup {"q":"hangar"}`, 0, url), "mcp_tool.jsonl", *recordMCP)
	if m := methods(); !slices.Contains(m, "tools/call") {
		t.Errorf("MCP server methods %q", m)
	}
}

// TestMCPFile checks mcp.json: the proxy route with the session token, or the server's
// URL without the proxy; none for an agent without MCP servers.
func TestMCPFile(t *testing.T) {
	s := enginetest.Spec(mcpAgent("https://mcp.example.com/x"), "hi", 0)
	s.HomeDir = "/home/agent"
	s.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "tok_session_1", HTTPProxy: "http://127.0.0.1:4100"}
	var f struct {
		MCPServers map[string]map[string]any `json:"mcpServers"`
	}
	if err := json.Unmarshal(factory.MCPFile(s), &f); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"docs": {"type": "http", "url": "http://127.0.0.1:4100/mcp/docs/",
		"headers": map[string]any{"Authorization": "Bearer tok_session_1"}}}
	if diff := cmp.Diff(want, f.MCPServers); diff != "" {
		t.Errorf("mcpServers (-want +got):\n%s", diff)
	}
	if got := factory.MCPPath(s); got != "/home/agent/.factory/mcp.json" {
		t.Errorf("MCPPath = %s", got)
	}
	s.Egress = engine.Egress{ModelBaseURL: "https://hangar.example.com/egress", Token: "tok"}
	json.Unmarshal(factory.MCPFile(s), &f)
	if f.MCPServers["docs"]["url"] != "https://mcp.example.com/x" || f.MCPServers["docs"]["headers"] != nil {
		t.Errorf("without the proxy: %v", f.MCPServers)
	}
	if factory.MCPFile(enginetest.Spec(hangar.Agent{}, "hi", 0)) != nil {
		t.Error("an mcp.json for an agent without MCP servers")
	}
}
