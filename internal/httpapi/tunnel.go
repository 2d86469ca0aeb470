package httpapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Tunnels (docs/tunnels.md) carry MCP traffic to servers on a private network: MCP server
// URLs whose host is the tunnel's domain or a subdomain of it are reached through the
// tunnel's connector, which runs inside that network and authenticates with the tunnel
// token. The token is stored as its SHA-256 (what a connector is checked against) and
// sealed with the vault keyring (for reveal_token); certificates are the CAs the gateway's
// server certificate must chain to.

const (
	maxTunnelName       = 255
	maxCertificatePEM   = 8 << 10
	maxRotationReason   = 1024
	tunnelTokenPrefix   = "hgtnl_"
	tunnelTokenRandBits = 256
)

type tunnelWire struct {
	Type        string     `json:"type"`
	ID          string     `json:"id"`
	DisplayName *string    `json:"display_name"`
	Domain      string     `json:"domain"`
	CreatedAt   time.Time  `json:"created_at"`
	ArchivedAt  *time.Time `json:"archived_at"`
}

func tunnelOut(t *hangar.Tunnel) tunnelWire {
	return tunnelWire{Type: "tunnel", ID: t.ID, DisplayName: t.DisplayName, Domain: t.Domain, CreatedAt: t.CreatedAt, ArchivedAt: t.ArchivedAt}
}

