package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testCert makes a self-signed certificate (a CA when ca) and returns its PEM and DER.
func testCert(t *testing.T, ca bool) (string, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		BasicConstraintsValid: true, IsCA: ca, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), der
}

var domainPattern = regexp.MustCompile(`t[0-9a-f]{16}\.tunnel\.hangar\.internal`)

// TestTunnels: create (golden), reveal and rotate the token (stored only hashed and
// sealed), register CA certificates (fingerprint, expiry, at most two live, non-CAs and
// key material refused), archive (certificates archived with it, token dead).
func TestTunnels(t *testing.T) {
	t.Parallel()
	s, st := newTestServer(t)
	var tn tunnelWire
	raw := apiOK(t, s, "POST", "/v1/tunnels", `{"display_name":"office LAN"}`, &tn)
	if !domainPattern.MatchString(tn.Domain) {
		t.Fatalf("domain = %q", tn.Domain)
	}
	checkGolden(t, "tunnel_create", []byte(domainPattern.ReplaceAllString(string(raw), "<domain>")))

	var tok tokenWire
	apiOK(t, s, "POST", "/v1/tunnels/"+tn.ID+"/reveal_token", "", &tok)
	if tok.Type != "tunnel_token" || !strings.HasPrefix(tok.TunnelToken, tunnelTokenPrefix) || !strings.HasPrefix(tok.ID, "tnltok_") {
		t.Fatalf("token = %+v", tok)
	}
	stored, _ := st.GetTunnel(context.Background(), tn.ID)
	if b, _ := json.Marshal(stored); strings.Contains(string(b), tok.TunnelToken) {
		t.Error("the token is stored in clear")
	}
	if !stored.TokenMatches(tok.TunnelToken) || stored.TokenMatches(tok.TunnelToken+"x") {
		t.Error("TunnelTokenMatches disagrees with the revealed token")
	}
	var again tokenWire
	apiOK(t, s, "POST", "/v1/tunnels/"+tn.ID+"/reveal_token", "", &again)
	if again != tok {
		t.Error("reveal changed the token")
	}
	var rot tokenWire
	apiOK(t, s, "POST", "/v1/tunnels/"+tn.ID+"/rotate_token", `{"reason":"laptop lost"}`, &rot)
	if rot.ID == tok.ID || rot.TunnelToken == tok.TunnelToken {
		t.Fatalf("rotate kept the token: %+v", rot)
	}
	stored, _ = st.GetTunnel(context.Background(), tn.ID)
	if stored.TokenMatches(tok.TunnelToken) || !stored.TokenMatches(rot.TunnelToken) || stored.Rotations[0].Reason != "laptop lost" {
		t.Errorf("after rotation: %+v", stored)
	}

	caPEM, der := testCert(t, true)
	var c certWire
	body, _ := json.Marshal(map[string]string{"ca_certificate_pem": caPEM})
	raw = apiOK(t, s, "POST", "/v1/tunnels/"+tn.ID+"/certificates", string(body), &c)
	sum := sha256.Sum256(der)
	if c.Fingerprint != hex.EncodeToString(sum[:]) || c.ExpiresAt == nil || c.ExpiresAt.Year() != 2030 {
		t.Fatalf("certificate = %+v", c)
	}
	checkGolden(t, "tunnel_certificate_create", []byte(strings.ReplaceAll(string(raw), c.Fingerprint, "<fingerprint>")))
	leaf, _ := testCert(t, false)
	key := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
	second, _ := testCert(t, true)
	for _, bad := range []string{leaf, caPEM + key, caPEM + second, "not pem"} {
		b, _ := json.Marshal(map[string]string{"ca_certificate_pem": bad})
		apiError(t, apiDo(t, s, "POST", "/v1/tunnels/"+tn.ID+"/certificates", string(b)), http.StatusBadRequest, errInvalid)
	}
	b, _ := json.Marshal(map[string]string{"ca_certificate_pem": second})
	apiOK(t, s, "POST", "/v1/tunnels/"+tn.ID+"/certificates", string(b), nil)
	apiError(t, apiDo(t, s, "POST", "/v1/tunnels/"+tn.ID+"/certificates", string(b)), http.StatusConflict, "invalid_request_error")

	var arch tunnelWire
	apiOK(t, s, "POST", "/v1/tunnels/"+tn.ID+"/archive", "", &arch)
	if arch.ArchivedAt == nil {
		t.Fatal("archive did not set archived_at")
	}
	var certs listEnvelope[certWire]
	apiOK(t, s, "GET", "/v1/tunnels/"+tn.ID+"/certificates?include_archived=true", "", &certs)
	if len(certs.Data) != 2 || certs.Data[0].ArchivedAt == nil || certs.Data[1].ArchivedAt == nil {
		t.Errorf("certificates after archive = %+v", certs.Data)
	}
	apiError(t, apiDo(t, s, "POST", "/v1/tunnels/"+tn.ID+"/reveal_token", ""), http.StatusBadRequest, errInvalid)
	var list listEnvelope[tunnelWire]
	apiOK(t, s, "GET", "/v1/tunnels", "", &list)
	if len(list.Data) != 0 {
		t.Errorf("archived tunnel listed: %+v", list.Data)
	}
}
