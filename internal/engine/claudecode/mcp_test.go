package claudecode_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

// TestArgsMCPThroughEgress checks that, with the egress proxy, URL MCP servers point at
// the proxy's /mcp/<name>/ route with the session token, never at the real URL.
func TestArgsMCPThroughEgress(t *testing.T) {
	t.Parallel()
	e := mustNew(t, "")
	agent := hangar.Agent{
		Tools:      json.RawMessage(`[{"type":"mcp_toolset","mcp_server_name":"docs"},{"type":"mcp_toolset","mcp_server_name":"a b"}]`),
		MCPServers: json.RawMessage(`[{"type":"url","name":"docs","url":"https://mcp.example.com/sse"},{"type":"url","name":"a b","url":"https://x.example.com/"}]`),
	}
	spec := enginetest.Spec(agent, "hi", 0)
	spec.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "sess-tok", HTTPProxy: "http://127.0.0.1:4100"}
	args := e.Args(spec)
	i := slices.Index(args, "--mcp-config")
	if i < 0 {
		t.Fatalf("no --mcp-config in %q", args)
	}
	var got any
	if err := json.Unmarshal([]byte(args[i+1]), &got); err != nil {
		t.Fatal(err)
	}
	auth := map[string]any{"Authorization": "Bearer sess-tok"}
	want := map[string]any{"mcpServers": map[string]any{
		"docs": map[string]any{"type": "http", "url": "http://127.0.0.1:4100/mcp/docs/", "headers": auth},
		"a b":  map[string]any{"type": "http", "url": "http://127.0.0.1:4100/mcp/a%20b/", "headers": auth},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--mcp-config (-want +got):\n%s", diff)
	}
}
