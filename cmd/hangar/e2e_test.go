package main

// End-to-end tests: the real server (SQLite in t.TempDir(), scripted engine, memory
// provider) on 127.0.0.1:0, driven through the official Anthropic Go SDK with only its base
// URL changed. Each test starts its own server, so every test owns its state and runs in
// parallel. Nothing here sleeps: waits are bounded by contexts and driven by events.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
)

const testAPIKey = "test-key"

// testServer is one in-process Hangar.
type testServer struct {
	URL     string // http://127.0.0.1:PORT
	Client  anthropic.Client
	DataDir string
}

// startServer runs a real Hangar for the duration of the test and returns an SDK client
// pointed at it (Bearer auth, as SDK v2 sends it; no retries so failures surface at once).
func startServer(t *testing.T, opts ...func(*Config)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), APIKey: testAPIKey, LogFormat: "text", LogLevel: "error"}
	for _, o := range opts {
		o(&cfg)
	}
	app, err := newApp(ctx, cfg, log, io.Discard)
	if err != nil {
		cancel()
		t.Fatalf("newApp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		app.Close()
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if err := app.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	url := "http://" + ln.Addr().String()
	return &testServer{URL: url, Client: newClient(url, option.WithAPIKey(testAPIKey)), DataDir: cfg.DataDir}
}

// newClient builds an SDK client for the server at url with the given extra options.
func newClient(url string, opts ...option.RequestOption) anthropic.Client {
	base := []option.RequestOption{option.WithBaseURL(url), option.WithMaxRetries(0)}
	return anthropic.NewClient(append(base, opts...)...)
}

// testContext returns a context that ends with the test or after a generous bound, so a
// hung stream fails the test instead of the whole run.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// asAPIError returns err as *anthropic.Error or fails the test.
func asAPIError(t *testing.T, err error) *anthropic.Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want an API error")
	}
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not *anthropic.Error", err, err)
	}
	return apiErr
}

// wantStatus fails unless err is an API error with the given status and error type.
func wantStatus(t *testing.T, err error, status int, errType string) *anthropic.Error {
	t.Helper()
	apiErr := asAPIError(t, err)
	if apiErr.StatusCode != status {
		t.Fatalf("status = %d, want %d (%v)", apiErr.StatusCode, status, err)
	}
	if errType != "" && string(apiErr.Type()) != errType {
		t.Errorf("error type = %q, want %q (%s)", apiErr.Type(), errType, apiErr.RawJSON())
	}
	if apiErr.RequestID == "" {
		t.Errorf("error has no request-id: %v", err)
	}
	return apiErr
}

// scripted returns the request options that make an agent use the scripted engine,
// following script when it is non-empty.
func scriptedEngine() option.RequestOption { return option.WithJSONSet("engine", "scripted") }

// scriptStep is one step of a scripted turn (internal/engine/scripted).
type scriptStep map[string]any

// scriptMetadata encodes turns as the agent metadata the scripted engine follows.
func scriptMetadata(t *testing.T, turns ...[]scriptStep) map[string]string {
	t.Helper()
	type turn struct {
		Steps []scriptStep `json:"steps"`
	}
	var s struct {
		Turns []turn `json:"turns"`
	}
	for _, steps := range turns {
		s.Turns = append(s.Turns, turn{Steps: steps})
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"hangar.script": string(b)}
}

// newAgent creates a scripted agent named name, failing the test on error.
func newAgent(t *testing.T, c anthropic.Client, name string, metadata map[string]string, opts ...option.RequestOption) *anthropic.BetaManagedAgentsAgent {
	t.Helper()
	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:     name,
		Model:    anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
		Metadata: metadata,
	}, append([]option.RequestOption{scriptedEngine()}, opts...)...)
	if err != nil {
		t.Fatalf("create agent %q: %v", name, err)
	}
	return a
}

// newEnvironment creates an environment named name.
func newEnvironment(t *testing.T, c anthropic.Client, name string) *anthropic.BetaEnvironment {
	t.Helper()
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: name})
	if err != nil {
		t.Fatalf("create environment %q: %v", name, err)
	}
	return env
}

// newSession creates a session of agent a (latest version) in env.
func newSession(t *testing.T, c anthropic.Client, agentID, envID string) *anthropic.BetaManagedAgentsSession {
	t.Helper()
	s, err := c.Beta.Sessions.New(testContext(t), anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)},
		EnvironmentID: envID,
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s
}

