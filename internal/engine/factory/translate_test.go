package factory

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
func translateFile(t *testing.T, name string, interrupted bool) (evs []engine.Event, unknown []string, tr *Translator) {
	t.Helper()
	tr = &Translator{Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) }}
	for _, line := range enginetest.TranscriptLines(t, name) {
		evs = append(evs, tr.Line(line)...)
	}
	evs = append(evs, tr.Finish(tr.Completion() == nil && !interrupted)...)
	return evs, unknown, tr
}

// The transcripts tool_round, resume (a --fork turn), interrupt (SIGINT during a held
// model response) and error_401 were recorded from droid 0.215.0 against fakemodel.
func TestTranslateTranscripts(t *testing.T) {
	tests := []struct {
		file        string
		interrupted bool
		types       []string
		errType     string // of Translator.Err, "" for none
		unknown     []string
	}{
		{
			file: "tool_round.jsonl",
			types: []string{
				engine.EventResume, "span.model_request_start", "agent.tool_use", "agent.tool_result",
				"agent.message", "span.model_request_end",
			},
		},
		{
			file:  "resume.jsonl",
			types: []string{engine.EventResume, "span.model_request_start", "agent.message", "span.model_request_end"},
		},
		{
			file:        "interrupt.jsonl",
			interrupted: true,
			types:       []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
		},
		{
			file:    "error_401.jsonl",
			types:   []string{engine.EventResume, "span.model_request_start", "span.model_request_end"},
			errType: "model_request_failed_error",
		},
		{
			file: "synthetic.jsonl",
			types: []string{
				engine.EventResume, "span.model_request_start", "agent.tool_use", "agent.tool_result",
				"agent.message", "span.model_request_end",
			},
			unknown: []string{"invalid", "tool_result", "mystery"},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".jsonl"), func(t *testing.T) {
			t.Parallel()
			evs, unknown, tr := translateFile(t, tt.file, tt.interrupted)
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
			if diff := cmp.Diff(tt.unknown, unknown); diff != "" {
				t.Errorf("unknown lines (-want +got):\n%s", diff)
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
	for _, name := range []string{"tool_round.jsonl", "resume.jsonl", "interrupt.jsonl", "error_401.jsonl", "synthetic.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := &Translator{Unknown: func(string, []byte) {}}
		var evs []engine.Event
		for l := range bytes.SplitSeq(data, []byte("\n")) {
			evs = append(evs, tr.Line(l)...)
		}
		evs = append(evs, tr.Finish(true)...)
		enginetest.CheckEvents(t, evs)
	})
}
