package egress

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// The forward proxy: HTTP CONNECT tunnels and absolute-form http:// requests, each checked
// against the session's Policy before any name is resolved or any connection is made.

// dial connects to addr for the forward proxy if the policy allows it. It never resolves a
// disallowed name, and refuses loopback and link-local destinations unless the matching
// rule named one explicitly (or Config.AllowLoopback is set).
func (a *Attachment) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := a.policy.Check(host, port)
	if !d.Allowed {
		return nil, &errDenied{addr: addr}
	}
	if conn, ok, err := a.dialTunnel(ctx, addr); ok {
		return conn, err
	}
	allowLocal := d.Local || a.p.cfg.AllowLoopback
	dial := a.p.cfg.Dial
	if a.p.defaultDial && !allowLocal {
		// Refuse local addresses before connecting, whatever the name resolved to.
		dl := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				if isLocal(address) {
					return &errDenied{addr: addr, local: true}
				}
				return nil
			}}
		dial = dl.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if !allowLocal && isLocal(conn.RemoteAddr().String()) {
		conn.Close()
		return nil, &errDenied{addr: addr, local: true}
	}
	return conn, nil
}

// isLocal reports whether hostport is a loopback, link-local, unspecified or multicast
// address.
func isLocal(hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast()
}

// connect serves an HTTP CONNECT tunnel.
func (a *Attachment) connect(w http.ResponseWriter, r *http.Request) {
	addr := r.Host
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
		http.Error(w, "hangar egress: CONNECT needs a host:port authority", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := a.dial(ctx, "tcp", addr)
	cancel()
	if err != nil {
		a.refuse(w, r, addr, err)
		return
	}
	if !a.track(up) {
		up.Close()
		http.Error(w, "hangar egress: the session was detached", http.StatusServiceUnavailable)
		return
	}
	defer a.untrack(up)
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "hangar egress: CONNECT is not supported on this connection", http.StatusInternalServerError)
		return
	}
	if !a.track(client) {
		client.Close()
		return
	}
	defer a.untrack(client)
	a.log.Debug("egress tunnel", "addr", addr)
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	// Bytes the client sent after the request head may already sit in the server's buffer.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
		a.sent.Add(int64(n))
	}
	a.splice(client, up)
}

// splice copies both ways until the upstream is done sending. When the client finishes
// sending first, the upstream gets a half-close and may keep answering.
func (a *Attachment) splice(client, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := io.Copy(up, &countReader{rc: client, n: &a.sent}); err == nil {
			closeWrite(up)
		} else {
			up.Close()
		}
	}()
	io.Copy(client, &countReader{rc: up, n: &a.received})
	client.Close()
	up.Close()
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// track registers an open tunnel connection so that Close can end it; false when the
// attachment is closed.
func (a *Attachment) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.tunnels[c] = struct{}{}
	return true
}

func (a *Attachment) untrack(c net.Conn) {
	a.mu.Lock()
	delete(a.tunnels, c)
	a.mu.Unlock()
	c.Close()
}

// forward serves an absolute-form http:// request.
func (a *Attachment) forward(w http.ResponseWriter, r *http.Request) {
	if r.URL.Scheme != "http" {
		http.Error(w, "hangar egress: only http:// URLs are proxied in absolute form; use CONNECT for https", http.StatusBadRequest)
		return
	}
	port := r.URL.Port()
	if port == "" {
		port = "80"
	}
	addr := net.JoinHostPort(r.URL.Hostname(), port)
	if !a.policy.Check(r.URL.Hostname(), port).Allowed {
		a.refuse(w, r, addr, &errDenied{addr: addr})
		return
	}
	if r.Body != nil {
		r.Body = &countReader{rc: r.Body, n: &a.sent}
	}
	a.log.Debug("egress http", "method", r.Method, "addr", addr)
	a.fwd.ServeHTTP(w, r)
}

func (a *Attachment) countResponse(resp *http.Response) error {
	resp.Body = &countReader{rc: resp.Body, n: &a.received}
	return nil
}

func (a *Attachment) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	a.refuse(w, r, r.URL.Host, err)
}

// refuse answers a forward-proxy request that could not be served: 403 with a plain-text
// reason when the policy denies it, 502 otherwise.
func (a *Attachment) refuse(w http.ResponseWriter, r *http.Request, addr string, err error) {
	if d, ok := isErrDenied(err); ok {
		a.log.Info("egress denied", "addr", addr, "local", d.local)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Hangar-Egress", "denied")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, d.Error()+"\n")
		return
	}
	if r.Context().Err() != nil {
		return
	}
	a.log.Info("egress: upstream unreachable", "addr", addr, "err", err)
	http.Error(w, "hangar egress: "+addr+" could not be reached", http.StatusBadGateway)
}
