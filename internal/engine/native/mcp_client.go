package native

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// An MCP client over the streamable HTTP transport (MCP specification 2025-06-18,
// "Transports"): every JSON-RPC message is a POST; the server answers a request with
// application/json or with a text/event-stream whose events carry the response (and
// possibly its own notifications first), and a notification with 202. The session ID the
// server assigns at initialize (Mcp-Session-Id) goes on every later request, and DELETE
// ends the session. The loop uses initialize, tools/list and tools/call only; it offers
// no client capabilities (sampling, roots, elicitation), so a server has nothing to ask.

// mcpProtocolVersion is the protocol revision the client asks for at initialize.
const mcpProtocolVersion = "2025-06-18"

// maxMCPResponse caps one response (a large tools/call result is cut short by the
// output caps anyway).
const maxMCPResponse = 16 << 20

// mcpClient is a connection to one MCP server.
type mcpClient struct {
	http   *http.Client
	name   string // the server's name in the agent's mcp_servers
	url    string
	bearer string // sent as Authorization: Bearer ("" for none)

	session string // Mcp-Session-Id
	version string // negotiated protocol version
	nextID  int
}

// mcpError is a failure talking to a server; Status is the HTTP status when the server
// answered (401 and 403 are authentication failures).
type mcpError struct {
	Status int
	Msg    string
}

func (e *mcpError) Error() string { return e.Msg }

// rpcError is a JSON-RPC error response.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("MCP error %d: %s", e.Code, e.Message) }

// mcpTool is a tool a server lists.
type mcpTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

// connect initializes the session and lists the server's tools.
func (c *mcpClient) connect(ctx context.Context) ([]mcpTool, error) {
	res, err := c.call(ctx, "initialize", map[string]any{
		"protocolVersion": mcpProtocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "hangar-native", "version": "1"},
	})
	if err != nil {
		return nil, err
	}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	json.Unmarshal(res, &init)
	c.version = init.ProtocolVersion
	if c.version == "" {
		c.version = mcpProtocolVersion
	}
	if err := c.notify(ctx, "notifications/initialized"); err != nil {
		return nil, err
	}
	var tools []mcpTool
	cursor := ""
	for page := 0; page < 100; page++ {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		res, err := c.call(ctx, "tools/list", params)
		if err != nil {
			return nil, err
		}
		var list struct {
			Tools      []mcpTool `json:"tools"`
			NextCursor string    `json:"nextCursor"`
		}
		if err := json.Unmarshal(res, &list); err != nil {
			return nil, &mcpError{Msg: "tools/list: malformed result: " + err.Error()}
		}
		tools = append(tools, list.Tools...)
		if cursor = list.NextCursor; cursor == "" {
			break
		}
	}
	return tools, nil
}

// callTool runs tools/call. A JSON-RPC error comes back as an *rpcError.
func (c *mcpClient) callTool(ctx context.Context, name string, args json.RawMessage) (content []json.RawMessage, isError bool, err error) {
	res, err := c.call(ctx, "tools/call", map[string]any{"name": name, "arguments": args})
	if err != nil {
		return nil, false, err
	}
	var out struct {
		Content           []json.RawMessage `json:"content"`
		StructuredContent json.RawMessage   `json:"structuredContent"`
		IsError           bool              `json:"isError"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		return nil, false, &mcpError{Msg: "tools/call: malformed result: " + err.Error()}
	}
	if len(out.Content) == 0 && len(out.StructuredContent) > 0 && string(out.StructuredContent) != "null" {
		out.Content = []json.RawMessage{mustJSON(map[string]string{"type": "text", "text": string(out.StructuredContent)})}
	}
	return out.Content, out.IsError, nil
}

// close ends the server's session (best effort: a server may answer 405).
func (c *mcpClient) close(ctx context.Context) {
	if c.session == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
	if err != nil {
		return
	}
	c.headers(req)
	if resp, err := c.http.Do(req); err == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
}

func (c *mcpClient) headers(req *http.Request) {
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	if c.version != "" {
		req.Header.Set("MCP-Protocol-Version", c.version)
	}
}

func (c *mcpClient) notify(ctx context.Context, method string) error {
	_, err := c.post(ctx, map[string]any{"jsonrpc": "2.0", "method": method}, nil)
	return err
}

func (c *mcpClient) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.nextID++
	id := c.nextID
	return c.post(ctx, map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}, &id)
}

// rpcResponse is a JSON-RPC message a server sends: a response (ID set, Result or Error)
// or a request/notification of its own (Method set), which the client ignores.
type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

// post sends one message; for a request (id set) it returns the response's result.
func (c *mcpClient) post(ctx context.Context, msg any, id *int) (json.RawMessage, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &mcpError{Msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	c.headers(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &mcpError{Msg: "the MCP server could not be reached: " + err.Error()}
	}
	defer resp.Body.Close()
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		c.session = s
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, &mcpError{Status: resp.StatusCode, Msg: fmt.Sprintf("the MCP server answered HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	if id == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil
	}
	want := fmt.Sprint(*id)
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var r rpcResponse
	switch ct {
	case "text/event-stream":
		r, err = readSSEResponse(resp.Body, want)
	case "application/json":
		err = json.NewDecoder(io.LimitReader(resp.Body, maxMCPResponse)).Decode(&r)
	default:
		err = fmt.Errorf("unexpected content type %q", ct)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, &mcpError{Msg: "the MCP server sent a malformed response: " + err.Error()}
	case string(r.ID) != want:
		return nil, &mcpError{Msg: "the MCP server answered another request"}
	case r.Error != nil:
		return nil, r.Error
	}
	return r.Result, nil
}

// readSSEResponse reads an SSE stream until the response to request want.
func readSSEResponse(body io.Reader, want string) (rpcResponse, error) {
	sc := bufio.NewScanner(io.LimitReader(body, maxMCPResponse))
	sc.Buffer(make([]byte, 64<<10), maxMCPResponse)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(v, []byte(" "))...)
			continue
		}
		if len(line) != 0 || len(data) == 0 {
			continue // event:, id:, retry:, comments
		}
		var r rpcResponse
		err := json.Unmarshal(data, &r)
		data = data[:0]
		if err == nil && r.Method == "" && string(r.ID) == want {
			return r, nil
		}
	}
	if err := sc.Err(); err != nil {
		return rpcResponse{}, err
	}
	return rpcResponse{}, errors.New("the stream ended without the response")
}
