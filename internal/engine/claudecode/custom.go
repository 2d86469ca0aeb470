package claudecode

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// The agent's custom tools reach the CLI as the tools of an in-process ("SDK") MCP
// server: --mcp-config declares {"type":"sdk","name":<server>}, and the CLI then speaks
// MCP's JSON-RPC to it through the stdio control protocol. Each JSON-RPC message arrives
// as
//
//	{"type":"control_request","request_id":"<uuid>","request":{"subtype":"mcp_message","server_name":"hangar","message":{<JSON-RPC>}}}
//
// and is answered on stdin with
//
//	{"type":"control_response","response":{"subtype":"success","request_id":"<uuid>","response":{"mcp_response":{<JSON-RPC response>}}}}
//
// A tools/call becomes an agent.custom_tool_use that awaits the client's
// user.custom_tool_result; its answer is the JSON-RPC response of the call.

// CustomTool is one of an agent's custom tools ({type:"custom", name, description,
// input_schema}).
type CustomTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// customTools returns the custom tools of an agent's tools JSON.
func customTools(tools json.RawMessage) []CustomTool {
	var list []struct {
		Type string `json:"type"`
		CustomTool
	}
	if json.Unmarshal(tools, &list) != nil {
		return nil
	}
	var out []CustomTool
	for _, t := range list {
		if t.Type == "custom" && t.Name != "" {
			out = append(out, t.CustomTool)
		}
	}
	return out
}

// customServerName returns the name of the SDK MCP server of the custom tools: "hangar",
// or "hangar_<n>" when the agent has a URL MCP server of that name.
func customServerName(servers json.RawMessage) string {
	var list []struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(servers, &list)
	taken := func(name string) bool {
		return slices.ContainsFunc(list, func(s struct {
			Name string `json:"name"`
		}) bool {
			return s.Name == name
		})
	}
	name := "hangar"
	for n := 1; taken(name); n++ {
		name = "hangar_" + strconv.Itoa(n)
	}
	return name
}

// CustomCall is a tools/call of the custom tools' MCP server awaiting the client's
// user.custom_tool_result.
type CustomCall struct {
	// RequestID is the control request's request_id.
	RequestID string
	// RPCID is the JSON-RPC id of the tools/call.
	RPCID json.RawMessage
}

// CustomCall returns the tools/call behind the agent.custom_tool_use with engine-local id,
// and forgets it.
func (t *Translator) CustomCall(id string) (CustomCall, bool) {
	c, ok := t.calls[id]
	delete(t.calls, id)
	return c, ok
}

// Response returns the control_response line answering c with the client's content
// blocks (a JSON array) as the tool's result.
func (c CustomCall) Response(content json.RawMessage, isError bool) []byte {
	return mcpResponse(c.RequestID, rpcResult(c.RPCID, map[string]any{"content": mcpContent(content), "isError": isError}))
}

// mcpContent converts CMA tool result content blocks to MCP content: text blocks stay
// text, base64 images become MCP images, other blocks become a text placeholder.
func mcpContent(content json.RawMessage) []any {
	var blocks []struct {
		Type   string `json:"type"`
		Text   string `json:"text"`
		Source *struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
			URL       string `json:"url"`
		} `json:"source"`
	}
	_ = json.Unmarshal(content, &blocks)
	out := make([]any, 0, len(blocks))
	for _, b := range blocks {
		switch {
		case b.Type == "text":
			out = append(out, map[string]string{"type": "text", "text": b.Text})
		case b.Type == "image" && b.Source != nil && b.Source.Type == "base64":
			out = append(out, map[string]string{"type": "image", "data": b.Source.Data, "mimeType": b.Source.MediaType})
		case b.Source != nil && b.Source.URL != "":
			out = append(out, map[string]string{"type": "text", "text": "[" + b.Type + ": " + b.Source.URL + "]"})
		default:
			out = append(out, map[string]string{"type": "text", "text": "[" + b.Type + "]"})
		}
	}
	return out
}

