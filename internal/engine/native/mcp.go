package native

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// MCP servers: the agent's URL mcp_servers that an mcp_toolset names are connected at
// the start of every run, from the server process, through the egress proxy's
// /mcp/<name>/ route with the session token (engine.Spec.HostEgress and
// engine.MCPEndpoints), so the proxy injects the session vault's credential exactly as it
// does for a CLI in a sandbox: one code path for credentials, static_bearer and mcp_oauth
// (refreshed by the proxy) alike. Their tools are offered to the model as
// mcp__<server>__<tool>, and calls come out as agent.mcp_tool_use / agent.mcp_tool_result
// under the toolset's permission policy (always_allow by default, as for the other
// engines). The calls run here on self_hosted sessions too: the worker runs only the
// agent toolset.

// The MCP tool events (the root package names no constants for them).
const (
	eventMCPToolUse    = "agent.mcp_tool_use"
	eventMCPToolResult = "agent.mcp_tool_result"
)

// mcpConnectTimeout bounds connecting to one server (initialize and tools/list).
const mcpConnectTimeout = 30 * time.Second

// mcpToolset is an mcp_toolset of the agent's tools.
type mcpToolset struct {
	defaultEnabled bool
	defaultPolicy  string
	configs        map[string]mcpToolConfig
}

type mcpToolConfig struct {
	enabled *bool
	policy  string
}

func (ts mcpToolset) enabled(tool string) bool {
	if c, ok := ts.configs[tool]; ok && c.enabled != nil {
		return *c.enabled
	}
	return ts.defaultEnabled
}

func (ts mcpToolset) policy(tool string) string {
	if c, ok := ts.configs[tool]; ok && c.policy != "" {
		return c.policy
	}
	return ts.defaultPolicy
}

// mcpToolsets reads the agent's mcp_toolset entries, by server name.
func mcpToolsets(tools json.RawMessage) map[string]mcpToolset {
	type policy struct {
		Type string `json:"type"`
	}
	type config struct {
		Name             string  `json:"name"`
		Enabled          *bool   `json:"enabled"`
		PermissionPolicy *policy `json:"permission_policy"`
	}
	var list []struct {
		Type          string   `json:"type"`
		MCPServerName string   `json:"mcp_server_name"`
		DefaultConfig *config  `json:"default_config"`
		Configs       []config `json:"configs"`
	}
	json.Unmarshal(tools, &list)
	out := map[string]mcpToolset{}
	for _, t := range list {
		if t.Type != "mcp_toolset" || t.MCPServerName == "" {
			continue
		}
		ts := mcpToolset{defaultEnabled: true, defaultPolicy: "always_allow", configs: map[string]mcpToolConfig{}}
		if d := t.DefaultConfig; d != nil {
			if d.Enabled != nil {
				ts.defaultEnabled = *d.Enabled
			}
			if d.PermissionPolicy != nil && d.PermissionPolicy.Type != "" {
				ts.defaultPolicy = d.PermissionPolicy.Type
			}
		}
		for _, c := range t.Configs {
			tc := mcpToolConfig{enabled: c.Enabled}
			if c.PermissionPolicy != nil {
				tc.policy = c.PermissionPolicy.Type
			}
			ts.configs[c.Name] = tc
		}
		out[t.MCPServerName] = ts
	}
	return out
}

// mcpBinding is an MCP tool as offered to the model.
type mcpBinding struct {
	client *mcpClient
	tool   string // the server's name of the tool
	policy string
}

// invalidToolName matches what the Messages API does not take in a tool name.
var invalidToolName = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// mcpToolName is the model's name of a server's tool: mcp__<server>__<tool>, as agent CLIs
// name them, with what the API refuses replaced and cut to 128 characters.
func mcpToolName(server, tool string) string {
	n := invalidToolName.ReplaceAllString("mcp__"+server+"__"+tool, "_")
	if len(n) > 128 {
		n = n[:128]
	}
	return n
}

