package claudecode_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/provider"
)

func mustNew(t *testing.T, cfg string) *claudecode.Engine {
	t.Helper()
	e, err := claudecode.New(json.RawMessage(cfg), engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*claudecode.Engine)
}

func TestArgs(t *testing.T) {
	t.Parallel()
	system := "You are terse."
	base := []string{"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose", "--include-partial-messages"}
	tests := []struct {
		name   string
		cfg    string
		agent  hangar.Agent
		resume string
		want   []string
	}{
		{
			name:  "no toolset: no built-in tools",
			agent: hangar.Agent{Tools: json.RawMessage(`[]`)},
			want: append(base, "--disallowedTools", "Bash,Edit,Glob,Grep,Read,WebFetch,WebSearch,Write",
				"--permission-mode", "bypassPermissions"),
		},
		{
			name: "full agent, later turn",
			agent: hangar.Agent{
				Model: hangar.Model{ID: "claude-sonnet-4-6"}, System: &system,
				Tools:      json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"web_fetch","enabled":false},{"name":"web_search","enabled":false}]},{"type":"custom","name":"x"}]`),
				MCPServers: json.RawMessage(`[{"type":"url","name":"docs","url":"https://mcp.example.com/sse"}]`),
			},
			resume: "5514-abcd",
			want: append(base, "--model", "claude-sonnet-4-6", "--append-system-prompt", system, "--resume", "5514-abcd",
				"--allowedTools", "Bash,Edit,Glob,Grep,Read,Write,mcp__hangar__x", "--disallowedTools", "WebFetch,WebSearch",
				"--mcp-config", `{"mcpServers":{"docs":{"type":"http","url":"https://mcp.example.com/sse"},"hangar":{"name":"hangar","type":"sdk"}}}`, "--strict-mcp-config",
				"--permission-mode", "bypassPermissions"),
		},
		{
			name:  "custom tools only: the SDK MCP server",
			agent: hangar.Agent{Tools: json.RawMessage(`[{"type":"custom","name":"get_weather","description":"d","input_schema":{"type":"object"}},{"type":"custom","name":"get_time"}]`)},
			want: append(base, "--allowedTools", "mcp__hangar__get_weather,mcp__hangar__get_time",
				"--disallowedTools", "Bash,Edit,Glob,Grep,Read,WebFetch,WebSearch,Write",
				"--mcp-config", `{"mcpServers":{"hangar":{"name":"hangar","type":"sdk"}}}`, "--strict-mcp-config",
				"--permission-mode", "bypassPermissions"),
		},
		{
			name: "custom tools beside a URL MCP server called hangar",
			agent: hangar.Agent{
				Tools:      json.RawMessage(`[{"type":"custom","name":"get_weather"}]`),
				MCPServers: json.RawMessage(`[{"type":"url","name":"hangar","url":"https://mcp.example.com/"},{"type":"url","name":"hangar_1","url":"https://mcp.example.com/1"}]`),
			},
			want: append(base, "--allowedTools", "mcp__hangar_2__get_weather",
				"--disallowedTools", "Bash,Edit,Glob,Grep,Read,WebFetch,WebSearch,Write",
				"--mcp-config", `{"mcpServers":{"hangar":{"type":"http","url":"https://mcp.example.com/"},"hangar_1":{"type":"http","url":"https://mcp.example.com/1"},"hangar_2":{"name":"hangar_2","type":"sdk"}}}`,
				"--strict-mcp-config", "--permission-mode", "bypassPermissions"),
		},
		{
			name: "default disabled, one tool enabled, one asks",
			agent: hangar.Agent{Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","default_config":{"enabled":false},
				"configs":[{"name":"bash","enabled":true,"permission_policy":{"type":"always_ask"}},{"name":"read","enabled":true}]}]`)},
			want: append(base, "--allowedTools", "Read", "--disallowedTools", "Edit,Glob,Grep,WebFetch,WebSearch,Write",
				"--permission-prompt-tool", "stdio", "--settings", `{"permissions":{"ask":["Bash"]}}`,
				"--permission-mode", "default"),
		},
		{
			name: "default asks, MCP server and tool ask",
			agent: hangar.Agent{
				Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}},
					"configs":[{"name":"read","permission_policy":{"type":"always_allow"}}]},
					{"type":"mcp_toolset","mcp_server_name":"docs","default_config":{"permission_policy":{"type":"always_ask"}}},
					{"type":"mcp_toolset","mcp_server_name":"gh","configs":[{"name":"delete_repo","permission_policy":{"type":"always_ask"}}]}]`),
			},
			want: append(base, "--allowedTools", "Read",
				"--permission-prompt-tool", "stdio", "--settings",
				`{"permissions":{"ask":["Bash","Edit","Glob","Grep","WebFetch","WebSearch","Write","mcp__docs","mcp__gh__delete_repo"]}}`,
				"--permission-mode", "default"),
		},
		{
			name:  "config overrides",
			cfg:   `{"partial_messages":false,"system_prompt":"replace","permission_mode":"acceptEdits"}`,
			agent: hangar.Agent{System: &system, Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`)},
			want: []string{"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
				"--system-prompt", system, "--allowedTools", "Bash,Edit,Glob,Grep,Read,WebFetch,WebSearch,Write",
				"--permission-mode", "acceptEdits"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := mustNew(t, tt.cfg)
			spec := enginetest.Spec(tt.agent, "hi", 0)
			spec.Resume = tt.resume
			if diff := cmp.Diff(tt.want, e.Args(spec)); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	e := mustNew(t, `{"max_retries":2}`)
	spec := enginetest.Spec(hangar.Agent{}, "hi", 0)
	spec.HomeDir = "/home/agent"
	spec.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100", Token: "tok_s", HTTPProxy: "http://127.0.0.1:4100"}
	want := []string{
		"ANTHROPIC_BASE_URL=http://127.0.0.1:4100", "ANTHROPIC_API_KEY=tok_s",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1", "IS_SANDBOX=1",
		"HTTPS_PROXY=http://127.0.0.1:4100", "HTTP_PROXY=http://127.0.0.1:4100",
		"https_proxy=http://127.0.0.1:4100", "http_proxy=http://127.0.0.1:4100",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"HOME=/home/agent", "CLAUDE_CONFIG_DIR=/home/agent/.claude", "CLAUDE_CODE_MAX_RETRIES=2",
	}
	if diff := cmp.Diff(want, e.Env(spec)); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []string{`{"nope":1}`, `{"system_prompt":"prepend"}`, `{"max_retries":-1}`, `[`} {
		if _, err := claudecode.New(json.RawMessage(cfg), engine.Deps{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
	if _, err := claudecode.New(nil, engine.Deps{}); err != nil {
		t.Errorf("New(nil) = %v", err)
	}
}

func TestFindMountsAndSandboxPath(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	if _, err := claudecode.Find(cache); !errors.Is(err, claudecode.ErrNotInstalled) {
		t.Errorf("Find in an empty cache = %v, want ErrNotInstalled", err)
	}
	e := mustNew(t, `{"cache_dir":`+strconvQuote(cache)+`}`)
	if m := e.Mounts(); m != nil {
		t.Errorf("Mounts without the CLI = %v", m)
	}
	_, err := e.Start(t.Context(), &enginetest.IsolatedSandbox{}, enginetest.Spec(hangar.Agent{}, "hi", 0))
	var ee *engine.Error
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "hangar engines install claude") {
		t.Errorf("Start without the CLI = %v", err)
	}

	// A placeholder (what npm leaves without install scripts) is not the CLI.
	bin := filepath.Join(claudecode.InstallDir(cache), "node_modules", "@anthropic-ai", "claude-code", "bin", "claude.exe")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho placeholder\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := claudecode.Find(cache); !errors.Is(err, claudecode.ErrNotInstalled) {
		t.Errorf("Find of a placeholder = %v, want ErrNotInstalled", err)
	}
	if err := os.WriteFile(bin, []byte("\x7fELF fake binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := claudecode.Find(cache); err != nil || got != bin {
		t.Errorf("Find = %q, %v; want %q", got, err, bin)
	}
	want := []provider.Mount{{Source: filepath.Dir(bin), Target: claudecode.MountTarget, ReadOnly: true}}
	if diff := cmp.Diff(want, e.Mounts()); diff != "" {
		t.Errorf("Mounts (-want +got):\n%s", diff)
	}
	sb := &enginetest.IsolatedSandbox{}
	e.Start(t.Context(), sb, enginetest.Spec(hangar.Agent{}, "hi", 0))
	if len(sb.Args) == 0 || sb.Args[0] != claudecode.MountTarget+"/claude.exe" {
		t.Errorf("argv in an isolated sandbox = %q", sb.Args)
	}
	e = mustNew(t, `{"cache_dir":`+strconvQuote(cache)+`,"sandbox_binary":"/usr/local/bin/claude"}`)
	e.Start(t.Context(), sb, enginetest.Spec(hangar.Agent{}, "hi", 0))
	if len(sb.Args) == 0 || sb.Args[0] != "/usr/local/bin/claude" {
		t.Errorf("argv with sandbox_binary = %q", sb.Args)
	}
}
