package egress_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

const realKey hangar.Secret = "sk-ant-REAL-KEY-never-in-the-sandbox-0123456789"

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fixture is a proxy in front of a fake upstream, with its logs captured.
type fixture struct {
	t        *testing.T
	proxy    *egress.Proxy
	logs     *logBuffer
	upstream *httptest.Server
	usage    chan sessionUsage

	mu   sync.Mutex
	seen []*http.Request // requests the upstream received
}

type sessionUsage struct {
	session string
	usage   hangar.Usage
}

type fixtureOpt func(*egress.Config)

// newFixture starts a proxy whose upstream is served by handler (nil: a 200 JSON message).
func newFixture(t *testing.T, handler http.HandlerFunc, opts ...fixtureOpt) *fixture {
	t.Helper()
	f := &fixture{t: t, logs: &logBuffer{}, usage: make(chan sessionUsage, 16)}
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"msg_1","type":"message","content":[],"usage":{"input_tokens":1,"output_tokens":2}}`)
		}
	}
	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Clone(context.Background()))
		f.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(f.upstream.Close)
	up, _ := url.Parse(f.upstream.URL)
	cfg := egress.Config{
		Upstream:  up,
		APIKey:    realKey,
		SocketDir: shortTempDir(t),
		Logger:    slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnUsage:   func(id string, u hangar.Usage) { f.usage <- sessionUsage{id, u} },
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := egress.New(cfg)
	if err != nil {
		t.Fatalf("egress.New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	f.proxy = p
	return f
}

// shortTempDir returns a fresh directory with a path short enough for unix sockets.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "egt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "egress")
}

func (f *fixture) attach(policy hangar.Networking) *egress.Attachment {
	f.t.Helper()
	a, err := f.proxy.Attach(f.t.Context(), "sesn_test", policy, egress.AttachOptions{})
	if err != nil {
		f.t.Fatalf("Attach: %v", err)
	}
	f.t.Cleanup(func() { a.Close() })
	return a
}

func (f *fixture) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.seen...)
}

// tcpClient talks to the attachment over its TCP listener, without any proxy.
func tcpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
}

// unixClient talks to the attachment over its unix socket.
func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func post(t *testing.T, c *http.Client, url string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apiError decodes an Anthropic error envelope.
func apiError(t *testing.T, body string) (typ, msg string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" {
		t.Fatalf("not an error envelope: %q", body)
	}
	return e.Error.Type, e.Error.Message
}

func TestModelTokenCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := f.attach(hangar.Networking{Type: "unrestricted"})
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"missing", nil, http.StatusUnauthorized},
		{"wrong x-api-key", map[string]string{"x-api-key": a.Token + "x"}, http.StatusUnauthorized},
		{"real key is not the token", map[string]string{"x-api-key": realKey.Reveal()}, http.StatusUnauthorized},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, http.StatusUnauthorized},
		{"x-api-key", map[string]string{"x-api-key": a.Token}, http.StatusOK},
		{"bearer", map[string]string{"Authorization": "Bearer " + a.Token}, http.StatusOK},
		{"lowercase bearer", map[string]string{"Authorization": "bearer " + a.Token}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.requests())
			resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/messages?beta=true", tt.header, `{}`)
			body := readAll(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			forwarded := len(f.requests()) - before
			if tt.status == http.StatusUnauthorized {
				if typ, _ := apiError(t, body); typ != "authentication_error" {
					t.Errorf("error type = %q, want authentication_error", typ)
				}
				if forwarded != 0 {
					t.Errorf("an unauthenticated request reached the upstream")
				}
			} else if forwarded != 1 {
				t.Errorf("upstream got %d requests, want 1", forwarded)
			}
		})
	}
}

func TestHeadProbeAndUnknownPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := f.attach(hangar.Networking{})
	req, _ := http.NewRequestWithContext(t.Context(), "HEAD", "http://"+a.TCPAddr+"/", nil)
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD / = %d, want 200", resp.StatusCode)
	}
	resp = post(t, tcpClient(), "http://"+a.TCPAddr+"/admin", map[string]string{"x-api-key": a.Token}, "")
	if body := readAll(t, resp); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /admin = %d %s, want 404", resp.StatusCode, body)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
}

func TestKeySwap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        fixtureOpt
		wantHeader string
		wantValue  string
	}{
		{"api key", func(c *egress.Config) {}, "X-Api-Key", realKey.Reveal()},
		{"auth token", func(c *egress.Config) { c.APIKey, c.AuthToken = "", "oauth-REAL-token" }, "Authorization", "Bearer oauth-REAL-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Upstream", "yes")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"ok":true}`)
			}, tt.cfg, func(c *egress.Config) {
				u, _ := url.Parse(c.Upstream.String() + "/gateway")
				c.Upstream = u
			})
			a := f.attach(hangar.Networking{})
			resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/messages?beta=true",
				map[string]string{"Authorization": "Bearer " + a.Token, "anthropic-version": "2023-06-01", "Proxy-Authorization": "Basic eDp5"}, `{"model":"m"}`)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusCreated || body != `{"ok":true}` || resp.Header.Get("X-Upstream") != "yes" {
				t.Fatalf("response = %d %q %v, want the upstream's 201 passed through", resp.StatusCode, body, resp.Header)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests", len(reqs))
			}
			r := reqs[0]
			if r.URL.Path != "/gateway/v1/messages" || r.URL.RawQuery != "beta=true" {
				t.Errorf("upstream URL = %s, want /gateway/v1/messages?beta=true", r.URL)
			}
			if got := r.Header.Get(tt.wantHeader); got != tt.wantValue {
				t.Errorf("upstream %s = %q, want the real credential", tt.wantHeader, got)
			}
			if r.Header.Get("Anthropic-Version") != "2023-06-01" {
				t.Errorf("anthropic-version was not forwarded")
			}
			if r.Header.Get("Proxy-Authorization") != "" {
				t.Errorf("Proxy-Authorization was forwarded")
			}
			for k, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, a.Token) {
						t.Errorf("upstream header %s carries the session token", k)
					}
				}
			}
		})
	}
}

func TestNoUpstreamCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, func(c *egress.Config) { c.APIKey = "" })
	a := f.attach(hangar.Networking{})
	resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
	body := readAll(t, resp)
	typ, msg := apiError(t, body)
	if resp.StatusCode != http.StatusUnauthorized || typ != "authentication_error" || msg != egress.NoCredentialMessage {
		t.Errorf("got %d %s %q, want 401 authentication_error %q", resp.StatusCode, typ, msg, egress.NoCredentialMessage)
	}
	if len(f.requests()) != 0 {
		t.Error("request forwarded without a credential")
	}
}

// TestSessionCredential checks that a credential given to Attach replaces the server's for
// that session only, and is never logged or sent back.
func TestSessionCredential(t *testing.T) {
	t.Parallel()
	const sessionKey hangar.Secret = "sk-ant-SESSION-KEY-from-a-vault-0123456789"
	const sessionToken hangar.Secret = "oauth-SESSION-token-from-a-vault"
	tests := []struct {
		name       string
		serverKey  hangar.Secret
		opts       egress.AttachOptions
		wantHeader string
		wantValue  string
	}{
		{"session api key overrides the server key", realKey, egress.AttachOptions{APIKey: sessionKey}, "X-Api-Key", sessionKey.Reveal()},
		{"session auth token overrides the server key", realKey, egress.AttachOptions{AuthToken: sessionToken}, "Authorization", "Bearer " + sessionToken.Reveal()},
		{"session api key wins over its auth token", realKey, egress.AttachOptions{APIKey: sessionKey, AuthToken: sessionToken}, "X-Api-Key", sessionKey.Reveal()},
		{"session key without a server key", "", egress.AttachOptions{APIKey: sessionKey}, "X-Api-Key", sessionKey.Reveal()},
		{"no session credential uses the server key", realKey, egress.AttachOptions{}, "X-Api-Key", realKey.Reveal()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil, func(c *egress.Config) { c.APIKey = tt.serverKey })
			a, err := f.proxy.Attach(t.Context(), "sesn_own", hangar.Networking{}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			// Another session attached to the same proxy keeps the server's credential.
			other, err := f.proxy.Attach(t.Context(), "sesn_other", hangar.Networking{}, egress.AttachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()

			resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK || strings.Contains(body, tt.wantValue) {
				t.Fatalf("session request = %d %s", resp.StatusCode, body)
			}
			resp = post(t, tcpClient(), "http://"+other.TCPAddr+"/v1/messages", map[string]string{"x-api-key": other.Token}, `{}`)
			otherBody := readAll(t, resp)

			reqs := f.requests()
			if len(reqs) == 0 {
				t.Fatal("the upstream saw no request")
			}
			h := reqs[0].Header
			if got := h.Get(tt.wantHeader); got != tt.wantValue {
				t.Errorf("upstream %s = %q, want the session's credential", tt.wantHeader, got)
			}
			if tt.wantHeader == "Authorization" && h.Get("X-Api-Key") != "" {
				t.Errorf("upstream also got x-api-key %q", h.Get("X-Api-Key"))
			}
			if tt.serverKey == "" {
				typ, msg := apiError(t, otherBody)
				if resp.StatusCode != http.StatusUnauthorized || typ != "authentication_error" || msg != egress.NoCredentialMessage {
					t.Errorf("other session without any credential = %d %s %q, want the 401", resp.StatusCode, typ, msg)
				}
				if len(reqs) != 1 {
					t.Errorf("upstream got %d requests, want only the session's", len(reqs))
				}
			} else {
				if resp.StatusCode != http.StatusOK || len(reqs) != 2 {
					t.Fatalf("other session = %d %s (upstream saw %d requests)", resp.StatusCode, otherBody, len(reqs))
				}
				if got := reqs[1].Header.Get("X-Api-Key"); got != tt.serverKey.Reveal() {
					t.Errorf("other session's upstream x-api-key = %q, want the server key", got)
				}
			}
			a.Close()
			other.Close()
			logs := f.logs.String()
			if !strings.Contains(logs, "egress attached") {
				t.Fatalf("debug logs were not captured:\n%s", logs)
			}
			for _, secret := range []hangar.Secret{sessionKey, sessionToken, realKey} {
				if strings.Contains(logs, secret.Reveal()) {
					t.Errorf("a credential appears in the logs:\n%s", logs)
				}
			}
		})
	}
}

