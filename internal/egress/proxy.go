// Package egress is Hangar's egress proxy: the one way a sandbox reaches the outside.
//
// Each session is attached to the proxy with Attach, which opens a per-session unix socket
// (mounted into isolated sandboxes, where a forwarder exposes it at provider.EgressAddr) and
// a per-session TCP listener on 127.0.0.1 (for providers that run agents as plain host
// processes), and mints a random session token. Both listeners serve the same handler:
//
//   - Model traffic (origin-form requests such as POST /v1/messages) goes to one of three
//     model APIs, chosen by path (see route): Anthropic, OpenAI or Gemini. It must carry
//     the session token in that API's auth style (x-api-key, Authorization: Bearer,
//     x-goog-api-key). The proxy swaps it for the real credential (the session's own,
//     given to Attach, or else the server's), which lives only in the server process,
//     forwards the request to that API's upstream and streams the response back
//     unbuffered, reading token usage off the stream as it passes.
//   - Everything else (HTTP CONNECT tunnels and absolute-form http:// requests) is a forward
//     proxy checked against the environment's networking policy (see Policy).
//
// The real credential is never sent to the sandbox, never logged and never written into a
// response. See docs/egress.md.
package egress

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// DefaultUpstream is the model API the proxy forwards to when Config.Upstream is nil.
const DefaultUpstream = "https://api.anthropic.com"

// NoCredentialMessage is the error message of model requests when neither the session nor
// the server has an upstream credential.
const NoCredentialMessage = "no upstream credential: set ANTHROPIC_API_KEY on the Hangar server, or add an ANTHROPIC_API_KEY environment_variable credential to one of the session's vaults"

// maxSocketPath is the longest unix socket path that works everywhere (macOS: 104 bytes
// including the NUL; Linux: 108).
const maxSocketPath = 103

// Config holds the proxy's settings and dependencies.
type Config struct {
	// Upstream is the Anthropic API base URL (default DefaultUpstream). A path prefix is
	// kept: /v1/messages goes to Upstream.Path + "/v1/messages".
	Upstream *url.URL
	// APIKey is the server's API key, sent upstream as x-api-key. AuthToken, used when
	// APIKey is empty, is sent as Authorization: Bearer. They serve sessions attached
	// without a credential of their own (AttachOptions). With neither, such sessions' model
	// requests get a 401 (NoCredentialMessage).
	APIKey    hangar.Secret
	AuthToken hangar.Secret
	// OpenAIUpstream is the OpenAI API base URL (default DefaultOpenAIUpstream). A path
	// prefix is kept, and a prefix ending in /v1 (OPENAI_BASE_URL's usual form) is not
	// doubled: /v1/responses goes to https://gw.example.com/openai/v1/responses from
	// both https://gw.example.com/openai and https://gw.example.com/openai/v1.
	OpenAIUpstream *url.URL
	// OpenAIKey is the server's OpenAI API key, sent as Authorization: Bearer. Without it
	// (or the session's own) OpenAI requests get a 401 (NoOpenAICredentialMessage).
	OpenAIKey hangar.Secret
	// GeminiUpstream is the Gemini API base URL (default DefaultGeminiUpstream); a path
	// prefix is kept.
	GeminiUpstream *url.URL
	// GeminiKey is the server's Gemini API key, sent as x-goog-api-key. Without it (or
	// the session's own) Gemini requests get a 401 (NoGeminiCredentialMessage).
	GeminiKey hangar.Secret
	// SocketDir holds the per-session unix sockets (created mode 0711: others may connect
	// to a socket whose random name they know but may not list them). Empty means no unix
	// sockets: attachments then only have a TCP address.
	SocketDir string
	Logger    *slog.Logger
	Clock     hangar.Clock
	// Transport carries model requests upstream (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	// Dial opens forward-proxy connections (default: net.Dialer). Tests use it to map
	// names to local servers.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AllowLoopback lets forward-proxy traffic reach loopback and link-local addresses
	// for every allowed host (tests, single-user development). By default only an
	// allowed_hosts entry naming "localhost" or an IP literal may reach them, so a sandbox
	// cannot use the proxy to reach the Hangar API or a cloud metadata service.
	AllowLoopback bool
	// OnUsage, when set, receives the token usage of every model response that reports
	// one, when the response ends.
	OnUsage func(sessionID string, u hangar.Usage)
	// Tunnels, when set, carries traffic to hosts under a tunnel's domain (tunnel.go).
	Tunnels Tunnels
}

