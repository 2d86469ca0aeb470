package fakemodel_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func post(t *testing.T, h http.Handler, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("x-api-key", "tok_test")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
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

const bashTool = `"tools":[{"name":"Bash","input_schema":{"type":"object"}}]`

func TestStreamTranscripts(t *testing.T) {
	tests := []struct {
		name string
		body string
		resp *fakemodel.Response
	}{
		{"echo", `{"model":"claude-test","stream":true,"messages":[{"role":"user","content":"hello there"}]}`, nil},
		{"tool_use", `{"model":"claude-test","stream":true,` + bashTool + `,"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":"please TOOL:bash echo hello > out.txt"}]}]}`, nil},
		{"tool_result", `{"model":"claude-test","stream":true,` + bashTool + `,"messages":[
			{"role":"user","content":"TOOL:bash ls"},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"README.md"}]}]}]}`, nil},
		{"thinking", `{"model":"claude-test","stream":true,"messages":[{"role":"user","content":"think"}]}`,
			&fakemodel.Response{Content: []fakemodel.Block{{Type: "thinking", Thinking: "let me see"}, {Type: "text", Text: "ok"}}}},
		{"stream_error", `{"model":"claude-test","stream":true,"messages":[{"role":"user","content":"x"}]}`,
			&fakemodel.Response{StreamError: "overloaded_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s fakemodel.Server
			if tt.resp != nil {
				s.Push(*tt.resp)
			}
			w := post(t, &s, "/v1/messages?beta=true", tt.body)
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
			}
			golden(t, "stream_"+tt.name+".golden", w.Body.String())
			checkSSE(t, w.Body.String())
		})
	}
}

// checkSSE checks that every event's data is JSON whose type matches the event name.
func checkSSE(t *testing.T, body string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	var name string
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "event: "); ok {
			name = n
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var v struct{ Type string }
			if err := json.Unmarshal([]byte(d), &v); err != nil || v.Type != name {
				t.Errorf("event %s: data %s (type %q, %v)", name, d, v.Type, err)
			}
		}
	}
}

func TestNonStreaming(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	w := post(t, &s, "/v1/messages", `{"model":"claude-test","messages":[{"role":"user","content":"hi"}]}`)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	golden(t, "message_echo.golden", w.Body.String())
}

func TestErrors(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	s.Push(fakemodel.RateLimited(), fakemodel.Overloaded(), fakemodel.Response{Error: &fakemodel.APIError{Status: 429, Type: "rate_limit_error", RetryAfter: "0"}})
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	for _, want := range []struct {
		code int
		typ  string
	}{{429, "rate_limit_error"}, {529, "overloaded_error"}, {429, "rate_limit_error"}} {
		w := post(t, &s, "/v1/messages", body)
		var env struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		if w.Code != want.code || env.Type != "error" || env.Error.Type != want.typ || env.Error.Message == "" {
			t.Errorf("got %d %s, want %d with %s", w.Code, w.Body, want.code, want.typ)
		}
	}
	if w := post(t, &s, "/v1/messages", body); w.Code != 200 {
		t.Errorf("after the queue: status %d, want 200", w.Code)
	}
	if w := post(t, &s, "/v1/messages", `{`); w.Code != 400 || !strings.Contains(w.Body.String(), "invalid_request_error") {
		t.Errorf("bad body: %d %s", w.Code, w.Body)
	}
}

