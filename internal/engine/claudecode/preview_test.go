package claudecode

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

// TestTranslatePreviews checks the live previews of a recorded run of the real CLI
// (tool_round.jsonl, --include-partial-messages against the fake model): the text block's
// start opens a preview under "<message id>/<index>", each text_delta is a fragment, and
// the agent.message carries the preview's ID, its text the fragments joined. The whole
// translation is golden-tested in tool_round.golden.
func TestTranslatePreviews(t *testing.T) {
	t.Parallel()
	evs, _, _ := translateFile(t, "tool_round.jsonl")
	enginetest.CheckEvents(t, evs)
	var frags []string
	var final engine.Event
	for _, ev := range evs {
		switch ev.Type {
		case engine.EventPreview:
			p := ev.Body.(engine.Preview)
			if ev.ID != "msg_fake_0002/0" || p.Of != hangar.EventAgentMessage || p.Index != 0 {
				t.Errorf("preview %s %+v", ev.ID, p)
			}
			frags = append(frags, p.Text)
		case hangar.EventAgentMessage:
			final = ev
		}
	}
	want := []string{"", "done: ", "(Bash ", "completed ", "with ", "no ", "output)"}
	if diff := cmp.Diff(want, frags); diff != "" {
		t.Errorf("fragments (-want +got):\n%s", diff)
	}
	if final.ID != "msg_fake_0002/0" {
		t.Errorf("agent.message id = %q, want the preview's", final.ID)
	}
}

// TestTranslatePreviewsThinking: a thinking block opens a start-only preview that its
// agent.thinking concludes; an empty text block's preview is dropped, not handed to the
// next block.
func TestTranslatePreviewsThinking(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":3,"output_tokens":1}}}}`,
		`{"type":"stream_event","event":{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}}`,
		`{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}}`,
		`{"type":"assistant","message":{"id":"msg_1","model":"m","content":[{"type":"thinking","thinking":"hmm","signature":"s"}]}}`,
		`{"type":"stream_event","event":{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}}`,
		`{"type":"assistant","message":{"id":"msg_1","model":"m","content":[{"type":"text","text":""}]}}`,
		`{"type":"stream_event","event":{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}}`,
		`{"type":"stream_event","event":{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"hi"}}}`,
		`{"type":"assistant","message":{"id":"msg_1","model":"m","content":[{"type":"text","text":"hi there"}]}}`,
		`{"type":"stream_event","event":{"type":"message_stop"}}`,
	}
	tr := &Translator{}
	var evs []engine.Event
	for _, l := range lines {
		evs = append(evs, tr.Line([]byte(l))...)
	}
	enginetest.CheckEvents(t, evs)
	got := enginetest.Render(evs)
	want := `span.model_request_start id=msg_1
hangar.preview id=msg_1/0 {"Of":"agent.thinking","Index":0,"Text":""}
agent.thinking id=msg_1/0
hangar.preview id=msg_1/1 {"Of":"agent.message","Index":0,"Text":""}
hangar.preview id=msg_1/2 {"Of":"agent.message","Index":0,"Text":""}
hangar.preview id=msg_1/2 {"Of":"agent.message","Index":0,"Text":"hi"}
agent.message id=msg_1/2 {"content":[{"text":"hi there","type":"text"}]}
`
	if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
