// Package tunnel carries traffic from a Hangar server to servers on a private network
// (docs/tunnels.md). A connector (Connector, run as `hangar tunnel` inside that network)
// keeps a few idle connections open to the server, each an HTTP/1.1 Upgrade to the
// "hangar-tunnel/1" protocol authenticated with the tunnel's token. The Hub parks them by
// tunnel; to reach a host under a tunnel's domain it takes an idle connection, writes
// "DIAL host:port\n", and after the connector answers "OK\n" the connection is a plain
// byte stream to the connector's gateway (or to host:port itself). The connector replaces
// every connection it hands over, so one connection carries one stream: no multiplexing,
// and a dead connection costs one retry.
//
// The hub serves the connectors of one server process: with several instances, run a
// connector against each (docs/tunnels.md).
package tunnel

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
)

// Protocol is the Upgrade token of connector connections.
const Protocol = "hangar-tunnel/1"

// ConnectPath is where connectors connect: ConnectPath + tunnel ID.
const ConnectPath = "/tunnel/connect/"

// Store is what the hub reads.
type Store interface {
	GetTunnel(ctx context.Context, id string) (*hangar.Tunnel, error)
	GetTunnelByDomain(ctx context.Context, domain string) (*hangar.Tunnel, error)
	ListTunnelCertificates(ctx context.Context, tunnelID string, f hangar.TunnelFilter) ([]*hangar.TunnelCertificate, hangar.PageResult, error)
}

// HubConfig holds a hub's dependencies.
type HubConfig struct {
	Store  Store
	Logger *slog.Logger
	// Wait bounds how long Dial waits for an idle connection of a tunnel; 0 means 10 s.
	Wait time.Duration
	// MaxIdle caps the idle connections parked per tunnel; 0 means 16.
	MaxIdle int
}

// Hub parks connector connections and dials through them. The zero value is not usable;
// call NewHub.
type Hub struct {
	cfg    HubConfig
	mu     sync.Mutex
	pools  map[string]chan net.Conn // by tunnel ID
	closed chan struct{}
	once   sync.Once
}

// NewHub returns a hub.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 10 * time.Second
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = 16
	}
	return &Hub{cfg: cfg, pools: map[string]chan net.Conn{}, closed: make(chan struct{})}
}

func (h *Hub) pool(id string) chan net.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pools[id]
	if p == nil {
		p = make(chan net.Conn, h.cfg.MaxIdle)
		h.pools[id] = p
	}
	return p
}

// Close closes every parked connection; later connections are refused.
func (h *Hub) Close() {
	h.once.Do(func() { close(h.closed) })
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pools {
	drain:
		for {
			select {
			case c := <-p:
				c.Close()
			default:
				break drain
			}
		}
	}
}

// ServeHTTP accepts a connector connection: GET ConnectPath+<tunnel_id> with
// Authorization: Bearer <tunnel token> and Upgrade: hangar-tunnel/1. It answers 101 and
// parks the connection, 401 for a wrong token or an archived tunnel.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, ConnectPath)
	if !strings.EqualFold(r.Header.Get("Upgrade"), Protocol) {
		http.Error(w, "tunnel connectors must upgrade to "+Protocol, http.StatusUpgradeRequired)
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t, err := h.cfg.Store.GetTunnel(r.Context(), id)
	if err != nil || !t.TokenMatches(tok) {
		h.cfg.Logger.Info("tunnel connector refused", "tunnel", id, "remote", r.RemoteAddr)
		http.Error(w, "invalid tunnel or token", http.StatusUnauthorized)
		return
	}
	select {
	case <-h.closed:
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.cfg.Logger.Warn("tunnel hijack", "err", err)
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+Protocol+"\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	c := &bufConn{Conn: conn, r: brw.Reader}
	select {
	case h.pool(id) <- c:
	default:
		// Enough idle connections: this one is not needed.
		conn.Close()
	}
}

// bufConn reads through the bufio.Reader that hijacking returned.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// ErrNoConnector: the tunnel has no connector connected (or none free in time).
var ErrNoConnector = errors.New("the tunnel has no connected connector: run `hangar tunnel` in the private network")

// Dial connects to addr through the tunnel whose domain serves addr's host. ok is false
// when no tunnel domain covers the host (the caller dials as usual). A tunnel that is
// archived or has no live CA certificate refuses traffic.
func (h *Hub) Dial(ctx context.Context, addr string) (net.Conn, bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, false, err
	}
	domain, ok := hangar.TunnelDomainOf(host)
	if !ok {
		return nil, false, nil
	}
	t, err := h.cfg.Store.GetTunnelByDomain(ctx, domain)
	if err != nil {
		return nil, true, fmt.Errorf("tunnel for %s: %w", host, err)
	}
	if t.ArchivedAt != nil {
		return nil, true, fmt.Errorf("tunnel %s is archived", t.ID)
	}
	certs, _, err := h.cfg.Store.ListTunnelCertificates(ctx, t.ID, hangar.TunnelFilter{Page: hangar.Page{Limit: hangar.MaxTunnelCertificates}})
	if err != nil {
		return nil, true, err
	}
	if len(certs) == 0 {
		return nil, true, fmt.Errorf("tunnel %s has no CA certificate: it carries no traffic until one is added", t.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Wait)
	defer cancel()
	p := h.pool(t.ID)
	for {
		var c net.Conn
		select {
		case c = <-p:
		case <-ctx.Done():
			return nil, true, fmt.Errorf("tunnel %s: %w", t.ID, ErrNoConnector)
		}
		conn, err := handshake(ctx, c, addr)
		if err == nil {
			return conn, true, nil
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			return nil, true, fmt.Errorf("tunnel %s: %w", t.ID, err)
		}
		// A connection that died while idle: try the next one.
		h.cfg.Logger.Debug("tunnel: stale connector connection", "tunnel", t.ID, "err", err)
	}
}

// refusedError is the connector's ERR answer: the target could not be dialed.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return "the connector could not reach the target: " + e.msg }

// handshake asks the connector of c to dial addr and waits for its answer.
func handshake(ctx context.Context, c net.Conn, addr string) (net.Conn, error) {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "DIAL "+addr+"\n"); err != nil {
		c.Close()
		return nil, err
	}
	line, err := readLine(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	if msg, ok := strings.CutPrefix(line, "ERR "); ok {
		c.Close()
		return nil, &refusedError{msg: msg}
	}
	if line != "OK" {
		c.Close()
		return nil, fmt.Errorf("tunnel: unexpected connector answer %q", line)
	}
	return c, nil
}

// readLine reads one "\n"-terminated line byte by byte, so that nothing after it is
// consumed from the stream.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 1024 {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
		b.WriteByte(buf[0])
	}
	return "", errors.New("tunnel: line too long")
}

// RootCAs returns the pool of the live CA certificates of the tunnel serving host: the
// gateway's server certificate must chain to one of them.
func (h *Hub) RootCAs(ctx context.Context, host string) (*x509.CertPool, error) {
	domain, ok := hangar.TunnelDomainOf(host)
	if !ok {
		return nil, fmt.Errorf("%s is not a tunnel host", host)
	}
	t, err := h.cfg.Store.GetTunnelByDomain(ctx, domain)
	if err != nil {
		return nil, err
	}
	certs, _, err := h.cfg.Store.ListTunnelCertificates(ctx, t.ID, hangar.TunnelFilter{Page: hangar.Page{Limit: hangar.MaxTunnelCertificates}})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AppendCertsFromPEM([]byte(c.PEM))
	}
	return pool, nil
}
