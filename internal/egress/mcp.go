package egress

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// MCPPrefix is the path under which an attachment serves the agent's URL MCP servers:
// /mcp/<server-name>/... goes to that server's URL.
const MCPPrefix = "/mcp/"

// MCPServer is one URL MCP server of a session's agent, reached through the proxy.
type MCPServer struct {
	// Name is the server's name in the agent's mcp_servers (the path segment after
	// MCPPrefix, path-escaped).
	Name string
	// URL is the server's real endpoint.
	URL *url.URL
	// Token, when set, is sent upstream as Authorization: Bearer (the access token of the
	// session vault's static_bearer or mcp_oauth credential for URL). It lives only in the
	// server process: the sandbox presents the session token instead.
	Token hangar.Secret
	// Auth, when set, supplies the bearer instead of Token: an mcp_oauth credential whose
	// access token is refreshed when it has expired or the server answers 401 (oauth.go).
	Auth MCPAuth
}

// MCPFailure is an MCP server's credential failing for a session: its token could not be
// refreshed. AttachOptions.OnMCPError reports it (the runner: as a session.error).
type MCPFailure struct {
	ServerName   string
	CredentialID string
	// Message is safe to show to API clients.
	Message string
	Err     error
}

// MCPPath returns the path of server name's route on an attachment, with a trailing slash.
func MCPPath(name string) string { return MCPPrefix + url.PathEscape(name) + "/" }

// mcpRoutes builds the reverse proxies of a session's MCP servers, by name.
func (a *Attachment) mcpRoutes(servers []MCPServer) map[string]*httputil.ReverseProxy {
	routes := make(map[string]*httputil.ReverseProxy, len(servers))
	for _, s := range servers {
		if s.Name == "" || s.URL == nil {
			continue
		}
		var tr http.RoundTripper = a.fwdTr // policy-checked dials: see egressPolicy's allow_mcp_servers
		if s.Auth != nil {
			tr = &oauthTransport{base: tr, auth: s.Auth, ok: func() { a.mcpFails.Delete(s.Name) }}
		}
		routes[s.Name] = &httputil.ReverseProxy{
			Rewrite:   func(pr *httputil.ProxyRequest) { a.rewriteMCP(s, pr) },
			Transport: tr,
			// MCP streamable HTTP answers POSTs with JSON or an SSE stream, and GET opens a
			// long-lived SSE stream: every byte is flushed as it arrives.
			FlushInterval:  -1,
			ModifyResponse: a.countResponse,
			ErrorHandler:   func(w http.ResponseWriter, r *http.Request, err error) { a.mcpError(s.Name, w, r, err) },
		}
	}
	return routes
}

// serveMCP handles /mcp/<name>/...: it checks the session token (Authorization: Bearer)
// and forwards the request to the named server with the real credential.
func (a *Attachment) serveMCP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), MCPPrefix)
	seg, _, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(seg)
	rp := a.mcp[name]
	if err != nil || rp == nil {
		writeError(w, apiAnthropic, errNotFound, "hangar egress proxy: the agent has no MCP server of that name")
		return
	}
	got := bearer(r.Header)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) != 1 {
		a.log.Info("egress: MCP request without a valid session token", "mcp_server", name, "method", r.Method)
		writeError(w, apiAnthropic, errUnauthenticated, "invalid session token: use the bearer token Hangar gave this sandbox")
		return
	}
	if r.Body != nil {
		r.Body = &countReader{rc: r.Body, n: &a.sent}
		if a.mcpAuth[name] {
			replayable(r) // a request rejected with 401 is sent again after a refresh
		}
	}
	start := a.p.now()
	sw := &statusWriter{ResponseWriter: w}
	rp.ServeHTTP(sw, r)
	a.log.Debug("egress MCP request", "mcp_server", name, "method", r.Method, "status", sw.status, "duration", a.p.now().Sub(start).Round(time.Millisecond))
}

// rewriteMCP points a request at s: /mcp/<name>/ is s.URL itself and /mcp/<name>/x is
// s.URL/x. The session token goes nowhere; s.Token, when set, replaces it.
func (a *Attachment) rewriteMCP(s MCPServer, pr *httputil.ProxyRequest) {
	rest := strings.TrimPrefix(pr.In.URL.EscapedPath(), MCPPrefix)
	_, sub, _ := strings.Cut(rest, "/")
	out := *s.URL
	if sub != "" {
		if p, err := url.PathUnescape(sub); err == nil {
			out.Path, out.RawPath = strings.TrimSuffix(out.Path, "/")+"/"+p, ""
		}
	}
	if pr.In.URL.RawQuery != "" {
		out.RawQuery = pr.In.URL.RawQuery
	}
	pr.Out.URL = &out
	pr.Out.Host = out.Host
	h := pr.Out.Header
	h.Del("Authorization")
	h.Del("Proxy-Authorization")
	h.Del("Cookie")
	if s.Token != "" {
		h.Set("Authorization", "Bearer "+s.Token.Reveal())
	}
}

func (a *Attachment) mcpError(name string, w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return
	}
	var af *mcpAuthError
	if errors.As(err, &af) {
		a.mcpAuthFailed(name, af, w)
		return
	}
	if _, ok := isErrDenied(err); ok {
		a.refuse(w, r, r.URL.Host, err) // 403: a limited policy without allow_mcp_servers
		return
	}
	a.log.Warn("egress: MCP server failed", "mcp_server", name, "err", err)
	writeError(w, apiAnthropic, errUpstream, "hangar egress proxy: the MCP server could not be reached")
}