// rpcMessage is a JSON-RPC 2.0 request or notification.
type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// mcpMessage handles an mcp_message control request: a JSON-RPC message of the CLI to the
// custom tools' MCP server.
func (t *Translator) mcpMessage(requestID, server string, raw json.RawMessage) []engine.Event {
	if t.CustomServer == "" || server != t.CustomServer {
		t.respond(controlError(requestID, "hangar: unknown SDK MCP server "+server))
		return nil
	}
	var m rpcMessage
	if json.Unmarshal(raw, &m) != nil {
		t.respond(controlError(requestID, "hangar: invalid JSON-RPC message"))
		return nil
	}
	if id := bytes.TrimSpace(m.ID); len(id) == 0 || string(id) == "null" {
		// A notification: no JSON-RPC response, but the control request still gets one
		// (the Agent SDK answers {"jsonrpc":"2.0","result":{},"id":0}).
		if m.Method == "notifications/cancelled" {
			t.cancelCall(m.Params)
		}
		t.respond(mcpResponse(requestID, rpcResult(json.RawMessage(`0`), map[string]any{})))
		return nil
	}
	switch m.Method {
	case "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.ProtocolVersion == "" {
			p.ProtocolVersion = "2025-06-18"
		}
		t.respond(mcpResponse(requestID, rpcResult(m.ID, map[string]any{
			"protocolVersion": p.ProtocolVersion,
			"capabilities":    map[string]any{"tools": map[string]any{}},
			"serverInfo":      map[string]string{"name": t.CustomServer, "version": "1.0.0"},
		})))
	case "ping":
		t.respond(mcpResponse(requestID, rpcResult(m.ID, map[string]any{})))
	case "tools/list":
		tools := make([]map[string]any, 0, len(t.Custom))
		for _, c := range t.Custom {
			schema := c.InputSchema
			if len(bytes.TrimSpace(schema)) == 0 || !json.Valid(schema) || bytes.TrimSpace(schema)[0] != '{' {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			tools = append(tools, map[string]any{"name": c.Name, "description": c.Description, "inputSchema": schema})
		}
		t.respond(mcpResponse(requestID, rpcResult(m.ID, map[string]any{"tools": tools})))
	case "tools/call":
		return t.toolsCall(requestID, m)
	default:
		t.respond(mcpResponse(requestID, rpcError(m.ID, -32601, "method not found: "+m.Method)))
	}
	return nil
}

// toolsCall turns a tools/call into an agent.custom_tool_use awaiting the client.
func (t *Translator) toolsCall(requestID string, m rpcMessage) []engine.Event {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
		Meta      struct {
			ToolUseID string `json:"claudecode/toolUseId"`
		} `json:"_meta"`
	}
	_ = json.Unmarshal(m.Params, &p)
	if !slices.ContainsFunc(t.Custom, func(c CustomTool) bool { return c.Name == p.Name }) {
		t.respond(mcpResponse(requestID, rpcResult(m.ID, map[string]any{
			"content": engine.TextContent("unknown tool " + p.Name), "isError": true,
		})))
		return nil
	}
	// The engine-local ID is the model's tool use ID, which the CLI passes in _meta.
	id := p.Meta.ToolUseID
	if id == "" || t.seen[id] {
		id = "mcp_" + requestID
	}
	input := p.Arguments
	if len(bytes.TrimSpace(input)) == 0 || !json.Valid(input) || bytes.TrimSpace(input)[0] != '{' {
		input = json.RawMessage(`{}`)
	}
	if t.calls == nil {
		t.calls = map[string]CustomCall{}
	}
	t.calls[id] = CustomCall{RequestID: requestID, RPCID: m.ID}
	t.markSeen(id)
	if t.custom == nil {
		t.custom = map[string]bool{}
	}
	t.custom[id] = true // its tool_result line is the client's answer
	return []engine.Event{{
		Type: hangar.EventAgentCustomToolUse, ID: id, RequiresAction: true,
		Body: map[string]any{"name": p.Name, "input": input},
	}}
}

// cancelCall forgets the tools/call a notifications/cancelled names (the CLI was
// interrupted): the client's answer is no longer awaited.
func (t *Translator) cancelCall(params json.RawMessage) {
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return
	}
	for id, c := range t.calls {
		if bytes.Equal(bytes.TrimSpace(c.RPCID), bytes.TrimSpace(p.RequestID)) {
			delete(t.calls, id)
			if t.Forget != nil {
				t.Forget(id)
			}
		}
	}
}

// isCustom reports whether a Claude Code tool name is one of the custom tools
// (mcp__<CustomServer>__<name>).
func (t *Translator) isCustom(name string) bool {
	server, _, ok := mcpName(name)
	return ok && t.CustomServer != "" && server == t.CustomServer
}

func rpcResult(id json.RawMessage, result any) map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": id, "result": result}
}

func rpcError(id json.RawMessage, code int, msg string) map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}}
}

func mcpResponse(requestID string, rpc map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "control_response",
		"response": map[string]any{
			"subtype": "success", "request_id": requestID,
			"response": map[string]any{"mcp_response": rpc},
		},
	})
	return append(b, '\n')
}