// userMessage is a user.message event param with one text block.
func userMessage(text string) anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
		Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{
			{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}},
		},
	}}
}

// send posts events to a session and returns the stored echoes.
func send(t *testing.T, c anthropic.Client, sessionID string, events ...anthropic.BetaManagedAgentsEventParamsUnion) []anthropic.BetaManagedAgentsSendSessionEventsDataUnion {
	t.Helper()
	res, err := c.Beta.Sessions.Events.Send(testContext(t), sessionID, anthropic.BetaSessionEventSendParams{Events: events})
	if err != nil {
		t.Fatalf("send events: %v", err)
	}
	if len(res.Data) != len(events) {
		t.Fatalf("send echoed %d events, want %d: %s", len(res.Data), len(events), res.RawJSON())
	}
	return res.Data
}

type sdkStream = ssestream.Stream[anthropic.BetaManagedAgentsStreamSessionEventsUnion]

// openStream opens the session's SSE stream through the SDK. The stream is closed with
// the test; ctx bounds every read.
func openStream(t *testing.T, ctx context.Context, c anthropic.Client, sessionID string) *sdkStream {
	t.Helper()
	stream := c.Beta.Sessions.Events.StreamEvents(ctx, sessionID, anthropic.BetaSessionEventStreamParams{})
	if err := stream.Err(); err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { stream.Close() })
	return stream
}

// readUntil reads stream events until stop returns true for one (included in the result).
func readUntil(t *testing.T, stream *sdkStream, stop func(anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	t.Helper()
	var got []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for stream.Next() {
		ev := stream.Current()
		got = append(got, ev)
		if stop(ev) {
			return got
		}
	}
	t.Fatalf("stream ended before the awaited event (err %v); got %v", stream.Err(), eventTypes(got))
	return nil
}

// isIdle matches session.status_idle.
func isIdle(ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
	return ev.Type == "session.status_idle"
}

// isType returns a matcher for one event type.
func isType(typ string) func(anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
	return func(ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return ev.Type == typ }
}

func eventTypes(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// withoutSpans drops span.* and agent.thinking events, which an engine may or may not
// emit around its messages, and the session.usage snapshot after each model request; the
// tests assert the order of the events that matter.
func withoutSpans(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	var out []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "span.") || ev.Type == "agent.thinking" || ev.Type == "session.usage" {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// agentText returns the concatenated text of an agent.message event.
func agentText(ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) string {
	var b strings.Builder
	for _, c := range ev.AsAgentMessage().Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// sseFrame is one raw server-sent event.
type sseFrame struct {
	ID    string
	Event string
	Data  string
}

// rawStream reads a session stream with net/http, exposing the SSE id: lines the SDK
// hides. header values are added to the request (Last-Event-ID, auth overrides).
type rawStream struct {
	resp *http.Response
	r    *bufio.Reader
}

func openRawStream(t *testing.T, ctx context.Context, baseURL, sessionID, query string, header map[string]string) *rawStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/sessions/"+sessionID+"/events/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", testAPIKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("anthropic-beta", "managed-agents-2026-04-01")
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("open raw stream: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("open raw stream: status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("stream Content-Type = %q, want text/event-stream", ct)
	}
	return &rawStream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next frame that carries data, skipping comments and pings.
func (s *rawStream) next() (sseFrame, error) {
	var f sseFrame
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return f, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if len(data) > 0 && f.Event != "ping" {
				f.Data = strings.Join(data, "\n")
				return f, nil
			}
			f, data = sseFrame{}, nil
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				f.ID = value
			case "event":
				f.Event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

// close ends the stream from the client side.
func (s *rawStream) close() { s.resp.Body.Close() }

// frameEvent is the part of an event's JSON the raw-stream tests look at.
type frameEvent struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	StopReason *struct {
		Type string `json:"type"`
	} `json:"stop_reason"`
}

func decodeFrame(t *testing.T, f sseFrame) frameEvent {
	t.Helper()
	var ev frameEvent
	if err := json.Unmarshal([]byte(f.Data), &ev); err != nil {
		t.Fatalf("frame data is not JSON: %v: %q", err, f.Data)
	}
	if f.Event != ev.Type {
		t.Errorf("frame event: %q but data type %q (the SDKs require them equal)", f.Event, ev.Type)
	}
	return ev
}
