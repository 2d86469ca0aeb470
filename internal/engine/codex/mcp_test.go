package codex_test

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var recordMCP = flag.Bool("record-mcp", false, "record testdata/mcp_tool.jsonl from a real run")

// TestRealCLIMCPTool runs the real app server with the agent's MCP server (reached
// directly: the host sandbox has no egress proxy): the model calls lookup in the
// mcp__docs namespace, the server answers, and the events show the MCP tool use and result.
func TestRealCLIMCPTool(t *testing.T) {
	bin := codexBinary(t)
	t.Parallel()
	mcpURL, methods := enginetest.MCPServer(t)
	_, url := enginetest.FakeModel(t, enginetest.MCPScript(fakemodel.ResponsesDefault))
	s := enginetest.Spec(enginetest.WithMCPServer(agent(""), mcpURL), `CUSTOM:lookup {"q":"hangar"}`, 0)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	enginetest.MCPTurn(t, newEngine(t, bin), newHostSandbox(t, url), s, "mcp_tool.jsonl", *recordMCP)
	if m := methods(); !slices.Contains(m, "tools/call") {
		t.Errorf("MCP server methods %q", m)
	}
}

// TestArgsMCPServers checks the -c options of the agent's MCP servers: the proxy route
// with the session token's variable, the server's URL without the proxy, and no option
// for a name codex would refuse.
func TestArgsMCPServers(t *testing.T) {
	e := newEngine(t, "codex")
	a := enginetest.WithMCPServer(agent(""), "https://mcp.example.com/x")
	s := enginetest.Spec(a, "hi", 0)
	s.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "tok_session_1", HTTPProxy: "http://127.0.0.1:4100"}
	args := strings.Join(e.Args(s), " ")
	for _, want := range []string{`-c mcp_servers.docs.url="http://127.0.0.1:4100/mcp/docs/"`, `-c mcp_servers.docs.bearer_token_env_var="HANGAR_MODEL_TOKEN"`} {
		if !strings.Contains(args, want) {
			t.Errorf("args %s lack %s", args, want)
		}
	}
	if strings.Contains(args, "tok_session_1") {
		t.Errorf("the token is in the arguments: %s", args)
	}
	s.Egress = engine.Egress{ModelBaseURL: "https://hangar.example.com/egress", Token: "tok"}
	if args := strings.Join(e.Args(s), " "); !strings.Contains(args, `mcp_servers.docs.url="https://mcp.example.com/x"`) || strings.Contains(args, "bearer_token_env_var") {
		t.Errorf("without the proxy: %s", args)
	}
	a.MCPServers = []byte(`[{"type":"url","name":"bad.name","url":"https://mcp.example.com/y"}]`)
	if args := strings.Join(e.Args(enginetest.Spec(a, "hi", 0)), " "); strings.Contains(args, "mcp_servers") {
		t.Errorf("a name codex refuses: %s", args)
	}
}
