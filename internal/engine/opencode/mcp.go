package opencode

import (
	"regexp"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
)

// mcpConfig returns the "mcp" section of opencode.json for a turn of spec: each of the
// agent's URL MCP servers as a remote (streamable HTTP) server, reached through the
// egress proxy with the session token (engine.MCPEndpoints). The token is written as
// {env:HANGAR_MODEL_TOKEN}, so the file holds no secret, and OAuth discovery is off: the
// proxy supplies the vault's credential. nil when the agent has none.
func mcpConfig(spec engine.Spec) map[string]any {
	if spec.Session == nil {
		return nil
	}
	eps := engine.MCPEndpoints(spec.Session.Agent.MCPServers, spec.Egress)
	if len(eps) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, ep := range eps {
		srv := map[string]any{"type": "remote", "url": ep.URL, "enabled": true, "oauth": false}
		if ep.Bearer != "" {
			srv["headers"] = map[string]string{"Authorization": "Bearer {env:HANGAR_MODEL_TOKEN}"}
		}
		out[ep.Name] = srv
	}
	return out
}

// unsafeToolChars are what opencode replaces with "_" in the names of MCP tools it gives
// the model (<server>_<tool>).
var unsafeToolChars = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// mcpToolName splits opencode's name of an MCP tool, <server>_<tool> with both parts
// sanitized, for one of servers (the longest that matches).
func mcpToolName(name string, servers []string) (server, tool string, ok bool) {
	best := -1
	for _, s := range servers {
		if t, found := strings.CutPrefix(name, unsafeToolChars.ReplaceAllString(s, "_")+"_"); found && t != "" && len(s) > best {
			server, tool, best = s, t, len(s)
		}
	}
	return server, tool, best >= 0
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
