package hangar

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Vault groups credentials that sessions may use.
type Vault struct {
	Type        string            `json:"type"`
	ID          string            `json:"id"`
	DisplayName string            `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// Credential is a vault credential. Auth is the public part of the auth object (never a
// secret); the secret fields live only in Sealed, encrypted by internal/vault under KeyID.
type Credential struct {
	Type        string            `json:"type"`
	ID          string            `json:"id"`
	VaultID     string            `json:"vault_id"`
	DisplayName *string           `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
	Auth        json.RawMessage   `json:"auth"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`

	// AuthType and Key ("mcp_server_url" or "secret_name" value) are indexed for uniqueness.
	AuthType string `json:"-"`
	Key      string `json:"-"`
	Sealed   []byte `json:"-"`
	KeyID    string `json:"-"`
}

// Secret is a plaintext secret value. It prints as REDACTED in logs and fmt output.
type Secret string

func (Secret) String() string               { return "REDACTED" }
func (Secret) GoString() string             { return "REDACTED" }
func (s Secret) Reveal() string             { return string(s) }
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue("REDACTED") }

// Format makes every fmt verb (%v, %s, %q, %x...) print REDACTED.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "REDACTED") }

// VaultFilter selects vaults or credentials for listing.
type VaultFilter struct {
	IncludeArchived bool
	Page            Page
}
