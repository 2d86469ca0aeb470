package gemini

import (
	"encoding/json"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
)

// tokenRef is how settings.json names the session token: the CLI expands environment
// variables in its settings, so the token stays in the environment (GEMINI_API_KEY, where
// Env puts it) and out of the file.
const tokenRef = "${GEMINI_API_KEY}"

// SettingsFor returns settings.json for a turn of spec: Settings plus, under mcpServers,
// the agent's URL MCP servers as streamable HTTP servers (httpUrl) reached through the
// egress proxy with the session token (engine.MCPEndpoints), trusted so that calls need
// no confirmation (the run is --yolo anyway).
func SettingsFor(spec engine.Spec) []byte {
	if spec.Session == nil {
		return Settings
	}
	eps := engine.MCPEndpoints(spec.Session.Agent.MCPServers, spec.Egress)
	if len(eps) == 0 {
		return Settings
	}
	var s map[string]any
	if err := json.Unmarshal(Settings, &s); err != nil {
		panic("gemini: Settings is not JSON: " + err.Error())
	}
	servers := map[string]any{}
	for _, ep := range eps {
		srv := map[string]any{"httpUrl": ep.URL, "trust": true}
		if ep.Bearer != "" {
			srv["headers"] = map[string]string{"Authorization": "Bearer " + tokenRef}
		}
		servers[ep.Name] = srv
	}
	s["mcpServers"] = servers
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// mcpToolName splits the CLI's name of an MCP tool, mcp_<server>_<tool>, for one of
// servers (the longest that matches: a server name may itself hold underscores).
func mcpToolName(name string, servers []string) (server, tool string, ok bool) {
	rest, ok := strings.CutPrefix(name, "mcp_")
	if !ok {
		return "", "", false
	}
	for _, s := range servers {
		if t, found := strings.CutPrefix(rest, s+"_"); found && t != "" && len(s) > len(server) {
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
