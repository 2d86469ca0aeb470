package hangar

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
)

// Prefixes of tunnel IDs.
const (
	PrefixTunnel            = "tnl_"
	PrefixTunnelToken       = "tnltok_"
	PrefixTunnelCertificate = "tcrt_"
)

// MaxTunnelCertificates is how many non-archived CA certificates a tunnel holds.
const MaxTunnelCertificates = 2

// TunnelDomainSuffix is the parent of every tunnel's domain: a tunnel's domain is one
// label under it, and MCP server hosts are that domain or names under it.
const TunnelDomainSuffix = ".tunnel.hangar.internal"

// TunnelDomainOf returns the tunnel domain that serves host (host itself or its
// ancestor one label under TunnelDomainSuffix), and false for hosts outside it.
func TunnelDomainOf(host string) (string, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	rest, ok := strings.CutSuffix(host, TunnelDomainSuffix)
	if !ok || rest == "" {
		return "", false
	}
	if i := strings.LastIndex(rest, "."); i >= 0 {
		rest = rest[i+1:]
	}
	if rest == "" {
		return "", false
	}
	return rest + TunnelDomainSuffix, true
}

// TunnelTokenHash is how tunnel tokens are stored and compared: hex SHA-256.
func TunnelTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenMatches reports, in constant time, whether token is the live tunnel's current
// connector token.
func (t *Tunnel) TokenMatches(token string) bool {
	return t.ArchivedAt == nil && t.TokenHash != "" &&
		subtle.ConstantTimeCompare([]byte(TunnelTokenHash(token)), []byte(t.TokenHash)) == 1
}

// Tunnel routes MCP traffic to servers on a private network: MCP server URLs whose host
// is Domain or a subdomain of it go through the tunnel's connector (docs/tunnels.md).
type Tunnel struct {
	ID          string     `json:"id"`
	DisplayName *string    `json:"display_name"`
	Domain      string     `json:"domain"`
	CreatedAt   time.Time  `json:"created_at"`
	ArchivedAt  *time.Time `json:"archived_at"`
	// TokenID identifies the current connector token; TokenHash is its hex SHA-256 (what
	// connectors are checked against) and SealedToken/TokenKeyID the token encrypted with
	// the vault keyring, for reveal_token. The token itself is never stored in clear.
	TokenID     string `json:"token_id"`
	TokenHash   string `json:"token_hash"`
	SealedToken []byte `json:"sealed_token"`
	TokenKeyID  string `json:"token_key_id"`
	// Rotations records why and when the token was rotated (audit).
	Rotations []TunnelRotation `json:"rotations,omitempty"`
}

// TunnelRotation is one token rotation.
type TunnelRotation struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// TunnelCertificate is a CA certificate registered on a tunnel: the gateway's server
// certificate must chain to one of the tunnel's non-archived CAs.
type TunnelCertificate struct {
	ID          string     `json:"id"`
	TunnelID    string     `json:"tunnel_id"`
	PEM         string     `json:"pem"`
	Fingerprint string     `json:"fingerprint"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	ArchivedAt  *time.Time `json:"archived_at"`
}

// TunnelFilter selects tunnels (or a tunnel's certificates) for listing, newest first
// unless the page says otherwise.
type TunnelFilter struct {
	IncludeArchived bool
	Page            Page
}

// TunnelStore persists tunnels and their certificates; Store includes it. storetest's
// "Tunnels" case pins it.
type TunnelStore interface {
	// CreateTunnel stores a tunnel. Conflict when the ID or the domain is taken.
	CreateTunnel(ctx context.Context, t *Tunnel) error
	GetTunnel(ctx context.Context, id string) (*Tunnel, error)
	// GetTunnelByDomain returns the tunnel of a domain (archived ones included).
	GetTunnelByDomain(ctx context.Context, domain string) (*Tunnel, error)
	ListTunnels(ctx context.Context, f TunnelFilter) ([]*Tunnel, PageResult, error)
	// UpdateTunnel calls fn with the tunnel in a transaction and saves it. Archiving a
	// tunnel (ArchivedAt set by fn) archives its certificates in the same transaction.
	UpdateTunnel(ctx context.Context, id string, fn func(t *Tunnel) error) (*Tunnel, error)

	// CreateTunnelCertificate stores a certificate: conflict when the tunnel already holds
	// MaxTunnelCertificates non-archived ones, invalid when it is archived.
	CreateTunnelCertificate(ctx context.Context, c *TunnelCertificate) error
	GetTunnelCertificate(ctx context.Context, tunnelID, id string) (*TunnelCertificate, error)
	ListTunnelCertificates(ctx context.Context, tunnelID string, f TunnelFilter) ([]*TunnelCertificate, PageResult, error)
	// ArchiveTunnelCertificate sets archived_at (once; archiving twice keeps the first).
	ArchiveTunnelCertificate(ctx context.Context, tunnelID, id string, now time.Time) (*TunnelCertificate, error)
}
