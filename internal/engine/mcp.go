package engine

import (
	"encoding/json"
	"net/url"
	"strings"
)

// MCPEndpoint is how a CLI reaches one of the agent's URL MCP servers.
type MCPEndpoint struct {
	// Name is the server's name in the agent's mcp_servers.
	Name string
	// URL is the egress proxy's /mcp/<name>/ route when the sandbox has the proxy, else
	// the server's own URL.
	URL string
	// Bearer is the token the CLI sends as Authorization: Bearer: the session token
	// (Egress.Token) on the proxy route, which the proxy swaps for the vault credential;
	// "" without the proxy. It is never a vault credential.
	Bearer string
}

// MCPEndpoints returns the agent's URL MCP servers (a session's Agent.MCPServers JSON) as
// its CLI reaches them under eg: through the egress proxy's /mcp/<name>/ route with the
// session token when the sandbox has the proxy (eg.HTTPProxy), so vault credentials never
// enter the sandbox; directly and without credentials otherwise (remote sandboxes).
func MCPEndpoints(servers json.RawMessage, eg Egress) []MCPEndpoint {
	var list []struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	if len(servers) == 0 || json.Unmarshal(servers, &list) != nil {
		return nil
	}
	var out []MCPEndpoint
	for _, s := range list {
		if s.Name == "" || s.URL == "" {
			continue
		}
		if eg.HTTPProxy != "" {
			out = append(out, MCPEndpoint{Name: s.Name, URL: strings.TrimSuffix(eg.HTTPProxy, "/") + "/mcp/" + url.PathEscape(s.Name) + "/", Bearer: eg.Token})
			continue
		}
		out = append(out, MCPEndpoint{Name: s.Name, URL: s.URL})
	}
	return out
}
