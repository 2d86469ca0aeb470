package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"
)

// TestSandboxBash runs the bubblewrap bash tool of `hangar worker --sandbox bwrap`: the
// shell persists across calls, writes land in the workdir, the rest of the host is
// read-only, failures and timeouts come back as error results, and the shell survives
// syntax errors and restarts after a timeout.
func TestSandboxBash(t *testing.T) {
	t.Parallel()
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		t.Skip("bubblewrap is not installed (run scripts/install-test-deps)")
	}
	dir := t.TempDir()
	tools := withSandboxedBash(bwrap)(&agenttoolset.AgentToolContext{Workdir: dir})
	defer agenttoolset.CloseAll(tools)
	var bash *sandboxBash
	for _, tl := range tools {
		if b, ok := tl.(*sandboxBash); ok {
			bash = b
		}
	}
	if bash == nil || len(tools) < 6 {
		t.Fatalf("toolset has no sandboxed bash: %d tools", len(tools))
	}
	call := func(input map[string]any) (string, bool) {
		t.Helper()
		raw, _ := json.Marshal(input)
		out, err := bash.Execute(context.Background(), raw)
		var te *agenttoolset.ToolError
		if errors.As(err, &te) {
			return te.Content, true
		}
		if err != nil {
			t.Fatalf("execute %v: %v", input, err)
		}
		return out[0].OfText.Text, false
	}
	for _, tc := range []struct {
		cmd     string
		want    string
		isError bool
	}{
		{"mkdir sub && cd sub && export GREETING=hi && echo made > made.txt", "", false},
		{`pwd; echo "$GREETING"; echo "$ANTHROPIC_API_KEY$HANGAR_ENVIRONMENT_KEY" | wc -c`, filepath.Join(dir, "sub") + "\nhi\n1", false},
		{"echo 'quotes \"survive\"'", `quotes "survive"`, false},
		{"touch /etc/hangar-escape", "Read-only file system", true},
		{"if then", "syntax error", true},
		{"echo still $GREETING", "still hi", false},
		{"(exit 3)", "exit code: 3", true},
		{"exit 4", "the shell exited", true},
		{"echo fresh [$GREETING]", "fresh []", false},
	} {
		out, isErr := call(map[string]any{"command": tc.cmd})
		if isErr != tc.isError || !strings.Contains(out, tc.want) {
			t.Errorf("%q = %q (error %v), want %q (error %v)", tc.cmd, out, isErr, tc.want, tc.isError)
		}
	}
	if got, err := os.ReadFile(filepath.Join(dir, "sub", "made.txt")); err != nil || string(got) != "made\n" {
		t.Errorf("made.txt = %q, %v", got, err)
	}
	if _, err := os.Stat("/etc/hangar-escape"); err == nil {
		t.Error("the sandbox wrote to the host's /etc")
	}
	// A timeout restarts the shell: the next call runs in a fresh one.
	if out, isErr := call(map[string]any{"command": "sleep 30", "timeout_ms": 300}); !isErr || !strings.Contains(out, "restarted after timeout") {
		t.Errorf("timeout = %q (error %v)", out, isErr)
	}
	if out, _ := call(map[string]any{"command": "pwd; echo \"[$GREETING]\""}); out != dir+"\n[]\n" && out != dir+"\n[]" {
		t.Errorf("after the restart = %q, want the workdir and no GREETING", out)
	}
	if out, isErr := call(map[string]any{"restart": true}); isErr || out != "bash session restarted" {
		t.Errorf("restart = %q", out)
	}
}
