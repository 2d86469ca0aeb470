package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
)

// sseFrame is one parsed server-sent event.
type sseFrame struct {
	ID    string // "" when the frame has no id: line
	Event string
	Data  string
	Raw   string
}

// sseStream is an open event stream read frame by frame.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// streamTimeout bounds every stream so a missing frame fails the test instead of hanging.
const streamTimeout = 20 * time.Second

// openStream connects to a session's event stream. header may set Last-Event-ID.
func openStream(t *testing.T, ts *httptest.Server, sessionID, query string, header http.Header) *sseStream {
	t.Helper()
	resp, cancel := getStream(t, ts, sessionID, query, header)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("stream status %d: %s", resp.StatusCode, body)
	}
	s := &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	return s
}

func getStream(t *testing.T, ts *httptest.Server, sessionID, query string, header http.Header) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/sessions/"+sessionID+"/events/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("x-api-key", testAPIKey)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	return resp, cancel
}

func (s *sseStream) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}

// read returns the next frame, or io.EOF when the server ended the stream.
func (s *sseStream) read() (sseFrame, error) {
	var f sseFrame
	var raw strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if raw.Len() == 0 && errors.Is(err, io.EOF) {
				return f, io.EOF
			}
			return f, fmt.Errorf("read frame (so far %q): %w", raw.String(), err)
		}
		raw.WriteString(line)
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			f.Raw = raw.String()
			return f, nil
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			return f, fmt.Errorf("malformed line %q", line)
		}
		switch name {
		case "id":
			f.ID = value
		case "event":
			f.Event = value
		case "data":
			if f.Data != "" {
				return f, fmt.Errorf("multi-line data in frame %q", raw.String())
			}
			f.Data = value
		default:
			return f, fmt.Errorf("unexpected field %q", line)
		}
	}
}

// next returns the next non-ping frame, checking that event: equals the JSON type and id:
// equals nothing or a positive sequence number.
func (s *sseStream) next() sseFrame {
	s.t.Helper()
	for {
		f, err := s.read()
		if err != nil {
			s.t.Fatalf("next frame: %v", err)
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(f.Data), &head); err != nil {
			s.t.Fatalf("frame data is not JSON: %v; frame %q", err, f.Raw)
		}
		if head.Type != f.Event {
			s.t.Fatalf("event: %q but JSON type %q", f.Event, head.Type)
		}
		if f.Event == "ping" {
			continue
		}
		if f.ID != "" {
			if n, err := strconv.ParseInt(f.ID, 10, 64); err != nil || n < 1 {
				s.t.Fatalf("id: %q is not a sequence number", f.ID)
			}
		}
		return f
	}
}

// nextN reads n frames.
func (s *sseStream) nextN(n int) []sseFrame {
	s.t.Helper()
	out := make([]sseFrame, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

// expectEOF checks that the server ended the stream.
func (s *sseStream) expectEOF() {
	s.t.Helper()
	for {
		f, err := s.read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			s.t.Fatalf("want end of stream: %v", err)
		}
		if f.Event != "ping" {
			s.t.Fatalf("want end of stream, got frame %q", f.Raw)
		}
	}
}

func frameEvents(fs []sseFrame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Event
	}
	return out
}

func frameIDs(fs []sseFrame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.ID
	}
	return out
}

func seqs(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

var turnEvents = []string{"user.message", "session.status_running", "agent.message", "session.status_idle"}

// repeat returns n copies of turnEvents, concatenated.
func turns(n int) []string {
	var out []string
	for range n {
		out = append(out, turnEvents...)
	}
	return out
}

// sseEnv is a session env served over a real listener, with one session.
type sseEnv struct {
	*sessionEnv
	ts *httptest.Server
	id string
}

func newSSEEnv(t *testing.T, opts ...func(*Config)) *sseEnv {
	t.Helper()
	e := newSessionEnv(t, opts...)
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, e.agent("a", 1).ID, e.environment("env").ID))
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	return &sseEnv{sessionEnv: e, ts: ts, id: s.ID}
}

