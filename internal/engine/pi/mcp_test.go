package pi_test

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

var recordMCP = flag.Bool("record-mcp", false, "record testdata/mcp_tool.jsonl from a real run")

func mcpAgent(url, tools string) hangar.Agent {
	return enginetest.WithMCPServer(hangar.Agent{Type: "agent", ID: "agent_1", Version: 1, Name: "mcp",
		Model: hangar.Model{ID: "claude-sonnet-4-6"}, Tools: json.RawMessage(tools)}, url)
}

// mcpRoute stands in for the egress proxy's /mcp/docs/ route: it records the
// Authorization header of each request and forwards it to the MCP server at target.
func mcpRoute(t *testing.T, target string) (proxyURL string, auths func() []string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.URL.Path = u.Path
		r.Out.Header.Del("Authorization")
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mcp/docs/" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// TestRealCLIMCPTool runs the real CLI with the agent's MCP server behind a stand-in for
// the egress proxy's route: the bridge connects it with the session token as the bearer
// and registers mcp__docs__lookup, which the bridge activates next to the agent's
// built-in tools; the model calls it, the server answers, and the events show the MCP
// tool use and result.
func TestRealCLIMCPTool(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	mcpURL, methods := enginetest.MCPServer(t)
	proxy, auths := mcpRoute(t, mcpURL)
	fake, url := enginetest.FakeModel(t, enginetest.MCPScript(script))
	s := enginetest.Spec(mcpAgent(mcpURL, `[{"type":"agent_toolset_20260401","configs":[{"name":"edit","enabled":false}]}]`), `CUSTOM:lookup {"q":"hangar"}`, 0)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok_session_mcp", HTTPProxy: proxy}
	enginetest.MCPTurn(t, newEngine(t, entry, 2000), newHostSandbox(t), s, "mcp_tool.jsonl", *recordMCP)
	if m := methods(); !slices.Contains(m, "initialize") || !slices.Contains(m, "notifications/initialized") || !slices.Contains(m, "tools/call") {
		t.Errorf("MCP server methods %q", m)
	}
	for _, a := range auths() {
		if a != "Bearer tok_session_mcp" {
			t.Errorf("the MCP route saw Authorization %q, want the session token", a)
		}
	}
	// The bridge activated the enabled built-in tools and the MCP tool, nothing else.
	req := fake.MessageRequests()[0]
	var names []string
	for _, tl := range req.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if want := []string{"bash", "find", "grep", "ls", "mcp__docs__lookup", "read", "write"}; !slices.Equal(names, want) {
		t.Errorf("tools offered %q, want %q", names, want)
	}
}

// TestRealCLIMCPToolConfirmation gives the MCP toolset the always_ask policy: the call
// awaits the client as an agent.mcp_tool_use with evaluated_permission "ask"; a denial
// keeps it from the server, an approval lets it through.
func TestRealCLIMCPToolConfirmation(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	mcpURL, methods := enginetest.MCPServer(t)
	_, url := enginetest.FakeModel(t, enginetest.MCPScript(script))
	e := newEngine(t, entry, 2000)
	sb := newHostSandbox(t)
	tools := `[{"type":"mcp_toolset","mcp_server_name":"docs","default_config":{"permission_policy":{"type":"always_ask"}}}]`
	for i, allow := range []bool{false, true} {
		s := enginetest.Spec(mcpAgent(mcpURL, tools), `CUSTOM:lookup {"q":"hangar"}`, i)
		s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
		var asked engine.Event
		lb := &lockedBuilder{}
		evs := runAnswering(t, e, &enginetest.TapSandbox{Sandbox: sb, Out: lb}, s, func(ev engine.Event) engine.Input {
			asked = ev
			return engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: ev.ID, Allow: allow, DenyMessage: "not now"}
		})
		body, _ := json.Marshal(asked.Body)
		if asked.Type != "agent.mcp_tool_use" || string(body) != `{"evaluated_permission":"ask","input":{"q":"hangar"},"mcp_server_name":"docs","name":"lookup"}` {
			t.Errorf("awaited %s %s, want the agent.mcp_tool_use to confirm", asked.Type, body)
		}
		var result string
		for _, ev := range evs {
			if ev.Type == "agent.mcp_tool_result" {
				b, _ := json.Marshal(ev.Body)
				result = string(b)
			}
		}
		if allow && *recordMCP {
			if err := os.WriteFile(filepath.Join("testdata", "mcp_ask.jsonl"), []byte(lb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		calls := 0
		for _, m := range methods() {
			if m == "tools/call" {
				calls++
			}
		}
		switch {
		case !allow && (!strings.Contains(result, "not now") || !strings.Contains(result, `"is_error":true`) || calls != 0):
			t.Errorf("denied: result %s, %d tools/call", result, calls)
		case allow && (!strings.Contains(result, "definition of hangar") || calls != 1):
			t.Errorf("allowed: result %s, %d tools/call", result, calls)
		}
	}
}

// TestRealCLIMCPServerDown starts a turn whose MCP server is unreachable: the turn
// reports it as a session.error (mcp_connection_failed_error) and runs without its tools.
func TestRealCLIMCPServerDown(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	fake, url := enginetest.FakeModel(t, enginetest.MCPScript(fakemodel.Default))
	s := enginetest.Spec(mcpAgent(down.URL+"/mcp", `[{"type":"agent_toolset_20260401"}]`), "hi", 0)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	lb := &lockedBuilder{}
	evs := enginetest.RunTurn(t, newEngine(t, entry, 2000), &enginetest.TapSandbox{Sandbox: newHostSandbox(t), Out: lb}, s)
	if *recordMCP {
		if err := os.WriteFile(filepath.Join("testdata", "mcp_down.jsonl"), []byte(lb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{hangar.EventSessionError, hangar.EventAgentMessage}
	if got := enginetest.Only(evs, want...); !slices.Equal(got, want) {
		t.Errorf("events %v, want the session.error and the reply", enginetest.Types(evs))
	}
	for _, ev := range evs {
		if b, _ := json.Marshal(ev.Body); ev.Type == hangar.EventSessionError &&
			(!strings.Contains(string(b), `"type":"mcp_connection_failed_error"`) || !strings.Contains(string(b), `"mcp_server_name":"docs"`)) {
			t.Errorf("session.error %s", b)
		}
	}
	if req := fake.MessageRequests()[0]; !req.HasTool("bash") || req.HasTool("mcp__docs__lookup") {
		t.Errorf("tools offered %+v", req.Tools)
	}
}

// lockedBuilder is a strings.Builder safe for the tap's writes and the test's read.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// sseMCP serves the MCP server at target as one that answers every request with an SSE
// stream (a notification, then the response as multi-line data) and keeps a session: it
// issues an Mcp-Session-Id at initialize and records the session and protocol headers of
// later requests, and the DELETE that ends the session.
func sseMCP(t *testing.T, target string) (url string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var log []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		log = append(log, r.Method+" session="+r.Header.Get("Mcp-Session-Id")+" protocol="+r.Header.Get("Mcp-Protocol-Version"))
		mu.Unlock()
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		res, err := http.Post(target, "application/json", r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Mcp-Session-Id", "sess-1")
		if res.StatusCode != http.StatusOK {
			w.WriteHeader(res.StatusCode)
			return
		}
		var body any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		pretty, _ := json.MarshalIndent(body, "", " ")
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"working\"}}\n\n")
		io.WriteString(w, "event: message\n")
		for _, l := range strings.Split(string(pretty), "\n") {
			io.WriteString(w, "data: "+l+"\r\n")
		}
		io.WriteString(w, "\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(log)
	}
}

// TestRealCLIMCPToolSSE runs the MCP tool round against a server that answers with SSE
// streams and keeps an MCP session: the bridge reads the response past a notification,
// sends the session and protocol headers after initialize, and ends the session with a
// DELETE when pi shuts down.
func TestRealCLIMCPToolSSE(t *testing.T) {
	entry := piEntry(t)
	t.Parallel()
	jsonURL, _ := enginetest.MCPServer(t)
	mcpURL, seen := sseMCP(t, jsonURL)
	_, url := enginetest.FakeModel(t, enginetest.MCPScript(script))
	s := enginetest.Spec(mcpAgent(mcpURL, `[]`), `CUSTOM:lookup {"q":"hangar"}`, 0)
	s.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
	enginetest.CheckMCPEvents(t, enginetest.RunTurn(t, newEngine(t, entry, 2000), newHostSandbox(t), s))
	log := seen()
	if len(log) < 4 || log[0] != "POST session= protocol=" || log[len(log)-1] != "DELETE session=sess-1 protocol=2025-06-18" {
		t.Errorf("requests %q, want initialize without a session, the session after it, a DELETE last", log)
	}
	for _, l := range log[1:] {
		if !strings.HasSuffix(l, "session=sess-1 protocol=2025-06-18") {
			t.Errorf("request %q lacks the session or protocol header", l)
		}
	}
}