// Proxy is the egress proxy. It is safe for concurrent use.
type Proxy struct {
	cfg       Config
	upstreams [numAPIs]*url.URL
	// defaultDial is true when cfg.Dial is the proxy's own dialer, which can refuse local
	// addresses before connecting.
	defaultDial bool
	log         *slog.Logger
	now         hangar.Clock

	mu       sync.Mutex
	sessions map[string]*Attachment
	// tokens indexes attached sessions by the hash of their token (PublicHandler).
	tokens map[[32]byte]*Attachment
	closed bool
}

// New returns a proxy. It creates Config.SocketDir (mode 0711) and removes sockets a
// previous process left there.
func New(cfg Config) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	defaultDial := cfg.Dial == nil
	if defaultDial {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	var ups [numAPIs]*url.URL
	for v, c := range [numAPIs]struct {
		u   *url.URL
		def string
	}{
		apiAnthropic: {cfg.Upstream, DefaultUpstream},
		apiOpenAI:    {cfg.OpenAIUpstream, DefaultOpenAIUpstream},
		apiGemini:    {cfg.GeminiUpstream, DefaultGeminiUpstream},
	} {
		v := api(v)
		up := c.u
		if up == nil {
			up, _ = url.Parse(c.def)
		}
		if (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
			return nil, fmt.Errorf("egress %s upstream %q: want an absolute http or https URL", v, up.Redacted())
		}
		if up.User != nil {
			return nil, fmt.Errorf("egress %s upstream %q: credentials in the URL are not supported; use the API key", v, up.Redacted())
		}
		ups[v] = up
	}
	if cfg.SocketDir != "" {
		if err := os.MkdirAll(cfg.SocketDir, 0o711); err != nil {
			return nil, fmt.Errorf("create egress socket dir: %w", err)
		}
		if err := os.Chmod(cfg.SocketDir, 0o711); err != nil {
			return nil, fmt.Errorf("create egress socket dir: %w", err)
		}
		stale, _ := filepath.Glob(filepath.Join(cfg.SocketDir, "*.sock"))
		for _, s := range stale {
			os.Remove(s)
		}
	}
	return &Proxy{cfg: cfg, upstreams: ups, defaultDial: defaultDial, log: cfg.Logger, now: cfg.Clock, sessions: map[string]*Attachment{}, tokens: map[[32]byte]*Attachment{}}, nil
}

// AttachOptions holds per-session settings of Attach.
type AttachOptions struct {
	// APIKey and AuthToken are the session's own Anthropic credential (from one of its
	// vaults). When either is set it replaces the server's Config.APIKey/AuthToken for
	// this session: APIKey is sent as x-api-key, else AuthToken as Authorization: Bearer.
	// When both are empty the session uses the server's credential.
	APIKey    hangar.Secret
	AuthToken hangar.Secret
	// OpenAIKey and GeminiKey are the session's own OpenAI and Gemini API keys; each,
	// when set, replaces the server's (Config.OpenAIKey, GeminiKey) for this session.
	// Each API's credential is chosen on its own.
	OpenAIKey hangar.Secret
	GeminiKey hangar.Secret
	// MCPServers are the agent's URL MCP servers, served at MCPPath(name) with the
	// session token as bearer (see mcp.go).
	MCPServers []MCPServer
	// OnMCPError, when set, is told when one of MCPServers' credentials fails (its OAuth
	// token could not be refreshed), once until a request to that server succeeds again.
	OnMCPError func(MCPFailure)
}

// credentials returns the upstream credentials of a session attached with o, and where
// each API's came from ("session", "server" or "none"), for the log.
func (o AttachOptions) credentials(cfg Config) (c credentials, source [numAPIs]string) {
	pick := func(session, server bool) string {
		switch {
		case session:
			return "session"
		case server:
			return "server"
		}
		return "none"
	}
	source[apiAnthropic] = pick(o.APIKey != "" || o.AuthToken != "", cfg.APIKey != "" || cfg.AuthToken != "")
	switch source[apiAnthropic] {
	case "session":
		c.apiKey, c.authToken = o.APIKey, o.AuthToken
	case "server":
		c.apiKey, c.authToken = cfg.APIKey, cfg.AuthToken
	}
	source[apiOpenAI] = pick(o.OpenAIKey != "", cfg.OpenAIKey != "")
	c.openAIKey = cmp.Or(o.OpenAIKey, cfg.OpenAIKey)
	source[apiGemini] = pick(o.GeminiKey != "", cfg.GeminiKey != "")
	c.geminiKey = cmp.Or(o.GeminiKey, cfg.GeminiKey)
	return c, source
}

