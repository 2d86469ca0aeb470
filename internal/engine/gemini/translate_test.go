package gemini

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// translateFile runs a Translator over a recorded stream-json transcript.
func translateFile(t *testing.T, name string, failed bool) (evs []engine.Event, unknown []string, tr *Translator) {
	t.Helper()
	tr = &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(failed)...)
	return evs, unknown, tr
}

// The transcripts are the stdout of real runs of gemini 0.61.0 against internal/fakemodel
// (see TestRealCLI*): a tool round, its resumed second turn, a 400 from the API, a
// stream that broke off (the CLI retried, then gave up), and a run interrupted by SIGINT.
func TestTranslateTranscripts(t *testing.T) {
	tests := []struct {
		file    string
		failed  bool // the CLI exited without a result line
		types   []string
		errType string // of Translator.Err, "" for none
		unknown []string
	}{
		{
			file: "tool_round.jsonl",
			types: []string{
				engine.EventResume,
				"span.model_request_start", "span.model_request_end", "agent.tool_use",
				"agent.tool_result",
				"span.model_request_start", "agent.message", "span.model_request_end",
			},
		},
		{
			file:  "resume.jsonl",
			types: []string{engine.EventResume, "span.model_request_start", "agent.message", "span.model_request_end"},
		},
		{
			file:    "api_error.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
			errType: "model_request_failed_error",
		},
		{
			file:    "stream_error.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
			errType: "model_request_failed_error",
			unknown: []string{"error/error"},
		},
		{
			file:   "interrupt.jsonl",
			failed: true,
			types:  []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			evs, unknown, tr := translateFile(t, tt.file, tt.failed)
			enginetest.CheckEvents(t, evs)
			if diff := cmp.Diff(tt.types, enginetest.Types(evs)); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.unknown, unknown); diff != "" {
				t.Errorf("unknown lines (-want +got):\n%s", diff)
			}
			var errType string
			if err := tr.Err(); err != nil {
				errType = err.Type
			}
			if errType != tt.errType {
				t.Errorf("Err type = %q, want %q", errType, tt.errType)
			}
			if tr.SessionID() == "" {
				t.Error("no session ID")
			}
			golden(t, strings.TrimSuffix(tt.file, ".jsonl")+".golden", enginetest.Render(evs))
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
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
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestTranslateEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		lines string
		types []string
	}{
		{
			name: "text before a tool call is its own message",
			lines: `{"type":"init","session_id":"s","model":"m"}
{"type":"message","role":"assistant","content":"let me look","delta":true}
{"type":"tool_use","tool_name":"read_file","tool_id":"t1","parameters":{"file_path":"a"}}
{"type":"tool_result","tool_id":"t1","status":"error","output":"","error":{"type":"file_not_found","message":"no such file"}}
{"type":"message","role":"assistant","content":"gone","delta":true}
{"type":"result","status":"success","stats":{"input_tokens":10,"output_tokens":2,"cached":4}}`,
			types: []string{engine.EventResume, "span.model_request_start", "agent.message", "span.model_request_end",
				"agent.tool_use", "agent.tool_result", "span.model_request_start", "agent.message", "span.model_request_end"},
		},
		{
			name: "two tool calls in one response",
			lines: `{"type":"init","session_id":"s","model":"m"}
{"type":"tool_use","tool_name":"run_shell_command","tool_id":"a","parameters":{"command":"ls","description":"list"}}
{"type":"tool_use","tool_name":"run_shell_command","tool_id":"b","parameters":{"command":"pwd"}}
{"type":"tool_result","tool_id":"a","status":"success","output":"x"}
{"type":"tool_result","tool_id":"b","status":"success","output":"/w"}
{"type":"result","status":"success","stats":{"input_tokens":10,"output_tokens":2}}`,
			types: []string{engine.EventResume, "span.model_request_start", "span.model_request_end",
				"agent.tool_use", "agent.tool_use", "agent.tool_result", "agent.tool_result",
				"span.model_request_start", "span.model_request_end"},
		},
		{
			name: "a run cut short synthesizes the pending tool result",
			lines: `{"type":"init","session_id":"s","model":"m"}
{"type":"tool_use","tool_name":"run_shell_command","tool_id":"a","parameters":{"command":"sleep 100"}}`,
			types: []string{engine.EventResume, "span.model_request_start", "span.model_request_end",
				"agent.tool_use", "agent.tool_result"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &Translator{}
			var evs []engine.Event
			for _, l := range strings.Split(tt.lines, "\n") {
				evs = append(evs, tr.Line([]byte(l))...)
			}
			evs = append(evs, tr.Finish(tr.Result() == nil)...)
			enginetest.CheckEvents(t, evs)
			if diff := cmp.Diff(tt.types, enginetest.Types(evs)); diff != "" {
				t.Errorf("types (-want +got):\n%s\n%s", diff, enginetest.Render(evs))
			}
		})
	}
}

func TestTranslateToolNames(t *testing.T) {
	tr := &Translator{}
	tr.Line([]byte(`{"type":"init","session_id":"s"}`))
	evs := tr.Line([]byte(`{"type":"tool_use","tool_name":"run_shell_command","tool_id":"a","parameters":{"command":"ls","description":"list","dir_path":"."}}`))
	evs = append(evs, tr.Line([]byte(`{"type":"tool_use","tool_name":"write_file","tool_id":"b","parameters":{"file_path":"x","content":"y"}}`))...)
	got := enginetest.Render(evs)
	want := `span.model_request_end ref=model_request_1 {"is_error":false,"model_usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":0,"output_tokens":0}} usage={"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}}
agent.tool_use id=a {"evaluated_permission":"allow","input":{"command":"ls"},"name":"bash"}
agent.tool_use id=b {"evaluated_permission":"allow","input":{"file_path":"x","content":"y"},"name":"write_file"}
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ msg, want string }{
		{`[API Error: {"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}]`, "model_rate_limited_error"},
		{`[API Error: {"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}]`, "model_overloaded_error"},
		{`[API Error: {"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]`, "model_request_failed_error"},
		{"Model stream ended without a finish reason.", "model_request_failed_error"},
		{"something else", "unknown_error"},
	}
	for _, tt := range tests {
		if got := classify(tt.msg); got != tt.want {
			t.Errorf("classify(%q) = %q, want %q", tt.msg, got, tt.want)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"tool_round.jsonl", "resume.jsonl", "api_error.jsonl", "stream_error.jsonl", "interrupt.jsonl", "mcp_tool.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) > 0 && len(l) < 4096 {
				f.Add(l)
			}
		}
	}
	f.Add([]byte(`{"type":"tool_result","tool_id":"a","status":"error","error":{"message":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Translator{MCPServers: []string{"docs"}}
		var evs []engine.Event
		for _, l := range bytes.Split(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		tr.Err()
		enginetest.CheckEvents(t, evs)
	})
}