// send posts a user.message through the API.
func (e *sseEnv) send(text string) {
	e.t.Helper()
	apiOK(e.t, e.srv, "POST", "/v1/sessions/"+e.id+"/events", `{"events":[`+userMessage(text)+`]}`, nil)
}

func TestSSEStream(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t)
	s := openStream(t, e.ts, e.id, "", nil)

	h := s.resp.Header
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	// HTTP/1.1 streams are hijacked and delimited by closing the connection.
	if !s.resp.Close || s.resp.ContentLength != -1 || len(s.resp.TransferEncoding) != 0 {
		t.Errorf("response framing: Close=%v ContentLength=%d TransferEncoding=%v; want a close-delimited body",
			s.resp.Close, s.resp.ContentLength, s.resp.TransferEncoding)
	}
	if h.Get("request-id") == "" {
		t.Error("no request-id header on the stream")
	}

	e.send("one")
	first := s.nextN(4)
	e.send("two")
	second := s.nextN(4)
	all := append(first, second...)
	if diff := cmp.Diff(turns(2), frameEvents(all)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqs(1, 8), frameIDs(all)); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}

	// The frames carry the same objects as the event list.
	var page eventPage
	apiOK(t, e.srv, "GET", "/v1/sessions/"+e.id+"/events", "", &page)
	for i, f := range all {
		var ev eventJSON
		_ = json.Unmarshal([]byte(f.Data), &ev)
		if ev.ID != page.Data[i].ID {
			t.Errorf("frame %d carries %s, list has %s", i, ev.ID, page.Data[i].ID)
		}
	}

	var transcript strings.Builder
	for _, f := range all {
		transcript.WriteString(f.Raw)
	}
	checkGoldenText(t, "sse_transcript", transcript.String())
}

func TestSSEResume(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t)

	s := openStream(t, e.ts, e.id, "", nil)
	e.send("one")
	seen := s.nextN(4)
	s.close()

	// Missed while disconnected.
	e.send("two")
	e.send("three")

	t.Run("Last-Event-ID header replays exactly the missed events", func(t *testing.T) {
		s := openStream(t, e.ts, e.id, "", http.Header{"Last-Event-ID": {seen[3].ID}})
		replayed := s.nextN(8)
		if diff := cmp.Diff(seqs(5, 12), frameIDs(replayed)); diff != "" {
			t.Errorf("replayed ids (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(turns(2), frameEvents(replayed)); diff != "" {
			t.Errorf("replayed events (-want +got):\n%s", diff)
		}
		// Then live, without duplicates.
		e.send("four")
		live := s.nextN(4)
		if diff := cmp.Diff(seqs(13, 16), frameIDs(live)); diff != "" {
			t.Errorf("live ids (-want +got):\n%s", diff)
		}
		s.close()
	})

	t.Run("last_event_id query parameter", func(t *testing.T) {
		s := openStream(t, e.ts, e.id, "?last_event_id=14", nil)
		if diff := cmp.Diff(seqs(15, 16), frameIDs(s.nextN(2))); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		e.send("five")
		if diff := cmp.Diff(seqs(17, 20), frameIDs(s.nextN(4))); diff != "" {
			t.Errorf("live ids (-want +got):\n%s", diff)
		}
		s.close()
	})

	t.Run("Last-Event-ID 0 replays everything", func(t *testing.T) {
		s := openStream(t, e.ts, e.id, "", http.Header{"Last-Event-ID": {"0"}})
		if diff := cmp.Diff(seqs(1, 20), frameIDs(s.nextN(20))); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		s.close()
	})

	t.Run("without Last-Event-ID the stream is live only", func(t *testing.T) {
		s := openStream(t, e.ts, e.id, "", nil)
		e.send("six")
		if diff := cmp.Diff(seqs(21, 24), frameIDs(s.nextN(4))); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
	})
}

