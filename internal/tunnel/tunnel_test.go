package tunnel

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// testPKI is a CA and a server certificate it issued for host.
func testPKI(t testing.TB, host string) (caPEM string, server tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type fixture struct {
	st      *sqlstore.DB
	hub     *Hub
	hubURL  string
	tunnel  *hangar.Tunnel
	token   string
	host    string
	gateway *httptest.Server
}

func newFixture(t testing.TB, withCert bool) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, token: "hgtnl_test-token"}
	f.tunnel = &hangar.Tunnel{ID: hangar.NewID(hangar.PrefixTunnel), Domain: "tabc123" + hangar.TunnelDomainSuffix, CreatedAt: time.Now(),
		TokenID: "tnltok_1", TokenHash: hangar.TunnelTokenHash(f.token)}
	if err := st.CreateTunnel(ctx, f.tunnel); err != nil {
		t.Fatal(err)
	}
	f.host = "mcp." + f.tunnel.Domain
	caPEM, cert := testPKI(t, f.host)
	if withCert {
		if err := st.CreateTunnelCertificate(ctx, &hangar.TunnelCertificate{ID: hangar.NewID(hangar.PrefixTunnelCertificate), TunnelID: f.tunnel.ID, PEM: caPEM, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	f.gateway = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "private server says hi to "+r.Host)
	}))
	f.gateway.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	f.gateway.StartTLS()
	t.Cleanup(f.gateway.Close)
	f.hub = NewHub(HubConfig{Store: st, Wait: 5 * time.Second})
	hubSrv := httptest.NewServer(f.hub)
	t.Cleanup(hubSrv.Close)
	t.Cleanup(f.hub.Close)
	f.hubURL = hubSrv.URL
	return f
}

// connect runs a connector until the test ends and waits until n connections are parked.
func (f *fixture) connect(t testing.TB, token string, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	parked := make(chan struct{}, 64)
	done := make(chan error, 1)
	c := NewConnector(ConnectorConfig{Server: f.hubURL, TunnelID: f.tunnel.ID, Token: token, Gateway: f.gateway.Listener.Addr().String(), Idle: n,
		Ready: func() {
			select {
			case parked <- struct{}{}:
			default: // later replacements: nobody counts them
			}
		}})
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for range n {
		select {
		case <-parked:
		case err := <-done:
			t.Fatalf("connector stopped: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("connector did not connect")
		}
	}
}

// get sends one HTTPS request to the private server through the hub, verifying the
// gateway against the tunnel's CA as the egress proxy does.
func (f *fixture) get(t testing.TB) (string, error) {
	t.Helper()
	ctx := context.Background()
	conn, ok, err := f.hub.Dial(ctx, f.host+":443")
	if !ok {
		t.Fatalf("Dial did not claim %s", f.host)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	pool, err := f.hub.RootCAs(ctx, f.host)
	if err != nil {
		return "", err
	}
	tc := tls.Client(conn, &tls.Config{ServerName: f.host, RootCAs: pool})
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", err
	}
	req, _ := http.NewRequest("GET", "https://"+f.host+"/mcp", nil)
	if err := req.Write(tc); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestTunnelRoundTrip: requests for a host under the tunnel's domain reach the private
// gateway through the connector, with TLS verified end to end against the tunnel's CA;
// every stream uses its own connection and the connector replaces it.
func TestTunnelRoundTrip(t *testing.T) {
	f := newFixture(t, true)
	f.connect(t, f.token, 2)
	for i := range 5 {
		got, err := f.get(t)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got != "private server says hi to "+f.host {
			t.Fatalf("request %d = %q", i, got)
		}
	}
	if _, ok, _ := f.hub.Dial(context.Background(), "example.com:443"); ok {
		t.Error("the hub claimed a host outside every tunnel domain")
	}
}

// TestTunnelRefusals: a wrong token stops the connector; a tunnel without certificates,
// an archived tunnel, and a tunnel with no connector refuse traffic; a gateway whose
// certificate does not chain to the tunnel's CA fails TLS.
func TestTunnelRefusals(t *testing.T) {
	t.Run("wrong token", func(t *testing.T) {
		f := newFixture(t, true)
		err := NewConnector(ConnectorConfig{Server: f.hubURL, TunnelID: f.tunnel.ID, Token: "hgtnl_wrong"}).Run(context.Background())
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Run = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		f := newFixture(t, false)
		f.connect(t, f.token, 1)
		if _, err := f.get(t); err == nil || !strings.Contains(err.Error(), "no CA certificate") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no connector", func(t *testing.T) {
		f := newFixture(t, true)
		f.hub.cfg.Wait = 50 * time.Millisecond
		if _, err := f.get(t); !errors.Is(err, ErrNoConnector) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("archived", func(t *testing.T) {
		f := newFixture(t, true)
		f.connect(t, f.token, 1)
		f.st.UpdateTunnel(context.Background(), f.tunnel.ID, func(tn *hangar.Tunnel) error { now := time.Now(); tn.ArchivedAt = &now; return nil })
		if _, err := f.get(t); err == nil || !strings.Contains(err.Error(), "archived") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("untrusted gateway", func(t *testing.T) {
		f := newFixture(t, true)
		otherCA, _ := testPKI(t, f.host)
		certs, _, _ := f.st.ListTunnelCertificates(context.Background(), f.tunnel.ID, hangar.TunnelFilter{})
		f.st.ArchiveTunnelCertificate(context.Background(), f.tunnel.ID, certs[0].ID, time.Now())
		f.st.CreateTunnelCertificate(context.Background(), &hangar.TunnelCertificate{ID: hangar.NewID(hangar.PrefixTunnelCertificate), TunnelID: f.tunnel.ID, PEM: otherCA, CreatedAt: time.Now()})
		f.connect(t, f.token, 1)
		if _, err := f.get(t); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("err = %v, want a certificate verification failure", err)
		}
	})
}