// Attachment is one session's connection to the proxy. Close it when the session's
// sandbox goes away.
type Attachment struct {
	// Socket is the host path of the session's unix socket ("" without Config.SocketDir).
	Socket string
	// TCPAddr is the session's listener on the host loopback, host:port.
	TCPAddr string
	// Token is the session-scoped token the sandbox presents as its model API key.
	Token string

	p         *Proxy
	sessionID string
	policy    *Policy
	// creds are the upstream credentials of this session's model requests (its own or
	// the server's, per API).
	creds      credentials
	log        *slog.Logger
	srv        *http.Server
	ctx        context.Context    // done when the session is detached
	cancel     context.CancelFunc // ends the requests in flight
	models     [numAPIs]*httputil.ReverseProxy
	fwd        *httputil.ReverseProxy
	fwdTr      *http.Transport
	mcpList    []MCPServer
	onMCPError func(MCPFailure)
	mcp        map[string]*httputil.ReverseProxy // by server name; read-only once open
	mcpAuth    map[string]bool                   // servers with an MCPAuth; read-only once open
	mcpFails   sync.Map                          // server name → struct{}: failure reported
	wg         sync.WaitGroup                    // Serve goroutines
	handlers   sync.WaitGroup                    // running handlers; Add only under mu while !closed
	once       sync.Once

	sent, received atomic.Int64

	mu      sync.Mutex
	tunnels map[net.Conn]struct{}
	closed  bool
}

// Attach opens the session's listeners under policy; the session's model requests carry
// opts' credential, or the server's when opts has none. It returns an
// invalid_request_error for an unknown networking type and a conflict_error when the
// session is already attached.
func (p *Proxy) Attach(ctx context.Context, sessionID string, policy hangar.Networking, opts AttachOptions) (*Attachment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pol, err := NewPolicy(policy)
	if err != nil {
		return nil, err
	}
	log := p.log.With("session", sessionID)
	if len(pol.Ignored) > 0 {
		log.Warn("egress: ignoring allowed_hosts entries that are not host names", "entries", pol.Ignored)
	}
	check := func() error {
		if p.closed {
			return hangar.Errorf(hangar.KindUnavailable, "the egress proxy is closed")
		}
		if _, ok := p.sessions[sessionID]; ok {
			return hangar.Errorf(hangar.KindConflict, "session %s is already attached to the egress proxy", sessionID)
		}
		return nil
	}
	p.mu.Lock()
	err = check()
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	creds, source := opts.credentials(p.cfg)
	a := &Attachment{p: p, sessionID: sessionID, policy: pol, creds: creds, log: log, tunnels: map[net.Conn]struct{}{}, mcpList: opts.MCPServers, onMCPError: opts.OnMCPError}
	if err := a.open(); err != nil {
		return nil, err
	}
	// Checked again: another Attach or Close may have run while a opened.
	p.mu.Lock()
	if err = check(); err == nil {
		p.sessions[sessionID] = a
		p.tokens[tokenKey(a.Token)] = a
	}
	p.mu.Unlock()
	if err != nil {
		a.Close()
		return nil, err
	}
	log.Debug("egress attached", "policy", pol.String(), "socket", a.Socket, "tcp", a.TCPAddr,
		"credential", source[apiAnthropic], "openai_credential", source[apiOpenAI], "gemini_credential", source[apiGemini])
	return a, nil
}

