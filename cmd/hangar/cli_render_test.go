package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCLIMarkdown pins the terminal rendering of the markdown agents write.
func TestCLIMarkdown(t *testing.T) {
	t.Parallel()
	const b, d, i, u, c, x = ansiBold, ansiDim, ansiItalic, ansiUnder, ansiCyan, ansiReset
	tests := []struct {
		name, in, want string
	}{
		{"plain", "just text", "just text\n"},
		{"h1", "# Title", b + u + "Title" + x + "\n"},
		{"h2 with closing hashes", "## Section ##", b + "Section" + x + "\n"},
		{"bold and code", "run **now** with `make`", "run " + b + "now" + x + " with " + c + "make" + x + "\n"},
		{"bullets", "- one\n* two\n  + nested", "  • one\n  • two\n    • nested\n"},
		{"ordered", "1. first\n2) second", "  1. first\n  2. second\n"},
		{"code block", "```go\nfmt.Println(\"**x**\")\n```\nafter", "    " + d + "go" + x + "\n    " + c + "fmt.Println(\"**x**\")" + x + "\nafter\n"},
		{"quote", "> careful", d + "│ " + x + i + "careful" + x + "\n"},
		{"rule", "---", d + "────────────────────────────────────────" + x + "\n"},
	}
	r := &renderer{color: true, width: 100}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, r.markdown(tt.in)); diff != "" {
				t.Errorf("markdown(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	plain := &renderer{color: false}
	if got := plain.markdown("# Title\n- x"); got != "# Title\n- x" {
		t.Errorf("without color markdown is kept as written, got %q", got)
	}
}

// TestCLIRenderEvents pins how each event type is folded for the terminal (no color).
func TestCLIRenderEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   map[string]any
		want string
	}{
		{"message", map[string]any{"type": "agent.message", "content": []any{map[string]any{"type": "text", "text": "hi"}}}, "hi\n"},
		{"thinking", map[string]any{"type": "agent.thinking"}, "✻ thinking…\n"},
		{"tool use", map[string]any{"type": "agent.tool_use", "name": "bash", "input": map[string]any{"command": "ls   -la\nwc"}}, "⏺ bash {\"command\":\"ls -la\\nwc\"}\n"},
		{"custom tool use", map[string]any{"type": "agent.custom_tool_use", "name": "lookup", "input": map[string]any{}}, "⚙ lookup {}\n"},
		{"mcp tool use", map[string]any{"type": "agent.mcp_tool_use", "mcp_server_name": "gh", "name": "search", "input": map[string]any{"q": "x"}}, "⏺ gh/search {\"q\":\"x\"}\n"},
		{"tool result", map[string]any{"type": "agent.tool_result", "content": []any{map[string]any{"type": "text", "text": "a\nb\nc"}}}, "  ⎿ a (+2 lines)\n"},
		{"empty result", map[string]any{"type": "agent.tool_result", "content": []any{}}, "  ⎿ (no output)\n"},
		{"error", map[string]any{"type": "session.error", "error": map[string]any{"type": "model_overloaded_error", "message": "busy"}}, "✗ error: model_overloaded_error: busy\n"},
		{"span", map[string]any{"type": "span.model_request_start"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			r := &renderer{w: &out, width: 100}
			r.event(tt.ev)
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCLITurnInProgress: chat waits for a turn's idle only when the listed events say the
// turn is still to end.
func TestCLITurnInProgress(t *testing.T) {
	ev := func(types ...string) []map[string]any {
		var out []map[string]any
		for _, typ := range types {
			out = append(out, map[string]any{"type": typ})
		}
		return out
	}
	tests := []struct {
		name   string
		events []map[string]any
		want   bool
	}{
		{"new session", nil, false},
		{"running", ev("user.message", "session.status_running", "agent.message"), true},
		{"ended before the list", ev("user.message", "session.status_running", "agent.message", "session.status_idle"), false},
		{"queued message", ev("session.status_idle", "user.message"), true},
		{"rescheduled", ev("session.status_running", "session.status_rescheduled"), true},
		{"terminated", ev("user.message", "session.status_terminated"), false},
	}
	for _, tt := range tests {
		if got := turnInProgress(tt.events); got != tt.want {
			t.Errorf("%s: turnInProgress = %v, want %v", tt.name, got, tt.want)
		}
	}
}
