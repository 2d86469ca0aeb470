package gemini_test

import (
	"encoding/json"
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/gemini"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var recordMCP = flag.Bool("record-mcp", false, "record testdata/mcp_tool.jsonl from a real run")

// TestRealCLIMCPTool runs the real CLI with the agent's MCP server (reached directly: the
// host sandbox has no egress proxy): the model calls mcp_docs_lookup, the server answers,
// and the events show the MCP tool use and result.
func TestRealCLIMCPTool(t *testing.T) {
	entry := geminiEntry(t)
	t.Parallel()
	mcpURL, methods := enginetest.MCPServer(t)
	_, url := enginetest.FakeModel(t, enginetest.MCPScript(fakemodel.GeminiDefault))
	a := enginetest.WithMCPServer(hangar.Agent{Type: "agent", ID: "agent_1", Version: 1, Name: "mcp",
		Model: hangar.Model{ID: "gemini-2.5-flash"}, Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`)}, mcpURL)
	enginetest.MCPTurn(t, newEngine(t, entry), newHostSandbox(t), spec(a, `CUSTOM:lookup {"q":"hangar"}`, 0, url), "mcp_tool.jsonl", *recordMCP)
	if m := methods(); len(m) == 0 || m[0] != "initialize" {
		t.Errorf("MCP server methods %q", m)
	}
}

// TestSettingsMCPServers checks settings.json's mcpServers: the proxy route with the
// token as an environment reference, or the server's URL without the proxy.
func TestSettingsMCPServers(t *testing.T) {
	a := enginetest.WithMCPServer(hangar.Agent{}, "https://mcp.example.com/x")
	s := enginetest.Spec(a, "hi", 0)
	s.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "tok_session_1", HTTPProxy: "http://127.0.0.1:4100"}
	var got struct {
		MCPServers map[string]map[string]any `json:"mcpServers"`
		Security   any                       `json:"security"`
	}
	b := gemini.SettingsFor(s)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"docs": {"httpUrl": "http://127.0.0.1:4100/mcp/docs/", "trust": true,
		"headers": map[string]any{"Authorization": "Bearer ${GEMINI_API_KEY}"}}}
	if diff := cmp.Diff(want, got.MCPServers); diff != "" || got.Security == nil {
		t.Errorf("mcpServers (-want +got):\n%s", diff)
	}
	if string(b) == "" || json.Valid(b) == false {
		t.Fatal("invalid JSON")
	}
	s.Egress = engine.Egress{ModelBaseURL: "https://hangar.example.com/egress", Token: "tok"}
	json.Unmarshal(gemini.SettingsFor(s), &got)
	if u := got.MCPServers["docs"]["httpUrl"]; u != "https://mcp.example.com/x" || got.MCPServers["docs"]["headers"] != nil {
		t.Errorf("without the proxy: %v", got.MCPServers)
	}
	if string(gemini.SettingsFor(enginetest.Spec(hangar.Agent{}, "hi", 0))) != string(gemini.Settings) {
		t.Error("an agent without MCP servers changed settings.json")
	}
}
