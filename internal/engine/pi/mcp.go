package pi

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
)

// pi has no MCP client, so the bridge extension is one: at startup it connects each of
// the agent's URL MCP servers (streamable HTTP: initialize, notifications/initialized,
// tools/list), registers one pi tool per server tool, named mcp__<server>__<tool> as
// agent CLIs name them, and forwards its calls (tools/call). The servers are reached as
// engine.MCPEndpoints says: through the egress proxy's /mcp/<name>/ route with the
// session token, which the bridge reads from the environment variable BearerEnv (never
// from a file), so the proxy adds the vault's credential.

// MCPServer is one of the agent's URL MCP servers in the bridge's configuration, with the
// agent's mcp_toolset settings for it (all tools enabled and allowed when none names it).
type MCPServer struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// BearerEnv names the environment variable that holds the bearer token ("" for none).
	BearerEnv string `json:"bearer_env,omitempty"`
	// Enabled and Ask are the toolset's defaults: a tool is offered, and its calls await
	// the client's confirmation (always_ask).
	Enabled bool `json:"enabled"`
	Ask     bool `json:"ask"`
	// Tools holds the toolset's per-tool settings, by the server's tool name.
	Tools map[string]MCPToolConfig `json:"tools,omitempty"`
}

// MCPToolConfig is an mcp_toolset's setting of one tool; nil fields keep the default.
type MCPToolConfig struct {
	Enabled *bool `json:"enabled,omitempty"`
	Ask     *bool `json:"ask,omitempty"`
}

// asks reports whether calls of tool (the server's name, or pi's sanitized form of it)
// await the client's confirmation.
func (s MCPServer) asks(tool string) bool {
	for name, c := range s.Tools {
		if (name == tool || sanitize(name) == tool) && c.Ask != nil {
			return *c.Ask
		}
	}
	return s.Ask
}

// MCPServers returns the agent's URL MCP servers as the bridge reaches them under the
// turn's egress (engine.MCPEndpoints), with their mcp_toolset settings.
func MCPServers(spec engine.Spec) []MCPServer {
	if spec.Session == nil {
		return nil
	}
	toolsets := mcpToolsets(spec.Session.Agent.Tools)
	var out []MCPServer
	for _, ep := range engine.MCPEndpoints(spec.Session.Agent.MCPServers, spec.Egress) {
		s, ok := toolsets[ep.Name]
		if !ok {
			s = MCPServer{Enabled: true}
		}
		s.Name, s.URL = ep.Name, ep.URL
		if ep.Bearer != "" {
			// ep.Bearer is the session token, which Env puts in HANGAR_MODEL_TOKEN.
			s.BearerEnv = "HANGAR_MODEL_TOKEN"
		}
		out = append(out, s)
	}
	return out
}

// mcpToolsets reads the agent's mcp_toolset entries, by server name.
func mcpToolsets(tools json.RawMessage) map[string]MCPServer {
	type config struct {
		Name             string `json:"name"`
		Enabled          *bool  `json:"enabled"`
		PermissionPolicy *struct {
			Type string `json:"type"`
		} `json:"permission_policy"`
	}
	var list []struct {
		Type          string   `json:"type"`
		MCPServerName string   `json:"mcp_server_name"`
		DefaultConfig *config  `json:"default_config"`
		Configs       []config `json:"configs"`
	}
	_ = json.Unmarshal(tools, &list)
	out := map[string]MCPServer{}
	for _, t := range list {
		if t.Type != "mcp_toolset" || t.MCPServerName == "" {
			continue
		}
		s := MCPServer{Enabled: true}
		if d := t.DefaultConfig; d != nil {
			if d.Enabled != nil {
				s.Enabled = *d.Enabled
			}
			if d.PermissionPolicy != nil && d.PermissionPolicy.Type != "" {
				s.Ask = d.PermissionPolicy.Type == "always_ask"
			}
		}
		for _, c := range t.Configs {
			if c.Name == "" {
				continue
			}
			var tc MCPToolConfig
			tc.Enabled = c.Enabled
			if c.PermissionPolicy != nil && c.PermissionPolicy.Type != "" {
				ask := c.PermissionPolicy.Type == "always_ask"
				tc.Ask = &ask
			}
			if tc.Enabled != nil || tc.Ask != nil {
				if s.Tools == nil {
					s.Tools = map[string]MCPToolConfig{}
				}
				s.Tools[c.Name] = tc
			}
		}
		out[t.MCPServerName] = s
	}
	return out
}

// invalidToolChars matches what the Messages API does not take in a tool name; bridge.ts
// replaces the same characters.
var invalidToolChars = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

func sanitize(s string) string { return invalidToolChars.ReplaceAllString(s, "_") }

// MCPToolName is pi's (and the model's) name of a server's tool: mcp__<server>__<tool>
// with what the API refuses replaced, cut to 128 characters (bridge.ts computes the same).
func MCPToolName(server, tool string) string {
	n := sanitize("mcp__" + server + "__" + tool)
	if len(n) > 128 {
		n = n[:128]
	}
	return n
}

// mcpTool splits pi's name of an MCP tool into its server (the longest whose prefix
// matches) and the tool's (sanitized) name.
func mcpTool(name string, servers []MCPServer) (server MCPServer, tool string, ok bool) {
	best := -1
	for _, s := range servers {
		prefix := sanitize("mcp__" + s.Name + "__")
		if t, found := strings.CutPrefix(name, prefix); found && t != "" && len(prefix) > best {
			server, tool, best = s, t, len(prefix)
		}
	}
	return server, tool, best >= 0
}
