package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MCPServer starts a minimal MCP server over streamable HTTP (JSON responses) for the
// test's lifetime: initialize, tools/list and tools/call of one tool, lookup {q}, which
// answers "definition of <q>". It returns its URL and a function listing the methods
// called so far.
func MCPServer(t *testing.T) (url string, methods func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed) // no server-initiated stream
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				ProtocolVersion string         `json:"protocolVersion"`
				Arguments       map[string]any `json:"arguments"`
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen = append(seen, msg.Method)
		mu.Unlock()
		if len(msg.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		reply := map[string]any{"jsonrpc": "2.0", "id": msg.ID}
		switch msg.Method {
		case "initialize":
			reply["result"] = map[string]any{"protocolVersion": msg.Params.ProtocolVersion,
				"capabilities": map[string]any{"tools": map[string]any{}}, "serverInfo": map[string]any{"name": "test-docs", "version": "1.0.0"}}
		case "tools/list":
			reply["result"] = map[string]any{"tools": []any{map[string]any{
				"name": "lookup", "description": "Look up a word in the docs",
				"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}, "required": []string{"q"}},
			}}}
		case "tools/call":
			q, _ := msg.Params.Arguments["q"].(string)
			reply["result"] = map[string]any{"content": []any{map[string]any{"type": "text", "text": "definition of " + q}}, "isError": false}
		case "ping":
			reply["result"] = map[string]any{}
		default:
			reply["error"] = map[string]any{"code": -32601, "message": "method not found"}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// WithMCPServer returns a with one URL MCP server, docs at url.
func WithMCPServer(a hangar.Agent, url string) hangar.Agent {
	a.MCPServers, _ = json.Marshal([]map[string]string{{"type": "url", "name": "docs", "url": url}})
	return a
}

// MCPScript answers "CUSTOM:lookup <input>" in the latest user text with a call of the
// docs server's lookup tool under the CLI's name for it: mcp__docs__lookup (claude),
// function lookup of namespace mcp__docs (codex), mcp_docs_lookup (gemini), docs_lookup
// (opencode), docs___lookup (droid, which defers MCP tools: ToolSearch loads it first).
// Everything else, and the turn after the tool result, gets next.
func MCPScript(next func(fakemodel.Request) fakemodel.Response) func(fakemodel.Request) fakemodel.Response {
	return func(req fakemodel.Request) fakemodel.Response {
		input, ok := lookupInput(req)
		last := lastToolUse(req)
		if !ok || (last != "" && last != "ToolSearch") {
			return next(req)
		}
		for _, name := range []string{"mcp__docs__lookup", "mcp__docs", "mcp_docs_lookup", "docs_lookup", "docs___lookup"} {
			if !req.HasTool(name) {
				continue
			}
			ns := ""
			if name == "mcp__docs" { // a Responses namespace tool holding the server's tools
				name, ns = "lookup", "mcp__docs"
			}
			return fakemodel.Response{Content: []fakemodel.Block{{Type: "tool_use", Name: name, Namespace: ns, Input: input}}}
		}
		if last == "" && req.HasTool("ToolSearch") {
			return fakemodel.ToolUse("ToolSearch", map[string]string{"query": "select:docs___lookup"})
		}
		return next(req)
	}
}

// lookupInput returns the input of "CUSTOM:lookup <input>" in the latest user text.
func lookupInput(req fakemodel.Request) (json.RawMessage, bool) {
	const marker = fakemodel.CustomMarker + "lookup "
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role != "user" {
			continue
		}
		text := false
		for _, b := range req.Messages[i].Content {
			if b.Type != "text" || strings.HasPrefix(strings.TrimSpace(b.Text), "<system-reminder>") {
				continue
			}
			text = true
			if j := strings.Index(b.Text, marker); j >= 0 {
				in := strings.TrimSpace(strings.SplitN(b.Text[j+len(marker):], "\n", 2)[0])
				return json.RawMessage(in), json.Valid([]byte(in))
			}
		}
		if text {
			return nil, false
		}
	}
	return nil, false
}

// lastToolUse returns the name of the tool whose result ends the request ("" when it
// does not end with a tool result).
func lastToolUse(req fakemodel.Request) string {
	res, ok := req.LastToolResult()
	if !ok {
		return ""
	}
	for _, m := range req.Messages {
		for _, b := range m.Content {
			if b.Type == "tool_use" && b.ID == res.ToolUseID {
				return b.Name
			}
		}
	}
	return "?"
}

// TapSandbox copies the stdout of the processes it runs to Out (a recording of the CLI's
// output, for transcripts).
type TapSandbox struct {
	provider.Sandbox
	Out io.Writer
}

type tapProcess struct {
	provider.Process
	stdout io.Reader
}

func (p tapProcess) Stdout() io.Reader { return p.stdout }

// Exec implements provider.Sandbox.
func (s *TapSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	p, err := s.Sandbox.Exec(ctx, spec)
	if err != nil {
		return nil, err
	}
	return tapProcess{Process: p, stdout: io.TeeReader(p.Stdout(), s.Out)}, nil
}

// MCPTurn runs one turn of spec (whose agent has the docs server of MCPServer, see
// WithMCPServer, and whose text is `CUSTOM:lookup {"q":"hangar"}`) in sb, checks that it
// shows agent.mcp_tool_use (docs, lookup, q=hangar) and its agent.mcp_tool_result with
// the server's answer, and returns the events and the CLI's stdout. With record set it
// writes the stdout to testdata/<transcript> (the engine's golden transcript source).
func MCPTurn(t *testing.T, e engine.Engine, sb provider.Sandbox, spec engine.Spec, transcript string, record bool) []engine.Event {
	t.Helper()
	var out syncBuffer
	evs := RunTurn(t, e, &TapSandbox{Sandbox: sb, Out: &out}, spec)
	CheckMCPEvents(t, evs)
	if record {
		if err := os.WriteFile(filepath.Join("testdata", transcript), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// CheckMCPEvents checks that evs hold agent.mcp_tool_use (docs, lookup, q=hangar) and
// its agent.mcp_tool_result with "definition of hangar".
func CheckMCPEvents(t *testing.T, evs []engine.Event) {
	t.Helper()
	var use, result *engine.Event
	for i, ev := range evs {
		switch ev.Type {
		case "agent.mcp_tool_use":
			use = &evs[i]
		case "agent.mcp_tool_result":
			result = &evs[i]
		}
	}
	if use == nil || result == nil {
		t.Fatalf("want agent.mcp_tool_use and agent.mcp_tool_result; events %v", Types(evs))
	}
	body, _ := json.Marshal(use.Body)
	var b struct {
		Name   string         `json:"name"`
		Server string         `json:"mcp_server_name"`
		Input  map[string]any `json:"input"`
	}
	json.Unmarshal(body, &b)
	if b.Name != "lookup" || b.Server != "docs" || b.Input["q"] != "hangar" {
		t.Errorf("agent.mcp_tool_use body %s, want lookup of docs with q=hangar", body)
	}
	res, _ := json.Marshal(result.Body)
	if result.Ref != use.ID || !strings.Contains(string(res), "definition of hangar") {
		t.Errorf("agent.mcp_tool_result ref %q body %s, want the answer to %q", result.Ref, res, use.ID)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a later reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
