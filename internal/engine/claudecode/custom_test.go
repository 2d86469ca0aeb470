package claudecode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

var weather = []CustomTool{{
	Name: "get_weather", Description: "Get the weather in a city",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}}

func readLines(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	return out
}

// TestTranslateCustomToolTranscripts replays the CLI's stdout recorded by a real run with
// a custom tool (claude 2.1.197, --include-partial-messages) and checks that the
// translator writes back exactly the stdin lines of that run (testdata/*.stdin.jsonl,
// without the user message and the engine's interrupt request).
func TestTranslateCustomToolTranscripts(t *testing.T) {
	tests := []struct {
		name   string
		answer bool // the client answers the custom tool use with "sunny"
		types  []string
	}{
		{
			name: "custom_tool", answer: true,
			types: []string{
				engine.EventResume,
				"span.model_request_start", "agent.custom_tool_use", "span.model_request_end",
				"span.model_request_start", "agent.message", "span.model_request_end",
			},
		},
		{
			// Interrupted while the call awaits the client: the CLI cancels it
			// (notifications/cancelled) and ends the turn with error_during_execution.
			name:  "custom_tool_interrupt",
			types: []string{engine.EventResume, "span.model_request_start", "agent.custom_tool_use", "span.model_request_end"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var unknown, responses []string
			var forgot []string
			tr := &Translator{
				Unknown:      func(typ string, _ []byte) { unknown = append(unknown, typ) },
				Respond:      func(l []byte) { responses = append(responses, string(l)) },
				Custom:       weather,
				CustomServer: "hangar",
				Forget:       func(id string) { forgot = append(forgot, id) },
			}
			var evs []engine.Event
			var use engine.Event
			for _, l := range readLines(t, tt.name+".jsonl") {
				for _, ev := range tr.Line(l) {
					evs = append(evs, ev)
					if !ev.RequiresAction {
						continue
					}
					use = ev
					if tt.answer {
						c, ok := tr.CustomCall(ev.ID)
						if !ok {
							t.Fatalf("no tools/call behind %s", ev.ID)
						}
						responses = append(responses, string(c.Response(json.RawMessage(`[{"type":"text","text":"sunny"}]`), false)))
					}
				}
			}
			evs = append(evs, tr.Finish(false)...)
			if diff := cmp.Diff(tt.types, enginetest.Types(enginetest.WithoutPreviews(evs))); diff != "" {
				t.Errorf("event types (-want +got):\n%s", diff)
			}
			enginetest.CheckEvents(t, evs)
			if len(unknown) > 0 {
				t.Errorf("skipped %v", unknown)
			}
			body, _ := json.Marshal(use.Body)
			if use.Type != hangar.EventAgentCustomToolUse || use.ID != "toolu_fake_0001" || string(body) != `{"input":{"city":"Paris"},"name":"get_weather"}` {
				t.Errorf("custom tool use %s id=%s %s", use.Type, use.ID, body)
			}
			if !tt.answer {
				if diff := cmp.Diff([]string{"toolu_fake_0001"}, forgot); diff != "" {
					t.Errorf("forgotten calls (-want +got):\n%s", diff)
				}
				if _, ok := tr.CustomCall(use.ID); ok {
					t.Error("a cancelled call still awaits its answer")
				}
			}
			var want []string
			for _, l := range readLines(t, tt.name+".stdin.jsonl") {
				if !bytes.Contains(l, []byte(`"control_response"`)) {
					continue // the user message, the interrupt request
				}
				want = append(want, string(l)+"\n")
			}
			if diff := cmp.Diff(want, responses); diff != "" {
				t.Errorf("stdin lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTranslateCustomToolLines(t *testing.T) {
	mcp := func(id, server, msg string) string {
		return `{"type":"control_request","request_id":"` + id + `","request":{"subtype":"mcp_message","server_name":"` + server + `","message":` + msg + `}}`
	}
	tests := []struct {
		name      string
		server    string // CustomServer, "hangar" unless "-"
		lines     []string
		want      string // rendered events, RequiresAction ones marked "ask"
		responses []string
	}{
		{
			name: "initialize echoes the protocol version",
			lines: []string{
				mcp("r1", "hangar", `{"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}},"jsonrpc":"2.0","id":0}`),
				mcp("r2", "hangar", `{"method":"initialize","params":{},"jsonrpc":"2.0","id":"a"}`),
				mcp("r3", "hangar", `{"method":"notifications/initialized","jsonrpc":"2.0"}`),
				mcp("r4", "hangar", `{"method":"ping","jsonrpc":"2.0","id":7}`),
			},
			responses: []string{
				`{"response":{"request_id":"r1","response":{"mcp_response":{"id":0,"jsonrpc":"2.0","result":{"capabilities":{"tools":{}},"protocolVersion":"2025-11-25","serverInfo":{"name":"hangar","version":"1.0.0"}}}},"subtype":"success"},"type":"control_response"}`,
				`{"response":{"request_id":"r2","response":{"mcp_response":{"id":"a","jsonrpc":"2.0","result":{"capabilities":{"tools":{}},"protocolVersion":"2025-06-18","serverInfo":{"name":"hangar","version":"1.0.0"}}}},"subtype":"success"},"type":"control_response"}`,
				`{"response":{"request_id":"r3","response":{"mcp_response":{"id":0,"jsonrpc":"2.0","result":{}}},"subtype":"success"},"type":"control_response"}`,
				`{"response":{"request_id":"r4","response":{"mcp_response":{"id":7,"jsonrpc":"2.0","result":{}}},"subtype":"success"},"type":"control_response"}`,
			},
		},
		{
			name:  "tools/list",
			lines: []string{mcp("r1", "hangar", `{"method":"tools/list","jsonrpc":"2.0","id":1}`)},
			responses: []string{
				`{"response":{"request_id":"r1","response":{"mcp_response":{"id":1,"jsonrpc":"2.0","result":{"tools":[{"description":"Get the weather in a city","inputSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"name":"get_weather"}]}}},"subtype":"success"},"type":"control_response"}`,
			},
		},
		{
			name: "the tool use and result of a custom tool are the custom tool use",
			lines: []string{
				`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"mcp__hangar__get_weather","input":{"city":"Oslo"}},{"type":"tool_use","id":"t2","name":"mcp__docs__search","input":{"q":"x"}}]}}`,
				mcp("r1", "hangar", `{"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Oslo"},"_meta":{"claudecode/toolUseId":"t1","progressToken":2}},"jsonrpc":"2.0","id":2}`),
				`{"type":"user","message":{"role":"user","content":[{"tool_use_id":"t1","type":"tool_result","content":[{"type":"text","text":"rain"}]},{"tool_use_id":"t2","type":"tool_result","content":"found"}]}}`,
			},
			want: `agent.mcp_tool_use id=t2 {"evaluated_permission":"allow","input":{"q":"x"},"mcp_server_name":"docs","name":"search"}
agent.custom_tool_use id=t1 ask {"input":{"city":"Oslo"},"name":"get_weather"}
agent.mcp_tool_result ref=t2 {"content":[{"text":"found","type":"text"}],"is_error":false}
`,
		},
		{
			name: "the call before the assistant line",
			lines: []string{
				mcp("r1", "hangar", `{"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Oslo"},"_meta":{"claudecode/toolUseId":"t1"}},"jsonrpc":"2.0","id":2}`),
				`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"mcp__hangar__get_weather","input":{"city":"Oslo"}}]}}`,
				`{"type":"user","message":{"role":"user","content":[{"tool_use_id":"t1","type":"tool_result","content":"rain"}]}}`,
			},
			want: "agent.custom_tool_use id=t1 ask {\"input\":{\"city\":\"Oslo\"},\"name\":\"get_weather\"}\n",
		},
		{
			name: "a call without the tool use id, with no arguments",
			lines: []string{
				mcp("r9", "hangar", `{"method":"tools/call","params":{"name":"get_weather"},"jsonrpc":"2.0","id":3}`),
			},
			want: "agent.custom_tool_use id=mcp_r9 ask {\"input\":{},\"name\":\"get_weather\"}\n",
		},
		{
			name: "unknown tools, methods and servers",
			lines: []string{
				mcp("r1", "hangar", `{"method":"tools/call","params":{"name":"nope","arguments":{}},"jsonrpc":"2.0","id":4}`),
				mcp("r2", "hangar", `{"method":"resources/list","jsonrpc":"2.0","id":5}`),
				mcp("r3", "other", `{"method":"tools/list","jsonrpc":"2.0","id":6}`),
				mcp("r4", "hangar", `"not an object"`),
			},
			responses: []string{
				`{"response":{"request_id":"r1","response":{"mcp_response":{"id":4,"jsonrpc":"2.0","result":{"content":[{"text":"unknown tool nope","type":"text"}],"isError":true}}},"subtype":"success"},"type":"control_response"}`,
				`{"response":{"request_id":"r2","response":{"mcp_response":{"error":{"code":-32601,"message":"method not found: resources/list"},"id":5,"jsonrpc":"2.0"}},"subtype":"success"},"type":"control_response"}`,
				`{"response":{"error":"hangar: unknown SDK MCP server other","request_id":"r3","subtype":"error"},"type":"control_response"}`,
				`{"response":{"error":"hangar: invalid JSON-RPC message","request_id":"r4","subtype":"error"},"type":"control_response"}`,
			},
		},
		{
			name:   "an agent without custom tools serves none",
			server: "-",
			lines: []string{
				mcp("r1", "hangar", `{"method":"tools/list","jsonrpc":"2.0","id":1}`),
				`{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"mcp__hangar__get_weather","input":{}}]}}`,
			},
			want:      `agent.mcp_tool_use id=t1 {"evaluated_permission":"allow","input":{},"mcp_server_name":"hangar","name":"get_weather"}` + "\n",
			responses: []string{`{"response":{"error":"hangar: unknown SDK MCP server hangar","request_id":"r1","subtype":"error"},"type":"control_response"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var responses, unknown []string
			tr := &Translator{
				Unknown:      func(typ string, _ []byte) { unknown = append(unknown, typ) },
				Respond:      func(l []byte) { responses = append(responses, strings.TrimSuffix(string(l), "\n")) },
				Custom:       weather,
				CustomServer: "hangar",
			}
			if tt.server == "-" {
				tr.Custom, tr.CustomServer = nil, ""
			}
			var sb strings.Builder
			var evs []engine.Event
			for _, l := range tt.lines {
				for _, ev := range tr.Line([]byte(l)) {
					evs = append(evs, ev)
					line := enginetest.Render([]engine.Event{ev})
					if ev.RequiresAction {
						if _, ok := tr.CustomCall(ev.ID); !ok {
							t.Errorf("no tools/call behind %s", ev.ID)
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
			if len(unknown) > 0 {
				t.Errorf("skipped %v", unknown)
			}
		})
	}
}

func TestCustomCallResponse(t *testing.T) {
	t.Parallel()
	c := CustomCall{RequestID: "r1", RPCID: json.RawMessage(`2`)}
	tests := []struct {
		name    string
		content string
		isError bool
		want    string // the mcp_response's result
	}{
		{"text", `[{"type":"text","text":"sunny"},{"type":"text","text":" and warm"}]`, false,
			`{"content":[{"text":"sunny","type":"text"},{"text":" and warm","type":"text"}],"isError":false}`},
		{"error", `[{"type":"text","text":"no such city"}]`, true,
			`{"content":[{"text":"no such city","type":"text"}],"isError":true}`},
		{"image and document", `[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"document","source":{"type":"url","url":"https://x.example/a.pdf"}},{"type":"search_result"}]`, false,
			`{"content":[{"data":"iVBO","mimeType":"image/png","type":"image"},{"text":"[document: https://x.example/a.pdf]","type":"text"},{"text":"[search_result]","type":"text"}],"isError":false}`},
		{"no content", ``, false, `{"content":[],"isError":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := `{"response":{"request_id":"r1","response":{"mcp_response":{"id":2,"jsonrpc":"2.0","result":` + tt.want + `}},"subtype":"success"},"type":"control_response"}` + "\n"
			if got := string(c.Response(json.RawMessage(tt.content), tt.isError)); got != want {
				t.Errorf("Response =\n%s\nwant\n%s", got, want)
			}
		})
	}
}
