package codex

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// transcripts are recorded `codex exec --json` runs of codex 0.171.0 against fakemodel.
var transcripts = []string{"tool_round", "resume", "failed_command", "reasoning", "stream_error", "rate_limited", "echo", "interrupt"}

// translateFile runs a Translator over a recorded transcript.
func translateFile(t *testing.T, name string, interrupted bool) (evs []engine.Event, unknown []string, tr *Translator) {
	t.Helper()
	tr = &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(!tr.Done() && !interrupted)...)
	return evs, unknown, tr
}

func TestTranslateTranscripts(t *testing.T) {
	wantErr := map[string]string{"stream_error": "model_request_failed_error", "rate_limited": "model_rate_limited_error"}
	for _, name := range transcripts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			evs, unknown, tr := translateFile(t, name+".jsonl", name == "interrupt")
			enginetest.CheckEvents(t, evs)
			got := enginetest.Render(evs)
			if e := tr.Err(); e != nil {
				got += "err " + e.Type + ": " + e.Message + "\n"
			}
			got += fmt.Sprintf("done=%v unknown=%v\n", tr.Done(), unknown)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
			gotErr := ""
			if e := tr.Err(); e != nil {
				gotErr = e.Type
			}
			if gotErr != wantErr[name] {
				t.Errorf("Err type = %q, want %q", gotErr, wantErr[name])
			}
			if tr.ThreadID() == "" {
				t.Error("no thread ID")
			}
		})
	}
}

func TestTranslateLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"file change", []string{
			`{"type":"turn.started"}`,
			`{"type":"item.completed","item":{"id":"item_1","type":"file_change","changes":[{"path":"/w/a.go","kind":"update"}],"status":"completed"}}`,
			`{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":40,"cache_write_input_tokens":5,"output_tokens":7}}`,
		}, `span.model_request_start id=turn_1
agent.tool_use id=item_1 {"evaluated_permission":"allow","input":{"changes":[{"path":"/w/a.go","kind":"update"}]},"name":"edit"}
agent.tool_result ref=item_1 {"content":[{"text":"update /w/a.go","type":"text"}],"is_error":false}
span.model_request_end ref=turn_1 {"is_error":false,"model_usage":{"cache_creation_input_tokens":5,"cache_read_input_tokens":40,"input_tokens":60,"output_tokens":7}} usage={"input_tokens":60,"output_tokens":7,"cache_read_input_tokens":40,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":5}}
`},
		{"mcp tool call", []string{
			`{"type":"item.started","item":{"id":"item_2","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"status":"in_progress"}}`,
			`{"type":"item.completed","item":{"id":"item_2","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"result":{"content":[{"type":"text","text":"found"}]},"status":"completed"}}`,
			`{"type":"item.completed","item":{"id":"item_3","type":"mcp_tool_call","server":"docs","tool":"search","arguments":null,"error":{"message":"boom"},"status":"failed"}}`,
		}, `agent.mcp_tool_use id=item_2 {"input":{"q":"x"},"mcp_server_name":"docs","name":"search"}
agent.mcp_tool_result ref=item_2 {"content":[{"text":"found","type":"text"}],"is_error":false}
agent.mcp_tool_use id=item_3 {"input":{},"mcp_server_name":"docs","name":"search"}
agent.mcp_tool_result ref=item_3 {"content":[{"text":"boom","type":"text"}],"is_error":true}
`},
		{"web search and unknowns", []string{
			`{"type":"item.completed","item":{"id":"item_4","type":"web_search","query":"go 1.26"}}`,
			`{"type":"item.completed","item":{"id":"item_5","type":"todo_list","items":[]}}`,
			`{"type":"something.new"}`,
			`not json`,
		}, `agent.tool_use id=item_4 {"evaluated_permission":"allow","input":{"query":"go 1.26"},"name":"web_search"}
agent.tool_result ref=item_4 {"content":[{"text":"","type":"text"}],"is_error":false}
`},
		{"quoted command", []string{
			`{"type":"item.completed","item":{"id":"item_6","type":"command_execution","command":"/bin/bash -lc 'echo '\\''hi'\\'''","aggregated_output":"hi\n","exit_code":0,"status":"completed"}}`,
		}, `agent.tool_use id=item_6 {"evaluated_permission":"allow","input":{"command":"echo 'hi'"},"name":"bash"}
agent.tool_result ref=item_6 {"content":[{"text":"hi\n","type":"text"}],"is_error":false}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr Translator
			var evs []engine.Event
			for _, l := range tt.lines {
				evs = append(evs, tr.Line([]byte(l))...)
			}
			evs = append(evs, tr.Finish(false)...)
			enginetest.CheckEvents(t, evs)
			if diff := cmp.Diff(tt.want, enginetest.Render(evs)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnwrapShell(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/bin/bash -lc 'echo hello > out.txt'`, `echo hello > out.txt`},
		{`bash -lc 'a'\''b'`, `a'b`},
		{`/bin/bash -lc 'unterminated`, `/bin/bash -lc 'unterminated`},
		{`ls -la`, `ls -la`},
	}
	for _, tt := range tests {
		if got := unwrapShell(tt.in); got != tt.want {
			t.Errorf("unwrapShell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range transcripts {
		b, err := os.ReadFile(filepath.Join("testdata", name+".jsonl"))
		if err != nil {
			f.Fatal(err)
		}
		// One seed per line: whole transcripts make coverage-guided fuzzing crawl.
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) > 0 && len(l) < 4096 {
				f.Add(l)
			}
		}
	}
	f.Add([]byte(`{"type":"item.completed","item":{"id":"i","type":"mcp_tool_call","result":{"content":[1,{"type":"image"}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Translator{}
		var evs []engine.Event
		for _, l := range bytes.Split(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		enginetest.CheckEvents(t, evs)
	})
}