// readEvent reads one SSE event (up to a blank line) from r.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func TestStreamingIsUnbufferedAndUsageRecorded(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := http.NewResponseController(w)
		io.WriteString(w, "event: message_start\ndata: "+`{"type":"message_start","message":{"usage":{"input_tokens":21,"cache_read_input_tokens":4,"cache_creation_input_tokens":3,"output_tokens":1}}}`+"\n\n")
		fl.Flush()
		select { // the client must see the first event before the rest is sent
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "event: content_block_delta\ndata: "+`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`+"\n\n")
		io.WriteString(w, "event: message_delta\ndata: "+`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":17}}`+"\n\n")
		io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	})
	a := f.attach(hangar.Networking{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+a.TCPAddr+"/v1/messages", strings.NewReader(`{"stream":true}`))
	req.Header.Set("x-api-key", a.Token)
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	if ev := readEvent(t, br); !strings.Contains(ev, "message_start") {
		t.Fatalf("first event = %q", ev)
	}
	close(next)
	var rest []string
	for i := 0; i < 3; i++ {
		rest = append(rest, readEvent(t, br))
	}
	if !strings.Contains(rest[2], "message_stop") {
		t.Errorf("last event = %q", rest[2])
	}
	if _, err := io.ReadAll(br); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-f.usage:
		want := sessionUsage{"sesn_test", hangar.Usage{InputTokens: 21, OutputTokens: 17, CacheReadInputTokens: 4, CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 3}}}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(sessionUsage{})); diff != "" {
			t.Errorf("usage mismatch (-want +got):\n%s", diff)
		}
	case <-ctx.Done():
		t.Fatal("no usage reported")
	}
	if sent, received := a.Bytes(); sent != int64(len(`{"stream":true}`)) || received == 0 {
		t.Errorf("Bytes() = %d, %d", sent, received)
	}
}

