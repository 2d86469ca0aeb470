package factory

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
)

// MCPPath returns where Start writes droid's MCP servers for spec: $HOME/.factory/mcp.json.
func MCPPath(spec engine.Spec) string {
	return path.Join(spec.HomeDir, ".factory", "mcp.json")
}

// MCPFile returns droid's mcp.json for a turn of spec: the agent's URL MCP servers as
// "http" (streamable HTTP) servers reached through the egress proxy with the session token
// (engine.MCPEndpoints); nil when the agent has none. The token is the session token
// settings.json already holds as the model API key, never a vault credential.
func MCPFile(spec engine.Spec) []byte {
	if spec.Session == nil {
		return nil
	}
	eps := engine.MCPEndpoints(spec.Session.Agent.MCPServers, spec.Egress)
	if len(eps) == 0 {
		return nil
	}
	servers := map[string]any{}
	for _, ep := range eps {
		srv := map[string]any{"type": "http", "url": ep.URL}
		if ep.Bearer != "" {
			srv["headers"] = map[string]string{"Authorization": "Bearer " + ep.Bearer}
		}
		servers[ep.Name] = srv
	}
	b, _ := json.MarshalIndent(map[string]any{"mcpServers": servers}, "", "  ")
	return append(b, '\n')
}

// mcpToolName splits droid's name of an MCP tool, <server>___<tool>, for one of servers.
func mcpToolName(name string, servers []string) (server, tool string, ok bool) {
	for _, s := range servers {
		if t, found := strings.CutPrefix(name, s+"___"); found && t != "" && len(s) > len(server) {
			server, tool = s, t
		}
	}
	return server, tool, server != ""
}

// mcpServerNames returns the names of spec's URL MCP servers.
func mcpServerNames(spec engine.Spec) []string {
	if spec.Session == nil {
		return nil
	}
	var names []string
	for _, ep := range engine.MCPEndpoints(spec.Session.Agent.MCPServers, spec.Egress) {
		names = append(names, ep.Name)
	}
	return names
}
