package runner

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Egress attaches sessions to the egress proxy (internal/egress, adapted in cmd/hangar).
// When Config.Egress is set, the runner attaches a session just before creating its
// sandbox and detaches it when the sandbox is destroyed (Delete) or stopped (Close).
//
// Token usage the proxy observes is not added to the session here: engines report the
// usage of each model request on span.model_request_end, and that is what the session's
// usage counts (see docs/egress.md).
type Egress interface {
	// Attach opens sessionID's egress under policy. It returns an invalid_request_error
	// for a policy it cannot enforce and a conflict_error when the session is attached.
	Attach(ctx context.Context, sessionID string, policy hangar.Networking) (*EgressAttachment, error)
}

// EgressAttachment is a session's connection to the egress proxy.
type EgressAttachment struct {
	// Socket is the host path of the session's unix socket, passed to the provider as
	// provider.Spec.EgressSocket ("" when none).
	Socket string
	// TCPAddr is the session's host:port on the host loopback, used by providers that
	// are not isolated (their processes share the host network).
	TCPAddr string
	// Token is the session-scoped stand-in for the model API key.
	Token string
	// Close detaches the session. It may be nil.
	Close func() error
}

func (a *EgressAttachment) close() {
	if a != nil && a.Close != nil {
		a.Close()
	}
}

// attachEgress attaches the session to the egress proxy when one is configured; nil
// otherwise.
func (r *Runner) attachEgress(ctx context.Context, sess *hangar.Session, env *hangar.Environment) (*EgressAttachment, error) {
	if r.cfg.Egress == nil {
		return nil, nil
	}
	att, err := r.cfg.Egress.Attach(ctx, sess.ID, egressPolicy(env.Config, &sess.Agent))
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: "the session's network egress could not be set up", Err: err}
	}
	return att, nil
}

// egressPolicy is the networking policy of a session: the environment's networking
// (unrestricted when unset, the API default) and, for a limited policy that allows MCP
// servers, the hosts of the agent's MCP server URLs.
func egressPolicy(cfg hangar.EnvironmentConfig, agent *hangar.Agent) hangar.Networking {
	if cfg.Networking == nil {
		return hangar.Networking{Type: "unrestricted"}
	}
	n := *cfg.Networking
	n.AllowedHosts = slices.Clone(n.AllowedHosts)
	if n.Type == "limited" && n.AllowMCPServers != nil && *n.AllowMCPServers {
		n.AllowedHosts = append(n.AllowedHosts, mcpHosts(agent.MCPServers)...)
	}
	return n
}

// mcpHosts returns the host (with its port, when the URL names one) of each URL MCP
// server in an agent's resolved mcp_servers JSON.
func mcpHosts(raw json.RawMessage) []string {
	var servers []struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(raw, &servers) != nil {
		return nil
	}
	var hosts []string
	for _, s := range servers {
		u, err := url.Parse(s.URL)
		if err != nil || u.Host == "" {
			continue
		}
		if !slices.Contains(hosts, u.Host) {
			hosts = append(hosts, u.Host)
		}
	}
	return hosts
}

// engineEgress is what the engine's CLI is told about the egress proxy: inside an isolated
// sandbox the forwarder at provider.EgressAddr; otherwise the session's host listener.
func engineEgress(att *EgressAttachment, caps provider.Capabilities) engine.Egress {
	if att == nil {
		return engine.Egress{}
	}
	addr := att.TCPAddr
	if caps.Isolated {
		addr = provider.EgressAddr
	}
	return engine.Egress{ModelBaseURL: "http://" + addr, Token: att.Token, HTTPProxy: "http://" + addr}
}
