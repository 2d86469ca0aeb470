package httpapi

// Shared test helpers of package httpapi: a server on a real SQLite store with a
// deterministic clock and ID generator, request helpers, and golden-file comparison.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden from the current responses")

// testAPIKey is the admin key of servers built by newTestServer.
const testAPIKey = "test-key"

// testEpoch is the first time the test clock reports.
var testEpoch = time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)

// testClock is a deterministic hangar.Clock: every call returns one second more than the
// last, starting at testEpoch. Safe for concurrent use.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = testEpoch
	} else {
		c.t = c.t.Add(time.Second)
	}
	return c.t
}

// testIDs is a deterministic hangar.IDGen: prefix + "011C" + a 20-character body counting
// per prefix (agent_011CTest0000000000000001, ...). Safe for concurrent use.
type testIDs struct {
	mu sync.Mutex
	n  map[string]int
}

func (g *testIDs) New(prefix string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == nil {
		g.n = map[string]int{}
	}
	g.n[prefix]++
	return fmt.Sprintf("%s011CTest%016d", prefix, g.n[prefix])
}

// newTestServer returns a server on a fresh SQLite store in t.TempDir(), with a
// deterministic clock and IDs, API key testAPIKey, and simple fakes for the runner, hub,
// blob store and sealer. opts may replace any of them before the server is built. The store
// is closed when the test ends.
func newTestServer(t testing.TB, opts ...func(*Config)) (*Server, hangar.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock, ids := &testClock{}, &testIDs{}
	cfg := Config{
		Store:  st,
		Blobs:  &tsBlobs{m: map[string][]byte{}},
		Runner: &tsRunner{store: st},
		Hub:    tsHub{},
		Sealer: tsSealer{},
		Clock:  clock.Now,
		NewID:  ids.New,
		APIKey: testAPIKey,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return New(cfg), cfg.Store
}

// apiDo sends a request with the test API key and returns the recorded response. A non-empty
// body is sent as JSON.
func apiDo(t testing.TB, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("x-api-key", testAPIKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("anthropic-beta", "managed-agents-2026-04-01")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// apiOK is apiDo that fails the test unless the status is 200, and decodes the body into out
// (if non-nil). It returns the raw body.
func apiOK(t testing.TB, h http.Handler, method, path, body string, out any) []byte {
	t.Helper()
	rec := apiDo(t, h, method, path, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: status %d, want 200; body: %s", method, path, rec.Code, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: decode %T: %v; body: %s", method, path, out, err, rec.Body)
		}
	}
	return rec.Body.Bytes()
}

// apiError asserts that rec is an error response with the given status and error type, in
// the Anthropic envelope with a request-id header, and returns its message.
func apiError(t testing.TB, rec *httptest.ResponseRecorder, status int, errType string) string {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if id := rec.Header().Get("request-id"); !strings.HasPrefix(id, hangar.PrefixRequest) {
		t.Errorf("request-id header = %q, want a %s... id", id, hangar.PrefixRequest)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("error body is not a JSON object: %v; body: %s", err, rec.Body)
	}
	var typ string
	_ = json.Unmarshal(env["type"], &typ)
	if typ != "error" {
		t.Errorf(`envelope type = %q, want "error"; body: %s`, typ, rec.Body)
	}
	var detail struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(env["error"], &detail); err != nil {
		t.Fatalf("envelope error field: %v; body: %s", err, rec.Body)
	}
	if detail.Type != errType {
		t.Errorf("error.type = %q, want %q; message: %s", detail.Type, errType, detail.Message)
	}
	if detail.Message == "" {
		t.Errorf("error.message is empty")
	}
	if status == http.StatusConflict && rec.Header().Get("x-should-retry") != "false" {
		t.Errorf("409 without x-should-retry: false")
	}
	return detail.Message
}

var (
	idPattern   = regexp.MustCompile(`\b(?:(?:agent|env|sesn|sevt|sesrsc|vlt|vcrd|file|req|skill|skillver|memstore|mem|memver|work|drm|uprof|tnl|tcrt|tnltok)_011C[A-Za-z0-9]+|page_[A-Za-z0-9_-]+)`)
	timePattern = regexp.MustCompile(`"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"`)
)

// keyPattern matches self-hosted environment keys and sessions tokens (work_auth.go).
var keyPattern = regexp.MustCompile(`"sk-hangar-(?:env|wst)-[A-Za-z0-9_-]+"`)

// normalizeJSON indents a JSON body and replaces IDs by "<prefix>_<n>" (numbered by first
// appearance) and timestamps by "<time>", so golden files do not depend on generated values.
func normalizeJSON(t testing.TB, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v; body: %s", err, body)
	}
	seen := map[string]string{}
	counts := map[string]int{}
	out := idPattern.ReplaceAllStringFunc(buf.String(), func(id string) string {
		if r, ok := seen[id]; ok {
			return r
		}
		prefix := id[:strings.Index(id, "_")]
		counts[prefix]++
		seen[id] = fmt.Sprintf("%s_<%d>", prefix, counts[prefix])
		return seen[id]
	})
	out = timePattern.ReplaceAllString(out, `"<time>"`)
	out = keyPattern.ReplaceAllString(out, `"<key>"`)
	return []byte(out + "\n")
}

// checkGolden compares a normalized JSON body with testdata/<name>.golden; with -update it
// rewrites the file instead.
func checkGolden(t testing.TB, name string, body []byte) {
	t.Helper()
	got := normalizeJSON(t, body)
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// --- fakes for the server's other dependencies

// tsRunner appends sent events to the store and deletes sessions; it runs nothing.
type tsRunner struct{ store hangar.Store }

func (r *tsRunner) Send(ctx context.Context, sessionID string, events []hangar.Event, key string) ([]hangar.Event, error) {
	stored, _, err := r.store.AppendEvents(ctx, hangar.AppendRequest{SessionID: sessionID, Events: events, IdempotencyKey: key})
	return stored, err
}

func (r *tsRunner) Delete(ctx context.Context, sessionID string) error {
	return r.store.DeleteSession(ctx, sessionID)
}

// tsHub delivers nothing: subscriptions stay open until cancelled.
type tsHub struct{}

func (tsHub) Subscribe(string) (<-chan *hangar.Event, func()) {
	ch := make(chan *hangar.Event)
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// tsSealer "encrypts" by prefixing; tests can see that plaintext never reaches responses.
type tsSealer struct{}

func (tsSealer) Seal(p []byte) ([]byte, string, error) {
	return append([]byte("sealed:"), p...), "test-key-1", nil
}

func (tsSealer) Open(sealed []byte, keyID string) ([]byte, error) {
	p, ok := bytes.CutPrefix(sealed, []byte("sealed:"))
	if !ok || keyID != "test-key-1" {
		return nil, errors.New("tsSealer: not sealed by tsSealer")
	}
	return bytes.Clone(p), nil
}

// tsBlobs keeps file contents in memory.
type tsBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *tsBlobs) Put(_ context.Context, id string, r io.Reader) (int64, string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[id] = data
	return int64(len(data)), fmt.Sprintf("%x", sha256.Sum256(data)), nil
}

func (b *tsBlobs) Open(_ context.Context, id string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[id]
	if !ok {
		return nil, hangar.NotFound("file", id)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *tsBlobs) Delete(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, id)
	return nil
}

var (
	_ Runner           = (*tsRunner)(nil)
	_ Hub              = tsHub{}
	_ Sealer           = tsSealer{}
	_ hangar.BlobStore = (*tsBlobs)(nil)
)
