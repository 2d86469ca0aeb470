package egress_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

const mcpToken hangar.Secret = "mcp-REAL-bearer-never-in-the-sandbox"

// mcpUpstream is a stand-in MCP server: it records each request's path and Authorization,
// answers POST with JSON, and GET with an SSE stream that sends one event, then waits for
// release before the second.
type mcpUpstream struct {
	srv     *httptest.Server
	seen    chan *http.Request
	release chan struct{}
}

func newMCPUpstream(t *testing.T) *mcpUpstream {
	m := &mcpUpstream{seen: make(chan *http.Request, 8), release: make(chan struct{})}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.seen <- r.Clone(r.Context())
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("event: message\ndata: {\"n\":1}\n\n"))
			w.(http.Flusher).Flush()
			select {
			case <-m.release:
			case <-r.Context().Done():
				return
			}
			w.Write([]byte("event: message\ndata: {\"n\":2}\n\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func TestMCPRoute(t *testing.T) {
	m := newMCPUpstream(t)
	up, _ := url.Parse(m.srv.URL + "/base/mcp")
	f := newFixture(t, nil, func(c *egress.Config) { c.AllowLoopback = true })
	a, err := f.proxy.Attach(t.Context(), "sesn_mcp", hangar.Networking{Type: "unrestricted"}, egress.AttachOptions{
		MCPServers: []egress.MCPServer{{Name: "docs", URL: up, Token: mcpToken}, {Name: "open", URL: up}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	base := "http://" + a.TCPAddr
	c := tcpClient()

	tests := []struct {
		name, path, auth string
		status           int
		wantPath         string // the upstream's path; "" when the request must not reach it
		wantAuth         string
	}{
		{"bearer injected", egress.MCPPath("docs"), "Bearer " + a.Token, 200, "/base/mcp", "Bearer " + string(mcpToken)},
		{"sub path kept", egress.MCPPath("docs") + "x/y?z=1", "Bearer " + a.Token, 200, "/base/mcp/x/y", "Bearer " + string(mcpToken)},
		{"no credential: session token stripped", egress.MCPPath("open"), "Bearer " + a.Token, 200, "/base/mcp", ""},
		{"no session token", egress.MCPPath("docs"), "", 401, "", ""},
		{"wrong session token", egress.MCPPath("docs"), "Bearer nope", 401, "", ""},
		{"real token is not a session token", egress.MCPPath("docs"), "Bearer " + string(mcpToken), 401, "", ""},
		{"unknown server", egress.MCPPath("nope"), "Bearer " + a.Token, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+tt.path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if strings.Contains(body, string(mcpToken)) {
				t.Fatalf("response leaks the real token: %s", body)
			}
			if tt.wantPath == "" {
				select {
				case r := <-m.seen:
					t.Fatalf("upstream reached: %s", r.URL)
				default:
				}
				return
			}
			r := <-m.seen
			if r.URL.Path != tt.wantPath || r.Header.Get("Authorization") != tt.wantAuth {
				t.Errorf("upstream got path %q auth %q, want %q %q", r.URL.Path, r.Header.Get("Authorization"), tt.wantPath, tt.wantAuth)
			}
		})
	}
	if strings.Contains(f.logs.String(), string(mcpToken)) {
		t.Error("the real MCP token was logged")
	}
}

// TestMCPRouteStreamsSSE checks that a GET SSE stream reaches the client event by event.
func TestMCPRouteStreamsSSE(t *testing.T) {
	m := newMCPUpstream(t)
	up, _ := url.Parse(m.srv.URL)
	f := newFixture(t, nil, func(c *egress.Config) { c.AllowLoopback = true })
	a, err := f.proxy.Attach(t.Context(), "sesn_sse", hangar.Networking{Type: "unrestricted"}, egress.AttachOptions{
		MCPServers: []egress.MCPServer{{Name: "docs", URL: up, Token: mcpToken}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.TCPAddr+egress.MCPPath("docs"), nil)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The first event arrives while the upstream still holds the stream open.
	if got := readEvent(t, br); !strings.Contains(got, `{"n":1}`) {
		t.Fatalf("first event %q", got)
	}
	close(m.release)
	if got := readEvent(t, br); !strings.Contains(got, `{"n":2}`) {
		t.Fatalf("second event %q", got)
	}
	if r := <-m.seen; r.Header.Get("Authorization") != "Bearer "+string(mcpToken) {
		t.Errorf("upstream auth %q", r.Header.Get("Authorization"))
	}
}

// TestMCPRoutePolicy checks that a limited policy without the server's host refuses it.
func TestMCPRoutePolicy(t *testing.T) {
	m := newMCPUpstream(t)
	up, _ := url.Parse(m.srv.URL)
	f := newFixture(t, nil)
	a, err := f.proxy.Attach(t.Context(), "sesn_pol", hangar.Networking{Type: "limited"}, egress.AttachOptions{
		MCPServers: []egress.MCPServer{{Name: "docs", URL: up, Token: mcpToken}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.TCPAddr+egress.MCPPath("docs"), strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}