// TestSSEResumeOverlap makes events land between the subscription and the replay, so they
// arrive both from the store and live: each must be sent once.
func TestSSEResumeOverlap(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t)
	e.send("before")

	var once sync.Once
	e.hub.setOnSubscribe(func(sessionID string) {
		once.Do(func() {
			if _, err := e.runner.Emit(context.Background(), sessionID,
				hangar.NewEvent(hangar.EventAgentMessage, map[string]any{"content": []map[string]string{{"type": "text", "text": "racing"}}}),
				hangar.NewEvent(hangar.EventStatusIdle, map[string]any{"stop_reason": hangar.StopReason{Type: "end_turn"}}),
			); err != nil {
				t.Errorf("emit: %v", err)
			}
		})
	})
	s := openStream(t, e.ts, e.id, "", http.Header{"Last-Event-ID": {"2"}})
	replayed := s.nextN(4)
	if diff := cmp.Diff(seqs(3, 6), frameIDs(replayed)); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	e.send("after")
	live := s.nextN(4)
	if diff := cmp.Diff(seqs(7, 10), frameIDs(live)); diff != "" {
		t.Errorf("live ids after the overlap (-want +got):\n%s", diff)
	}
}

func TestSSEPing(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t, func(c *Config) { c.SSEPing = time.Millisecond })
	s := openStream(t, e.ts, e.id, "", nil)
	f, err := s.read()
	if err != nil {
		t.Fatal(err)
	}
	if f.Raw != "event: ping\ndata: {\"type\":\"ping\"}\n\n" {
		t.Errorf("ping frame = %q", f.Raw)
	}
	// Pings interleave with events without disturbing them.
	e.send("hi")
	if diff := cmp.Diff(turnEvents, frameEvents(s.nextN(4))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSSEEnds(t *testing.T) {
	t.Parallel()

	t.Run("after session.deleted", func(t *testing.T) {
		t.Parallel()
		e := newSSEEnv(t)
		s := openStream(t, e.ts, e.id, "", nil)
		apiOK(t, e.srv, "DELETE", "/v1/sessions/"+e.id, "", nil)
		f := s.next()
		if f.Event != hangar.EventSessionDeleted || f.ID != "" {
			t.Errorf("frame = %q, want session.deleted without an id", f.Raw)
		}
		s.expectEOF()
	})

	t.Run("when the hub drops the subscriber", func(t *testing.T) {
		t.Parallel()
		e := newSSEEnv(t)
		s := openStream(t, e.ts, e.id, "", nil)
		e.send("one")
		seen := s.nextN(4)
		// A slow subscriber is dropped by closing its channel: the stream just ends...
		e.hub.DropAll(e.id)
		s.expectEOF()
		// ...and the client resumes from the store.
		e.send("two")
		r := openStream(t, e.ts, e.id, "", http.Header{"Last-Event-ID": {seen[3].ID}})
		if diff := cmp.Diff(seqs(5, 8), frameIDs(r.nextN(4))); diff != "" {
			t.Errorf("resumed ids (-want +got):\n%s", diff)
		}
	})

	t.Run("when the client leaves", func(t *testing.T) {
		t.Parallel()
		e := newSSEEnv(t)
		s := openStream(t, e.ts, e.id, "", nil)
		s.close()
		select {
		case id := <-e.hub.cancelled:
			if id != e.id {
				t.Errorf("cancelled subscription of %s", id)
			}
		case <-time.After(streamTimeout):
			t.Fatal("the handler did not cancel its subscription after the client left")
		}
	})
}

func TestSSERequestErrors(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t)
	cases := []struct {
		name, path string
		header     http.Header
		status     int
		errType    string
		want       string
	}{
		{"missing session", "/v1/sessions/sesn_missing/events/stream", nil, 404, "not_found_error", "sesn_missing"},
		{"bad event_deltas", "/v1/sessions/" + e.id + "/events/stream?event_deltas[]=agent.tool_use", nil, 400, "invalid_request_error", "event_deltas: must be one of"},
		{"too many event_deltas", "/v1/sessions/" + e.id + "/events/stream?" + strings.Repeat("event_deltas[]=agent.message&", 101), nil, 400, "invalid_request_error", "event_deltas: at most 100"},
		{"bad Last-Event-ID", "/v1/sessions/" + e.id + "/events/stream", http.Header{"Last-Event-ID": {"sevt_1"}}, 400, "invalid_request_error", "Last-Event-ID"},
		{"negative last_event_id", "/v1/sessions/" + e.id + "/events/stream?last_event_id=-1", nil, 400, "invalid_request_error", "last_event_id"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			// Bounded, so a request wrongly accepted as a stream fails instead of hanging.
			ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, "GET", tt.path, nil)
			for k, vs := range tt.header {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			req.Header.Set("x-api-key", testAPIKey)
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			msg := apiError(t, rec, tt.status, tt.errType)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
	t.Run("no cancelled subscription leaks", func(t *testing.T) {
		if n := e.hub.subscribers(); n != 0 {
			t.Errorf("%d subscriptions left open", n)
		}
	})

	t.Run("event_deltas are accepted", func(t *testing.T) {
		s := openStream(t, e.ts, e.id, "?event_deltas[]=agent.message&event_deltas[]=agent.thinking", nil)
		e.send("hi")
		if diff := cmp.Diff(turnEvents, frameEvents(s.nextN(4))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// checkGoldenText compares text, with IDs and timestamps normalized as in normalizeJSON,
// with testdata/<name>.golden; -update rewrites it.
func checkGoldenText(t *testing.T, name, text string) {
	t.Helper()
	seen := map[string]string{}
	counts := map[string]int{}
	got := idPattern.ReplaceAllStringFunc(text, func(id string) string {
		if r, ok := seen[id]; ok {
			return r
		}
		prefix := id[:strings.Index(id, "_")]
		counts[prefix]++
		seen[id] = fmt.Sprintf("%s_<%d>", prefix, counts[prefix])
		return seen[id]
	})
	got = timePattern.ReplaceAllString(got, `"<time>"`)
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// --- with the real runner (internal/runner), hub (internal/pubsub), scripted engine and
// memory provider

// runnerEnv is a server wired like production, on the scripted engine.
type runnerEnv struct {
	*sessionEnv
	ts     *httptest.Server
	runner *runner.Runner
	hub    *pubsub.Hub
	envID  string
	agents int
}

func newRunnerEnv(t *testing.T) *runnerEnv {
	t.Helper()
	re := &runnerEnv{hub: pubsub.New(1024)}
	e := newSessionEnv(t, func(c *Config) {
		engines := engine.NewRegistry()
		engines.Register(hangar.EngineScripted, scripted.New)
		providers := provider.NewRegistry()
		mem := &memory.Provider{}
		providers.Register("memory", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return mem, nil })
		re.runner = runner.New(runner.Config{Store: c.Store, Hub: re.hub, Engines: engines, Providers: providers, Clock: c.Clock, NewID: c.NewID})
		c.Runner, c.Hub = re.runner, re.hub
	})
	ctx, cancel := context.WithCancel(context.Background())
	if err := re.runner.Start(ctx); err != nil {
		t.Fatalf("start runner: %v", err)
	}
	re.sessionEnv = e
	re.ts = httptest.NewServer(e.srv)
	t.Cleanup(func() {
		re.ts.Close()
		re.runner.Close()
		cancel()
		re.hub.Close()
	})
	re.envID = e.environment("env").ID
	return re
}

// scriptedSession creates an agent following script (nil: the default echo) and a session.
func (re *runnerEnv) scriptedSession(script string) string {
	re.t.Helper()
	re.agents++
	a := re.agent(fmt.Sprintf("scripted-%d", re.agents), 1)
	if script != "" {
		if _, err := re.store.UpdateAgent(re.ctx(), a.ID, re.clock(), func(a *hangar.Agent) error {
			a.Metadata = map[string]string{scripted.MetadataKey: script}
			return nil
		}); err != nil {
			re.t.Fatal(err)
		}
	}
	return re.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, re.envID)).ID
}

// until reads frames up to and including the first of type typ.
func (s *sseStream) until(typ string) []sseFrame {
	s.t.Helper()
	var out []sseFrame
	for {
		f := s.next()
		out = append(out, f)
		if f.Event == typ {
			return out
		}
	}
}

// withoutSpanFrames drops span.* frames and the session.usage snapshots that follow them.
func withoutSpanFrames(fs []sseFrame) []string {
	var out []string
	for _, f := range fs {
		if !strings.HasPrefix(f.Event, "span.") && f.Event != hangar.EventSessionUsage {
			out = append(out, f.Event)
		}
	}
	return out
}

func TestSSEWithRunner(t *testing.T) {
	t.Parallel()
	re := newRunnerEnv(t)

	t.Run("a turn streams in order and resumes", func(t *testing.T) {
		id := re.scriptedSession("")
		s := openStream(t, re.ts, id, "", nil)
		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[`+userMessage("hello")+`]}`, nil)
		turn := s.until(hangar.EventStatusIdle)
		want := []string{"user.message", "session.status_running", "span.model_request_start", "agent.message", "span.model_request_end", "session.usage", "session.status_idle"}
		if diff := cmp.Diff(want, frameEvents(turn)); diff != "" {
			t.Fatalf("events (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(seqs(1, 7), frameIDs(turn)); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		if !strings.Contains(turn[3].Data, `"echo: hello"`) {
			t.Errorf("agent.message = %s", turn[3].Data)
		}
		s.close()

		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[`+userMessage("again")+`]}`, nil)
		r := openStream(t, re.ts, id, "", http.Header{"Last-Event-ID": {"7"}})
		missed := r.until(hangar.EventStatusIdle)
		if diff := cmp.Diff(seqs(8, 14), frameIDs(missed)); diff != "" {
			t.Errorf("resumed ids (-want +got):\n%s", diff)
		}
		var page eventPage
		apiOK(t, re.srv, "GET", "/v1/sessions/"+id+"/events", "", &page)
		if len(page.Data) != 14 {
			t.Errorf("%d stored events, want 14", len(page.Data))
		}
	})

	t.Run("custom tool round trip", func(t *testing.T) {
		id := re.scriptedSession(`{"turns":[{"steps":[{"custom_tool_use":{"name":"get_weather","input":{"city":"Paris"}}}]},{"steps":[{"message":"sunny"}]}]}`)
		s := openStream(t, re.ts, id, "", nil)
		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[`+userMessage("weather?")+`]}`, nil)
		first := s.until(hangar.EventStatusIdle)
		if diff := cmp.Diff([]string{"user.message", "session.status_running", "agent.custom_tool_use", "session.status_idle"}, withoutSpanFrames(first)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
		var use eventJSON
		for _, f := range first {
			if f.Event == hangar.EventAgentCustomToolUse {
				_ = json.Unmarshal([]byte(f.Data), &use)
			}
		}
		if !strings.Contains(first[len(first)-1].Data, `"requires_action"`) {
			t.Errorf("idle = %s", first[len(first)-1].Data)
		}
		msg := apiError(t, apiDo(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_nope"}]}`), 400, "invalid_request_error")
		if !strings.Contains(msg, "sevt_nope") {
			t.Errorf("message %q", msg)
		}
		var sent struct {
			Data []eventJSON `json:"data"`
		}
		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", fmt.Sprintf(`{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":%q,"content":[{"type":"text","text":"clear sky"}]}]}`, use.ID), &sent)
		if len(sent.Data) != 1 || sent.Data[0].ProcessedAt == nil {
			t.Errorf("echo = %+v, want one event processed on receipt", sent.Data)
		}
		second := s.until(hangar.EventStatusIdle)
		if diff := cmp.Diff([]string{"user.custom_tool_result", "session.status_running", "agent.message", "session.status_idle"}, withoutSpanFrames(second)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("a running session cannot be archived", func(t *testing.T) {
		id := re.scriptedSession(`{"turns":[{"steps":[{"sleep_ms":600000}]}]}`)
		s := openStream(t, re.ts, id, "", nil)
		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[`+userMessage("wait")+`]}`, nil)
		s.until(hangar.EventStatusRunning)
		apiError(t, apiDo(t, re.srv, "POST", "/v1/sessions/"+id+"/archive", ""), 409, "invalid_request_error")
		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[{"type":"user.interrupt"}]}`, nil)
		idle := s.until(hangar.EventStatusIdle)
		if !strings.Contains(idle[len(idle)-1].Data, `"end_turn"`) {
			t.Errorf("idle after interrupt = %s", idle[len(idle)-1].Data)
		}
		var got sessionJSON
		apiOK(t, re.srv, "POST", "/v1/sessions/"+id+"/archive", "", &got)
		if got.ArchivedAt == nil {
			t.Error("archived_at not set")
		}
		apiError(t, apiDo(t, re.srv, "POST", "/v1/sessions/"+id+"/events", `{"events":[`+userMessage("late")+`]}`), 409, "invalid_request_error")
	})

	t.Run("delete ends open streams", func(t *testing.T) {
		id := re.scriptedSession("")
		s := openStream(t, re.ts, id, "", nil)
		apiOK(t, re.srv, "DELETE", "/v1/sessions/"+id, "", nil)
		if f := s.next(); f.Event != hangar.EventSessionDeleted {
			t.Errorf("frame %q, want session.deleted", f.Raw)
		}
		s.expectEOF()
		apiError(t, apiDo(t, re.srv, "GET", "/v1/sessions/"+id+"/events/stream", ""), 404, "not_found_error")
	})
}

// TestSSEWithSDK drives the stream with the official Go SDK: its decoder must see every
// event with its type.
func TestSSEWithSDK(t *testing.T) {
	t.Parallel()
	re := newRunnerEnv(t)
	id := re.scriptedSession("")
	c := anthropic.NewClient(option.WithBaseURL(re.ts.URL), option.WithAPIKey(testAPIKey), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	defer cancel()

	stream := c.Beta.Sessions.Events.StreamEvents(ctx, id, anthropic.BetaSessionEventStreamParams{})
	defer stream.Close()
	sent, err := c.Beta.Sessions.Events.Send(ctx, id, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
			Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "from the sdk"}}},
		}}},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(sent.Data) != 1 || sent.Data[0].Type != "user.message" || sent.Data[0].ID == "" {
		t.Fatalf("send echo = %s", sent.RawJSON())
	}
	var got []string
	var said string
	for stream.Next() {
		ev := stream.Current()
		got = append(got, ev.Type)
		if ev.Type == hangar.EventAgentMessage {
			said = ev.AsAgentMessage().Content[0].Text
		}
		if ev.Type == hangar.EventStatusIdle {
			break
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	want := []string{"user.message", "session.status_running", "span.model_request_start", "agent.message", "span.model_request_end", "session.usage", "session.status_idle"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if said != "echo: from the sdk" {
		t.Errorf("agent said %q", said)
	}

	list, err := c.Beta.Sessions.Events.List(ctx, id, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Data) != len(want) || list.Data[0].ID != sent.Data[0].ID {
		t.Errorf("list = %s", list.RawJSON())
	}
}

// TestSSEStreamHTTP2 covers the stream path that cannot hijack its connection: HTTP/2
// streams go through net/http's writer and end when the request's context does.
func TestSSEStreamHTTP2(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t)
	ts := httptest.NewUnstartedServer(e.srv)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	e.ts = ts

	s := openStream(t, ts, e.id, "", nil)
	if s.resp.ProtoMajor != 2 {
		t.Fatalf("protocol = %s, want HTTP/2", s.resp.Proto)
	}
	e.send("over h2")
	if diff := cmp.Diff(turnEvents, frameEvents(s.nextN(len(turnEvents)))); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

// TestSSELateDeliveryOfOldEvents: on PostgreSQL the hub hears of stored events through the
// listener, which may deliver an event stored before a stream was opened after the stream
// subscribed. A stream without a resume point must not show it (an old
// session.status_idle would end a client's wait at once); events stored later still come.
func TestSSELateDeliveryOfOldEvents(t *testing.T) {
	t.Parallel()
	e := newSSEEnv(t)
	e.send("before")
	old, _, err := e.store.ListEvents(e.ctx(), e.id, hangar.EventFilter{})
	if err != nil || len(old) != 4 {
		t.Fatalf("stored events: %d, %v", len(old), err)
	}
	var once sync.Once
	e.hub.setOnSubscribe(func(string) {
		once.Do(func() {
			for i := range old {
				e.hub.Publish(old[i]) // the listener catching up
			}
		})
	})
	s := openStream(t, e.ts, e.id, "", nil)
	e.send("after")
	if diff := cmp.Diff(seqs(5, 8), frameIDs(s.nextN(4))); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}
