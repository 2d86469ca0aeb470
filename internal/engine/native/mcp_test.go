package native_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// mcpServer is a small MCP server over streamable HTTP at /mcp/<name>/ (the egress
// proxy's route shape): it assigns a session ID at initialize, requires it and the
// bearer afterwards, answers tools/list in two pages and tools/call as an SSE stream
// preceded by a notification of its own, and records what it saw.
type mcpServer struct {
	token string

	mu       sync.Mutex
	methods  []string
	bad      []string // requests that broke the protocol
	deleted  bool
	sessions int
}

func (m *mcpServer) fail(format string, args ...any) {
	m.mu.Lock()
	m.bad = append(m.bad, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

func (m *mcpServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+m.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/mcp/docs/" {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodDelete {
		m.mu.Lock()
		m.deleted = r.Header.Get("Mcp-Session-Id") == "sess-1"
		m.mu.Unlock()
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			ProtocolVersion string          `json:"protocolVersion"`
			Name            string          `json:"name"`
			Arguments       json.RawMessage `json:"arguments"`
			Cursor          string          `json:"cursor"`
		} `json:"params"`
	}
	json.NewDecoder(r.Body).Decode(&msg)
	m.mu.Lock()
	m.methods = append(m.methods, msg.Method)
	m.mu.Unlock()
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") || !strings.Contains(r.Header.Get("Accept"), "application/json") {
		m.fail("%s: Accept %q", msg.Method, r.Header.Get("Accept"))
	}
	if msg.Method != "initialize" {
		if r.Header.Get("Mcp-Session-Id") != "sess-1" || r.Header.Get("MCP-Protocol-Version") != "2025-06-18" {
			m.fail("%s: session %q version %q", msg.Method, r.Header.Get("Mcp-Session-Id"), r.Header.Get("MCP-Protocol-Version"))
		}
	}
	if len(msg.ID) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	reply := map[string]any{"jsonrpc": "2.0", "id": msg.ID}
	lookup := map[string]any{"name": "lookup", "description": "Look up a word",
		"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}
	switch msg.Method {
	case "initialize":
		m.mu.Lock()
		m.sessions++
		m.mu.Unlock()
		w.Header().Set("Mcp-Session-Id", "sess-1")
		reply["result"] = map[string]any{"protocolVersion": msg.Params.ProtocolVersion, "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "docs", "version": "1"}}
	case "tools/list":
		if msg.Params.Cursor == "" {
			reply["result"] = map[string]any{"tools": []any{lookup}, "nextCursor": "page2"}
		} else {
			reply["result"] = map[string]any{"tools": []any{
				map[string]any{"name": "secret", "description": "disabled by the agent", "inputSchema": map[string]any{"type": "object"}},
				map[string]any{"name": "shout", "inputSchema": map[string]any{"type": "object"}},
			}}
		}
	case "tools/call":
		var args struct {
			Q string `json:"q"`
		}
		json.Unmarshal(msg.Params.Arguments, &args)
		result := map[string]any{"content": []any{map[string]any{"type": "text", "text": "definition of " + args.Q}}}
		if msg.Params.Name == "shout" {
			result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "too loud"}}, "isError": true}
		}
		reply["result"] = result
		w.Header().Set("Content-Type", "text/event-stream")
		note, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/progress", "params": map[string]any{"progress": 1}})
		rep, _ := json.Marshal(reply)
		fmt.Fprintf(w, "event: message\ndata: %s\n\nevent: message\ndata: %s\n\n", note, rep)
		return
	default:
		reply["error"] = map[string]any{"code": -32601, "message": "method not found"}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(reply)
}

func (m *mcpServer) seen() (methods, bad []string, deleted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.methods), slices.Clone(m.bad), m.deleted
}

// mcpAgent is an agent with the docs server and an mcp_toolset of the given JSON.
func mcpAgent(url, toolsetJSON string) hangar.Agent {
	a := agent(`[` + toolsetJSON + `]`)
	a.MCPServers = json.RawMessage(`[{"type":"url","name":"docs","url":"` + url + `"}]`)
	return a
}

func mcpSpec(a hangar.Agent, text, proxy string) engine.Spec {
	s := spec(a, text)
	s.HostEgress = engine.Egress{ModelBaseURL: proxy, HTTPProxy: proxy, Token: "session-token"}
	return s
}

