package egress_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

// publicServer serves f's proxy's PublicHandler at egress.PublicPrefix, as the main
// Hangar server does, and returns its base URL (…/egress).
func (f *fixture) publicServer(cfg egress.PublicConfig) string {
	f.t.Helper()
	mux := http.NewServeMux()
	mux.Handle(egress.PublicPrefix+"/", f.proxy.PublicHandler(cfg))
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	return srv.URL + egress.PublicPrefix
}

// publicRequest sends c (a vendor case) to the public endpoint at base with token.
func publicRequest(t *testing.T, c vendorCase, base, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), c.method, base+strings.ReplaceAll(c.path, "TOKEN", url.QueryEscape(token)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.method == "POST" {
		req.Body = io.NopCloser(strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, strings.ReplaceAll(v, "TOKEN", token))
	}
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestPublicKeySwap checks every API's route through the public endpoint: the request
// reaches the upstream with the real key in that API's header, and the session token
// goes nowhere upstream.
func TestPublicKeySwap(t *testing.T) {
	t.Parallel()
	for _, tt := range vendorCases() {
		t.Run(tt.api+" "+tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil, multiVendor)
			base := f.publicServer(egress.PublicConfig{})
			a := f.attach(hangar.Networking{Type: "limited"})
			resp := publicRequest(t, tt, base, a.Token)
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d %s", resp.StatusCode, body)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("upstream got %d requests", len(reqs))
			}
			r := reqs[0]
			if got := r.URL.RequestURI(); got != tt.wantPath {
				t.Errorf("upstream URL = %s, want %s", got, tt.wantPath)
			}
			if got := r.Header.Get(tt.wantHeader); got != tt.wantValue {
				t.Errorf("upstream %s = %q, want the real %s key", tt.wantHeader, got, tt.api)
			}
			if strings.Contains(r.URL.String(), a.Token) {
				t.Errorf("upstream URL carries the session token")
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

// TestPublicTokens checks that the public endpoint answers a missing, wrong, other
// vendor's style or revoked token with a 401 in the API's error shape and forwards
// nothing; that the failures are logged without the token; and that each token reaches
// only its own session.
func TestPublicTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil, multiVendor)
	base := f.publicServer(egress.PublicConfig{FailLogEvery: time.Hour})
	a := f.attach(hangar.Networking{})
	b, err := f.proxy.Attach(t.Context(), "sesn_other", hangar.Networking{}, egress.AttachOptions{APIKey: "sk-ant-OTHER-session-key"})
	if err != nil {
		t.Fatal(err)
	}
	anthropic := vendorCases()[0]
	wrong := "hangar-egress-" + strings.Repeat("A", 43)
	for _, tok := range []string{"", wrong, a.Token + "x", realKey.Reveal()} {
		resp := publicRequest(t, anthropic, base, tok)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("token %q: status = %d %s", tok, resp.StatusCode, body)
		}
		if typ, _ := apiError(t, body); typ != "authentication_error" {
			t.Errorf("error type = %q", typ)
		}
	}
	// The OpenAI route wants Bearer: an x-api-key token is not looked at.
	resp := publicRequest(t, vendorCase{method: "POST", path: "/v1/responses", header: map[string]string{"x-api-key": "TOKEN"}}, base, a.Token)
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("openai with x-api-key: status = %d %s", resp.StatusCode, body)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("upstream got %d requests for bad tokens", n)
	}
	logs := f.logs.String()
	if strings.Count(logs, "public model request without a valid session token") != 1 {
		t.Errorf("want one rate-limited failure line, logs:\n%s", logs)
	}
	for _, s := range []string{wrong, a.Token, realKey.Reveal()} {
		if strings.Contains(logs, s) {
			t.Errorf("a token or key appears in the logs:\n%s", logs)
		}
	}

	// Each token reaches its own session's credential.
	readAll(t, publicRequest(t, anthropic, base, b.Token))
	readAll(t, publicRequest(t, anthropic, base, a.Token))
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Header.Get("X-Api-Key") != "sk-ant-OTHER-session-key" || reqs[1].Header.Get("X-Api-Key") != realKey.Reveal() {
		t.Fatalf("upstream keys = %v", reqs)
	}

	// Detaching revokes the token.
	b.Close()
	resp = publicRequest(t, anthropic, base, b.Token)
	if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: status = %d %s", resp.StatusCode, body)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("upstream got a request for a revoked token")
	}
}