// connectMCP connects the agent's MCP servers and adds their tools to the run's toolset.
// A server that fails is reported as a session.error and left out of this run; the next
// run tries it again.
func (r *run) connectMCP(ctx context.Context) error {
	agent := &r.spec.Session.Agent
	toolsets := mcpToolsets(agent.Tools)
	if len(toolsets) == 0 {
		return nil
	}
	for _, ep := range engine.MCPEndpoints(agent.MCPServers, r.spec.HostEgress) {
		ts, ok := toolsets[ep.Name]
		if !ok {
			continue
		}
		c := &mcpClient{http: r.e.http, name: ep.Name, url: ep.URL, bearer: ep.Bearer}
		cctx, cancel := context.WithTimeout(ctx, mcpConnectTimeout)
		tools, err := c.connect(cctx)
		cancel()
		if err != nil {
			if r.stopped() || ctx.Err() != nil {
				return errStopped
			}
			r.log.Warn("native: MCP server failed to connect", "mcp_server", ep.Name, "err", err)
			if err := r.emit(ctx, mcpErrorEvent(ep.Name, err)); err != nil {
				return err
			}
			continue
		}
		r.mcpClients = append(r.mcpClients, c)
		for _, t := range tools {
			if t.Name == "" || !ts.enabled(t.Name) {
				continue
			}
			name := mcpToolName(ep.Name, t.Name)
			if _, taken := r.tools.policy[name]; taken || r.tools.custom[name] || r.mcp[name] != nil {
				r.log.Warn("native: MCP tool name taken; not offered", "mcp_server", ep.Name, "tool", t.Name)
				continue
			}
			schema := t.InputSchema
			if len(schema) == 0 || string(schema) == "null" {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			r.mcp[name] = &mcpBinding{client: c, tool: t.Name, policy: ts.policy(t.Name)}
			r.tools.defs = append(r.tools.defs, mustJSON(map[string]any{"name": name, "description": t.Description, "input_schema": schema}))
		}
	}
	return nil
}

// mcpErrorEvent is the session.error of a server that failed: an authentication failure
// when it answered 401 (MCP authorization), a connection failure otherwise (a 403 may be
// the egress policy refusing the host). The session goes on without the server.
func mcpErrorEvent(server string, err error) engine.Event {
	typ := "mcp_connection_failed_error"
	if me, ok := err.(*mcpError); ok && me.Status == 401 {
		typ = "mcp_authentication_failed_error"
	}
	return engine.Event{Type: hangar.EventSessionError, Body: map[string]any{"error": map[string]any{
		"type": typ, "message": fmt.Sprintf("MCP server %q: %v", server, err),
		"mcp_server_name": server, "retry_status": map[string]string{"type": "retrying"},
	}}}
}

// closeMCP ends the run's MCP sessions.
func (r *run) closeMCP() {
	if len(r.mcpClients) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range r.mcpClients {
		c.close(ctx)
	}
}

// callMCP handles a model call of an MCP tool: agent.mcp_tool_use (after a confirmation
// under always_ask), tools/call, agent.mcp_tool_result.
func (r *run) callMCP(ctx context.Context, c block, b *mcpBinding) (toolResult, error) {
	input := objectOrEmpty(c.Input)
	body := map[string]any{"name": b.tool, "mcp_server_name": b.client.name, "input": input, "evaluated_permission": "allow"}
	var id string
	if b.policy == "always_ask" {
		body["evaluated_permission"] = "ask"
		in, err := r.await(ctx, engine.Event{Type: eventMCPToolUse, Body: body, RequiresAction: true}, hangar.EventUserToolConfirmation, false)
		if err != nil {
			return toolResult{}, err
		}
		id = in.ToolUseID
		if !in.Allow {
			msg := "the user denied this tool call"
			if in.DenyMessage != "" {
				msg += ": " + in.DenyMessage
			}
			res := textResult(msg, true)
			return res, r.emit(ctx, engine.Event{Type: eventMCPToolResult, Ref: id, Body: map[string]any{"content": json.RawMessage(res.content), "is_error": true}})
		}
	} else {
		id = r.id("mcptoolu")
		if err := r.emit(ctx, engine.Event{Type: eventMCPToolUse, ID: id, Body: body}); err != nil {
			return toolResult{}, err
		}
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-tctx.Done():
		}
	}()
	content, isErr, err := b.client.callTool(tctx, b.tool, input)
	if r.stopped() || ctx.Err() != nil {
		return toolResult{}, errStopped
	}
	var res toolResult
	if err != nil {
		res = textResult(fmt.Sprintf("MCP server %q: %v", b.client.name, err), true)
	} else {
		res = toolResult{content: mustJSON(mcpContent(content)), isError: isErr}
	}
	return res, r.emit(ctx, engine.Event{Type: eventMCPToolResult, Ref: id, Body: map[string]any{"content": json.RawMessage(res.content), "is_error": res.isError}})
}

// mcpContent converts a tools/call result's content to blocks the Messages API and CMA
// events take: text and base64 images as they are, embedded text resources as text,
// anything else as a note. Text beyond maxOutput bytes is cut.
func mcpContent(content []json.RawMessage) []map[string]any {
	var out []map[string]any
	room := maxOutput
	text := func(s string) {
		if len(s) > room {
			s = s[:max(room, 0)] + "\n(output truncated)"
		}
		room -= len(s)
		out = append(out, map[string]any{"type": "text", "text": s})
	}
	for _, raw := range content {
		var b struct {
			Type     string `json:"type"`
			Text     string `json:"text"`
			Data     string `json:"data"`
			MimeType string `json:"mimeType"`
			URI      string `json:"uri"`
			Name     string `json:"name"`
			Resource *struct {
				URI      string  `json:"uri"`
				MimeType string  `json:"mimeType"`
				Text     *string `json:"text"`
				Blob     string  `json:"blob"`
			} `json:"resource"`
		}
		json.Unmarshal(raw, &b)
		switch {
		case b.Type == "text":
			text(b.Text)
		case b.Type == "image" && strings.HasPrefix(b.MimeType, "image/") && b.Data != "":
			out = append(out, map[string]any{"type": "image", "source": map[string]string{"type": "base64", "media_type": b.MimeType, "data": b.Data}})
		case b.Type == "resource" && b.Resource != nil && b.Resource.Text != nil:
			text(b.Resource.URI + ":\n" + *b.Resource.Text)
		case b.Type == "resource" && b.Resource != nil:
			text(fmt.Sprintf("[resource %s (%s), %d bytes of base64, not shown]", b.Resource.URI, b.Resource.MimeType, len(b.Resource.Blob)))
		case b.Type == "resource_link":
			text(fmt.Sprintf("[resource link %s: %s]", b.Name, b.URI))
		default:
			text(fmt.Sprintf("[%s content (%s) not shown]", b.Type, b.MimeType))
		}
	}
	if len(out) == 0 {
		text("(no output)")
	}
	return out
}
