package factory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

// TestTranslateMCPTranscript translates a recorded real run (TestRealCLIMCPTool with
// -record-mcp) whose model called the docs server's lookup tool.
func TestTranslateMCPTranscript(t *testing.T) {
	var unknown []string
	tr := &Translator{MCPServers: []string{"docs"}, Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	var evs []engine.Event
	for _, line := range enginetest.TranscriptLines(t, "mcp_tool.jsonl") {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(false)...)
	enginetest.CheckEvents(t, evs)
	enginetest.CheckMCPEvents(t, evs)
	got := enginetest.Render(evs)
	path := filepath.Join("testdata", "mcp_tool.golden")
	if *update {
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
	t.Logf("skipped lines: %v", unknown)
	// Without the server's name the same call is an ordinary tool use.
	plain := &Translator{}
	for _, line := range enginetest.TranscriptLines(t, "mcp_tool.jsonl") {
		for _, ev := range plain.Line(line) {
			if ev.Type == "agent.mcp_tool_use" {
				t.Errorf("an MCP tool use without MCPServers: %v", ev)
			}
		}
	}
}

func TestMCPToolName(t *testing.T) {
	for _, tt := range []struct {
		name, server, tool string
		ok                 bool
	}{
		{"docs___lookup", "docs", "lookup", true},
		{"my_docs___look_up", "my_docs", "look_up", true},
		{"docs___", "", "", false},
		{"Execute", "", "", false},
	} {
		s, tool, ok := mcpToolName(tt.name, []string{"docs", "my", "my_docs"})
		if s != tt.server || tool != tt.tool || ok != tt.ok {
			t.Errorf("mcpToolName(%q) = %q %q %v, want %q %q %v", tt.name, s, tool, ok, tt.server, tt.tool, tt.ok)
		}
	}
}

// TestMCPSettledAfterProbe: droid's second mcp_status_changed says "connected", but its
// tools are searchable only after the third, which adds requiresAuth (the probe after
// tools/list); a message sent between the two made ToolSearch miss the tool under load.
func TestMCPSettledAfterProbe(t *testing.T) {
	tr := &Translator{MCPServers: []string{"docs"}}
	var seen int
	for _, line := range enginetest.TranscriptLines(t, "mcp_tool.jsonl") {
		if !strings.Contains(string(line), `"mcp_status_changed"`) {
			continue
		}
		tr.Line(line)
		seen++
		if want := seen == 3; tr.MCPSettled() != want {
			t.Errorf("after mcp_status_changed #%d: MCPSettled = %v, want %v", seen, tr.MCPSettled(), want)
		}
	}
	if seen != 3 {
		t.Fatalf("%d mcp_status_changed lines in the transcript, want 3", seen)
	}
}