func TestMCPToolCall(t *testing.T) {
	f := newFixture(t)
	m := &mcpServer{token: "session-token"}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	a := mcpAgent("https://docs.example/mcp", `{"type":"mcp_toolset","mcp_server_name":"docs","configs":[{"name":"secret","enabled":false}]}`)
	evs, _, err := turn(t, f.engine(t), nil, mcpSpec(a, `CUSTOM:lookup {"q":"hangar"}`, srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	var use, res engine.Event
	for _, ev := range evs {
		switch ev.Type {
		case "agent.mcp_tool_use":
			use = ev
		case "agent.mcp_tool_result":
			res = ev
		}
	}
	ub := body(t, use)
	if ub["name"] != "lookup" || ub["mcp_server_name"] != "docs" || ub["evaluated_permission"] != "allow" || ub["input"].(map[string]any)["q"] != "hangar" {
		t.Fatalf("mcp_tool_use %v (events %v)", ub, evs)
	}
	rb := body(t, res)
	if res.Ref != use.ID || rb["is_error"] != false || engine.Text(mustJSON(rb["content"])) != "definition of hangar" {
		t.Errorf("mcp_tool_result ref %q (use %q) %v", res.Ref, use.ID, rb)
	}
	reqs := f.fake.MessageRequests()
	first := reqs[0]
	if !first.HasTool("mcp__docs__lookup") || !first.HasTool("mcp__docs__shout") || first.HasTool("mcp__docs__secret") {
		t.Errorf("tools offered: %+v", first.Tools)
	}
	if r, ok := reqs[len(reqs)-1].LastToolResult(); !ok || r.ResultText() != "definition of hangar" {
		t.Errorf("model got %+v", r)
	}
	methods, bad, deleted := m.seen()
	if want := []string{"initialize", "notifications/initialized", "tools/list", "tools/list", "tools/call"}; !slices.Equal(methods, want) || len(bad) > 0 || !deleted {
		t.Errorf("MCP server saw %v (protocol errors %v), session deleted %t", methods, bad, deleted)
	}
	if evs[len(evs)-1].Type != hangar.EventModelRequestEnd || text(t, evs) != "done: definition of hangar" {
		t.Errorf("turn ended with %v", evs)
	}
}

// text returns the text of the last agent.message of evs.
func text(t *testing.T, evs []engine.Event) string {
	t.Helper()
	s := ""
	for _, ev := range evs {
		if ev.Type == hangar.EventAgentMessage {
			s = engine.Text(mustJSON(body(t, ev)["content"]))
		}
	}
	return s
}

// An MCP tool error (isError) reaches the model as an error result.
func TestMCPToolError(t *testing.T) {
	f := newFixture(t)
	m := &mcpServer{token: "session-token"}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	a := mcpAgent("https://docs.example/mcp", `{"type":"mcp_toolset","mcp_server_name":"docs"}`)
	if _, _, err := turn(t, f.engine(t), nil, mcpSpec(a, `CUSTOM:shout {}`, srv.URL), nil); err != nil {
		t.Fatal(err)
	}
	if r := lastResult(t, f); !r.IsError || r.ResultText() != "too loud" {
		t.Errorf("model got %+v", r)
	}
}

// Under always_ask an MCP call waits for the client's confirmation: allowed it runs,
// denied the model gets the deny message and the server never sees the call.
func TestMCPAlwaysAsk(t *testing.T) {
	for _, allow := range []bool{true, false} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			f := newFixture(t)
			m := &mcpServer{token: "session-token"}
			srv := httptest.NewServer(m)
			t.Cleanup(srv.Close)
			a := mcpAgent("https://docs.example/mcp", `{"type":"mcp_toolset","mcp_server_name":"docs","default_config":{"permission_policy":{"type":"always_ask"}}}`)
			evs, _, err := turn(t, f.engine(t), nil, mcpSpec(a, `CUSTOM:lookup {"q":"x"}`, srv.URL), func(ev engine.Event) []engine.Input {
				if ev.Type != "agent.mcp_tool_use" || body(t, ev)["evaluated_permission"] != "ask" {
					t.Errorf("awaited %s %v", ev.Type, ev.Body)
				}
				return []engine.Input{{Type: hangar.EventUserToolConfirmation, Allow: allow, DenyMessage: "not now"}}
			})
			if err != nil {
				t.Fatal(err)
			}
			methods, _, _ := m.seen()
			called := slices.Contains(methods, "tools/call")
			r := lastResult(t, f)
			if allow && (!called || r.ResultText() != "definition of x") || !allow && (called || !r.IsError || !strings.Contains(r.ResultText(), "not now")) {
				t.Errorf("allow=%t: server saw %v, model got %+v", allow, methods, r)
			}
			var got []string
			for _, ev := range evs {
				got = append(got, ev.Type)
			}
			if !slices.Contains(got, "agent.mcp_tool_result") {
				t.Errorf("events %v", got)
			}
		})
	}
}

// A server that refuses the connection is reported as a session.error and the turn goes
// on without its tools.
func TestMCPConnectFailure(t *testing.T) {
	f := newFixture(t)
	m := &mcpServer{token: "another-token"}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	a := mcpAgent("https://docs.example/mcp", `{"type":"mcp_toolset","mcp_server_name":"docs"}`)
	f.fake.Push(fakemodel.Text("no tools today"))
	evs, _, err := turn(t, f.engine(t), nil, mcpSpec(a, "hello", srv.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Type != hangar.EventSessionError {
		t.Fatalf("events %v", evs)
	}
	e := body(t, evs[0])["error"].(map[string]any)
	if e["type"] != "mcp_authentication_failed_error" || e["mcp_server_name"] != "docs" {
		t.Errorf("error %v", e)
	}
	if text(t, evs) != "no tools today" || len(f.fake.MessageRequests()[0].Tools) != 0 {
		t.Errorf("turn after the failure: %v", evs)
	}
}
