package fakemodel_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

const execTool = `"tools":[{"type":"function","name":"exec_command","parameters":{"type":"object"}},{"type":"web_search"}]`

// codexInput is the input of a codex request: its base prompt and environment context,
// then the user's message.
func codexInput(text string, more ...string) string {
	items := []string{
		`{"type":"message","role":"developer","content":[{"type":"input_text","text":"You are Codex. hangar-dev"}]}`,
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>x</environment_context>"}]}`,
		`{"type":"message","role":"user","content":[{"type":"input_text","text":` + quote(text) + `}]}`,
	}
	return `"input":[` + strings.Join(append(items, more...), ",") + `]`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestResponsesStreamTranscripts(t *testing.T) {
	callItems := []string{
		`{"type":"function_call","id":"fc_1","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}"}`,
		`{"type":"function_call_output","call_id":"call_1","output":"README.md"}`,
	}
	tests := []struct {
		name string
		body string
		resp *fakemodel.Response
	}{
		{"echo", `{"model":"gpt-test","stream":true,` + codexInput("hello there") + `}`, nil},
		{"function_call", `{"model":"gpt-test","stream":true,` + execTool + `,` + codexInput("please TOOL:bash echo hello > out.txt") + `}`, nil},
		{"function_call_output", `{"model":"gpt-test","stream":true,` + execTool + `,` + codexInput("TOOL:bash ls", callItems...) + `}`, nil},
		{"reasoning", `{"model":"gpt-test","stream":true,` + codexInput("think") + `}`,
			&fakemodel.Response{Content: []fakemodel.Block{{Type: "thinking", Thinking: "let me see"}, {Type: "text", Text: "ok"}}}},
		{"stream_error", `{"model":"gpt-test","stream":true,` + codexInput("x") + `}`, &fakemodel.Response{StreamError: "server_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s fakemodel.Server
			if tt.resp != nil {
				s.Push(*tt.resp)
			}
			w := post(t, &s, "/v1/responses", tt.body)
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, content type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			golden(t, "openai_stream_"+tt.name+".golden", w.Body.String())
			checkSSE(t, w.Body.String())
		})
	}
}

func TestResponsesNonStreaming(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	w := post(t, &s, "/v1/responses", `{"model":"gpt-test","input":"hi"}`)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	golden(t, "openai_response_echo.golden", w.Body.String())
}

func TestResponsesDecodeAndRecord(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	body := `{"model":"gpt-test","stream":true,"instructions":"base",` + execTool + `,` + codexInput("TOOL:bash ls",
		`{"type":"reasoning","summary":[{"type":"summary_text","text":"hmm"}]}`,
		`{"type":"function_call","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}"}`,
		`{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}`) + `}`
	post(t, &s, "/v1/responses", body)
	post(t, &s, "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	reqs := s.ResponsesRequests()
	if len(reqs) != 1 || len(s.Requests()) != 2 {
		t.Fatalf("%d responses requests of %d", len(reqs), len(s.Requests()))
	}
	r := reqs[0]
	if r.Model != "gpt-test" || !r.Stream || string(r.System) != `"base\n\nYou are Codex. hangar-dev"` {
		t.Errorf("model %q stream %v system %s", r.Model, r.Stream, r.System)
	}
	if !r.HasTool("exec_command") || !r.HasTool("") {
		t.Errorf("tools %v", r.Tools)
	}
	res, ok := r.LastToolResult()
	if !ok || res.ToolUseID != "call_1" || res.ResultText() != "ab" {
		t.Errorf("LastToolResult = %+v, %v", res, ok)
	}
	want := []fakemodel.Message{
		{Role: "user", Content: []fakemodel.Block{{Type: "text", Text: "<environment_context>x</environment_context>"}}},
		{Role: "user", Content: []fakemodel.Block{{Type: "text", Text: "TOOL:bash ls"}}},
		{Role: "assistant", Content: []fakemodel.Block{{Type: "thinking", Thinking: "hmm"}}},
		{Role: "assistant", Content: []fakemodel.Block{{Type: "tool_use", ID: "call_1", Name: "exec_command", Input: json.RawMessage(`{"cmd":"ls"}`)}}},
		{Role: "user", Content: []fakemodel.Block{{Type: "tool_result", ToolUseID: "call_1", Content: json.RawMessage(`"ab"`)}}},
	}
	if diff := cmp.Diff(want, r.Messages); diff != "" {
		t.Errorf("Messages (-want +got):\n%s", diff)
	}
	items, err := r.ResponsesInput()
	if err != nil || len(items) != 6 || items[4].CallID != "call_1" || items[4].Arguments != `{"cmd":"ls"}` {
		t.Errorf("ResponsesInput = %+v, %v", items, err)
	}
}

func TestResponsesDefaultShellTools(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tool, want string
	}{
		{"exec_command", `{"cmd":"echo hi"}`},
		{"shell_command", `{"command":"echo hi"}`},
		{"shell", `{"command":["bash","-lc","echo hi"]}`},
	}
	for _, tt := range tests {
		req := fakemodel.Request{
			Tools:    []fakemodel.Tool{{Name: tt.tool}},
			Messages: []fakemodel.Message{{Role: "user", Content: []fakemodel.Block{{Type: "text", Text: "TOOL:bash echo hi"}}}},
		}
		resp := fakemodel.ResponsesDefault(req)
		if len(resp.Content) != 1 || resp.Content[0].Name != tt.tool || string(resp.Content[0].Input) != tt.want {
			t.Errorf("%s: %+v", tt.tool, resp.Content)
		}
	}
	req := fakemodel.Request{Messages: []fakemodel.Message{{Role: "user", Content: []fakemodel.Block{{Type: "text", Text: "TOOL:bash echo hi"}}}}}
	if resp := fakemodel.ResponsesDefault(req); resp.Content[0].Text != "echo: TOOL:bash echo hi" {
		t.Errorf("without a shell tool: %+v", resp.Content)
	}
}

func TestResponsesErrors(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	s.Push(fakemodel.RateLimited(), fakemodel.Overloaded())
	body := `{"model":"m","stream":true,"input":"hi"}`
	for _, want := range []struct {
		code int
		typ  string
	}{{429, "rate_limit_error"}, {529, "overloaded_error"}} {
		w := post(t, &s, "/v1/responses", body)
		var env struct {
			Error struct{ Type, Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		if w.Code != want.code || env.Error.Type != want.typ || env.Error.Message == "" {
			t.Errorf("got %d %s, want %d with %s", w.Code, w.Body, want.code, want.typ)
		}
	}
	if w := post(t, &s, "/v1/responses", `{`); w.Code != 400 || !strings.Contains(w.Body.String(), "invalid_request_error") {
		t.Errorf("bad body: %d %s", w.Code, w.Body)
	}
}

func TestResponsesHold(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	s := &fakemodel.Server{Script: func(r fakemodel.Request) fakemodel.Response {
		resp := fakemodel.Text("late")
		resp.Hold = hold
		return resp
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	done := make(chan string)
	go func() {
		resp, err := http.Post(srv.URL+"/v1/responses", "application/json", strings.NewReader(`{"model":"m","stream":true,"input":"x"}`))
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		done <- sb.String()
	}()
	select {
	case <-done:
		t.Fatal("held stream finished before Hold was closed")
	case <-time.After(100 * time.Millisecond):
	}
	close(hold)
	if got := <-done; !strings.Contains(got, "response.completed") || !strings.Contains(got, `"delta":"late"`) {
		t.Errorf("stream after release = %s", got)
	}
}
