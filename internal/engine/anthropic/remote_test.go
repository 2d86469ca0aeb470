package anthropic_test

// The remote the engine talks to in these tests is a second, real Hangar: SQLite store,
// hub, runner with the scripted engine, and the HTTP API, behind httptest.NewServer. A
// wrapping handler records the calls and can cut an event stream to test reconnection.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/anthropic"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
	"github.com/hangar-dev/hangar/internal/httpapi"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

const remoteKey = "remote-key"

// remote is the stand-in for the hosted Managed Agents API.
type remote struct {
	URL   string
	store hangar.Store
	hub   *pubsub.Hub

	mu    sync.Mutex
	calls []string // "METHOD /path" of every request
	// cut, when positive, makes the next event stream end after that many frames; strip
	// removes its id: lines, as Anthropic's stream has none.
	cut   int
	strip bool
}

// newRemote starts the remote. extra, when non-nil, is registered as engine "fake" next
// to "scripted".
func newRemote(t *testing.T, extra ...engine.Engine) *remote {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "remote.db"))
	if err != nil {
		cancel()
		t.Fatalf("open remote store: %v", err)
	}
	hub := pubsub.New(1024)
	engines := engine.NewRegistry()
	engines.Register("scripted", scripted.New)
	names := hangar.Engines
	if len(extra) > 0 {
		engines.Register("fake", func(json.RawMessage, engine.Deps) (engine.Engine, error) { return extra[0], nil })
		names = append(slices.Clone(hangar.Engines), "fake")
	}
	run := runner.New(runner.Config{Store: store, Hub: hub, Engines: engines, InterruptGrace: 5 * time.Second})
	if err := run.Start(ctx); err != nil {
		t.Fatalf("start remote runner: %v", err)
	}
	api := httpapi.New(httpapi.Config{Store: store, Runner: run, Hub: hub, APIKey: remoteKey, SSEPing: time.Hour, Engines: names})
	rm := &remote{store: store, hub: hub}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rm.mu.Lock()
		rm.calls = append(rm.calls, r.Method+" "+r.URL.Path)
		cut, strip := 0, false
		if strings.HasSuffix(r.URL.Path, "/events/stream") {
			cut, strip = rm.cut, rm.strip
			rm.cut = 0
		}
		rm.mu.Unlock()
		if cut > 0 || strip {
			w = &cutWriter{ResponseWriter: w, left: cut, strip: strip}
		}
		api.ServeHTTP(w, r)
	}))
	rm.URL = srv.URL
	t.Cleanup(func() {
		srv.CloseClientConnections()
		cancel()
		run.Close()
		srv.Close()
		hub.Close()
		store.Close()
	})
	return rm
}

// Calls returns the recorded requests matching method and a path pattern (regexp).
func (rm *remote) Calls(method, path string) []string {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	re := regexp.MustCompile("^" + method + " " + path + "$")
	var out []string
	for _, c := range rm.calls {
		if re.MatchString(c) {
			out = append(out, c)
		}
	}
	return out
}

// cutStream arms the next stream request: it ends after n frames.
func (rm *remote) cutStream(n int, strip bool) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.cut, rm.strip = n, strip
}

// cutWriter wraps a stream's ResponseWriter. Without Unwrap or Hijack the API streams
// through it (no hijacking), so failing a Write ends the response: the client sees EOF.
type cutWriter struct {
	http.ResponseWriter
	left  int // frames still allowed; 0 = unlimited
	cut   bool
	strip bool
}

var idLine = regexp.MustCompile(`(?m)^id: \d+\n`)

func (w *cutWriter) Write(b []byte) (int, error) {
	if w.cut {
		return 0, errors.New("stream cut by the test")
	}
	n := len(b)
	if bytes.HasPrefix(b, []byte("event: ping")) {
		return w.ResponseWriter.Write(b)
	}
	if w.strip {
		b = idLine.ReplaceAll(b, nil)
	}
	if _, err := w.ResponseWriter.Write(b); err != nil {
		return 0, err
	}
	if w.left > 0 {
		w.left--
		w.cut = w.left == 0
	}
	return n, nil
}

func (w *cutWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// remoteSession returns a remote session as stored.
func (rm *remote) session(t *testing.T, id string) *hangar.Session {
	t.Helper()
	s, err := rm.store.GetSession(context.Background(), id)
	if err != nil {
		t.Fatalf("remote session %s: %v", id, err)
	}
	return s
}

// remoteEvents returns the types of a remote session's stored events.
func (rm *remote) eventTypes(t *testing.T, id string) []string {
	t.Helper()
	evs, _, err := rm.store.ListEvents(context.Background(), id, hangar.EventFilter{Page: hangar.Page{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// newEngine builds the engine under test pointed at rm; its remote agents run on the
// scripted engine, or on remoteEngine when given.
func newEngine(t *testing.T, rm *remote, key string, remoteEngine ...string) engine.Engine {
	t.Helper()
	eng := "scripted"
	if len(remoteEngine) > 0 {
		eng = remoteEngine[0]
	}
	cfg, _ := json.Marshal(anthropic.Config{BaseURL: rm.URL, APIKey: key, AgentEngine: eng})
	e, err := anthropic.New(cfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sendMessage posts a user.message to a remote session directly, as another client would.
func (rm *remote) sendMessage(t *testing.T, sessionID, text string) {
	t.Helper()
	body := `{"events":[{"type":"user.message","content":[{"type":"text","text":` + strconv.Quote(text) + `}]}]}`
	req, _ := http.NewRequest(http.MethodPost, rm.URL+"/v1/sessions/"+sessionID+"/events", strings.NewReader(body))
	req.Header.Set("x-api-key", remoteKey)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post message: status %d", resp.StatusCode)
	}
}