// TestPublicOnlyModelRoutes checks that the public endpoint is no forward proxy: CONNECT,
// absolute-form and non-model paths are refused; the probe at the base URL answers.
func TestPublicOnlyModelRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	base := f.publicServer(egress.PublicConfig{})
	a := f.attach(hangar.Networking{})
	for _, path := range []string{"/", "/healthz", "/etc/passwd"} {
		resp := post(t, tcpClient(), base+path, map[string]string{"x-api-key": a.Token}, "{}")
		if body := readAll(t, resp); resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: status = %d %s", path, resp.StatusCode, body)
		}
	}
	resp, err := tcpClient().Head(base)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD base = %d", resp.StatusCode)
	}
	// A client that uses the server as an HTTP proxy: the request is still served as a
	// model request or refused, never forwarded to the named host.
	u, _ := url.Parse(base)
	conn := dialRaw(t, u.Host)
	io.WriteString(conn, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nX-Api-Key: "+a.Token+"\r\n\r\n")
	st, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.StatusCode == http.StatusOK {
		t.Errorf("CONNECT through the public server = %d", st.StatusCode)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}

// TestPublicBodyLimit checks that a request body over MaxBodyBytes is cut off.
func TestPublicBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{}`)
	})
	base := f.publicServer(egress.PublicConfig{MaxBodyBytes: 1024})
	a := f.attach(hangar.Networking{})
	resp := post(t, tcpClient(), base+"/v1/messages", map[string]string{"x-api-key": a.Token}, strings.Repeat("x", 1024))
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("body at the limit: status = %d %s", resp.StatusCode, body)
	}
	resp = post(t, tcpClient(), base+"/v1/messages", map[string]string{"x-api-key": a.Token}, strings.Repeat("x", 64<<10))
	readAll(t, resp)
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("body over the limit: status = %d", resp.StatusCode)
	}
}

// TestPublicStreamingUnbuffered checks that a streamed response reaches the client event
// by event, and that detaching the session ends a request in flight.
func TestPublicStreamingUnbuffered(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":2}}}\n\n")
		http.NewResponseController(w).Flush()
		select { // the client must see the first event before the rest is sent
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	})
	base := f.publicServer(egress.PublicConfig{})
	a := f.attach(hangar.Networking{})
	resp := post(t, tcpClient(), base+"/v1/messages", map[string]string{"Authorization": "Bearer " + a.Token}, `{"stream":true}`)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if ev := readEvent(t, br); !strings.Contains(ev, "message_start") {
		t.Fatalf("first event = %q", ev)
	}
	close(next)
	if ev := readEvent(t, br); !strings.Contains(ev, "message_stop") {
		t.Fatalf("second event = %q", ev)
	}

	// A request in flight ends when the session is detached (Close waits for it).
	hold := make(chan struct{})
	g := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		http.NewResponseController(w).Flush()
		close(hold)
		<-r.Context().Done()
	})
	gbase := g.publicServer(egress.PublicConfig{})
	ga := g.attach(hangar.Networking{})
	resp2 := post(t, tcpClient(), gbase+"/v1/messages", map[string]string{"x-api-key": ga.Token}, `{}`)
	defer resp2.Body.Close()
	<-hold
	ga.Close()
	if _, err := io.ReadAll(resp2.Body); err == nil {
		t.Log("stream ended cleanly after detach")
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
