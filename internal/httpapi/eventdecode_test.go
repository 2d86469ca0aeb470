package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

func TestDecodeEventsValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantType []string
		wantBody []string
	}{
		{
			name:     "user.message text",
			body:     `{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]}`,
			wantType: []string{"user.message"},
			wantBody: []string{`{"content":[{"type":"text","text":"hi"}]}`},
		},
		{
			name: "user.message with every block and source",
			body: `{"events":[{"type":"user.message","content":[
				{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},
				{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},
				{"type":"image","source":{"type":"file","file_id":"file_1"}},
				{"type":"document","source":{"type":"text","data":"plain"},"title":"T","context":null},
				{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0"}},
				{"type":"redacted"}]}]}`,
			wantType: []string{"user.message"},
			wantBody: []string{`{"content":[` +
				`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},` +
				`{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},` +
				`{"type":"image","source":{"type":"file","file_id":"file_1"}},` +
				`{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain"},"title":"T"},` +
				`{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0"}},` +
				`{"type":"redacted"}]}`},
		},
		{
			name:     "interrupt with and without thread",
			body:     `{"events":[{"type":"user.interrupt"},{"type":"user.interrupt","session_thread_id":"sthr_1"},{"type":"user.interrupt","session_thread_id":null}]}`,
			wantType: []string{"user.interrupt", "user.interrupt", "user.interrupt"},
			wantBody: []string{`{}`, `{"session_thread_id":"sthr_1"}`, `{}`},
		},
		{
			name:     "tool confirmations",
			body:     `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"allow"},{"type":"user.tool_confirmation","tool_use_id":"sevt_2","result":"deny","deny_message":"no"}]}`,
			wantType: []string{"user.tool_confirmation", "user.tool_confirmation"},
			wantBody: []string{`{"tool_use_id":"sevt_1","result":"allow"}`, `{"tool_use_id":"sevt_2","result":"deny","deny_message":"no"}`},
		},
		{
			name: "custom tool results",
			body: `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_3"},
				{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_4","is_error":false,"content":[{"type":"text","text":"42"},
				{"type":"search_result","source":"https://s","title":"t","citations":{"enabled":true},"content":[{"type":"text","text":"x"}]}]}]}`,
			wantType: []string{"user.custom_tool_result", "user.custom_tool_result"},
			wantBody: []string{`{"custom_tool_use_id":"sevt_3"}`,
				`{"custom_tool_use_id":"sevt_4","content":[{"type":"text","text":"42"},{"type":"search_result","source":"https://s","title":"t","citations":{"enabled":true},"content":[{"type":"text","text":"x"}]}],"is_error":false}`},
		},
		{
			name: "worker tool results",
			body: `{"events":[{"type":"user.tool_result","tool_use_id":"sevt_5"},
				{"type":"user.tool_result","tool_use_id":"sevt_6","is_error":true,"content":[{"type":"text","text":"exit status 1"}]}]}`,
			wantType: []string{"user.tool_result", "user.tool_result"},
			wantBody: []string{`{"tool_use_id":"sevt_5"}`, `{"tool_use_id":"sevt_6","content":[{"type":"text","text":"exit status 1"}],"is_error":true}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, err := decodeSendEvents([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			var gotType, gotBody []string
			for _, ev := range evs {
				gotType = append(gotType, ev.Type)
				gotBody = append(gotBody, string(ev.Body))
			}
			if diff := cmp.Diff(tt.wantType, gotType); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBody, gotBody); diff != "" {
				t.Errorf("bodies (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeEventsInvalid(t *testing.T) {
	t.Parallel()
	msg := func(content string) string {
		return `{"events":[{"type":"user.message","content":[` + content + `]}]}`
	}
	many := `{"events":[` + strings.Repeat(`{"type":"user.interrupt"},`, 50) + `{"type":"user.interrupt"}]}`
	tests := []struct {
		name string
		body string
		want string // a substring of the message
	}{
		{"empty body", ``, "request body is empty"},
		{"not an object", `[]`, "must be a JSON object"},
		{"missing events", `{}`, "events: field required"},
		{"null events", `{"events":null}`, "events: field required"},
		{"no events", `{"events":[]}`, "events: must contain between 1 and 50"},
		{"too many events", many, "events: must contain between 1 and 50 events (got 51)"},
		{"unknown top-level field", `{"events":[{"type":"user.interrupt"}],"x":1}`, "x: extra inputs are not permitted"},
		{"event not an object", `{"events":["hi"]}`, "events[0]: expected object, got string"},
		{"missing type", `{"events":[{"content":[]}]}`, "events[0].type: field required"},
		{"type not a string", `{"events":[{"type":3}]}`, "events[0].type: expected string"},
		{"agent event names its index", `{"events":[{"type":"user.interrupt"},{"type":"agent.message","content":[]}]}`, `events[1].type: "agent.message" events are emitted by the server`},
		{"session event", `{"events":[{"type":"session.status_idle"}]}`, `events[0].type: "session.status_idle" events are emitted by the server`},
		{"system message alone", `{"events":[{"type":"system.message","content":[{"type":"text","text":"x"}]}]}`, `events[0]: a system.message must immediately follow`},
		{"tool result without id", `{"events":[{"type":"user.tool_result"}]}`, "events[0].tool_use_id: field required"},
		{"tool result is_error string", `{"events":[{"type":"user.interrupt"},{"type":"user.tool_result","tool_use_id":"sevt_1","is_error":"yes"}]}`, "events[1].is_error: expected boolean"},
		{"tool result redacted block", `{"events":[{"type":"user.tool_result","tool_use_id":"sevt_1","content":[{"type":"redacted"}]}]}`, `events[0].content[0].type: must be one of "text", "image", "document", "search_result"`},
		{"tool result unknown field", `{"events":[{"type":"user.tool_result","tool_use_id":"sevt_1","output":"x"}]}`, "events[0].output: extra inputs are not permitted"},
		{"unknown type", `{"events":[{"type":"user.shout"}]}`, `events[0].type: must be one of "user.message"`},
		{"unknown event field", `{"events":[{"type":"user.interrupt","why":"x"}]}`, "events[0].why: extra inputs are not permitted"},
		{"message without content", `{"events":[{"type":"user.message"}]}`, "events[0].content: field required"},
		{"plain string content", `{"events":[{"type":"user.message","content":"hi"}]}`, "events[0].content: expected array"},
		{"empty content", msg(``), "events[0].content: must contain at least one content block"},
		{"empty text", msg(`{"type":"text","text":""}`), "events[0].content[0].text: must not be empty"},
		{"missing text", msg(`{"type":"text"}`), "events[0].content[0].text: field required"},
		{"text with extra field", msg(`{"type":"text","text":"a","cache_control":{}}`), "events[0].content[0].cache_control: extra inputs are not permitted"},
		{"block without type", msg(`{"text":"a"}`), "events[0].content[0].type: field required"},
		{"unknown block", msg(`{"type":"text","text":"a"},{"type":"tool_use"}`), `events[0].content[1].type: must be one of "text", "image", "document", "redacted"`},
		{"search_result not in messages", msg(`{"type":"search_result"}`), `events[0].content[0].type: must be one of`},
		{"image without source", msg(`{"type":"image"}`), "events[0].content[0].source: field required"},
		{"image text source", msg(`{"type":"image","source":{"type":"text","data":"x"}}`), `events[0].content[0].source.type: must be one of "base64", "url", "file"`},
		{"base64 without data", msg(`{"type":"image","source":{"type":"base64","media_type":"image/png"}}`), "events[0].content[0].source.data: field required"},
		{"url source bad url", msg(`{"type":"image","source":{"type":"url","url":"ftp://x"}}`), "events[0].content[0].source.url: must be an absolute http or https URL"},
		{"url source with data", msg(`{"type":"image","source":{"type":"url","url":"https://x","data":"y"}}`), "events[0].content[0].source.data: extra inputs are not permitted"},
		{"file source without id", msg(`{"type":"document","source":{"type":"file"}}`), "events[0].content[0].source.file_id: field required"},
		{"text source wrong media type", msg(`{"type":"document","source":{"type":"text","media_type":"text/html","data":"x"}}`), `events[0].content[0].source.media_type: must be one of "text/plain"`},
		{"confirmation without tool_use_id", `{"events":[{"type":"user.tool_confirmation","result":"allow"}]}`, "events[0].tool_use_id: field required"},
		{"confirmation without result", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1"}]}`, "events[0].result: field required"},
		{"confirmation bad result", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"maybe"}]}`, `events[0].result: must be one of "allow", "deny"`},
		{"deny_message with allow", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"allow","deny_message":"x"}]}`, `events[0].deny_message: only allowed when result is "deny"`},
		{"deny_message too long", `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"deny","deny_message":"` + strings.Repeat("x", 10001) + `"}]}`, "events[0].deny_message: must be at most 10000 characters"},
		{"custom result without id", `{"events":[{"type":"user.custom_tool_result"}]}`, "events[0].custom_tool_use_id: field required"},
		{"custom result is_error string", `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_1","is_error":"yes"}]}`, "events[0].is_error: expected boolean"},
		{"custom result redacted block", `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_1","content":[{"type":"redacted"}]}]}`, `events[0].content[0].type: must be one of "text", "image", "document", "search_result"`},
		{"search result without citations", `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_1","content":[{"type":"search_result","source":"s","title":"t","content":[]}]}]}`, "events[0].content[0].citations: field required"},
		{"all or nothing", `{"events":[{"type":"user.message","content":[{"type":"text","text":"ok"}]},{"type":"user.interrupt","x":1}]}`, "events[1].x: extra inputs are not permitted"},
		{"trailing data", `{"events":[{"type":"user.interrupt"}]} {}`, "data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, err := decodeSendEvents([]byte(tt.body))
			if err == nil {
				t.Fatalf("decoded %d events, want an error containing %q", len(evs), tt.want)
			}
			if !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("kind = %s, want invalid_request_error (%v)", hangar.ErrorKind(err), err)
			}
			var he *hangar.Error
			if !errors.As(err, &he) || !strings.Contains(he.Message, tt.want) {
				t.Errorf("message = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeInitialEvents(t *testing.T) {
	t.Parallel()
	raw := []json.RawMessage{json.RawMessage(`{"type":"user.interrupt"}`)}
	_, err := validateEvents("initial_events", raw, initialEvents)
	if err == nil || !strings.Contains(err.Error(), `initial_events[0].type: "user.interrupt" events are not supported here (allowed: "user.message", "user.define_outcome")`) {
		t.Errorf("err = %v", err)
	}
}

// fuzzSeeds are the seed corpus of FuzzDecodeEvents: valid bodies of every event type and
// near misses.
var fuzzSeeds = []string{
	`{"events":[{"type":"user.message","content":[{"type":"text","text":"hello"}]}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}},{"type":"document","source":{"type":"url","url":"https://example.com/x.pdf"},"title":"x","context":"y"}]}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":""}}]}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"image","source":{"type":"file","file_id":"file_011C"}},{"type":"redacted"}]}]}`,
	`{"events":[{"type":"user.interrupt"},{"type":"user.interrupt","session_thread_id":"sthr_1"}]}`,
	`{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"deny","deny_message":"<no & thanks>"}]}`,
	`{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_2","is_error":true,"content":[{"type":"text","text":"boom"}]}]}`,
	`{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_2","content":[{"type":"search_result","source":"s","title":"","citations":{"enabled":false},"content":[{"type":"text","text":"r"}]}]}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]},{"type":"system.message","content":[{"type":"text","text":"be brief"},{"type":"text","text":"\u00e9"}]}]}`,
	`{"events":[{"type":"agent.message","content":[]}]}`,
	`{"events":[{"TYPE":"user.interrupt","Session_Thread_ID":"x"}]}`,
	`{"events":[{"type":"user.message","content":"hi"}]}`,
	`{"events":[{"type":"user.message","content":[{"type":"text","text":"\ud83d\ude00 \u0000"}]}]}`,
	`{"events":[]}`,
	`{"events":null,"events":[{"type":"user.interrupt"}]}`,
	`{"events":[{"type":"user.tool_confirmation","tool_use_id":"","result":"allow"}]}`,
	`[1,2]`,
	`{"events":[{"type":"user.message","content":[{"type":"text","text":"a"}]}`,
}

// FuzzDecodeEvents checks that the event decoder never panics, that whatever it accepts is
// within the contract (1..50 events of sendable types, bodies that are JSON objects without
// a type), and that its output is canonical: sending the accepted events again decodes to
// exactly the same events.
func FuzzDecodeEvents(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := decodeSendEvents(body)
		if err != nil {
			if !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Fatalf("error of kind %s: %v", hangar.ErrorKind(err), err)
			}
			return
		}
		if len(evs) < 1 || len(evs) > maxEventsPerRequest {
			t.Fatalf("accepted %d events", len(evs))
		}
		var again bytes.Buffer
		again.WriteString(`{"events":[`)
		for i, ev := range evs {
			if !contains(sendableEvents, ev.Type) {
				t.Fatalf("accepted event type %q", ev.Type)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(ev.Body, &fields); err != nil {
				t.Fatalf("body %s is not an object: %v", ev.Body, err)
			}
			for _, k := range []string{"type", "id", "processed_at"} {
				if _, ok := fields[k]; ok {
					t.Fatalf("body %s carries %q", ev.Body, k)
				}
			}
			if i > 0 {
				again.WriteByte(',')
			}
			wire, err := json.Marshal(hangar.Event{Type: ev.Type, Body: ev.Body})
			if err != nil {
				t.Fatalf("marshal event: %v", err)
			}
			// The wire form carries id and processed_at, which a client does not send.
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(wire, &obj); err != nil {
				t.Fatalf("wire form %s: %v", wire, err)
			}
			delete(obj, "id")
			delete(obj, "processed_at")
			again.Write(mustJSON(obj))
		}
		again.WriteString(`]}`)
		evs2, err := decodeSendEvents(again.Bytes())
		if err != nil {
			t.Fatalf("re-sending accepted events failed: %v\nfirst: %s\nagain: %s", err, body, again.Bytes())
		}
		if diff := cmp.Diff(evs, evs2); diff != "" {
			t.Fatalf("decoding is not canonical (-first +again):\n%s", diff)
		}
	})
}
