package fakemodel_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

const (
	geminiStream = "/v1beta/models/gemini-test:streamGenerateContent?alt=sse"
	geminiShell  = `"tools":[{"functionDeclarations":[{"name":"read_file"},{"name":"run_shell_command","parameters":{"type":"object"}}]}]`
	geminiSystem = `"systemInstruction":{"parts":[{"text":"You are a test."}]}`
)

func TestGeminiStreamTranscripts(t *testing.T) {
	tests := []struct {
		name string
		body string
		resp *fakemodel.Response
	}{
		{"echo", `{` + geminiSystem + `,"contents":[{"role":"user","parts":[{"text":"<session_context>\nThis is the Gemini CLI.\n</session_context>"},{"text":"hello there"}]}]}`, nil},
		{"tool_use", `{` + geminiShell + `,"contents":[{"role":"user","parts":[{"text":"please TOOL:bash echo hello > out.txt"}]}]}`, nil},
		{"tool_result", `{` + geminiShell + `,"contents":[
			{"role":"user","parts":[{"text":"TOOL:bash ls"}]},
			{"role":"model","parts":[{"functionCall":{"id":"c1","name":"run_shell_command","args":{"command":"ls"}}}]},
			{"role":"user","parts":[{"functionResponse":{"id":"c1","name":"run_shell_command","response":{"output":"README.md"}}}]}]}`, nil},
		{"thinking", `{"contents":[{"role":"user","parts":[{"text":"think"}]}]}`,
			&fakemodel.Response{Content: []fakemodel.Block{{Type: "thinking", Thinking: "let me see"}, {Type: "text", Text: "ok"}}}},
		{"stream_error", `{"contents":[{"role":"user","parts":[{"text":"x"}]}]}`,
			&fakemodel.Response{StreamError: "overloaded_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s fakemodel.Server
			if tt.resp != nil {
				s.Push(*tt.resp)
			}
			w := post(t, &s, geminiStream, tt.body)
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
			}
			golden(t, "gemini_stream_"+tt.name+".golden", w.Body.String())
			for _, l := range strings.Split(w.Body.String(), "\n") {
				if l == "" {
					continue
				}
				d, ok := strings.CutPrefix(l, "data: ")
				if !ok || !json.Valid([]byte(d)) {
					t.Errorf("bad SSE line %q", l)
				}
			}
		})
	}
}

func TestGeminiRequestDecoding(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	post(t, &s, geminiStream, `{`+geminiSystem+`,`+geminiShell+`,"contents":[
		{"role":"user","parts":[{"text":"TOOL:bash ls"}]},
		{"role":"model","parts":[{"functionCall":{"id":"c1","name":"run_shell_command","args":{"command":"ls"}},"thoughtSignature":"x"}]},
		{"role":"user","parts":[{"functionResponse":{"id":"c1","name":"run_shell_command","response":{"output":"README.md"}}}]}]}`)
	reqs := s.GeminiRequests()
	if len(reqs) != 1 {
		t.Fatalf("GeminiRequests = %d", len(reqs))
	}
	r := reqs[0]
	if r.Model != "gemini-test" || !r.Stream || string(r.System) != `"You are a test."` || !r.HasTool("run_shell_command") {
		t.Errorf("decoded %q stream=%v system=%s tools=%v", r.Model, r.Stream, r.System, r.Tools)
	}
	res, ok := r.LastToolResult()
	if !ok || res.ResultText() != "README.md" || res.ToolUseID != "c1" {
		t.Errorf("LastToolResult = %+v, %v", res, ok)
	}
	want := []fakemodel.Message{
		{Role: "user", Content: []fakemodel.Block{{Type: "text", Text: "TOOL:bash ls"}}},
		{Role: "assistant", Content: []fakemodel.Block{{Type: "tool_use", ID: "c1", Name: "run_shell_command", Input: json.RawMessage(`{"command":"ls"}`)}}},
		{Role: "user", Content: []fakemodel.Block{{Type: "tool_result", ToolUseID: "c1", Name: "run_shell_command", Content: json.RawMessage(`"README.md"`)}}},
	}
	if diff := cmp.Diff(want, r.Messages); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestGeminiNonStreaming(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	w := post(t, &s, "/v1beta/models/gemini-test:generateContent", `{`+geminiShell+`,"contents":[{"role":"user","parts":[{"text":"TOOL:bash pwd"}]}]}`)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	golden(t, "gemini_generate_tool_use.golden", w.Body.String())
	w = post(t, &s, "/v1beta/models/gemini-test:countTokens", `{"contents":[{"role":"user","parts":[{"text":"one two three"}]}]}`)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"totalTokens":3}` {
		t.Errorf("countTokens: %d %s", w.Code, w.Body)
	}
}

func TestGeminiRouterClassifier(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	s.Script = func(fakemodel.Request) fakemodel.Response {
		t.Error("the classifier request reached the script")
		return fakemodel.Text("no")
	}
	w := post(t, &s, "/v1beta/models/gemini-2.5-flash-lite:generateContent", `{"systemInstruction":{"parts":[{"text":"... \"model_choice\": Either flash or pro"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json"}}`)
	var resp struct {
		Candidates []struct {
			Content struct{ Parts []struct{ Text string } }
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Candidates) != 1 {
		t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
	}
	var choice struct {
		ModelChoice string `json:"model_choice"`
	}
	if err := json.Unmarshal([]byte(resp.Candidates[0].Content.Parts[0].Text), &choice); err != nil || choice.ModelChoice != "flash" {
		t.Errorf("classifier answer %q (%v)", resp.Candidates[0].Content.Parts[0].Text, err)
	}
}

func TestGeminiErrors(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	s.Push(fakemodel.RateLimited(), fakemodel.Overloaded())
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for _, want := range []struct {
		code   int
		status string
	}{{429, "RESOURCE_EXHAUSTED"}, {503, "UNAVAILABLE"}} {
		w := post(t, &s, geminiStream, body)
		var env struct {
			Error struct {
				Code    int
				Message string
				Status  string
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		if w.Code != want.code || env.Error.Code != want.code || env.Error.Status != want.status || env.Error.Message == "" {
			t.Errorf("got %d %s, want %d %s", w.Code, w.Body, want.code, want.status)
		}
	}
	if w := post(t, &s, geminiStream, `{`); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "INVALID_ARGUMENT") {
		t.Errorf("bad body: %d %s", w.Code, w.Body)
	}
	var unexpected []string
	s.Unexpected = func(r fakemodel.Request) { unexpected = append(unexpected, r.Path) }
	if w := post(t, &s, "/v1beta/models/gemini-test:embedContent", body); w.Code != http.StatusNotFound {
		t.Errorf("unknown method: %d", w.Code)
	}
	if len(unexpected) != 1 {
		t.Errorf("Unexpected calls = %v", unexpected)
	}
}
