package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangar-dev/hangar"
)

// gatewayCA makes a self-signed CA certificate (PEM), as a customer's gateway CA.
func gatewayCA(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "gateway CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestE2ETunnels drives every method of client.Beta.Tunnels and .Certificates against a
// real server: tokens revealed and rotated, at most two live CA certificates, archive
// retiring the tunnel with its certificates and its token.
func TestE2ETunnels(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	tn, err := c.Beta.Tunnels.New(ctx, anthropic.BetaTunnelNewParams{DisplayName: anthropic.String("office")})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(tn.ID, hangar.PrefixTunnel) || tn.Type != "tunnel" || tn.DisplayName != "office" || !strings.HasSuffix(tn.Domain, ".tunnel.hangar.internal") || !tn.ArchivedAt.IsZero() {
		t.Fatalf("created %s", tn.RawJSON())
	}
	other, _ := c.Beta.Tunnels.New(ctx, anthropic.BetaTunnelNewParams{})
	if other.Domain == tn.Domain || other.JSON.DisplayName.Raw() != "null" {
		t.Errorf("second tunnel = %s", other.RawJSON())
	}
	tok, err := c.Beta.Tunnels.RevealToken(ctx, tn.ID, anthropic.BetaTunnelRevealTokenParams{})
	if err != nil || tok.Type != "tunnel_token" || tok.TunnelToken == "" {
		t.Fatalf("reveal = %v, %v", tok, err)
	}
	rot, err := c.Beta.Tunnels.RotateToken(ctx, tn.ID, anthropic.BetaTunnelRotateTokenParams{Reason: anthropic.String("scheduled")})
	if err != nil || rot.ID == tok.ID || rot.TunnelToken == tok.TunnelToken {
		t.Fatalf("rotate = %v, %v", rot, err)
	}
	if again, _ := c.Beta.Tunnels.RevealToken(ctx, tn.ID, anthropic.BetaTunnelRevealTokenParams{}); again.TunnelToken != rot.TunnelToken {
		t.Error("reveal after rotate does not give the new token")
	}
	if got, err := c.Beta.Tunnels.Get(ctx, tn.ID, anthropic.BetaTunnelGetParams{}); err != nil || got.Domain != tn.Domain {
		t.Fatalf("get = %v, %v", got, err)
	}

	certs := c.Beta.Tunnels.Certificates
	c1, err := certs.New(ctx, tn.ID, anthropic.BetaTunnelCertificateNewParams{CACertificatePEM: gatewayCA(t)})
	if err != nil || !strings.HasPrefix(c1.ID, hangar.PrefixTunnelCertificate) || len(c1.Fingerprint) != 64 || c1.TunnelID != tn.ID || c1.ExpiresAt.IsZero() {
		t.Fatalf("certificate = %v, %v", c1, err)
	}
	c2, _ := certs.New(ctx, tn.ID, anthropic.BetaTunnelCertificateNewParams{CACertificatePEM: gatewayCA(t)})
	_, err = certs.New(ctx, tn.ID, anthropic.BetaTunnelCertificateNewParams{CACertificatePEM: gatewayCA(t)})
	wantStatus(t, err, http.StatusConflict, "invalid_request_error")
	if got, err := certs.Get(ctx, c1.ID, anthropic.BetaTunnelCertificateGetParams{TunnelID: tn.ID}); err != nil || got.Fingerprint != c1.Fingerprint {
		t.Fatalf("get certificate = %v, %v", got, err)
	}
	if a, err := certs.Archive(ctx, c1.ID, anthropic.BetaTunnelCertificateArchiveParams{TunnelID: tn.ID}); err != nil || a.ArchivedAt.IsZero() {
		t.Fatalf("archive certificate = %v, %v", a, err)
	}
	live, _ := certs.List(ctx, tn.ID, anthropic.BetaTunnelCertificateListParams{})
	if len(live.Data) != 1 || live.Data[0].ID != c2.ID {
		t.Errorf("live certificates = %v", live.Data)
	}

	arch, err := c.Beta.Tunnels.Archive(ctx, tn.ID, anthropic.BetaTunnelArchiveParams{})
	if err != nil || arch.ArchivedAt.IsZero() {
		t.Fatalf("archive = %v, %v", arch, err)
	}
	if again, _ := c.Beta.Tunnels.Archive(ctx, tn.ID, anthropic.BetaTunnelArchiveParams{}); !again.ArchivedAt.Equal(arch.ArchivedAt) {
		t.Error("archiving twice changed the record")
	}
	all, _ := certs.List(ctx, tn.ID, anthropic.BetaTunnelCertificateListParams{IncludeArchived: anthropic.Bool(true)})
	for _, x := range all.Data {
		if x.ArchivedAt.IsZero() {
			t.Errorf("certificate %s still live after the tunnel was archived", x.ID)
		}
	}
	_, err = c.Beta.Tunnels.RevealToken(ctx, tn.ID, anthropic.BetaTunnelRevealTokenParams{})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	page, _ := c.Beta.Tunnels.List(ctx, anthropic.BetaTunnelListParams{})
	if len(page.Data) != 1 || page.Data[0].ID != other.ID {
		t.Errorf("live tunnels = %v", page.Data)
	}
	page, _ = c.Beta.Tunnels.List(ctx, anthropic.BetaTunnelListParams{IncludeArchived: anthropic.Bool(true)})
	if len(page.Data) != 2 || page.Data[0].ID != other.ID {
		t.Errorf("all tunnels = %v; want newest first", page.Data)
	}
}

// gatewayPKI makes a CA and a server certificate it issued for host (the customer's
// gateway in front of its private MCP server).
func gatewayPKI(t *testing.T, host string) (caPEM string, cert tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "private CA"}, NotBefore: time.Now().Add(-time.Hour),
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

// TestE2ETunnelMCP: the real Claude Code CLI calls an MCP server that only a private
// network reaches. The agent names it by a host under the tunnel's domain; `hangar tunnel`
// (run in-process, as the CLI command does) connects out to the server with the revealed
// token; the egress proxy's MCP route goes through it, verifying the gateway's certificate
// against the CA registered on the tunnel.
func TestE2ETunnelMCP(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	tn, err := c.Beta.Tunnels.New(ctx, anthropic.BetaTunnelNewParams{DisplayName: anthropic.String("lab")})
	if err != nil {
		t.Fatal(err)
	}
	host := "docs." + tn.Domain
	caPEM, cert := gatewayPKI(t, host)
	mcp := &mcpTestServer{}
	private := httptest.NewUnstartedServer(mcp)
	private.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	private.StartTLS()
	t.Cleanup(private.Close)
	if _, err := c.Beta.Tunnels.Certificates.New(ctx, tn.ID, anthropic.BetaTunnelCertificateNewParams{CACertificatePEM: caPEM}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Beta.Tunnels.RevealToken(ctx, tn.ID, anthropic.BetaTunnelRevealTokenParams{})
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- tunnelCommand(cctx, []string{"--url", srv.URL, "--tunnel", tn.ID, "--gateway", private.Listener.Addr().String(), "--idle", "2"},
			func(k string) string {
				if k == "HANGAR_TUNNEL_TOKEN" {
					return tok.TunnelToken
				}
				return ""
			}, io.Discard, &lockedWriter{w: &stderr})
	}()
	t.Cleanup(func() { cancel(); <-done })

	mcpURL := "https://" + host + "/mcp"
	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "tunnel user",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("tools", []map[string]any{
		{"type": "agent_toolset_20260401"},
		{"type": "mcp_toolset", "mcp_server_name": "docs", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_allow"}}},
	}), option.WithJSONSet("mcp_servers", []map[string]any{{"type": "url", "name": "docs", "url": mcpURL}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "tunnel"},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "networking": map[string]any{"type": "limited", "allowed_hosts": []string{}, "allow_mcp_servers": true}}))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "tunnel creds"})
	if _, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{Token: mcpTestToken, MCPServerURL: mcpURL}},
	}); err != nil {
		t.Fatal(err)
	}
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)}, EnvironmentID: env.ID, VaultIDs: []string{v.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage(`CUSTOM:lookup {"q":"hangar"}`))
	var result string
	evs := readUntil(t, stream, isIdle)
	for _, ev := range evs {
		if ev.Type == "agent.mcp_tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "definition of hangar") {
		t.Fatalf("want the private MCP server's answer through the tunnel; events %q, result %s\nconnector log:\n%s", eventTypes(evs), result, stderr.String())
	}
	if _, methods := mcp.seen(); !contains(methods, "tools/call") {
		t.Errorf("the private MCP server saw %q", methods)
	}
}

// lockedWriter serializes writes (the connector logs from several goroutines).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
