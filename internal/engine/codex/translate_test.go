package codex

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// transcripts are recorded `codex app-server` runs of codex 0.171.0 against fakemodel
// (go test -run TestRecordTranscripts -record; mcp_tool: -run TestRealCLIMCPTool -record-mcp).
var transcripts = []string{"tool_round", "resume", "failed_command", "reasoning", "stream_error", "rate_limited", "echo", "interrupt",
	"approval_allow", "approval_deny", "file_change", "mcp_tool"}

// translateFile runs a Translator over a recorded transcript, answering approvals as the
// recording did (deny for approval_deny, else allow), and renders its events and the
// lines it wrote to the CLI.
func translateFile(t *testing.T, name string) (got string, all []engine.Event, tr *Translator, unknown []string) {
	t.Helper()
	var sb strings.Builder
	var evs []engine.Event
	flush := func() {
		sb.WriteString(enginetest.Render(evs))
		all = append(all, evs...)
		evs = nil
	}
	tr = &Translator{
		Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
		Respond: func(b []byte) { flush(); sb.WriteString("-> " + string(b)) },
	}
	if strings.HasPrefix(name, "approval_") || name == "file_change" {
		tr.Ask = func(string) bool { return true }
	}
	for _, line := range enginetest.TranscriptLines(t, name+".jsonl") {
		for _, ev := range tr.Line(line) {
			evs = append(evs, ev)
			if ev.RequiresAction {
				flush()
				b, ok := tr.Approval(ev.ID, name != "approval_deny")
				if !ok {
					t.Errorf("no approval for %s", ev.ID)
				}
				sb.WriteString("-> " + string(b))
			}
		}
	}
	evs = append(evs, tr.Finish(!tr.Done())...)
	flush()
	return sb.String(), all, tr, unknown
}

func TestTranslateTranscripts(t *testing.T) {
	wantErr := map[string]string{"stream_error": "model_overloaded_error", "rate_limited": "model_rate_limited_error"}
	for _, name := range transcripts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, evs, tr, unknown := translateFile(t, name)
			enginetest.CheckEvents(t, evs)
			if e := tr.Err(); e != nil {
				got += "err " + e.Type + ": " + e.Message + "\n"
			}
			got += fmt.Sprintf("done=%v status=%s unknown=%v\n", tr.Done(), tr.Status(), unknown)
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
		})
	}
}

