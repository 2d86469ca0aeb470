package pi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

// TestTranslateMCPTranscripts translates recorded real runs (TestRealCLIMCPTool,
// TestRealCLIMCPToolConfirmation and TestRealCLIMCPServerDown with -record-mcp):
// mcp_tool.jsonl a call of the docs server's lookup tool, mcp_ask.jsonl the same call
// confirmed through the bridge's dialog, mcp_down.jsonl a turn whose server was down.
func TestTranslateMCPTranscripts(t *testing.T) {
	for _, tt := range []struct {
		file string
		ask  bool
		down bool // the server failed to connect: a session.error, no MCP call
	}{
		{"mcp_tool.jsonl", false, false},
		{"mcp_ask.jsonl", true, false},
		{"mcp_down.jsonl", false, true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var unknown []string
			var replies int
			tr := &Translator{
				Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
				Reply:   func([]byte) { replies++ },
				MCP:     []MCPServer{{Name: "docs", Enabled: true, Ask: tt.ask}},
			}
			var evs []engine.Event
			asked := 0
			for _, line := range enginetest.TranscriptLines(t, tt.file) {
				for _, ev := range tr.Line(line) {
					if ev.RequiresAction {
						asked++
						if req, ok := tr.Request(ev.ID); !ok || !req.Confirmation || ev.Type != eventMCPToolUse {
							t.Errorf("%s awaits %+v (%v)", ev.Type, req, ok)
						}
					}
					evs = append(evs, ev)
				}
			}
			evs = append(evs, tr.Finish(false)...)
			enginetest.CheckEvents(t, evs)
			if tt.down {
				if got := enginetest.Only(evs, hangar.EventSessionError, eventMCPToolUse); !cmp.Equal(got, []string{hangar.EventSessionError}) {
					t.Errorf("events %v, want one session.error", enginetest.Types(evs))
				}
			} else {
				enginetest.CheckMCPEvents(t, evs)
			}
			if len(unknown) > 0 || replies > 0 || !tr.Ended() || tr.Err() != nil {
				t.Errorf("unknown lines %v, %d replies, ended %v, err %v", unknown, replies, tr.Ended(), tr.Err())
			}
			if want := map[bool]int{false: 0, true: 1}[tt.ask]; asked != want {
				t.Errorf("%d events await the client, want %d", asked, want)
			}
			got := enginetest.Render(evs)
			golden := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".jsonl")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}

			// Without the server the same call is an ordinary tool use.
			plain := &Translator{}
			for _, line := range enginetest.TranscriptLines(t, tt.file) {
				for _, ev := range plain.Line(line) {
					if strings.HasPrefix(ev.Type, "agent.mcp_") {
						t.Errorf("an MCP event without MCP servers: %v", ev)
					}
				}
			}
		})
	}
}

