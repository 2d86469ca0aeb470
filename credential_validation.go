package hangar

import (
	"context"
	"time"
)

// CredentialValidation is the result of a live probe of an mcp_oauth credential
// (POST /v1/vaults/{vid}/credentials/{cid}/mcp_oauth_validate): the wire object
// "vault_credential_validation".
type CredentialValidation struct {
	Type         string `json:"type"` // vault_credential_validation
	CredentialID string `json:"credential_id"`
	VaultID      string `json:"vault_id"`
	// Status is "valid" (the MCP server accepted the token), "invalid" (it rejected it, or
	// no token is stored, and a refresh did not recover it) or "unknown" (the probe could
	// not tell, e.g. a network error).
	Status          string    `json:"status"`
	ValidatedAt     time.Time `json:"validated_at"`
	HasRefreshToken bool      `json:"has_refresh_token"`
	// MCPProbe is the MCP step that failed; nil when the probe succeeded or had no token.
	MCPProbe *MCPProbe `json:"mcp_probe"`
	// Refresh is the refresh-token exchange the probe attempted; nil when none was.
	Refresh *RefreshOutcome `json:"refresh"`
}

// Credential validation statuses (CredentialValidation.Status).
const (
	ValidationValid   = "valid"
	ValidationInvalid = "invalid"
	ValidationUnknown = "unknown"
)

// MCPProbe is the failing step of a credential validation's MCP probe.
type MCPProbe struct {
	// Method is the MCP method that failed (initialize).
	Method string `json:"method"`
	// HTTPResponse is the server's error response; nil when it sent none (timeout, DNS,
	// TLS or connection failure).
	HTTPResponse *CapturedResponse `json:"http_response"`
}

// RefreshOutcome is the result of an OAuth refresh-token exchange.
type RefreshOutcome struct {
	// Status is "succeeded", "failed" (the token endpoint answered an error),
	// "connect_error" (it could not be reached) or "no_refresh_token".
	Status string `json:"status"`
	// HTTPResponse is the token endpoint's error response, set only when Status is failed.
	HTTPResponse *CapturedResponse `json:"http_response"`
}

// Refresh outcomes (RefreshOutcome.Status).
const (
	RefreshSucceeded      = "succeeded"
	RefreshFailed         = "failed"
	RefreshConnectError   = "connect_error"
	RefreshNoRefreshToken = "no_refresh_token"
)

// CapturedResponse is an HTTP error response captured by a probe. Body is truncated and
// has token-like values scrubbed before it is stored here.
type CapturedResponse struct {
	StatusCode    int    `json:"status_code"`
	ContentType   string `json:"content_type"`
	Body          string `json:"body"`
	BodyTruncated bool   `json:"body_truncated"`
}

// CredentialValidator probes mcp_oauth credentials (internal/egress, wired in cmd/hangar).
type CredentialValidator interface {
	// ValidateMCPOAuth refreshes c's access token when it has expired, then sends MCP
	// initialize to c's mcp_server_url with it. Probe failures are reported in the
	// result; the error is for failures of Hangar itself (store, keyring).
	ValidateMCPOAuth(ctx context.Context, c *Credential) (*CredentialValidation, error)
}