func TestTranslateLines(t *testing.T) {
	const (
		started = `{"method":"turn/started","params":{"threadId":"th","turn":{"id":"tu","status":"inProgress"}}}`
		usage   = `{"method":"thread/tokenUsage/updated","params":{"threadId":"th","turnId":"tu","tokenUsage":{"total":{},"last":{"inputTokens":100,"cachedInputTokens":40,"cacheWriteInputTokens":5,"outputTokens":7}}}}`
		ended   = `{"method":"turn/completed","params":{"threadId":"th","turn":{"id":"tu","status":"completed"}}}`
	)
	tests := []struct {
		name  string
		ask   []string
		lines []string
		want  string
	}{
		{"file change and usage", nil, []string{
			// The usage of the resumed thread's last turn, replayed before the new turn.
			`{"method":"thread/tokenUsage/updated","params":{"threadId":"th","turnId":"old","tokenUsage":{"total":{},"last":{"inputTokens":1,"outputTokens":1}}}}`,
			started,
			`{"method":"item/completed","params":{"threadId":"th","turnId":"tu","item":{"id":"item_1","type":"fileChange","changes":[{"path":"/w/a.go","kind":{"type":"update","move_path":null},"diff":"-a\n+b\n"}],"status":"completed"}}}`,
			usage,
			ended,
		}, `span.model_request_start id=request_1
agent.tool_use id=item_1 {"evaluated_permission":"allow","input":{"changes":[{"diff":"-a\n+b\n","kind":"update","path":"/w/a.go"}]},"name":"edit"}
agent.tool_result ref=item_1 {"content":[{"text":"update /w/a.go","type":"text"}],"is_error":false}
span.model_request_end ref=request_1 {"is_error":false,"model_usage":{"cache_creation_input_tokens":5,"cache_read_input_tokens":40,"input_tokens":60,"output_tokens":7}} usage={"input_tokens":60,"output_tokens":7,"cache_read_input_tokens":40,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":5}}
`},
		{"mcp tool call", nil, []string{
			`{"method":"item/started","params":{"item":{"id":"item_2","type":"mcpToolCall","server":"docs","tool":"search","arguments":{"q":"x"},"status":"inProgress"}}}`,
			`{"method":"item/completed","params":{"item":{"id":"item_2","type":"mcpToolCall","server":"docs","tool":"search","arguments":{"q":"x"},"result":{"content":[{"type":"text","text":"found"}]},"status":"completed"}}}`,
			`{"method":"item/completed","params":{"item":{"id":"item_3","type":"mcpToolCall","server":"docs","tool":"search","arguments":null,"error":{"message":"boom"},"status":"failed"}}}`,
		}, `agent.mcp_tool_use id=item_2 {"input":{"q":"x"},"mcp_server_name":"docs","name":"search"}
agent.mcp_tool_result ref=item_2 {"content":[{"text":"found","type":"text"}],"is_error":false}
agent.mcp_tool_use id=item_3 {"input":{},"mcp_server_name":"docs","name":"search"}
agent.mcp_tool_result ref=item_3 {"content":[{"text":"boom","type":"text"}],"is_error":true}
`},
		{"web search and unknowns", nil, []string{
			`{"method":"item/completed","params":{"item":{"id":"item_4","type":"webSearch","query":"go 1.26","action":null,"results":null}}}`,
			`{"method":"item/completed","params":{"item":{"id":"item_5","type":"plan","text":"1. do"}}}`,
			`{"method":"something/new","params":{}}`,
			`{"method":"item/tool/requestUserInput","id":7,"params":{"threadId":"th","turnId":"tu","itemId":"x","questions":[]}}`,
			`{"id":3,"result":{}}`,
			`not json`,
		}, `agent.tool_use id=item_4 {"evaluated_permission":"allow","input":{"query":"go 1.26"},"name":"web_search"}
agent.tool_result ref=item_4 {"content":[{"text":"","type":"text"}],"is_error":false}
-> {"error":{"code":-32601,"message":"hangar does not support item/tool/requestUserInput"},"id":7,"jsonrpc":"2.0"}
`},
		{"quoted command", nil, []string{
			`{"method":"item/completed","params":{"item":{"id":"item_6","type":"commandExecution","command":"/bin/bash -lc 'echo '\\''hi'\\'''","aggregatedOutput":"hi\n","exitCode":0,"status":"completed"}}}`,
		}, `agent.tool_use id=item_6 {"evaluated_permission":"allow","input":{"command":"echo 'hi'"},"name":"bash"}
agent.tool_result ref=item_6 {"content":[{"text":"hi\n","type":"text"}],"is_error":false}
`},
		{"approvals of a tool that does not ask", []string{"write"}, []string{
			started,
			`{"method":"item/started","params":{"item":{"id":"c1","type":"commandExecution","command":"ls","status":"inProgress"}}}`,
			`{"method":"item/commandExecution/requestApproval","id":0,"params":{"threadId":"th","turnId":"tu","itemId":"c1","command":"ls"}}`,
			// A subcommand of the same command.
			`{"method":"item/commandExecution/requestApproval","id":1,"params":{"threadId":"th","turnId":"tu","itemId":"c1","approvalId":"a2","command":"ls -l"}}`,
			`{"method":"item/completed","params":{"item":{"id":"c1","type":"commandExecution","command":"ls","aggregatedOutput":null,"exitCode":2,"status":"failed"}}}`,
			`{"method":"error","params":{"error":{"message":"stream disconnected","codexErrorInfo":"serverOverloaded"},"willRetry":false,"threadId":"th","turnId":"tu"}}`,
			`{"method":"turn/completed","params":{"threadId":"th","turn":{"id":"tu","status":"failed","error":{"message":"stream disconnected","codexErrorInfo":"serverOverloaded"}}}}`,
		}, `span.model_request_start id=request_1
agent.tool_use id=c1 {"evaluated_permission":"allow","input":{"command":"ls"},"name":"bash"}
-> {"id":0,"jsonrpc":"2.0","result":{"decision":"accept"}}
-> {"id":1,"jsonrpc":"2.0","result":{"decision":"accept"}}
agent.tool_result ref=c1 {"content":[{"text":"","type":"text"}],"is_error":true}
span.model_request_end ref=request_1 {"is_error":true,"model_usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":0,"output_tokens":0}} usage={"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}}
err model_overloaded_error: stream disconnected
`},
		{"an approval before its item, interrupted", []string{"bash"}, []string{
			started,
			`{"method":"item/commandExecution/requestApproval","id":0,"params":{"threadId":"th","turnId":"tu","itemId":"c2","command":"/bin/bash -lc 'rm -rf /'"}}`,
			`{"method":"turn/completed","params":{"threadId":"th","turn":{"id":"tu","status":"interrupted"}}}`,
		}, `span.model_request_start id=request_1
agent.tool_use id=c2 {"evaluated_permission":"ask","input":{"command":"rm -rf /"},"name":"bash"} requires_action
agent.tool_result ref=c2 {"content":[{"text":"interrupted","type":"text"}],"is_error":true}
span.model_request_end ref=request_1 {"is_error":false,"model_usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":0,"output_tokens":0}} usage={"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}}
pending=false
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sb strings.Builder
			var all []engine.Event
			tr := Translator{Respond: func(b []byte) { sb.WriteString("-> " + string(b)) }}
			if tt.ask != nil {
				tr.Ask = func(tool string) bool { return slices.Contains(tt.ask, tool) }
			}
			render := func(evs []engine.Event) {
				for _, ev := range evs {
					s := enginetest.Render([]engine.Event{ev})
					if ev.RequiresAction {
						s = strings.TrimSuffix(s, "\n") + " requires_action\n"
					}
					sb.WriteString(s)
				}
				all = append(all, evs...)
			}
			var asked []string
			for _, l := range tt.lines {
				evs := tr.Line([]byte(l))
				render(evs)
				for _, ev := range evs {
					if ev.RequiresAction {
						asked = append(asked, ev.ID)
					}
				}
			}
			render(tr.Finish(false))
			if e := tr.Err(); e != nil {
				sb.WriteString("err " + e.Type + ": " + e.Message + "\n")
			}
			for _, id := range asked {
				fmt.Fprintf(&sb, "pending=%v\n", tr.Pending(id))
			}
			enginetest.CheckEvents(t, all)
			if diff := cmp.Diff(tt.want, sb.String()); diff != "" {
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
	f.Add([]byte(`{"method":"item/completed","params":{"item":{"id":"i","type":"mcpToolCall","result":{"content":[1,{"type":"image"}]}}}}`))
	f.Add([]byte(`{"method":"item/fileChange/requestApproval","id":"x","params":{"itemId":"i"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Translator{Ask: func(tool string) bool { return tool == "bash" }, Respond: func([]byte) {}}
		var evs []engine.Event
		for _, l := range bytes.Split(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		enginetest.CheckEvents(t, evs)
	})
}