func TestMCPServersAndBridgeConfig(t *testing.T) {
	agent := hangar.Agent{Tools: json.RawMessage(`[
		{"type":"agent_toolset_20260401","configs":[{"name":"edit","enabled":false}]},
		{"type":"mcp_toolset","mcp_server_name":"docs","default_config":{"permission_policy":{"type":"always_ask"}},
		 "configs":[{"name":"lookup","permission_policy":{"type":"always_allow"}},{"name":"drop","enabled":false},{"name":"plain"}]}]`),
		MCPServers: json.RawMessage(`[{"type":"url","name":"docs","url":"https://docs.example.com/mcp"},{"type":"url","name":"my.wiki","url":"https://wiki.example.com/mcp"}]`)}
	spec := enginetest.Spec(agent, "hi", 0)
	spec.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "tok_session_1", HTTPProxy: "http://127.0.0.1:4100"}

	no := false
	want := []MCPServer{
		{Name: "docs", URL: "http://127.0.0.1:4100/mcp/docs/", BearerEnv: "HANGAR_MODEL_TOKEN", Enabled: true, Ask: true,
			Tools: map[string]MCPToolConfig{"lookup": {Ask: &no}, "drop": {Enabled: &no}}},
		{Name: "my.wiki", URL: "http://127.0.0.1:4100/mcp/my.wiki/", BearerEnv: "HANGAR_MODEL_TOKEN", Enabled: true},
	}
	if diff := cmp.Diff(want, MCPServers(spec)); diff != "" {
		t.Errorf("MCPServers (-want +got):\n%s", diff)
	}

	cfg := BridgeConfig(spec)
	if strings.Contains(string(cfg), "tok_session_1") {
		t.Errorf("the bridge configuration holds the session token:\n%s", cfg)
	}
	var c struct {
		Tools      []string    `json:"tools"`
		MCPServers []MCPServer `json:"mcp_servers"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bash", "read", "write", "find", "ls", "grep"}, c.Tools); diff != "" {
		t.Errorf("bridge tools (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, c.MCPServers); diff != "" {
		t.Errorf("bridge mcp_servers (-want +got):\n%s", diff)
	}
	args := strings.Join(Args(spec), " ")
	if !strings.Contains(args, "-e /home/agent/.pi/hangar/bridge.ts --no-builtin-tools") || strings.Contains(args, "--tools") {
		t.Errorf("Args with MCP servers: %s", args)
	}

	// Without the proxy (remote sandboxes): the server's own URL, no bearer.
	spec.Egress = engine.Egress{ModelBaseURL: "https://hangar.example.com/egress", Token: "tok"}
	if s := MCPServers(spec)[0]; s.URL != "https://docs.example.com/mcp" || s.BearerEnv != "" {
		t.Errorf("without the proxy: %+v", s)
	}
}

func TestMCPToolNames(t *testing.T) {
	servers := []MCPServer{{Name: "docs", Ask: true, Tools: map[string]MCPToolConfig{"look.up": {Ask: new(bool)}}}, {Name: "my"}, {Name: "my.docs"}}
	for _, tt := range []struct {
		name, server, tool string
		ok, asks           bool
	}{
		{MCPToolName("docs", "lookup"), "docs", "lookup", true, true},
		{MCPToolName("docs", "look.up"), "docs", "look_up", true, false},
		{MCPToolName("my.docs", "find"), "my.docs", "find", true, false},
		{MCPToolName("my", "x"), "my", "x", true, false},
		{"mcp__docs__", "", "", false, false},
		{"bash", "", "", false, false},
	} {
		s, tool, ok := mcpTool(tt.name, servers)
		if s.Name != tt.server || tool != tt.tool || ok != tt.ok || (ok && s.asks(tool) != tt.asks) {
			t.Errorf("mcpTool(%q) = %q %q %v, want %q %q %v (asks %v)", tt.name, s.Name, tool, ok, tt.server, tt.tool, tt.ok, tt.asks)
		}
	}
	if got := MCPToolName("my docs", "héllo"); got != "mcp__my_docs__h_llo" {
		t.Errorf("MCPToolName = %q", got)
	}
	if got := MCPToolName("s", strings.Repeat("x", 200)); len(got) != 128 {
		t.Errorf("MCPToolName of a long name has %d characters", len(got))
	}
	// A custom tool of the same name stays a custom tool.
	tr := &Translator{MCP: servers, Custom: map[string]bool{"mcp__docs__lookup": true}}
	if _, _, ok := tr.mcpTool("mcp__docs__lookup"); ok {
		t.Error("a custom tool taken for an MCP tool")
	}
}

// TestTranslateMCPErrorStatus covers the bridge's reports of servers that failed to
// connect: a 401 is an authentication failure, a malformed report is skipped, and other
// status lines are ignored.
func TestTranslateMCPErrorStatus(t *testing.T) {
	var unknown []string
	tr := &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	var evs []engine.Event
	for _, l := range []string{
		`{"type":"extension_ui_request","id":"s1","method":"setStatus","statusKey":"hangar.mcp_error","statusText":"{\"server\":\"docs\",\"status\":401,\"message\":\"initialize: HTTP 401\"}"}`,
		`{"type":"extension_ui_request","id":"s2","method":"setStatus","statusKey":"hangar.mcp_error","statusText":"not json"}`,
		`{"type":"extension_ui_request","id":"s3","method":"setStatus","statusKey":"other","statusText":"{\"server\":\"docs\"}"}`,
	} {
		evs = append(evs, tr.Line([]byte(l))...)
	}
	if len(evs) != 1 || evs[0].Type != hangar.EventSessionError {
		t.Fatalf("events %v, want one session.error", enginetest.Types(evs))
	}
	if b, _ := json.Marshal(evs[0].Body); !strings.Contains(string(b), `"type":"mcp_authentication_failed_error"`) || !strings.Contains(string(b), `"mcp_server_name":"docs"`) {
		t.Errorf("session.error %s", b)
	}
	if diff := cmp.Diff([]string{"extension_ui_request"}, unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
}
