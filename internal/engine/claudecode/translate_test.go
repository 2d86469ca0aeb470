package claudecode

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
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
func translateFile(t *testing.T, name string) (evs []engine.Event, unknown []string, tr *Translator) {
	t.Helper()
	tr = &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(false)...)
	return evs, unknown, tr
}

func TestTranslateTranscripts(t *testing.T) {
	tests := []struct {
		file    string
		types   []string
		errType string // of Translator.Err, "" for none
		unknown []string
	}{
		{
			file: "tool_round.jsonl",
			types: []string{
				engine.EventResume,
				"span.model_request_start", "agent.tool_use", "span.model_request_end",
				"agent.tool_result",
				"span.model_request_start", "agent.message", "span.model_request_end",
			},
		},
		{
			// Recorded without --include-partial-messages: spans come from assistant lines.
			file:  "resume.jsonl",
			types: []string{engine.EventResume, "span.model_request_start", "agent.message", "span.model_request_end"},
		},
		{
			file:    "overloaded.jsonl",
			types:   []string{engine.EventResume},
			errType: "model_overloaded_error",
			unknown: []string{"system/api_retry"},
		},
		{
			file:    "interrupt.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
			errType: "unknown_error",
		},
		{
			// The trimmed lines of feasibility.md §B: "…" elisions make two lines invalid JSON.
			file:    "feasibility_partial.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "agent.message", "span.model_request_end"},
			unknown: []string{"invalid", "invalid"},
		},
		{
			file:    "feasibility_tool_round.jsonl",
			types:   []string{"agent.tool_use", "agent.message"},
			unknown: []string{"invalid"},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".jsonl"), func(t *testing.T) {
			t.Parallel()
			evs, unknown, tr := translateFile(t, tt.file)
			if diff := cmp.Diff(tt.types, enginetest.Types(enginetest.WithoutPreviews(evs))); diff != "" {
				t.Errorf("event types (-want +got):\n%s", diff)
			}
			enginetest.CheckEvents(t, evs)
			var gotErr string
			if err := tr.Err(); err != nil {
				gotErr = err.Type
			}
			if gotErr != tt.errType {
				t.Errorf("Err type = %q, want %q (%v)", gotErr, tt.errType, tr.Err())
			}
			if diff := cmp.Diff(tt.unknown, unknown); diff != "" {
				t.Errorf("skipped line types (-want +got):\n%s", diff)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".jsonl")+".golden")
			got := enginetest.Render(evs)
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

func TestTranslateLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{
			name: "thinking and an MCP tool round",
			lines: []string{
				`{"type":"assistant","message":{"id":"msg_1","model":"m","content":[{"type":"thinking","thinking":"hmm","signature":"s"}],"usage":{"input_tokens":10,"output_tokens":2}}}`,
				`{"type":"assistant","message":{"id":"msg_1","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"mcp__github__create_issue","input":{"title":"x"}}],"usage":{"input_tokens":10,"output_tokens":7,"cache_read_input_tokens":3}}}`,
				`{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"created"}],"is_error":true}]}}`,
			},
			want: `span.model_request_start id=msg_1
agent.thinking
agent.mcp_tool_use id=toolu_1 {"evaluated_permission":"allow","input":{"title":"x"},"mcp_server_name":"github","name":"create_issue"}
span.model_request_end ref=msg_1 {"is_error":false,"model_usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":3,"input_tokens":10,"output_tokens":7}} usage={"input_tokens":10,"output_tokens":7,"cache_read_input_tokens":3,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}}
agent.mcp_tool_result ref=toolu_1 {"content":[{"text":"created","type":"text"}],"is_error":true}
`,
		},
		{
			name: "CMA tool names, unknown tools kept by name",
			lines: []string{
				`{"type":"assistant","message":{"id":"msg_1","model":"m","content":[{"type":"tool_use","id":"t1","name":"WebFetch","input":{"url":"u"}},{"type":"tool_use","id":"t2","name":"TodoWrite","input":null}]}}`,
			},
			want: `span.model_request_start id=msg_1
agent.tool_use id=t1 {"evaluated_permission":"allow","input":{"url":"u"},"name":"web_fetch"}
agent.tool_use id=t2 {"evaluated_permission":"allow","input":{},"name":"TodoWrite"}
span.model_request_end ref=msg_1 {"is_error":false,"model_usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":0,"output_tokens":0}} usage={"input_tokens":0,"output_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0}}
`,
		},
		{
			name: "partial and final content give one message",
			lines: []string{
				`{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_2","usage":{"input_tokens":5,"output_tokens":1,"cache_creation_input_tokens":4}}}}`,
				`{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}}`,
				`{"type":"assistant","message":{"id":"msg_2","model":"m","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":5,"output_tokens":1}}}`,
				`{"type":"assistant","message":{"id":"msg_2","model":"m","content":[{"type":"text","text":""}]}}`,
				`{"type":"stream_event","event":{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}}`,
				`{"type":"stream_event","event":{"type":"message_stop"}}`,
				`{"type":"assistant","message":{"id":"msg_2","model":"m","content":[{"type":"text","text":"late"}]}}`,
			},
			want: `span.model_request_start id=msg_2
agent.message {"content":[{"text":"hi","type":"text"}]}
span.model_request_end ref=msg_2 {"is_error":false,"model_usage":{"cache_creation_input_tokens":4,"cache_read_input_tokens":0,"input_tokens":5,"output_tokens":9}} usage={"input_tokens":5,"output_tokens":9,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":4}}
agent.message {"content":[{"text":"late","type":"text"}]}
`,
		},
		{
			name: "sub-agent lines, duplicate tool uses and stray results are skipped",
			lines: []string{
				`{"type":"assistant","parent_tool_use_id":"toolu_task","message":{"id":"msg_sub","model":"m","content":[{"type":"text","text":"sub"}]}}`,
				`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}`,
				`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}`,
				`{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"nope","content":"x"}]}}`,
				`{"type":"user","message":{"role":"user","content":"replayed prompt"}}`,
				`not json`, `null`, `[]`, `{"type":"future_line"}`,
			},
			want: `agent.tool_use id=t1 {"evaluated_permission":"allow","input":{"command":"ls"},"name":"bash"}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := &Translator{}
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

func TestTranslatorErr(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{`{"type":"result","subtype":"success","is_error":false,"result":"ok"}`, ""},
		{`{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"result":"API Error: 529 Overloaded."}`, "model_overloaded_error"},
		{`{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: 429"}`, "model_rate_limited_error"},
		{`{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"API Error: 401 invalid x-api-key"}`, "model_request_failed_error"},
		{`{"type":"result","subtype":"error_max_turns","is_error":true}`, "unknown_error"},
	}
	for _, tt := range tests {
		tr := &Translator{}
		tr.Line([]byte(tt.line))
		got := ""
		if err := tr.Err(); err != nil {
			got = err.Type
			if err.Message == "" {
				t.Errorf("%s: empty message", tt.line)
			}
		}
		if got != tt.want {
			t.Errorf("%s: Err type = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"tool_round.jsonl", "resume.jsonl", "overloaded.jsonl", "interrupt.jsonl", "feasibility_partial.jsonl"} {
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
	f.Add([]byte(`{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"a","content":[1,{"type":"image"}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Translator{}
		var evs []engine.Event
		for _, l := range bytes.Split(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		tr.Err()
		enginetest.CheckEvents(t, evs)
	})
}

func askBash(tool string) bool { return tool == "Bash" || strings.HasPrefix(tool, "mcp__docs__") }

func TestTranslatePermissionTranscripts(t *testing.T) {
	tests := []struct {
		file     string
		types    []string
		response string
	}{
		{
			// Recorded from the real CLI with --permission-prompt-tool stdio and an ask rule
			// for Bash, answered with allow.
			file: "ask_allow.jsonl",
			types: []string{
				engine.EventResume,
				"span.model_request_start", "agent.tool_use", "span.model_request_end",
				"agent.tool_result",
				"span.model_request_start", "agent.message", "span.model_request_end",
			},
			response: `{"response":{"request_id":"%s","response":{"behavior":"allow","updatedInput":{"command":"echo hi \u003e f.txt"}},"subtype":"success"},"type":"control_response"}` + "\n",
		},
		{
			// The same, answered with deny: the CLI reports the message as an error result.
			file: "ask_deny.jsonl",
			types: []string{
				engine.EventResume,
				"span.model_request_start", "agent.tool_use", "span.model_request_end",
				"agent.tool_result",
				"span.model_request_start", "agent.message", "span.model_request_end",
			},
			response: `{"response":{"request_id":"%s","response":{"behavior":"deny","message":"denied by the user"},"subtype":"success"},"type":"control_response"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".jsonl"), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var unknown []string
			var responded [][]byte
			tr := &Translator{
				Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
				Ask:     askBash,
				Respond: func(l []byte) { responded = append(responded, l) },
			}
			var evs []engine.Event
			var perm Permission
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				for _, ev := range tr.Line(sc.Bytes()) {
					if ev.RequiresAction {
						p, ok := tr.Permission(ev.ID)
						if !ok {
							t.Fatalf("no permission request behind %s %s", ev.Type, ev.ID)
						}
						perm = p
					}
					evs = append(evs, ev)
				}
			}
			evs = append(evs, tr.Finish(false)...)
			if diff := cmp.Diff(tt.types, enginetest.Types(enginetest.WithoutPreviews(evs))); diff != "" {
				t.Errorf("event types (-want +got):\n%s", diff)
			}
			enginetest.CheckEvents(t, evs)
			if len(unknown) > 0 || len(responded) > 0 {
				t.Errorf("skipped %v, answered on its own %q", unknown, responded)
			}
			var asks int
			for _, ev := range evs {
				if ev.Type == "agent.tool_use" {
					asks++
					if !ev.RequiresAction || ev.ID != "toolu_fake_0001" {
						t.Errorf("tool use %+v: want RequiresAction and the CLI's tool use id", ev)
					}
				}
			}
			if asks != 1 {
				t.Errorf("%d agent.tool_use events, want 1", asks)
			}
			if _, ok := tr.Permission("toolu_fake_0001"); ok {
				t.Error("Permission returned a request twice")
			}
			if got, want := string(perm.Response(tt.file == "ask_allow.jsonl", "")), fmt.Sprintf(tt.response, perm.RequestID); got != want {
				t.Errorf("Response = %s, want %s", got, want)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".jsonl")+".golden")
			got := enginetest.Render(evs)
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

func TestTranslatePermissionLines(t *testing.T) {
	const assistantBash = `{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]}}`
	const askBashT1 = `{"type":"control_request","request_id":"r1","request":{"subtype":"can_use_tool","tool_name":"Bash","input":{"command":"ls"},"tool_use_id":"t1"}}`
	const resultT1 = `{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a.txt"}]}}`
	tests := []struct {
		name      string
		ask       func(string) bool
		lines     []string
		want      string
		responses []string
	}{
		{
			name:  "the assistant line first: one use, when the CLI asks",
			ask:   askBash,
			lines: []string{assistantBash, askBashT1, resultT1},
			want: `agent.tool_use id=t1 ask {"evaluated_permission":"ask","input":{"command":"ls"},"name":"bash"}
agent.tool_result ref=t1 {"content":[{"text":"a.txt","type":"text"}],"is_error":false}
`,
		},
		{
			name:  "the request first: the assistant line is not repeated",
			ask:   askBash,
			lines: []string{askBashT1, assistantBash, resultT1, assistantBash},
			want: `agent.tool_use id=t1 ask {"evaluated_permission":"ask","input":{"command":"ls"},"name":"bash"}
agent.tool_result ref=t1 {"content":[{"text":"a.txt","type":"text"}],"is_error":false}
`,
		},
		{
			name:  "a held use the CLI ran without asking comes with its result",
			ask:   askBash,
			lines: []string{assistantBash, resultT1},
			want: `agent.tool_use id=t1 {"evaluated_permission":"allow","input":{"command":"ls"},"name":"bash"}
agent.tool_result ref=t1 {"content":[{"text":"a.txt","type":"text"}],"is_error":false}
`,
		},
		{
			name: "tools that do not ask are allowed on their own",
			ask:  askBash,
			lines: []string{
				`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t2","name":"Write","input":{"file_path":"x","content":"y"}}]}}`,
				`{"type":"control_request","request_id":"r2","request":{"subtype":"can_use_tool","tool_name":"Write","input":{"file_path":"x","content":"y"},"tool_use_id":"t2"}}`,
			},
			want: `agent.tool_use id=t2 {"evaluated_permission":"allow","input":{"file_path":"x","content":"y"},"name":"write"}
`,
			responses: []string{`{"response":{"request_id":"r2","response":{"behavior":"allow","updatedInput":{"file_path":"x","content":"y"}},"subtype":"success"},"type":"control_response"}`},
		},
		{
			name:  "without Ask every request is allowed",
			lines: []string{assistantBash, askBashT1},
			want: `agent.tool_use id=t1 {"evaluated_permission":"allow","input":{"command":"ls"},"name":"bash"}
`,
			responses: []string{`{"response":{"request_id":"r1","response":{"behavior":"allow","updatedInput":{"command":"ls"}},"subtype":"success"},"type":"control_response"}`},
		},
		{
			name: "an MCP tool that asks, a request without a tool use id, unsupported requests",
			ask:  askBash,
			lines: []string{
				`{"type":"control_request","request_id":"r3","request":{"subtype":"can_use_tool","tool_name":"mcp__docs__search","input":{"q":"x"}}}`,
				`{"type":"control_request","request_id":"r4","request":{"subtype":"hook_callback","callback_id":"c"}}`,
				`{"type":"control_cancel_request","request_id":"r3"}`,
			},
			want: `agent.mcp_tool_use id=perm_r3 ask {"evaluated_permission":"ask","input":{"q":"x"},"mcp_server_name":"docs","name":"search"}
`,
			responses: []string{`{"response":{"error":"hangar: unsupported control request hook_callback","request_id":"r4","subtype":"error"},"type":"control_response"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var responses []string
			tr := &Translator{Ask: tt.ask, Respond: func(l []byte) { responses = append(responses, strings.TrimSuffix(string(l), "\n")) }}
			var sb strings.Builder
			var evs []engine.Event
			for _, l := range tt.lines {
				for _, ev := range tr.Line([]byte(l)) {
					evs = append(evs, ev)
					line := enginetest.Render([]engine.Event{ev})
					if ev.RequiresAction {
						if _, ok := tr.Permission(ev.ID); !ok {
							t.Errorf("no permission request behind %s", ev.ID)
						}
						typ, rest, _ := strings.Cut(line, " ")
						id, body, _ := strings.Cut(rest, " ")
						line = typ + " " + id + " ask " + body
					}
					sb.WriteString(line)
				}
			}
			enginetest.CheckEvents(t, evs)
			if diff := cmp.Diff(tt.want, sb.String()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.responses, responses); diff != "" {
				t.Errorf("control responses (-want +got):\n%s", diff)
			}
		})
	}
}
