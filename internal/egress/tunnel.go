package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"

	"github.com/hangar-dev/hangar"
)

// Tunnels reaches hosts on private networks through Hangar tunnels (internal/tunnel,
// docs/tunnels.md): a host under a tunnel's domain is dialed through that tunnel's
// connector instead of the network.
type Tunnels interface {
	// Dial connects to addr through the tunnel serving its host; ok is false when no
	// tunnel domain covers the host.
	Dial(ctx context.Context, addr string) (conn net.Conn, ok bool, err error)
	// RootCAs is the pool the gateway's server certificate must chain to: the tunnel's
	// registered CA certificates (not the system roots).
	RootCAs(ctx context.Context, host string) (*x509.CertPool, error)
}

// dialTunnel is the tunnel step of the forward dial: policy allowed, a tunnel host goes
// through its tunnel (never to the network, and never refused as local).
func (a *Attachment) dialTunnel(ctx context.Context, addr string) (net.Conn, bool, error) {
	if a.p.cfg.Tunnels == nil {
		return nil, false, nil
	}
	return a.p.cfg.Tunnels.Dial(ctx, addr)
}

// dialTLS is the forward transport's TLS dial when tunnels are configured (MCP routes to
// https servers): a tunnel host's certificate is verified against the tunnel's CAs; any
// other host as the transport would, against the system roots.
func (a *Attachment) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	conn, err := a.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{ServerName: host, NextProtos: []string{"http/1.1"}}
	if _, ok := hangar.TunnelDomainOf(host); ok {
		pool, err := a.p.cfg.Tunnels.RootCAs(ctx, host)
		if err != nil {
			conn.Close()
			return nil, err
		}
		cfg.RootCAs = pool
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}
