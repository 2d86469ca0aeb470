package pi

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

// translateFile runs a Translator over a recorded `pi --mode rpc` output.
func translateFile(t *testing.T, name string) (evs []engine.Event, unknown []string, replies int, tr *Translator) {
	t.Helper()
	tr = &Translator{
		Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
		Reply:   func([]byte) { replies++ },
		Custom:  map[string]bool{"get_weather": true},
		Ask:     map[string]bool{"bash": true},
	}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(tr.Err() != nil)...)
	return evs, unknown, replies, tr
}

// The transcripts were recorded by TestRecordTranscripts (HANGAR_PI_RECORD=1) from pi
// 0.73.1 against internal/fakemodel: toolround.jsonl a bash round, a read of a missing
// file (an error result) and a reply with thinking; resume.jsonl a second turn on the
// same session file; interrupt.jsonl a model stream aborted by the abort command;
// custom.jsonl a custom tool call answered by the client and deny.jsonl a bash call the
// client denied, both through the bridge extension; ratelimit.jsonl a 429 (after the Anthropic client's own retries); unauthorized.jsonl a
// 401.
func TestTranslateTranscripts(t *testing.T) {
	tests := []struct {
		file    string
		errType string // of Translator.Err, "" for none
	}{
		{file: "toolround.jsonl"},
		{file: "resume.jsonl"},
		{file: "interrupt.jsonl"},
		{file: "custom.jsonl"},
		{file: "deny.jsonl"},
		{file: "ratelimit.jsonl", errType: "model_rate_limited_error"},
		{file: "unauthorized.jsonl", errType: "model_request_failed_error"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, unknown, replies, tr := translateFile(t, tt.file)
			enginetest.CheckEvents(t, evs)
			if len(unknown) > 0 || replies > 0 {
				t.Errorf("unknown lines %v, %d replies", unknown, replies)
			}
			if !tr.Ended() {
				t.Error("Ended() = false after agent_end")
			}
			var gotErr string
			if err := tr.Err(); err != nil {
				gotErr = err.Type
			}
			if gotErr != tt.errType {
				t.Errorf("Err() = %v, want type %q", tr.Err(), tt.errType)
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
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		msg  string
		want string
		text string
	}{
		{`529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "model_overloaded_error", "Overloaded (HTTP 529)"},
		{`429 {"error":{"message":"slow down","type":"rate_limit_error"},"type":"error"}`, "model_rate_limited_error", "slow down (HTTP 429)"},
		{`401 {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, "model_request_failed_error", "invalid x-api-key (HTTP 401)"},
		{`500 Internal Server Error`, "model_request_failed_error", "Internal Server Error (HTTP 500)"},
		{`Connection error.`, "model_request_failed_error", "Connection error."},
		{`Provider overloaded, try later`, "model_overloaded_error", "Provider overloaded, try later"},
		{``, "model_request_failed_error", "pi reported an error"},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			got := classify(tt.msg)
			if got.Type != tt.want || got.Message != tt.text {
				t.Errorf("classify(%q) = %+v, want %s %q", tt.msg, got, tt.want, tt.text)
			}
		})
	}
}

func TestTranslateUnknownAndEdgeLines(t *testing.T) {
	var unknown []string
	var replies []string
	tr := &Translator{
		Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
		Reply:   func(b []byte) { replies = append(replies, string(b)) },
	}
	var evs []engine.Event
	for _, l := range []string{
		`not json`,
		`{"id":"hangar_state","type":"response","command":"get_state","success":true,"data":{"sessionFile":"/home/agent/s.jsonl"}}`,
		`{"type":"extension_ui_request","id":"u1","method":"confirm","title":"Allow?"}`,
		`{"type":"extension_ui_request","id":"u2","method":"notify","message":"hi"}`,
		`{"type":"turn_start"}`,
		`{"type":"tool_execution_start","toolCallId":"c1","toolName":"find","args":{"pattern":"*.go"}}`,
		`{"type":"tool_execution_end","toolCallId":"c1","toolName":"find","result":{"content":[{"type":"image","data":"AAAA","mimeType":"image/png"}]},"isError":false}`,
		`{"type":"tool_execution_end","toolCallId":"c1","toolName":"find","result":{},"isError":false}`,
		`{"type":"compaction_end","reason":"threshold","result":{"summary":"s"},"aborted":false,"willRetry":false}`,
		`{"type":"extension_error","extensionPath":"x.ts","event":"tool_call","error":"boom"}`,
		`{"id":"hangar_prompt","type":"response","command":"prompt","success":false,"error":"No model selected"}`,
	} {
		evs = append(evs, tr.Line([]byte(l))...)
	}
	evs = append(evs, tr.Finish(true)...)
	enginetest.CheckEvents(t, evs)
	want := []string{engine.EventResume, "span.model_request_start", "agent.tool_use", "agent.tool_result", "agent.thread_context_compacted", "span.model_request_end"}
	if diff := cmp.Diff(want, enginetest.Types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := enginetest.Render(evs[2:4]); !strings.Contains(got, `"name":"glob"`) || !strings.Contains(got, `"media_type":"image/png"`) {
		t.Errorf("tool events:\n%s", got)
	}
	if diff := cmp.Diff([]string{"invalid", "tool_execution_end", "extension_error"}, unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
	if len(replies) != 1 || !strings.Contains(replies[0], `"id":"u1"`) || !strings.Contains(replies[0], `"cancelled":true`) {
		t.Errorf("replies %q, want the dialog cancelled", replies)
	}
	if !tr.Ended() || tr.Err() == nil || tr.Err().Message != "No model selected" {
		t.Errorf("Ended %v, Err %v after a rejected prompt", tr.Ended(), tr.Err())
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"toolround.jsonl", "resume.jsonl", "interrupt.jsonl", "custom.jsonl", "deny.jsonl", "ratelimit.jsonl", "unauthorized.jsonl", "mcp_tool.jsonl", "mcp_ask.jsonl", "mcp_down.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
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
	f.Add([]byte(`{"type":"turn_start"}` + "\n" + `{"type":"message_end","message":{"role":"assistant","content":[{"type":"toolCall","id":"req_1","name":"bash"}]}}`))
	f.Add([]byte(`{"type":"message_end","message":{"role":"assistant","content":[{"type":"toolCall","id":"x","name":"bash"}]}}` + "\n" + `{"type":"turn_start"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The docs MCP server, asking for confirmation or not.
		mcp := []MCPServer{{Name: "docs", Enabled: true, Ask: len(data)%2 == 1}}
		tr := &Translator{Reply: func([]byte) {}, MCP: mcp}
		var evs []engine.Event
		for _, l := range bytes.Split(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		tr.Err()
		enginetest.CheckEvents(t, evs)
	})
}
