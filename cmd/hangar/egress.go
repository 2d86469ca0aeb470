package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/runner"
)

// maxEgressDir is the longest socket directory that leaves room for a socket name
// ("/" + 24 hex + ".sock") within the unix socket path limit.
const maxEgressDir = 103 - 30

// newEgress builds the egress proxy: upstream and credential from the config, sockets in
// <data-dir>/egress (or a short temporary directory when that path is too long for unix
// sockets). cleanup removes that temporary directory.
// tunnels carries traffic to tunnel hosts (docs/tunnels.md).
func newEgress(cfg Config, log *slog.Logger, tunnels egress.Tunnels) (p *egress.Proxy, cleanup func(), err error) {
	var upstreams [3]*url.URL
	for i, b := range []struct{ name, value string }{
		{"ANTHROPIC_BASE_URL", cfg.UpstreamURL},
		{"OPENAI_BASE_URL", cfg.OpenAIURL},
		{"GEMINI_BASE_URL", cfg.GeminiURL},
	} {
		if b.value == "" {
			continue
		}
		if upstreams[i], err = url.Parse(b.value); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", b.name, err)
		}
	}
	dir, err := filepath.Abs(cfg.dataPath("egress"))
	if err != nil {
		return nil, nil, fmt.Errorf("egress socket dir: %w", err)
	}
	cleanup = func() {}
	if len(dir) > maxEgressDir {
		tmp, err := os.MkdirTemp("", "hangar-egress-")
		if err != nil {
			return nil, nil, fmt.Errorf("egress socket dir: %w", err)
		}
		log.Info("data dir path too long for unix sockets; egress sockets live in a temporary directory", "dir", tmp)
		dir = filepath.Join(tmp, "s")
		cleanup = func() { os.RemoveAll(tmp) }
	}
	if cfg.UpstreamKey == "" && cfg.UpstreamAuthToken == "" {
		log.Warn("ANTHROPIC_API_KEY is not set: agents' model requests will fail unless their session names a model credential in a vault")
	}
	var unset []string
	if cfg.OpenAIKey == "" {
		unset = append(unset, "OPENAI_API_KEY")
	}
	if cfg.GeminiKey == "" {
		unset = append(unset, "GEMINI_API_KEY")
	}
	if len(unset) > 0 {
		log.Info("egress: no server credential for some model APIs; their requests need a session vault credential", "unset", unset)
	}
	elog := log.With("component", "egress")
	p, err = egress.New(egress.Config{
		Upstream:       upstreams[0],
		APIKey:         cfg.UpstreamKey,
		AuthToken:      cfg.UpstreamAuthToken,
		OpenAIUpstream: upstreams[1],
		OpenAIKey:      cfg.OpenAIKey,
		GeminiUpstream: upstreams[2],
		GeminiKey:      cfg.GeminiKey,
		SocketDir:      dir,
		Logger:         elog,
		Tunnels:        tunnels,
		OnUsage: func(sessionID string, u hangar.Usage) {
			// Engines report the authoritative per-request usage on span events; this is
			// the proxy's own observation, kept for debugging until metrics exist.
			elog.Debug("model usage", "session", sessionID, "input_tokens", u.InputTokens, "output_tokens", u.OutputTokens)
		},
	})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return p, cleanup, nil
}

// egressAttacher adapts *egress.Proxy to runner.Egress. publicURL is the server's
// HANGAR_PUBLIC_URL ("" when unset); oauth refreshes sessions' mcp_oauth credentials and
// onMCPError reports their failures (runner.ReportMCPFailure).
type egressAttacher struct {
	p          *egress.Proxy
	publicURL  string
	oauth      *egress.OAuth
	onMCPError func(sessionID, server, credential, msg string)
}

func (e egressAttacher) Attach(ctx context.Context, sessionID string, policy hangar.Networking, opts runner.EgressOptions) (*runner.EgressAttachment, error) {
	a, err := e.p.Attach(ctx, sessionID, policy, egress.AttachOptions{APIKey: opts.APIKey, AuthToken: opts.AuthToken,
		OpenAIKey: opts.OpenAIKey, GeminiKey: opts.GeminiKey, MCPServers: mcpServers(opts.MCPServers, e.oauth),
		OnMCPError: e.mcpErrorFunc(sessionID)})
	if err != nil {
		return nil, err
	}
	att := &runner.EgressAttachment{Socket: a.Socket, TCPAddr: a.TCPAddr, Token: a.Token, Close: a.Close}
	if e.publicURL != "" {
		att.PublicURL = strings.TrimSuffix(e.publicURL, "/") + egress.PublicPrefix
	}
	return att, nil
}

// withPublicEgress serves the egress proxy's public model endpoint at /egress/ in front
// of next (outside /v1, so without the admin key: the session token is the credential),
// when the server has a public URL; otherwise it returns next.
func withPublicEgress(next http.Handler, p *egress.Proxy, publicURL string) http.Handler {
	if publicURL == "" {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle(egress.PublicPrefix+"/", p.PublicHandler(egress.PublicConfig{}))
	mux.Handle("/", next)
	return mux
}

var _ runner.Egress = egressAttacher{}

// withExtraProviders registers Config.ExtraProviders' providers in r.
func withExtraProviders(r *provider.Registry, extra func(*provider.Registry)) *provider.Registry {
	if extra != nil {
		extra(r)
	}
	return r
}

// mcpServers converts the runner's MCP servers for the egress proxy; a server whose URL
// does not parse is left out (its route answers 404).
// An mcp_oauth credential's token comes from oauth, which refreshes it.
func mcpServers(in []runner.MCPServer, oauth *egress.OAuth) []egress.MCPServer {
	var out []egress.MCPServer
	for _, s := range in {
		u, err := url.Parse(s.URL)
		if err != nil || u.Host == "" {
			continue
		}
		srv := egress.MCPServer{Name: s.Name, URL: u, Token: s.Token}
		if s.OAuth && oauth != nil {
			srv.Auth = oauth.Source(s.VaultID, s.CredentialID)
		}
		out = append(out, srv)
	}
	return out
}

// mcpErrorFunc returns the proxy's MCP failure callback of session sessionID.
func (e egressAttacher) mcpErrorFunc(sessionID string) func(egress.MCPFailure) {
	if e.onMCPError == nil {
		return nil
	}
	return func(f egress.MCPFailure) { e.onMCPError(sessionID, f.ServerName, f.CredentialID, f.Message) }
}
