package egress_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

// fakeTunnels carries every host under a tunnel domain to a local TLS server and reports
// ca as the tunnel's CA.
type fakeTunnels struct {
	srv   *httptest.Server
	ca    *x509.Certificate
	dials atomic.Int32
}

func (f *fakeTunnels) Dial(ctx context.Context, addr string) (net.Conn, bool, error) {
	host, _, _ := net.SplitHostPort(addr)
	if _, ok := hangar.TunnelDomainOf(host); !ok {
		return nil, false, nil
	}
	f.dials.Add(1)
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", f.srv.Listener.Addr().String())
	return c, true, err
}

func (f *fakeTunnels) RootCAs(context.Context, string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	pool.AddCert(f.ca)
	return pool, nil
}

// TestMCPRouteThroughTunnel: an MCP server under a tunnel domain is dialed through
// Config.Tunnels (not the network, and not refused as a local address) and its
// certificate is verified against the tunnel's CAs; under limited networking the policy
// still decides first.
func TestMCPRouteThroughTunnel(t *testing.T) {
	host := "mcp.tabc" + hangar.TunnelDomainSuffix
	ca, caKey := newCA(t)
	private := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"host":"`+r.Host+`"}}`)
	}))
	private.TLS = &tls.Config{Certificates: []tls.Certificate{issue(t, ca, caKey, host)}}
	private.StartTLS()
	t.Cleanup(private.Close)
	other, _ := newCA(t)
	up, _ := url.Parse("https://" + host + "/mcp")
	for _, tc := range []struct {
		name   string
		net    hangar.Networking
		ca     *x509.Certificate
		status int
		dialed bool
	}{
		{"unrestricted", hangar.Networking{Type: "unrestricted"}, ca, 200, true},
		{"limited with the host allowed", hangar.Networking{Type: "limited", AllowedHosts: []string{host}}, ca, 200, true},
		{"limited without the host", hangar.Networking{Type: "limited"}, ca, 403, false},
		{"gateway not issued by the tunnel's CA", hangar.Networking{Type: "unrestricted"}, other, 502, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tun := &fakeTunnels{srv: private, ca: tc.ca}
			f := newFixture(t, nil, func(c *egress.Config) { c.Tunnels = tun })
			a, err := f.proxy.Attach(t.Context(), "sesn_tunnel", tc.net, egress.AttachOptions{
				MCPServers: []egress.MCPServer{{Name: "private", URL: up}},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			req, _ := http.NewRequest(http.MethodPost, "http://"+a.TCPAddr+egress.MCPPath("private"), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			req.Header.Set("Authorization", "Bearer "+a.Token)
			resp, err := tcpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == 200 && !strings.Contains(body, host) {
				t.Errorf("body = %s", body)
			}
			if got := tun.dials.Load() > 0; got != tc.dialed {
				t.Errorf("dialed through the tunnel: %v, want %v", got, tc.dialed)
			}
		})
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tunnel test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, host string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