func TestRoutesAndRecording(t *testing.T) {
	t.Parallel()
	var unexpected []string
	s := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { unexpected = append(unexpected, r.Method+" "+r.Path) }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		req, _ := http.NewRequest(m, srv.URL+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s / = %d", m, resp.StatusCode)
		}
	}
	resp, err := http.Post(srv.URL+"/v1/messages/count_tokens", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"one two three"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "{\"input_tokens\":3}\n" {
		t.Errorf("count_tokens = %s", b)
	}
	resp, err = http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || len(unexpected) != 1 || unexpected[0] != "GET /v1/models" {
		t.Errorf("unknown route: %d, Unexpected saw %v", resp.StatusCode, unexpected)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages?beta=true", strings.NewReader(`{"model":"m","stream":false,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", "tok_1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := s.MessageRequests()
	if len(reqs) != 1 || reqs[0].Header.Get("x-api-key") != "tok_1" || reqs[0].Query != "beta=true" || reqs[0].LastUserText() != "hi" {
		t.Errorf("MessageRequests = %+v", reqs)
	}
	if n := len(s.Requests()); n != 5 {
		t.Errorf("recorded %d requests, want 5", n)
	}
}

func TestScriptAndHold(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	s := &fakemodel.Server{Script: func(r fakemodel.Request) fakemodel.Response {
		resp := fakemodel.Text("slow " + r.LastUserText())
		resp.Hold = hold
		return resp
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	first, _ := rd.ReadString('\n')
	if first != "event: message_start\n" {
		t.Fatalf("first line %q", first)
	}
	rd.ReadString('\n') // its data
	rd.ReadString('\n') // blank
	// The stream stalls here until hold is closed.
	close(hold)
	rest, _ := io.ReadAll(rd)
	if !strings.Contains(string(rest), `"text":"slow "`) || !strings.HasSuffix(string(rest), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
		t.Errorf("rest of the stream: %s", rest)
	}
}

func TestToolInputSurvivesChunking(t *testing.T) {
	t.Parallel()
	var s fakemodel.Server
	input := map[string]string{"command": "echo ünïcödé → ✓ <tag> & done, with a long tail of text"}
	s.Push(fakemodel.ToolUse("Bash", input))
	w := post(t, &s, "/v1/messages", `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	var partial strings.Builder
	for _, line := range strings.Split(w.Body.String(), "\n") {
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Delta struct {
				PartialJSON string `json:"partial_json"`
			}
		}
		json.Unmarshal([]byte(d), &ev)
		partial.WriteString(ev.Delta.PartialJSON)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(partial.String()), &got); err != nil {
		t.Fatalf("joined partial_json %q: %v", partial.String(), err)
	}
	if diff := cmp.Diff(input, got); diff != "" {
		t.Errorf("input (-want +got):\n%s", diff)
	}
}

func TestDefaultCustomTool(t *testing.T) {
	t.Parallel()
	req := func(text string, tools ...string) fakemodel.Request {
		r := fakemodel.Request{Messages: []fakemodel.Message{{Role: "user", Content: []fakemodel.Block{{Type: "text", Text: text}}}}}
		for _, n := range tools {
			r.Tools = append(r.Tools, fakemodel.Tool{Name: n})
		}
		return r
	}
	tests := []struct {
		name string
		req  fakemodel.Request
		want fakemodel.Response
	}{
		{"MCP tool", req(`CUSTOM:get_weather {"city":"Paris"}`, "Bash", "mcp__hangar__get_weather"),
			fakemodel.Response{Content: []fakemodel.Block{{Type: "tool_use", Name: "mcp__hangar__get_weather", Input: json.RawMessage(`{"city":"Paris"}`)}}}},
		{"exact name, input to the end of the line", req("please CUSTOM:lookup {\"q\": \"a b\"}\nthanks", "lookup"),
			fakemodel.Response{Content: []fakemodel.Block{{Type: "tool_use", Name: "lookup", Input: json.RawMessage(`{"q": "a b"}`)}}}},
		{"no input", req("CUSTOM:now", "mcp__s__now"),
			fakemodel.Response{Content: []fakemodel.Block{{Type: "tool_use", Name: "mcp__s__now", Input: json.RawMessage(`{}`)}}}},
		{"tool not offered", req(`CUSTOM:get_weather {"city":"Paris"}`, "mcp__hangar__get_weatherx"),
			fakemodel.Text(`echo: CUSTOM:get_weather {"city":"Paris"}`)},
		{"invalid input", req(`CUSTOM:get_weather {city}`, "get_weather"), fakemodel.Text(`echo: CUSTOM:get_weather {city}`)},
		{"agent toolset bash", req("TOOL:bash ls -a", "bash", "write"), fakemodel.ToolUse("bash", map[string]string{"command": "ls -a"})},
		{"Bash preferred", req("TOOL:bash ls", "bash", "Bash"), fakemodel.ToolUse("Bash", map[string]string{"command": "ls"})},
		{"agent toolset write", req(`CUSTOM:write {"file_path":"a","content":"b"}`, "bash", "write"),
			fakemodel.Response{Content: []fakemodel.Block{{Type: "tool_use", Name: "write", Input: json.RawMessage(`{"file_path":"a","content":"b"}`)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, fakemodel.Default(tt.req)); diff != "" {
				t.Errorf("Default (-want +got):\n%s", diff)
			}
		})
	}
}
