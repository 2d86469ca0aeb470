package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// TestSSELivePreviews: a stream opened with event_deltas[] gets event_start and
// event_delta frames (no id: line, the SDK's shapes) before the agent.message they
// preview, whose id they name; a stream without event_deltas gets exactly what it got
// before. The delta stream's transcript is golden.
func TestSSELivePreviews(t *testing.T) {
	t.Parallel()
	re := newRunnerEnv(t)
	id := re.scriptedSession(`{"turns":[{"steps":[{"thinking":true,"preview":1},{"message":"Hello, previewed world","preview":8}]}]}`)
	deltas := openStream(t, re.ts, id, "?event_deltas[]=agent.message&event_deltas[]=agent.thinking", nil)
	msgOnly := openStream(t, re.ts, id, "?event_deltas[]=agent.message", nil)
	plain := openStream(t, re.ts, id, "", nil)
	apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[`+userMessage("go")+`]}`, nil)

	got := deltas.until(hangar.EventStatusIdle)
	var transcript strings.Builder
	var text strings.Builder
	var previewed, final string
	for _, f := range got {
		transcript.WriteString(f.Raw)
		switch f.Event {
		case hangar.EventStart, hangar.EventDelta:
			if f.ID != "" {
				t.Errorf("preview frame with id: %q", f.ID)
			}
		}
		switch f.Event {
		case hangar.EventStart:
			var s hangar.StartFrame
			json.Unmarshal([]byte(f.Data), &s)
			if s.Event.Type == hangar.EventAgentMessage {
				previewed = s.Event.ID
			}
		case hangar.EventDelta:
			var d hangar.DeltaFrame
			json.Unmarshal([]byte(f.Data), &d)
			if d.EventID != previewed {
				t.Errorf("delta for %q, want %q", d.EventID, previewed)
			}
			text.WriteString(d.Delta.Content.Text)
		case hangar.EventAgentMessage:
			var m struct {
				ID string `json:"id"`
			}
			json.Unmarshal([]byte(f.Data), &m)
			final = m.ID
		}
	}
	if previewed == "" || final != previewed {
		t.Errorf("agent.message id %q, previewed %q", final, previewed)
	}
	if text.String() != "Hello, previewed world" {
		t.Errorf("deltas join to %q", text.String())
	}
	checkGoldenText(t, "sse_deltas_transcript", transcript.String())

	want := []string{"user.message", "session.status_running", "agent.thinking", "agent.message", "session.status_idle"}
	if diff := cmp.Diff(want, withoutSpanFrames(plain.until(hangar.EventStatusIdle))); diff != "" {
		t.Errorf("plain stream (-want +got):\n%s", diff)
	}
	var starts []string
	for _, f := range msgOnly.until(hangar.EventStatusIdle) {
		if f.Event == hangar.EventStart {
			starts = append(starts, f.Data[strings.Index(f.Data, `"type":"agent.`):][:len(`"type":"agent.message"`)])
		}
	}
	if diff := cmp.Diff([]string{`"type":"agent.message"`}, starts); diff != "" {
		t.Errorf("agent.message-only stream starts (-want +got):\n%s", diff)
	}

	// Previews are never stored, so never listed nor replayed.
	var page eventPage
	apiOK(t, re.srv, "GET", "/v1/sessions/"+id+"/events", "", &page)
	for _, ev := range page.Data {
		if hangar.IsPreview(ev.Type) {
			t.Errorf("listed a %s", ev.Type)
		}
	}
}
