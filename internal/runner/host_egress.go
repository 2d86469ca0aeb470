package runner

import (
	"context"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// hostEgress tells an engine that runs in the server process (engine.Capabilities.
// HostModel: native) where the session's egress proxy is from here, so it reaches the
// agent's MCP servers through the proxy's /mcp/<name>/ routes and the proxy injects their
// vault credentials: one code path for MCP credentials, whether a CLI in a sandbox or the
// server itself makes the calls. A session with a sandbox has its attachment already; a
// delegated (self_hosted) one has none, so it gets one here when its agent has MCP
// servers, kept like a sandbox's until the session is deleted or the runner closes, under
// a policy that lets it reach those servers only.
func (r *Runner) hostEgress(ctx context.Context, st *session, sess *hangar.Session, eng engine.Engine, spec *engine.Spec) error {
	if !eng.Capabilities().HostModel || r.cfg.Egress == nil {
		return nil
	}
	st.mu.Lock()
	att := st.egress
	st.mu.Unlock()
	if att == nil && spec.Delegate && len(engine.MCPEndpoints(sess.Agent.MCPServers, engine.Egress{})) > 0 {
		env, err := r.store.GetEnvironment(ctx, sess.EnvironmentID)
		if err != nil {
			return err
		}
		// The attachment carries only the loop's MCP calls (the model is called
		// directly), so it reaches the agent's MCP servers and nothing else: the policy
		// of a limited environment with allow_mcp_servers.
		only := *env
		yes := true
		only.Config.Networking = &hangar.Networking{Type: "limited", AllowMCPServers: &yes}
		if att, err = r.attachEgress(ctx, sess, &only, eng, provider.Capabilities{}); err != nil {
			return err
		}
		st.mu.Lock()
		if st.egress == nil {
			st.egress = att
		} else {
			att.close()
			att = st.egress
		}
		st.mu.Unlock()
	}
	if att != nil && att.TCPAddr != "" {
		addr := "http://" + att.TCPAddr
		spec.HostEgress = engine.Egress{ModelBaseURL: addr, Token: att.Token, HTTPProxy: addr}
	}
	return nil
}
