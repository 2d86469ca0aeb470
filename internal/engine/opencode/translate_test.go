package opencode

import (
	"bytes"
	"encoding/json"
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

// translateFile runs a Translator over a recorded `opencode run --format json` output.
func translateFile(t *testing.T, name string) (evs []engine.Event, unknown []string, tr *Translator) {
	t.Helper()
	tr = &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(tr.Err() != nil)...)
	return evs, unknown, tr
}

// The transcripts were recorded from opencode 1.18.33 against internal/fakemodel:
// toolround.jsonl a bash round, a read of a missing file (tool state "error") and a
// reasoning reply; resume.jsonl a second turn with --session; errors.jsonl a stream that
// failed on every retry (one step_start per attempt, then an error line) followed by the
// error line of a 401.
func TestTranslateTranscripts(t *testing.T) {
	tests := []struct {
		file    string
		errType string // of Translator.Err, "" for none
	}{
		{file: "toolround.jsonl"},
		{file: "resume.jsonl"},
		{file: "errors.jsonl", errType: "model_request_failed_error"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, unknown, tr := translateFile(t, tt.file)
			enginetest.CheckEvents(t, evs)
			if len(unknown) > 0 {
				t.Errorf("unknown lines %v", unknown)
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
		line string
		want string
	}{
		{`{"name":"APIError","data":{"message":"Overloaded","statusCode":529,"isRetryable":true}}`, "model_overloaded_error"},
		{`{"name":"UnknownError","data":{"message":"{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}"}}`, "model_overloaded_error"},
		{`{"name":"APIError","data":{"message":"Number of request tokens has exceeded your per-minute rate limit","statusCode":429}}`, "model_rate_limited_error"},
		{`{"name":"APIError","data":{"message":"invalid x-api-key","statusCode":401}}`, "model_request_failed_error"},
		{`{"name":"ProviderAuthError","data":{"providerID":"hangar","message":"no key"}}`, "model_request_failed_error"},
		{`{"name":"UnknownError","data":{"message":"boom"}}`, "unknown_error"},
		{`null`, "unknown_error"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := classify(json.RawMessage(tt.line))
			if got.Type != tt.want || got.Message == "" {
				t.Errorf("classify(%s) = %+v, want type %s", tt.line, got, tt.want)
			}
		})
	}
}

func TestTranslateUnknownAndPartialLines(t *testing.T) {
	var unknown []string
	tr := &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	var evs []engine.Event
	for _, l := range []string{
		`not json`,
		`{"type":"step_start","sessionID":"ses_1","part":{"id":"p1","type":"step-start"}}`,
		`{"type":"tool_use","sessionID":"ses_1","part":{"type":"tool","tool":"webfetch","callID":"c1","state":{"status":"running","input":{"url":"http://x"}}}}`,
		`{"type":"tool_use","sessionID":"ses_1","part":{"type":"tool","tool":"webfetch","callID":"c1","state":{"status":"completed","input":{"url":"http://x"},"output":"page"}}}`,
		`{"type":"tool_use","sessionID":"ses_1","part":{"type":"tool","tool":"webfetch","callID":"c1","state":{"status":"completed","output":"again"}}}`,
		`{"type":"snapshot","sessionID":"ses_1","part":{"id":"p2"}}`,
	} {
		evs = append(evs, tr.Line([]byte(l))...)
	}
	evs = append(evs, tr.Finish(true)...)
	enginetest.CheckEvents(t, evs)
	want := []string{engine.EventResume, "span.model_request_start", "agent.tool_use", "agent.tool_result", "span.model_request_end"}
	if diff := cmp.Diff(want, enginetest.Types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if b, _ := json.Marshal(evs[2].Body); !strings.Contains(string(b), `"name":"web_fetch"`) {
		t.Errorf("tool use %s", b)
	}
	if diff := cmp.Diff([]string{"invalid", "tool_use", "snapshot"}, unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"toolround.jsonl", "resume.jsonl", "errors.jsonl", "mcp_tool.jsonl"} {
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
	f.Add([]byte(`{"type":"step_start","part":{"id":"x"}}` + "\n" + `{"type":"tool_use","part":{"tool":"bash","callID":"x","state":{"status":"error"}}}`))
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