type certWire struct {
	Type        string     `json:"type"`
	ID          string     `json:"id"`
	TunnelID    string     `json:"tunnel_id"`
	Fingerprint string     `json:"fingerprint"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	ArchivedAt  *time.Time `json:"archived_at"`
}

func certOut(c *hangar.TunnelCertificate) certWire {
	return certWire{Type: "tunnel_certificate", ID: c.ID, TunnelID: c.TunnelID, Fingerprint: c.Fingerprint, ExpiresAt: c.ExpiresAt,
		CreatedAt: c.CreatedAt, ArchivedAt: c.ArchivedAt}
}

type tokenWire struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	TunnelToken string `json:"tunnel_token"`
}

// newTunnelToken makes a token and sets the tunnel's token fields.
func (s *Server) newTunnelToken(t *hangar.Tunnel) (string, error) {
	if s.cfg.Sealer == nil {
		return "", errors.New("tunnel tokens need the vault keyring")
	}
	b := make([]byte, tunnelTokenRandBits/8)
	rand.Read(b)
	tok := tunnelTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	sealed, keyID, err := s.cfg.Sealer.Seal([]byte(tok))
	if err != nil {
		return "", err
	}
	t.TokenID, t.TokenHash, t.SealedToken, t.TokenKeyID = s.newID(hangar.PrefixTunnelToken), hangar.TunnelTokenHash(tok), sealed, keyID
	return tok, nil
}

func (s *Server) createTunnel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.DisplayName != nil {
		if err := checkLen("display_name", *req.DisplayName, 1, maxTunnelName); err != nil {
			return err
		}
	}
	b := make([]byte, 8)
	rand.Read(b)
	t := &hangar.Tunnel{ID: s.newID(hangar.PrefixTunnel), DisplayName: req.DisplayName, CreatedAt: s.now(),
		Domain: "t" + hex.EncodeToString(b) + hangar.TunnelDomainSuffix}
	if _, err := s.newTunnelToken(t); err != nil {
		return err
	}
	if err := s.store.CreateTunnel(r.Context(), t); err != nil {
		return err
	}
	encode(w, http.StatusOK, tunnelOut(t))
	return nil
}

func (s *Server) getTunnel(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.GetTunnel(r.Context(), pathID(r, "tunnel_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, tunnelOut(t))
	return nil
}

func (s *Server) listTunnels(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 1000, true)
	if err != nil {
		return err
	}
	f := hangar.TunnelFilter{Page: page}
	if f.IncludeArchived, err = parseBool(q, "include_archived"); err != nil {
		return err
	}
	ts, pr, err := s.store.ListTunnels(r.Context(), f)
	if err != nil {
		return err
	}
	data := []tunnelWire{}
	for _, t := range ts {
		data = append(data, tunnelOut(t))
	}
	encode(w, http.StatusOK, listEnvelope[tunnelWire]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

// archiveTunnel retires the tunnel for good: its certificates are archived with it and
// its token stops working (the hash is cleared). Archiving twice returns the record.
func (s *Server) archiveTunnel(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.UpdateTunnel(r.Context(), pathID(r, "tunnel_id"), func(t *hangar.Tunnel) error {
		if t.ArchivedAt != nil {
			return nil
		}
		now := s.now()
		t.ArchivedAt = &now
		t.TokenHash, t.SealedToken, t.TokenKeyID = "", nil, ""
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, tunnelOut(t))
	return nil
}

func (s *Server) revealTunnelToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.GetTunnel(r.Context(), pathID(r, "tunnel_id"))
	if err != nil {
		return err
	}
	if t.ArchivedAt != nil {
		return invalidf("tunnel %s is archived: its token no longer works", t.ID)
	}
	if s.cfg.Sealer == nil {
		return errors.New("tunnel tokens need the vault keyring")
	}
	tok, err := s.cfg.Sealer.Open(t.SealedToken, t.TokenKeyID)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, tokenWire{Type: "tunnel_token", ID: t.TokenID, TunnelToken: string(tok)})
	return nil
}

func (s *Server) rotateTunnelToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Reason *string `json:"reason"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Reason != nil {
		if err := checkLen("reason", *req.Reason, 0, maxRotationReason); err != nil {
			return err
		}
	}
	var tok string
	t, err := s.store.UpdateTunnel(r.Context(), pathID(r, "tunnel_id"), func(t *hangar.Tunnel) error {
		if t.ArchivedAt != nil {
			return invalidf("tunnel %s is archived", t.ID)
		}
		var err error
		if tok, err = s.newTunnelToken(t); err != nil {
			return err
		}
		rot := hangar.TunnelRotation{At: s.now()}
		if req.Reason != nil {
			rot.Reason = *req.Reason
		}
		t.Rotations = append(t.Rotations, rot)
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, tokenWire{Type: "tunnel_token", ID: t.TokenID, TunnelToken: tok})
	return nil
}

func (s *Server) createTunnelCertificate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		CACertificatePEM *string `json:"ca_certificate_pem"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.CACertificatePEM == nil {
		return invalidf("ca_certificate_pem: field required")
	}
	cert, err := parseCACertificate(*req.CACertificatePEM)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(cert.Raw)
	exp := cert.NotAfter.UTC()
	c := &hangar.TunnelCertificate{ID: s.newID(hangar.PrefixTunnelCertificate), TunnelID: pathID(r, "tunnel_id"),
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})), Fingerprint: hex.EncodeToString(sum[:]),
		ExpiresAt: &exp, CreatedAt: s.now()}
	if err := s.store.CreateTunnelCertificate(r.Context(), c); err != nil {
		return err
	}
	encode(w, http.StatusOK, certOut(c))
	return nil
}

// parseCACertificate accepts exactly one PEM certificate of a CA and no key material.
func parseCACertificate(text string) (*x509.Certificate, error) {
	if len(text) > maxCertificatePEM {
		return nil, invalidf("ca_certificate_pem: at most %d bytes", maxCertificatePEM)
	}
	var cert *x509.Certificate
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return nil, invalidf("ca_certificate_pem: must not contain private-key material")
		}
		if b.Type != "CERTIFICATE" {
			return nil, invalidf("ca_certificate_pem: unexpected PEM block %q", b.Type)
		}
		if cert != nil {
			return nil, invalidf("ca_certificate_pem: must contain exactly one certificate")
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, invalidf("ca_certificate_pem: %v", err)
		}
		cert = c
	}
	if cert == nil || len(bytes.TrimSpace(rest)) > 0 {
		return nil, invalidf("ca_certificate_pem: must be one PEM-encoded X.509 certificate")
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, invalidf("ca_certificate_pem: the certificate is not a CA (basicConstraints CA:TRUE)")
	}
	return cert, nil
}

func (s *Server) getTunnelCertificate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.GetTunnelCertificate(r.Context(), pathID(r, "tunnel_id"), pathID(r, "certificate_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, certOut(c))
	return nil
}

func (s *Server) listTunnelCertificates(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 1000, true)
	if err != nil {
		return err
	}
	f := hangar.TunnelFilter{Page: page}
	if f.IncludeArchived, err = parseBool(q, "include_archived"); err != nil {
		return err
	}
	id := pathID(r, "tunnel_id")
	if _, err := s.store.GetTunnel(r.Context(), id); err != nil {
		return err
	}
	cs, pr, err := s.store.ListTunnelCertificates(r.Context(), id, f)
	if err != nil {
		return err
	}
	data := []certWire{}
	for _, c := range cs {
		data = append(data, certOut(c))
	}
	encode(w, http.StatusOK, listEnvelope[certWire]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

func (s *Server) archiveTunnelCertificate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.ArchiveTunnelCertificate(r.Context(), pathID(r, "tunnel_id"), pathID(r, "certificate_id"), s.now())
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, certOut(c))
	return nil
}
