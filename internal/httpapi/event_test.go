package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// eventJSON is the part of an event the tests read.
type eventJSON struct {
	Type        string     `json:"type"`
	ID          string     `json:"id"`
	ProcessedAt *time.Time `json:"processed_at"`
}

type eventPage struct {
	Data     []eventJSON `json:"data"`
	NextPage *string     `json:"next_page"`
}

func eventTypes(evs []eventJSON) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

func eventIDs(evs []eventJSON) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// newEventSession returns a session env with one session.
func newEventSession(t *testing.T) (*sessionEnv, string) {
	t.Helper()
	e := newSessionEnv(t)
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, e.agent("a", 1).ID, e.environment("env").ID))
	return e, s.ID
}

func userMessage(text string) string {
	return fmt.Sprintf(`{"type":"user.message","content":[{"type":"text","text":%q}]}`, text)
}

func TestEventSend(t *testing.T) {
	t.Parallel()
	e, id := newEventSession(t)
	path := "/v1/sessions/" + id + "/events"

	t.Run("every client event type", func(t *testing.T) {
		body := apiOK(t, e.srv, "POST", path, `{"events":[
			{"type":"user.message","content":[{"type":"text","text":"hello"},{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}]},
			{"type":"user.tool_confirmation","tool_use_id":"sevt_tool","result":"deny","deny_message":"not now"},
			{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_custom","content":[{"type":"text","text":"42"}],"is_error":false},
			{"type":"user.interrupt"}]}`, nil)
		checkGolden(t, "event_send", body)
	})

	t.Run("stored as sent, then the turn", func(t *testing.T) {
		var page eventPage
		apiOK(t, e.srv, "GET", path, "", &page)
		want := []string{"user.message", "user.tool_confirmation", "user.custom_tool_result", "user.interrupt",
			"session.status_running", "agent.message", "session.status_idle"}
		if diff := cmp.Diff(want, eventTypes(page.Data)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		// processed_at: null on queued user input; set on custom tool results (processed
		// on receipt) and on server events.
		for _, ev := range page.Data {
			wantSet := !strings.HasPrefix(ev.Type, "user.") || ev.Type == hangar.EventUserCustomToolResult
			if (ev.ProcessedAt != nil) != wantSet {
				t.Errorf("%s processed_at = %v, want set %v", ev.Type, ev.ProcessedAt, wantSet)
			}
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		send := func() []eventJSON {
			req := httptest.NewRequest("POST", path, strings.NewReader(`{"events":[`+userMessage("once")+`]}`))
			req.Header.Set("x-api-key", testAPIKey)
			req.Header.Set("Idempotency-Key", "key-1")
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var out eventPage
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			return out.Data
		}
		first, second := send(), send()
		if diff := cmp.Diff(eventIDs(first), eventIDs(second)); diff != "" {
			t.Errorf("a replayed request stored new events (-first +second):\n%s", diff)
		}
		if keys := e.runner.idempotencyKeys(); keys[len(keys)-1] != "key-1" {
			t.Errorf("runner got keys %q, want the header passed through", keys)
		}
		var page eventPage
		apiOK(t, e.srv, "GET", path+"?types[]=user.message", "", &page)
		n := 0
		for _, ev := range page.Data {
			if ev.ID == first[0].ID {
				n++
			}
		}
		if n != 1 {
			t.Errorf("event %s stored %d times", first[0].ID, n)
		}
	})

	t.Run("invalid events store nothing", func(t *testing.T) {
		var before, after eventPage
		apiOK(t, e.srv, "GET", path, "", &before)
		msg := apiError(t, apiDo(t, e.srv, "POST", path, `{"events":[`+userMessage("fine")+`,{"type":"agent.message","content":[]}]}`), 400, "invalid_request_error")
		if !strings.HasPrefix(msg, "events[1].type:") {
			t.Errorf("message %q does not name events[1]", msg)
		}
		apiOK(t, e.srv, "GET", path, "", &after)
		if len(after.Data) != len(before.Data) {
			t.Errorf("%d events before, %d after a rejected request", len(before.Data), len(after.Data))
		}
	})

	errs := []struct {
		name    string
		path    string
		body    string
		status  int
		errType string
		want    string
	}{
		{"missing session", "/v1/sessions/sesn_missing/events", `{"events":[` + userMessage("x") + `]}`, 404, "not_found_error", "sesn_missing"},
		{"no events", path, `{"events":[]}`, 400, "invalid_request_error", "events: must contain between 1 and 50"},
		{"unknown field", path, `{"events":[` + userMessage("x") + `],"stream":true}`, 400, "invalid_request_error", "stream: extra inputs are not permitted"},
		{"string content", path, `{"events":[{"type":"user.message","content":"hi"}]}`, 400, "invalid_request_error", "events[0].content"},
		{"session event", path, `{"events":[{"type":"session.status_idle"}]}`, 400, "invalid_request_error", "events[0].type"},
		{"deny message on allow", path, `{"events":[{"type":"user.tool_confirmation","tool_use_id":"sevt_1","result":"allow","deny_message":"x"}]}`, 400, "invalid_request_error", "events[0].deny_message"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, e.srv, "POST", tt.path, tt.body), tt.status, tt.errType)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}

	t.Run("terminated session", func(t *testing.T) {
		e.setStatus(id, hangar.StatusTerminated)
		apiError(t, apiDo(t, e.srv, "POST", path, `{"events":[`+userMessage("late")+`]}`), 409, "invalid_request_error")
	})
}

func TestEventList(t *testing.T) {
	t.Parallel()
	e, id := newEventSession(t)
	path := "/v1/sessions/" + id + "/events"
	// Three turns: 12 events.
	for i := range 3 {
		apiOK(t, e.srv, "POST", path, `{"events":[`+userMessage(fmt.Sprint("turn ", i))+`]}`, nil)
	}
	var all eventPage
	apiOK(t, e.srv, "GET", path, "", &all)
	if len(all.Data) != 12 || all.NextPage != nil {
		t.Fatalf("got %d events, next_page %v; want 12 and null", len(all.Data), all.NextPage)
	}
	t.Run("golden", func(t *testing.T) {
		checkGolden(t, "event_list", apiOK(t, e.srv, "GET", path+"?limit=4", "", nil))
	})

	t.Run("pages", func(t *testing.T) {
		for _, order := range []string{"asc", "desc"} {
			var got []string
			q := "?limit=5&order=" + order
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatal("too many pages")
				}
				var p eventPage
				apiOK(t, e.srv, "GET", path+q, "", &p)
				got = append(got, eventIDs(p.Data)...)
				if p.NextPage == nil {
					break
				}
				q = "?limit=5&page=" + url.QueryEscape(*p.NextPage)
			}
			want := eventIDs(all.Data)
			if order == "desc" {
				for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
					want[i], want[j] = want[j], want[i]
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s walk (-want +got):\n%s", order, diff)
			}
		}
	})

	t.Run("types", func(t *testing.T) {
		var p eventPage
		apiOK(t, e.srv, "GET", path+"?types[]=agent.message&types[]=user.message", "", &p)
		want := []string{"user.message", "agent.message", "user.message", "agent.message", "user.message", "agent.message"}
		if diff := cmp.Diff(want, eventTypes(p.Data)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		apiOK(t, e.srv, "GET", path+"?types=session.status_idle", "", &p)
		if len(p.Data) != 3 {
			t.Errorf("types without brackets: %v", eventTypes(p.Data))
		}
	})

	t.Run("created_at compares processed_at", func(t *testing.T) {
		// Events processed at or after the last agent.message: it and the final idle.
		var ref time.Time
		for _, ev := range all.Data {
			if ev.Type == hangar.EventAgentMessage {
				ref = *ev.ProcessedAt
			}
		}
		var p eventPage
		apiOK(t, e.srv, "GET", path+"?created_at[gte]="+url.QueryEscape(ref.Format(time.RFC3339Nano)), "", &p)
		if diff := cmp.Diff([]string{"agent.message", "session.status_idle"}, eventTypes(p.Data)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	bad := []struct{ name, query, want string }{
		{"limit 0", "?limit=0", "limit: must be an integer between 1 and 1000"},
		{"limit 1001", "?limit=1001", "limit: must be an integer between 1 and 1000"},
		{"order", "?order=sideways", "order"},
		{"created_at", "?created_at[lt]=soon", "created_at[lt]"},
		{"empty type", "?types[]=", "types"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, e.srv, "GET", path+tt.query, ""), 400, "invalid_request_error")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
	t.Run("missing session", func(t *testing.T) {
		apiError(t, apiDo(t, e.srv, "GET", "/v1/sessions/sesn_missing/events", ""), 404, "not_found_error")
	})
}
