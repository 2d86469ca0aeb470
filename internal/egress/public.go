package egress

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"
)

// PublicPrefix is where the main Hangar HTTP server mounts PublicHandler.
const PublicPrefix = "/egress"

// DefaultMaxPublicBody caps request bodies on the public endpoint (Anthropic's own limit
// for a Messages request is 32 MB).
const DefaultMaxPublicBody = 32 << 20

// PublicConfig configures PublicHandler.
type PublicConfig struct {
	// MaxBodyBytes caps request bodies; 0 means DefaultMaxPublicBody.
	MaxBodyBytes int64
	// FailLogEvery is the least time between two log lines about failed authentication;
	// the count of failures in between is logged with the next one. 0 means a minute.
	FailLogEvery time.Duration
}

// PublicHandler serves the model API routes of every attached session over the main HTTP
// server, for sandboxes on remote machines that cannot reach the per-session socket or
// loopback listener (cloud providers, Kubernetes). Mount it at PublicPrefix: a request
// for PublicPrefix + "/v1/messages" is served like /v1/messages on a session's own
// listener. The session is found by the token the request presents in its API's auth
// style (x-api-key / Authorization: Bearer / x-goog-api-key / ?key=); a session is
// reachable here exactly while it is attached, so Attachment.Close revokes its token.
//
// Only model traffic is served: no CONNECT, no absolute-form forward proxying. A remote
// sandbox's other traffic goes out through its vendor's network, under whatever policy
// its provider maps the environment's networking to.
func (p *Proxy) PublicHandler(cfg PublicConfig) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxPublicBody
	}
	if cfg.FailLogEvery <= 0 {
		cfg.FailLogEvery = time.Minute
	}
	return &publicHandler{p: p, cfg: cfg}
}

type publicHandler struct {
	p   *Proxy
	cfg PublicConfig

	mu      sync.Mutex
	failed  int64 // failures since the last log line
	total   int64
	lastLog time.Time
}

func (h *publicHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Work on a copy whose path is the one the session's own listener would see.
	rest, ok := strings.CutPrefix(r.URL.Path, PublicPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		writeError(w, apiAnthropic, errNotFound, "hangar egress: not an egress path")
		return
	}
	if rest == "" {
		rest = "/"
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = rest, ""
	r2.URL.Host, r2.URL.Scheme = "", ""
	r2.RequestURI = ""
	if r.Method == http.MethodConnect {
		writeError(w, apiAnthropic, errNotFound, "hangar egress: the public endpoint serves model API paths only")
		return
	}
	if rest == "/" && (r.Method == http.MethodHead || r.Method == http.MethodGet) {
		w.WriteHeader(http.StatusOK) // connectivity probe (claude sends HEAD to its base URL)
		return
	}
	v, ok := route(r2)
	if !ok {
		writeError(w, apiAnthropic, errNotFound, "hangar egress: only model API paths (/v1/, /v1beta/) are served here")
		return
	}
	a := h.p.byToken(presentedToken(v, r2))
	if a == nil {
		h.authFailed(r2, v)
		writeError(w, v, errUnauthenticated, "invalid session token: use the API key Hangar gave this sandbox")
		return
	}
	if r2.Body != nil {
		r2.Body = http.MaxBytesReader(w, r2.Body, h.cfg.MaxBodyBytes)
	}
	a.servePublic(w, r2)
}

// authFailed counts a request without a valid token and logs at most one line per
// FailLogEvery, with the count since the last one. The presented token is never logged.
func (h *publicHandler) authFailed(r *http.Request, v api) {
	now := h.p.now()
	h.mu.Lock()
	h.failed++
	h.total++
	if !h.lastLog.IsZero() && now.Sub(h.lastLog) < h.cfg.FailLogEvery {
		h.mu.Unlock()
		return
	}
	n, total := h.failed, h.total
	h.failed, h.lastLog = 0, now
	h.mu.Unlock()
	h.p.log.Warn("egress: public model request without a valid session token",
		"failures", n, "failures_total", total, "api", v, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
}

// servePublic serves a model request that reached the main server with a's token. It ends
// when a is closed, like the requests on a's own listeners.
func (a *Attachment) servePublic(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		writeError(w, apiAnthropic, errUnauthenticated, "invalid session token: use the API key Hangar gave this sandbox")
		return
	}
	a.handlers.Add(1)
	a.mu.Unlock()
	defer a.handlers.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(a.ctx, cancel)
	defer stop()
	a.serveModel(w, r.WithContext(ctx))
}

// tokenKey is the index key of a session token: its hash, so that finding a token is not
// a byte-by-byte comparison against the secret.
func tokenKey(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// byToken returns the attached session whose token is token, or nil.
func (p *Proxy) byToken(token string) *Attachment {
	if token == "" {
		return nil
	}
	k := tokenKey(token)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokens[k]
}
