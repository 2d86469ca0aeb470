package codex

import (
	"regexp"

	"github.com/hangar-dev/hangar/internal/engine"
)

// mcpNameRE is what codex accepts as an MCP server name (and what a -c key path can hold
// without quoting).
var mcpNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mcpArgs returns the -c options that declare the agent's URL MCP servers as codex
// streamable HTTP servers ([mcp_servers.<name>] url, bearer_token_env_var): through the
// egress proxy, with the session token of TokenEnv as bearer (see engine.MCPEndpoints).
// Servers whose name codex would refuse are left out.
func mcpArgs(spec engine.Spec) []string {
	if spec.Session == nil {
		return nil
	}
	var args []string
	for _, s := range engine.MCPEndpoints(spec.Session.Agent.MCPServers, spec.Egress) {
		if !mcpNameRE.MatchString(s.Name) {
			continue
		}
		key := "mcp_servers." + s.Name
		args = append(args, "-c", key+".url="+tomlString(s.URL))
		if s.Bearer != "" {
			// The token is the session token the CLI already holds as its model key.
			args = append(args, "-c", key+".bearer_token_env_var="+tomlString(TokenEnv))
		}
	}
	return args
}
