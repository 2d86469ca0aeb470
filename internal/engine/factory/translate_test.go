package factory

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

// translateFile runs a Translator over a recorded stream-jsonrpc transcript; replies are
// droid's requests answered.
func translateFile(t *testing.T, name string, interrupted bool) (evs []engine.Event, unknown, replies []string, tr *Translator) {
	t.Helper()
	tr = &Translator{
		Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
		Reply:   func(line []byte) { replies = append(replies, string(line)) },
	}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(tr.Completion() == nil && !interrupted)...)
	return evs, unknown, replies, tr
}

// The transcripts tool_round, resume (a droid.load_session turn), interrupt
// (droid.interrupt_session during a held model response), error_401 and
// permission_declined (autonomy low, a high-risk command) were recorded from droid 0.215.0
// against fakemodel with `go test -run TestRealCLI -record testdata`. synthetic is
// tool_round with lines added: a repeated message, lines to skip, requests to answer and
// an error notification that the completion overrides.
func TestTranslateTranscripts(t *testing.T) {
	toolRound := []string{
		engine.EventResume, "span.model_request_start", "agent.tool_use", "agent.tool_result",
		"agent.message", "span.model_request_end",
	}
	tests := []struct {
		file        string
		interrupted bool
		types       []string
		errType     string // of Translator.Err, "" for none
		reason      string // of the completion
		unknown     []string
		replies     []string
	}{
		{file: "tool_round.jsonl", types: toolRound, reason: "completed"},
		{
			file:   "resume.jsonl",
			types:  []string{engine.EventResume, "span.model_request_start", "agent.message", "span.model_request_end"},
			reason: "completed",
		},
		{
			file:        "interrupt.jsonl",
			interrupted: true,
			types:       []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
			reason:      "cancelled",
		},
		{
			file:    "error_401.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
			errType: "model_request_failed_error",
			reason:  "model_authentication_failed",
		},
		{
			file:    "permission_declined.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "agent.tool_use", "agent.tool_result", "span.model_request_end"},
			reason:  "completed",
			replies: []string{`"result":{"selectedOption":"cancel"}`},
		},
		{
			file:    "synthetic.jsonl",
			types:   toolRound,
			reason:  "completed",
			unknown: []string{"invalid", "notification/mystery", "tool_result", "request/droid.mystery"},
			replies: []string{`"id":"ask-1","jsonrpc":"2.0","result":{"answers":[],"cancelled":true}`, `"error":{"code":-32601,`},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".jsonl"), func(t *testing.T) {
			t.Parallel()
			evs, unknown, replies, tr := translateFile(t, tt.file, tt.interrupted)
			if diff := cmp.Diff(tt.types, enginetest.Types(evs)); diff != "" {
				t.Errorf("event types (-want +got):\n%s", diff)
			}
			enginetest.CheckEvents(t, evs)
			var gotErr string
			if err := tr.Err(); err != nil {
				gotErr = err.Type
			}
			if gotErr != tt.errType {
				t.Errorf("Err() = %v, want type %q", tr.Err(), tt.errType)
			}
			if c := tr.Completion(); c == nil || c.Reason != tt.reason {
				t.Errorf("Completion() = %+v, want reason %q", c, tt.reason)
			}
			if tr.SessionID() == "" || !tr.Answered(reqSession) && !tr.Answered(reqLoad) {
				t.Errorf("SessionID() = %q, Answered(session, load) = %v, %v", tr.SessionID(), tr.Answered(reqSession), tr.Answered(reqLoad))
			}
			if diff := cmp.Diff(tt.unknown, unknown); diff != "" {
				t.Errorf("unknown lines (-want +got):\n%s", diff)
			}
			if len(replies) != len(tt.replies) {
				t.Errorf("replies = %q, want %d", replies, len(tt.replies))
			}
			for i := range min(len(replies), len(tt.replies)) {
				if !strings.Contains(replies[i], tt.replies[i]) || !json.Valid([]byte(replies[i])) {
					t.Errorf("reply %d = %s, want it to contain %s", i, replies[i], tt.replies[i])
				}
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
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestReasonError(t *testing.T) {
	tests := []struct{ reason, want string }{
		{"model_rate_limited", "model_rate_limited_error"},
		{"model_provider_unavailable", "model_overloaded_error"},
		{"model_authentication_failed", "model_request_failed_error"},
		{"process_exit", "unknown_error"},
	}
	for _, tt := range tests {
		if succeeded(tt.reason) {
			t.Errorf("succeeded(%q) = true", tt.reason)
		}
		if got := reasonError(tt.reason).Type; got != tt.want {
			t.Errorf("reasonError(%q) = %s, want %s", tt.reason, got, tt.want)
		}
	}
	for _, r := range []string{"completed", "cancelled", "permission_rejected"} {
		if !succeeded(r) {
			t.Errorf("succeeded(%q) = false", r)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ msg, want string }{
		{`401 {"error":{"message":"invalid x-api-key","type":"authentication_error"},"type":"error"}`, "model_request_failed_error"},
		{`529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "model_overloaded_error"},
		{`429 {"type":"error","error":{"type":"rate_limit_error"}}`, "model_rate_limited_error"},
		{"Exec failed", "unknown_error"},
		{"", "unknown_error"},
	}
	for _, tt := range tests {
		if got := classify(tt.msg).Type; got != tt.want {
			t.Errorf("classify(%q) = %s, want %s", tt.msg, got, tt.want)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	for _, name := range []string{"tool_round.jsonl", "resume.jsonl", "interrupt.jsonl", "error_401.jsonl", "permission_declined.jsonl", "synthetic.jsonl", "mcp_tool.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Translator{MCPServers: []string{"docs"}, Unknown: func(string, []byte) {}, Reply: func(line []byte) {
			if !json.Valid(line) {
				t.Errorf("invalid reply %s", line)
			}
		}}
		var evs []engine.Event
		for l := range bytes.SplitSeq(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		enginetest.CheckEvents(t, evs)
	})
}
