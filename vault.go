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

// Credential auth types (Credential.AuthType).
const (
	AuthStaticBearer = "static_bearer"
	AuthMCPOAuth     = "mcp_oauth"
	AuthEnvVar       = "environment_variable"
)

// CredentialSecrets is the plaintext sealed into Credential.Sealed: a JSON object holding
// the secret fields of the credential's auth type, each omitted when empty. The API writes
// it (internal/httpapi); consumers that open a credential host-side (the runner, for a
// session's model credential) decode the same shape. It prints as REDACTED, like Secret, but
// marshals to JSON normally: marshal it only to seal it.
type CredentialSecrets struct {
	Token        string `json:"token,omitempty"`         // static_bearer
	AccessToken  string `json:"access_token,omitempty"`  // mcp_oauth
	RefreshToken string `json:"refresh_token,omitempty"` // mcp_oauth refresh
	ClientSecret string `json:"client_secret,omitempty"` // mcp_oauth token endpoint auth
	SecretValue  string `json:"secret_value,omitempty"`  // environment_variable
}

func (CredentialSecrets) String() string             { return "REDACTED" }
func (CredentialSecrets) GoString() string           { return "REDACTED" }
func (CredentialSecrets) LogValue() slog.Value       { return slog.StringValue("REDACTED") }
func (CredentialSecrets) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "REDACTED") }

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