func TestUsageFromJSONResponse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"id":"msg_1","type":"message","content":[{"type":"text","text":"ok"}],"usage":{"input_tokens":40,"output_tokens":6,"cache_read_input_tokens":2,"cache_creation_input_tokens":9,"cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":4}}}`)
	})
	a := f.attach(hangar.Networking{})
	resp := post(t, tcpClient(), "http://"+a.TCPAddr+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
	if body := readAll(t, resp); !strings.Contains(body, `"msg_1"`) {
		t.Fatalf("body = %q", body)
	}
	select {
	case got := <-f.usage:
		want := hangar.Usage{InputTokens: 40, OutputTokens: 6, CacheReadInputTokens: 2, CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 5, Ephemeral1hInputTokens: 4}}
		if diff := cmp.Diff(want, got.usage); diff != "" {
			t.Errorf("usage mismatch (-want +got):\n%s", diff)
		}
	case <-t.Context().Done():
		t.Fatal("no usage reported")
	}
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := f.attach(hangar.Networking{Type: "limited"})
	if a.Socket == "" {
		t.Fatal("no socket")
	}
	fi, err := os.Stat(a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode = %v, want a 0666 socket", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(a.Socket))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o711 {
		t.Errorf("socket dir mode = %v, want 0711", di.Mode().Perm())
	}
	c := unixClient(a.Socket)
	resp := post(t, c, "http://egress/v1/messages", map[string]string{"x-api-key": "wrong"}, `{}`)
	if readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token over the socket = %d, want 401", resp.StatusCode)
	}
	resp = post(t, c, "http://egress/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "msg_1") {
		t.Errorf("model request over the socket = %d %q", resp.StatusCode, body)
	}
	if got := (<-f.usage).usage; got.InputTokens != 1 || got.OutputTokens != 2 {
		t.Errorf("usage = %+v", got)
	}
	c.CloseIdleConnections()
	a.Close()
	if _, err := os.Stat(a.Socket); !os.IsNotExist(err) {
		t.Errorf("socket still exists after Close: %v", err)
	}
	if _, err := net.Dial("tcp", a.TCPAddr); err == nil {
		t.Errorf("TCP listener still accepts after Close")
	}
}

func TestAttachLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a, err := f.proxy.Attach(t.Context(), "sesn_1", hangar.Networking{}, egress.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.proxy.Attach(t.Context(), "sesn_1", hangar.Networking{}, egress.AttachOptions{}); !hangar.IsKind(err, hangar.KindConflict) {
		t.Errorf("second Attach: err = %v, want conflict_error", err)
	}
	if _, err := f.proxy.Attach(t.Context(), "sesn_2", hangar.Networking{Type: "bogus"}, egress.AttachOptions{}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("bogus policy: err = %v, want invalid_request_error", err)
	}
	b, err := f.proxy.Attach(t.Context(), "sesn_2", hangar.Networking{}, egress.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Token == b.Token || a.Socket == b.Socket || a.TCPAddr == b.TCPAddr {
		t.Errorf("two sessions share a token, socket or address")
	}
	// A session's token is not valid on another session's listener.
	resp := post(t, tcpClient(), "http://"+b.TCPAddr+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
	if readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token of sesn_1 on sesn_2 = %d, want 401", resp.StatusCode)
	}
	a.Close()
	a.Close()
	if _, err := f.proxy.Attach(t.Context(), "sesn_1", hangar.Networking{}, egress.AttachOptions{}); err != nil {
		t.Errorf("re-attach after Close: %v", err)
	}
	f.proxy.Close()
	if _, err := f.proxy.Attach(t.Context(), "sesn_3", hangar.Networking{}, egress.AttachOptions{}); !hangar.IsKind(err, hangar.KindUnavailable) {
		t.Errorf("Attach after proxy Close: err = %v, want unavailable", err)
	}
	if _, err := net.Dial("tcp", b.TCPAddr); err == nil {
		t.Errorf("proxy Close left a session listening")
	}
}

func TestNewRejectsBadUpstream(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"ftp://x", "/relative", "https://user:pass@api.example.com"} {
		u, _ := url.Parse(raw)
		if _, err := egress.New(egress.Config{Upstream: u}); err == nil {
			t.Errorf("New(%q) succeeded", raw)
		} else if strings.Contains(err.Error(), "pass") {
			t.Errorf("error shows the URL password: %v", err)
		}
	}
}

// connect sends a raw CONNECT for target through the attachment and returns the response
// and the connection (a tunnel when the status is 200).
func connect(t *testing.T, a *egress.Attachment, target string) (*http.Response, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", a.TCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	if resp.StatusCode == http.StatusOK && br.Buffered() > 0 {
		t.Fatalf("unexpected bytes after the CONNECT response")
	}
	return resp, conn
}

// recordingDial dials like net.Dialer but records every address and can map names to
// other addresses.
type recordingDial struct {
	mu    sync.Mutex
	addrs []string
	to    map[string]string
}

func (d *recordingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	if to, ok := d.to[addr]; ok {
		addr = to
	}
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *recordingDial) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func TestConnectTLSAllowlist(t *testing.T) {
	t.Parallel()
	allowed := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "allowed-ok") }))
	defer allowed.Close()
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the disallowed server was reached")
	}))
	defer other.Close()
	d := &recordingDial{}
	f := newFixture(t, nil, func(c *egress.Config) { c.Dial = d.dial })
	allowedAddr := strings.TrimPrefix(allowed.URL, "https://")
	otherAddr := strings.TrimPrefix(other.URL, "https://")
	a := f.attach(limited(allowedAddr))

	// A real HTTPS client through the proxy (HTTPS_PROXY style).
	tr := allowed.Client().Transport.(*http.Transport).Clone()
	proxyURL, _ := url.Parse("http://" + a.TCPAddr)
	tr.Proxy = http.ProxyURL(proxyURL)
	c := &http.Client{Transport: tr}
	resp, err := c.Get(allowed.URL + "/x")
	if err != nil {
		t.Fatalf("GET through CONNECT: %v", err)
	}
	if body := readAll(t, resp); body != "allowed-ok" {
		t.Errorf("body = %q", body)
	}
	tr.CloseIdleConnections()

	resp, _ = connect(t, a, otherAddr)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not allowed by this environment's networking policy") {
		t.Errorf("CONNECT %s = %d %q, want 403 with a reason", otherAddr, resp.StatusCode, body)
	}
	for _, addr := range d.dialed() {
		if addr == otherAddr {
			t.Errorf("the proxy dialed the disallowed %s", otherAddr)
		}
	}
	a.Close() // waits for the tunnel's handler
	if sent, received := a.Bytes(); sent == 0 || received == 0 {
		t.Errorf("tunnel bytes not counted: %d, %d", sent, received)
	}
}

func TestConnectPolicies(t *testing.T) {
	t.Parallel()
	echo := echoServer(t)
	port := portOf(t, echo)
	tests := []struct {
		name   string
		policy hangar.Networking
		target string
		to     string // where the dialer sends target ("" = target itself)
		lo     bool   // Config.AllowLoopback
		status int
		body   string
	}{
		{name: "unrestricted reaches a public name", policy: hangar.Networking{Type: "unrestricted"}, target: "api.example.test:443", to: echo, lo: true, status: 200},
		{name: "unrestricted reaches any port", policy: hangar.Networking{Type: "unrestricted"}, target: echo, lo: true, status: 200},
		{name: "unrestricted still refuses loopback", policy: hangar.Networking{Type: "unrestricted"}, target: echo, status: 403, body: "loopback or link-local"},
		{name: "unrestricted refuses a name that resolves to loopback", policy: hangar.Networking{Type: "unrestricted"}, target: "sneaky.example.test:443", to: echo, status: 403, body: "loopback or link-local"},
		{name: "unrestricted refuses the metadata address", policy: hangar.Networking{Type: "unrestricted"}, target: "169.254.169.254:80", status: 403, body: "loopback or link-local"},
		{name: "limited allows an IP literal with its port", policy: limited(echo), target: echo, status: 200},
		{name: "limited allows localhost with its port", policy: limited("localhost:" + port), target: "localhost:" + port, to: echo, status: 200},
		{name: "limited: other port of an allowed host", policy: limited("127.0.0.1"), target: echo, status: 403, body: "not allowed"},
		{name: "limited: empty allowlist", policy: limited(), target: echo, status: 403, body: "not allowed"},
		{name: "limited: wildcard subdomain", policy: limited("*.pkg.test"), target: "a.pkg.test:443", to: echo, lo: true, status: 200},
		{name: "limited: wildcard apex", policy: limited("*.pkg.test"), target: "pkg.test:443", to: echo, lo: true, status: 403},
		{name: "limited: package managers on", policy: hangar.Networking{Type: "limited", AllowPackageManagers: ptr(true)}, target: "registry.npmjs.org:443", to: echo, lo: true, status: 200},
		{name: "limited: package managers off", policy: hangar.Networking{Type: "limited", AllowPackageManagers: ptr(false)}, target: "registry.npmjs.org:443", to: echo, lo: true, status: 403},
		{name: "limited: wildcard name resolving to loopback", policy: limited("*.pkg.test"), target: "a.pkg.test:443", to: echo, status: 403, body: "loopback or link-local"},
		{name: "bad authority", policy: hangar.Networking{}, target: "no-port", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &recordingDial{to: map[string]string{}}
			if tt.to != "" {
				d.to[tt.target] = tt.to
			}
			// The metadata case uses the proxy's own dialer, which refuses before connecting.
			opts := []fixtureOpt{func(c *egress.Config) { c.AllowLoopback = tt.lo }}
			if !strings.HasPrefix(tt.target, "169.254.") {
				opts = append(opts, func(c *egress.Config) { c.Dial = d.dial })
			}
			f := newFixture(t, nil, opts...)
			a := f.attach(tt.policy)
			resp, conn := connect(t, a, tt.target)
			if resp.StatusCode != tt.status {
				t.Fatalf("CONNECT %s = %d, want %d", tt.target, resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				if body := readAll(t, resp); !strings.Contains(body, tt.body) {
					t.Errorf("body = %q, want it to contain %q", body, tt.body)
				}
				if tt.status == 403 && tt.body == "not allowed" && len(d.dialed()) > 0 {
					t.Errorf("a disallowed host was dialed: %v", d.dialed())
				}
				return
			}
			fmt.Fprint(conn, "ping\n")
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || line != "ping\n" {
				t.Errorf("echo through the tunnel = %q, %v", line, err)
			}
		})
	}
}

// echoServer starts a TCP line echo server on 127.0.0.1 and returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	return ln.Addr().String()
}

func portOf(t *testing.T, addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestPlainHTTPForwardProxy(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
			t.Error("proxy credentials reached the target")
		}
		w.Header().Set("X-Target", "1")
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), r.Host)
	}))
	defer target.Close()
	f := newFixture(t, nil)
	hostport := strings.TrimPrefix(target.URL, "http://")
	a := f.attach(limited(hostport))
	proxyURL, _ := url.Parse("http://" + a.TCPAddr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}

	resp, err := c.Get(target.URL + "/pkg/x?v=1")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if want := "GET /pkg/x?v=1 " + hostport; resp.StatusCode != 200 || body != want || resp.Header.Get("X-Target") != "1" {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}

	// Same server under another (not allowlisted) name.
	resp, err = c.Get("http://localhost:" + portOf(t, hostport) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not allowed") || resp.Header.Get("X-Hangar-Egress") != "denied" {
		t.Errorf("disallowed host = %d %q, want 403", resp.StatusCode, body)
	}
	if sent, received := a.Bytes(); received == 0 {
		t.Errorf("Bytes() = %d, %d", sent, received)
	}
}

// TestModelTrafficThroughHTTPProxy covers a CLI that sends its model requests through
// HTTP_PROXY: absolute-form requests addressed to the proxy itself are model traffic.
func TestModelTrafficThroughHTTPProxy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := f.attach(limited())
	proxyURL, _ := url.Parse("http://" + a.TCPAddr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	resp := post(t, c, "http://"+a.TCPAddr+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "msg_1") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if r := f.requests(); len(r) != 1 || r[0].Header.Get("X-Api-Key") != realKey.Reveal() {
		t.Errorf("upstream did not get the request with the real key")
	}
}

// TestSecretNeverLeaks drives every path (success, streaming, auth failures, upstream
// failure, denied egress) with debug logging and checks that the real key appears in no
// log line, response header or response body.
func TestSecretNeverLeaks(t *testing.T) {
	t.Parallel()
	var fail bool
	var mu sync.Mutex
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		broken := fail
		mu.Unlock()
		if broken {
			// Kill the connection mid-request: the proxy answers 502.
			c, _, _ := http.NewResponseController(w).Hijack()
			c.Close()
			return
		}
		if r.URL.Query().Get("stream") == "1" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: "+`{"type":"message_start","message":{"usage":{"input_tokens":1}}}`+"\n\n")
			return
		}
		w.WriteHeader(http.StatusTooManyRequests)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)
	})
	a := f.attach(limited("allowed.test"))
	var seen strings.Builder
	record := func(resp *http.Response) {
		seen.WriteString(fmt.Sprint(resp.StatusCode, resp.Header))
		seen.WriteString(readAll(t, resp))
	}
	c := tcpClient()
	base := "http://" + a.TCPAddr
	record(post(t, c, base+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`))
	record(post(t, c, base+"/v1/messages?stream=1", map[string]string{"x-api-key": a.Token}, `{}`))
	record(post(t, c, base+"/v1/messages", map[string]string{"x-api-key": "bad"}, `{}`))
	record(post(t, c, base+"/v1/messages", nil, `{}`))
	resp, _ := connect(t, a, "denied.test:443")
	record(resp)
	mu.Lock()
	fail = true
	mu.Unlock()
	resp = post(t, c, base+"/v1/messages", map[string]string{"x-api-key": a.Token}, `{}`)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("broken upstream = %d, want 502", resp.StatusCode)
	}
	record(resp)
	a.Close()

	logs := f.logs.String()
	if !strings.Contains(logs, "egress model request") || !strings.Contains(logs, "egress denied") {
		t.Fatalf("debug logs were not captured:\n%s", logs)
	}
	if strings.Contains(logs, realKey.Reveal()) {
		t.Errorf("the real key appears in the logs:\n%s", logs)
	}
	if strings.Contains(logs, a.Token) {
		t.Errorf("the session token appears in the logs")
	}
	if strings.Contains(seen.String(), realKey.Reveal()) {
		t.Errorf("the real key appears in a response:\n%s", seen.String())
	}
}

func TestCloseEndsOpenTunnels(t *testing.T) {
	t.Parallel()
	echo := echoServer(t)
	f := newFixture(t, nil)
	a := f.attach(limited(echo))
	resp, conn := connect(t, a, echo)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT = %d", resp.StatusCode)
	}
	a.Close() // must not hang on the open tunnel
	if _, err := io.ReadAll(conn); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("read after Close: %v", err)
	}
}

func TestConcurrentAttachOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := f.proxy.Attach(t.Context(), "sesn_race", hangar.Networking{}, egress.AttachOptions{})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case !hangar.IsKind(err, hangar.KindConflict):
			t.Errorf("Attach: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent Attach calls succeeded, want 1", ok)
	}
}