// open creates the token, listeners and server of a.
func (a *Attachment) open() (err error) {
	p := a.p
	a.Token = newToken()
	ctx, cancel := context.WithCancel(context.Background())
	a.ctx, a.cancel = ctx, cancel
	var lns []net.Listener
	defer func() {
		if err != nil {
			a.cancel()
			for _, ln := range lns {
				ln.Close()
			}
		}
	}()
	if p.cfg.SocketDir != "" {
		var name [12]byte
		rand.Read(name[:])
		path := filepath.Join(p.cfg.SocketDir, hex.EncodeToString(name[:])+".sock")
		if len(path) > maxSocketPath {
			return fmt.Errorf("egress socket path %s is %d bytes, longer than the %d unix sockets allow; use a shorter data dir", path, len(path), maxSocketPath)
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return fmt.Errorf("egress socket: %w", err)
		}
		lns = append(lns, ln)
		if err := os.Chmod(path, 0o666); err != nil {
			return fmt.Errorf("egress socket: %w", err)
		}
		a.Socket = path
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("egress listener: %w", err)
	}
	lns = append(lns, ln)
	a.TCPAddr = ln.Addr().String()

	a.fwdTr = &http.Transport{
		Proxy:                 nil,
		DialContext:           a.dial,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
	}
	if p.cfg.Tunnels != nil {
		a.fwdTr.DialTLSContext = a.dialTLS // tunnel hosts verify against the tunnel's CAs
	}
	for v := range numAPIs {
		a.models[v] = &httputil.ReverseProxy{
			Rewrite:        func(pr *httputil.ProxyRequest) { a.rewriteModel(v, pr) },
			Transport:      p.cfg.Transport,
			FlushInterval:  -1,
			ModifyResponse: func(resp *http.Response) error { return a.modelResponse(v, resp) },
			ErrorHandler:   func(w http.ResponseWriter, r *http.Request, err error) { a.modelError(v, w, r, err) },
			ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		}
	}
	a.fwd = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.Out.Host = pr.In.Host },
		Transport:      a.fwdTr,
		FlushInterval:  -1,
		ModifyResponse: a.countResponse,
		ErrorHandler:   a.forwardError,
		ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.mcp = a.mcpRoutes(a.mcpList)
	a.mcpAuth = map[string]bool{}
	for _, s := range a.mcpList {
		if s.Auth != nil {
			a.mcpAuth[s.Name] = true
		}
	}
	a.srv = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	for _, ln := range lns {
		a.wg.Go(func() { a.srv.Serve(ln) })
	}
	return nil
}

// newToken returns a random session token.
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "hangar-egress-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// SessionID returns the attached session's ID.
func (a *Attachment) SessionID() string { return a.sessionID }

// Bytes returns how many bytes the session sent out and received through the proxy so
// far (request and response bodies, and both directions of CONNECT tunnels).
func (a *Attachment) Bytes() (sent, received int64) { return a.sent.Load(), a.received.Load() }

// Close stops the session's listeners, ends its open requests and tunnels and removes
// its socket. Closing twice is a no-op.
func (a *Attachment) Close() error {
	a.once.Do(func() {
		a.cancel()
		a.srv.Close()
		a.mu.Lock()
		a.closed = true
		for c := range a.tunnels {
			c.Close()
		}
		a.mu.Unlock()
		a.wg.Wait()
		a.handlers.Wait()
		a.fwdTr.CloseIdleConnections()
		if a.Socket != "" {
			os.Remove(a.Socket)
		}
		a.p.mu.Lock()
		if a.p.sessions[a.sessionID] == a {
			delete(a.p.sessions, a.sessionID)
		}
		if k := tokenKey(a.Token); a.p.tokens[k] == a {
			delete(a.p.tokens, k) // the token is revoked on the public endpoint too
		}
		a.p.mu.Unlock()
		sent, received := a.Bytes()
		a.log.Debug("egress detached", "bytes_sent", sent, "bytes_received", received)
	})
	return nil
}

// Bytes returns the traffic counters of an attached session (zeros when not attached).
func (p *Proxy) Bytes(sessionID string) (sent, received int64) {
	p.mu.Lock()
	a := p.sessions[sessionID]
	p.mu.Unlock()
	if a == nil {
		return 0, 0
	}
	return a.Bytes()
}

// Close detaches every session; Attach fails afterwards.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	all := make([]*Attachment, 0, len(p.sessions))
	for _, a := range p.sessions {
		all = append(all, a)
	}
	p.mu.Unlock()
	for _, a := range all {
		a.Close()
	}
	return nil
}

// ServeHTTP routes one request from the sandbox.
func (a *Attachment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		http.Error(w, "hangar egress: the session was detached", http.StatusServiceUnavailable)
		return
	}
	a.handlers.Add(1)
	a.mu.Unlock()
	defer a.handlers.Done()
	switch {
	case r.Method == http.MethodConnect:
		a.connect(w, r)
	case r.URL.Host != "" && !a.isSelf(r.URL.Host):
		a.forward(w, r)
	case strings.HasPrefix(r.URL.Path, MCPPrefix):
		a.serveMCP(w, r)
	default:
		// Origin-form, or absolute-form addressed to the proxy itself (a client that sends
		// its model requests through HTTP_PROXY).
		a.serveModel(w, r)
	}
}

// isSelf reports whether hostport is an address of this attachment's listeners.
func (a *Attachment) isSelf(hostport string) bool {
	switch strings.ToLower(hostport) {
	case a.TCPAddr, provider.EgressAddr, "localhost:" + portOf(provider.EgressAddr):
		return true
	}
	return false
}

