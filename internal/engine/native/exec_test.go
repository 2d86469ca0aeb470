package native_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// TestSandboxTools runs each toolset tool in a host sandbox holding a small tree and checks
// what the model gets back.
func TestSandboxTools(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		tool    string
		input   any
		want    string // substring of the result; "=" prefix: the whole result
		isError bool
		file    string // after the call, workspace file with content
		content string
	}{
		{"bash output", "bash", map[string]any{"command": "echo out; echo err >&2"}, "out", false, "", ""},
		{"bash exit status", "bash", map[string]any{"command": "echo bad; exit 3"}, "=bad\nexit status 3", true, "", ""},
		{"bash timeout", "bash", map[string]any{"command": "sleep 30", "timeout_ms": 200}, "timed out", true, "", ""},
		{"bash empty output", "bash", map[string]any{"command": "true"}, "=(no output)", false, "", ""},
		{"read whole", "read", map[string]any{"file_path": "src/a.go"}, "=package a\n// one\n// two\n", false, "", ""},
		{"read range", "read", map[string]any{"file_path": "/workspace/src/a.go", "view_range": []int{2, 3}}, "=// one\n// two", false, "", ""},
		{"read missing", "read", map[string]any{"file_path": "nope.txt"}, "read nope.txt", true, "", ""},
		{"edit unique", "edit", map[string]any{"file_path": "src/a.go", "old_string": "one", "new_string": "uno"}, "1 replacement", false, "src/a.go", "package a\n// uno\n// two\n"},
		{"edit ambiguous", "edit", map[string]any{"file_path": "src/a.go", "old_string": "//", "new_string": "#"}, "appears 2 times", true, "src/a.go", "package a\n// one\n// two\n"},
		{"edit all", "edit", map[string]any{"file_path": "src/a.go", "old_string": "//", "new_string": "#", "replace_all": true}, "2 replacement", false, "src/a.go", "package a\n# one\n# two\n"},
		{"glob", "glob", map[string]any{"pattern": "**/*.go"}, "src/a.go", false, "", ""},
		{"glob none", "glob", map[string]any{"pattern": "*.rs"}, "no files match", false, "", ""},
		{"grep", "grep", map[string]any{"pattern": "tw[o]"}, "a.go:3:// two", false, "", ""},
		{"grep none", "grep", map[string]any{"pattern": "zebra"}, "=no matches", false, "", ""},
		{"write nested", "write", map[string]any{"file_path": "d/e/f.txt", "content": "deep"}, "wrote 4 bytes", false, "d/e/f.txt", "deep"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			sb := sandbox(t)
			ws := sb.Host("/workspace")
			os.MkdirAll(filepath.Join(ws, "src"), 0o755)
			os.WriteFile(filepath.Join(ws, "src/a.go"), []byte("package a\n// one\n// two\n"), 0o644)
			f.fake.Push(fakemodel.ToolUse(tt.tool, tt.input), fakemodel.Text("ok"))
			evs, _, err := turn(t, f.engine(t), sb, spec(agent(toolset), "go"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var res map[string]any
			for _, ev := range evs {
				if ev.Type == hangar.EventAgentToolResult {
					res = body(t, ev)
				}
			}
			got := engine.Text(mustJSON(res["content"]))
			if want, whole := strings.CutPrefix(tt.want, "="); whole && got != want || !whole && !strings.Contains(got, want) {
				t.Errorf("result = %q, want %q", got, tt.want)
			}
			if res["is_error"] != tt.isError {
				t.Errorf("is_error = %v, want %v (%q)", res["is_error"], tt.isError, got)
			}
			if model := lastResult(t, f); model.ResultText() != got || model.IsError != tt.isError {
				t.Errorf("model got %+v", model)
			}
			if tt.file != "" {
				if b, err := os.ReadFile(filepath.Join(ws, tt.file)); err != nil || string(b) != tt.content {
					t.Errorf("%s = %q, %v", tt.file, b, err)
				}
			}
		})
	}
}

func TestGlobPatterns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sb := sandbox(t)
	ws := sb.Host("/workspace")
	for _, p := range []string{"a.go", "x/b.go", "x/y/c.go", "x/y/c.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(ws, p)), 0o755)
		os.WriteFile(filepath.Join(ws, p), nil, 0o644)
	}
	for _, tt := range []struct{ pattern, want string }{
		{"*.go", "a.go"},
		{"x/*.go", "x/b.go"},
		{"x/**/*.go", "x/b.go x/y/c.go"},
		{"**/c.*", "x/y/c.go x/y/c.txt"},
	} {
		in, _ := json.Marshal(map[string]string{"pattern": tt.pattern})
		f.fake.Push(fakemodel.Response{Content: []fakemodel.Block{{Type: "tool_use", Name: "glob", Input: in}}}, fakemodel.Text("ok"))
		evs, _, err := turn(t, f.engine(t), sb, spec(agent(toolset), "go"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			if ev.Type == hangar.EventAgentToolResult {
				got = strings.Fields(engine.Text(mustJSON(body(t, ev)["content"])))
			}
		}
		// Order is newest first; files written in the same instant may tie.
		want := strings.Fields(tt.want)
		if len(got) != len(want) {
			t.Errorf("glob %s = %v, want %v", tt.pattern, got, want)
			continue
		}
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("glob %s = %v, want %v", tt.pattern, got, want)
			}
		}
	}
}

// The bash tool keeps the shell's state between calls, across turns: the directory,
// variables (exported or not), arrays, functions and aliases. A call killed by its
// timeout loses only its own changes; restart forgets everything.
func TestBashKeepsShellState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sb := sandbox(t)
	os.MkdirAll(filepath.Join(sb.Host("/workspace"), "src"), 0o755)
	bash := func(input map[string]any) fakemodel.Response { return fakemodel.ToolUse("bash", input) }
	results := func(calls ...map[string]any) []string {
		t.Helper()
		for _, c := range calls {
			f.fake.Push(bash(c))
		}
		f.fake.Push(fakemodel.Text("ok"))
		evs, _, err := turn(t, f.engine(t), sb, spec(agent(toolset), "go"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			if ev.Type == hangar.EventAgentToolResult {
				out = append(out, engine.Text(mustJSON(body(t, ev)["content"])))
			}
		}
		return out
	}
	got := results(
		map[string]any{"command": `cd src && export A=exported; B=plain; arr=(x y); f() { echo "fn $1"; }; alias hi='echo alias'; export PATH="$PATH:/opt/extra"`},
		map[string]any{"command": `pwd; echo "$A $B ${arr[1]}"; f z; hi; echo "${PATH##*:}"`},
	)
	want := sb.Host("/workspace/src") + "\nexported plain y\nfn z\nalias\n/opt/extra"
	if len(got) != 2 || got[1] != want {
		t.Fatalf("second call = %q, want %q", got, want)
	}
	// Next turn (a new run): still there; a timed-out call's changes are not.
	got = results(
		map[string]any{"command": `export A=changed; sleep 30`, "timeout_ms": 300},
		map[string]any{"command": `echo "$A $B"; exit 4`},
		map[string]any{"command": `echo "after exit: $A"`},
	)
	if len(got) != 3 || !strings.Contains(got[0], "timed out") || got[1] != "exported plain\nexit status 4" || got[2] != "after exit: exported" {
		t.Fatalf("results %q", got)
	}
	got = results(map[string]any{"restart": true, "command": `pwd; echo "A=${A:-unset}"`})
	if len(got) != 1 || got[0] != sb.Host("/workspace")+"\nA=unset" {
		t.Fatalf("after restart %q", got)
	}
}