func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

// serveModel handles model API traffic.
func (a *Attachment) serveModel(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" && (r.Method == http.MethodHead || r.Method == http.MethodGet) {
		w.WriteHeader(http.StatusOK) // connectivity probe (claude sends HEAD / first)
		return
	}
	v, ok := route(r)
	if !ok {
		writeError(w, apiAnthropic, errNotFound, "hangar egress proxy: only model API paths (/v1/, /v1beta/) are served here")
		return
	}
	if !a.validToken(v, r) {
		a.log.Info("egress: model request without a valid session token", "api", v, "method", r.Method, "path", r.URL.Path)
		writeError(w, v, errUnauthenticated, "invalid session token: use the API key Hangar gave this sandbox")
		return
	}
	if !a.creds.has(v) {
		writeError(w, v, errUnauthenticated, noCredentialMessage(v))
		return
	}
	if r.Body != nil {
		r.Body = &countReader{rc: r.Body, n: &a.sent}
	}
	start := a.p.now()
	sw := &statusWriter{ResponseWriter: w}
	a.models[v].ServeHTTP(sw, r)
	a.log.Debug("egress model request", "api", v, "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", a.p.now().Sub(start))
}

// rewriteModel points the request at v's upstream and swaps the session token for the
// session's real credential. The session token goes nowhere: every header and query
// parameter that can carry it is removed.
func (a *Attachment) rewriteModel(v api, pr *httputil.ProxyRequest) {
	up := a.p.upstreams[v]
	out := pr.Out.URL
	if v == apiOpenAI && strings.HasSuffix(up.Path, "/v1") && strings.HasPrefix(out.Path, "/v1/") {
		// OPENAI_BASE_URL usually ends in /v1 and the client sends /v1/responses.
		out.Path, out.RawPath = strings.TrimPrefix(out.Path, "/v1"), ""
	}
	if v == apiGemini {
		out.RawQuery = withoutQueryParam(out.RawQuery, "key")
	}
	pr.SetURL(up)
	h := pr.Out.Header
	h.Del("X-Api-Key")
	h.Del("X-Goog-Api-Key")
	h.Del("Authorization")
	h.Del("Proxy-Authorization")
	h.Del("Cookie")
	// Identity encoding keeps the stream readable for usage accounting and unbuffered.
	h.Set("Accept-Encoding", "identity")
	a.creds.set(v, h)
}

// modelResponse wraps the upstream body to count it and read its usage.
func (a *Attachment) modelResponse(v api, resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var scan scanner
	switch mt {
	case "text/event-stream":
		scan = &sseUsage{api: v}
	case "application/json":
		scan = &jsonUsage{api: v}
	default:
		scan = nopScanner{}
	}
	report := func(u hangar.Usage) {
		a.log.Debug("egress model usage", "api", v, "input_tokens", u.InputTokens, "output_tokens", u.OutputTokens,
			"cache_read_input_tokens", u.CacheReadInputTokens)
		if a.p.cfg.OnUsage != nil {
			a.p.cfg.OnUsage(a.sessionID, u)
		}
	}
	resp.Body = &usageBody{rc: resp.Body, scan: scan, report: report, count: func(n int) { a.received.Add(int64(n)) }}
	return nil
}

func (a *Attachment) modelError(v api, w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away or the session was detached
	}
	a.log.Warn("egress: model upstream failed", "api", v, "path", r.URL.Path, "err", err)
	writeError(w, v, errUpstream, "hangar egress proxy: the model API could not be reached")
}

// statusWriter records the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type nopScanner struct{}

func (nopScanner) write([]byte)                 {}
func (nopScanner) finish() (hangar.Usage, bool) { return hangar.Usage{}, false }

// countReader counts the bytes read through it.
type countReader struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countReader) Close() error { return c.rc.Close() }

// errDenied is a forward-proxy destination the policy refuses.
type errDenied struct {
	addr  string
	local bool
}

func (e *errDenied) Error() string {
	if e.local {
		return fmt.Sprintf("hangar egress: %s is a loopback or link-local address, which sandboxes may not reach", e.addr)
	}
	return fmt.Sprintf("hangar egress: %s is not allowed by this environment's networking policy (add the host to networking.allowed_hosts)", e.addr)
}

var _ error = (*errDenied)(nil)

// isErrDenied reports whether err is (or wraps) an errDenied.
func isErrDenied(err error) (*errDenied, bool) {
	var d *errDenied
	ok := errors.As(err, &d)
	return d, ok
}
