package egress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
)

// OAuth keeps mcp_oauth vault credentials' access tokens fresh: it refreshes an expired
// token (or one an MCP server rejected) with an RFC 6749 §6 refresh_token grant to the
// credential's token endpoint, one exchange at a time per credential, and stores the new
// access token, its expiry and a rotated refresh token back in the credential, sealed
// like every credential secret. The MCP route (mcp.go) and credential validation
// (oauth_validate.go) use it. It is safe for concurrent use.
type OAuth struct {
	cfg OAuthConfig

	mu      sync.Mutex
	flights map[string]*flight // by credential ID
}

// OAuthConfig holds OAuth's dependencies.
type OAuthConfig struct {
	Store  CredentialStore
	Sealer Sealer
	// Transport carries token endpoint requests and validation probes (default: a clone
	// of http.DefaultTransport).
	Transport http.RoundTripper
	Clock     hangar.Clock
	Logger    *slog.Logger
	// Skew is how long before expires_at a token counts as expired (default 30s), so a
	// token does not expire between the check and its use.
	Skew time.Duration
	// Timeout bounds one token endpoint exchange (default 30s).
	Timeout time.Duration
}

// CredentialStore is what OAuth needs of hangar.Store.
type CredentialStore interface {
	GetCredential(ctx context.Context, vaultID, id string) (*hangar.Credential, error)
	UpdateCredential(ctx context.Context, vaultID, id string, fn func(c *hangar.Credential) error) (*hangar.Credential, error)
}

// Sealer seals and opens credential secrets (internal/vault.Keyring).
type Sealer interface {
	Seal(plaintext []byte) (sealed []byte, keyID string, err error)
	Open(sealed []byte, keyID string) ([]byte, error)
}

// RefreshError is a failed refresh: Outcome says how it failed (no_refresh_token,
// connect_error or failed with the endpoint's scrubbed response).
type RefreshError struct {
	CredentialID string
	Outcome      hangar.RefreshOutcome
	Err          error
}

func (e *RefreshError) Error() string {
	msg := "refresh the access token of credential " + e.CredentialID + ": " + e.Outcome.Status
	if r := e.Outcome.HTTPResponse; r != nil {
		msg += fmt.Sprintf(" (token endpoint answered HTTP %d)", r.StatusCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *RefreshError) Unwrap() error { return e.Err }

// flight is one refresh in progress; waiters read tok and err once done is closed.
type flight struct {
	done chan struct{}
	tok  hangar.Secret
	err  error
}

// NewOAuth returns an OAuth with cfg's defaults filled in.
func NewOAuth(cfg OAuthConfig) *OAuth {
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Skew == 0 {
		cfg.Skew = 30 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &OAuth{cfg: cfg, flights: map[string]*flight{}}
}

// Source returns the token source of the mcp_oauth credential vaultID/credentialID, for
// MCPServer.Auth.
func (o *OAuth) Source(vaultID, credentialID string) MCPAuth {
	return oauthSource{o: o, vaultID: vaultID, id: credentialID}
}

// MCPAuth supplies the bearer of an MCP server whose credential can be refreshed.
type MCPAuth interface {
	// CredentialID names the credential, for errors and logs.
	CredentialID() string
	// Token returns the current access token, refreshed first when it has expired.
	Token(ctx context.Context) (hangar.Secret, error)
	// Refresh returns a new access token after the MCP server rejected stale. When
	// another request already replaced stale, it returns that token without an exchange.
	Refresh(ctx context.Context, stale hangar.Secret) (hangar.Secret, error)
}

type oauthSource struct {
	o           *OAuth
	vaultID, id string
}

func (s oauthSource) CredentialID() string { return s.id }
func (s oauthSource) Token(ctx context.Context) (hangar.Secret, error) {
	return s.o.Token(ctx, s.vaultID, s.id)
}
func (s oauthSource) Refresh(ctx context.Context, stale hangar.Secret) (hangar.Secret, error) {
	return s.o.Refresh(ctx, s.vaultID, s.id, stale)
}

// oauthAuth is the public part of a stored mcp_oauth auth object (httpapi's mcpOAuthAuth).
type oauthAuth struct {
	Type         string        `json:"type"`
	MCPServerURL string        `json:"mcp_server_url"`
	ExpiresAt    *time.Time    `json:"expires_at"`
	Refresh      *oauthRefresh `json:"refresh"`
}

type oauthRefresh struct {
	TokenEndpoint     string  `json:"token_endpoint"`
	ClientID          string  `json:"client_id"`
	Scope             *string `json:"scope"`
	Resource          *string `json:"resource"`
	TokenEndpointAuth struct {
		Type string `json:"type"`
	} `json:"token_endpoint_auth"`
}

// oauthState is a credential opened for use: its public auth and its secrets.
type oauthState struct {
	auth oauthAuth
	sec  hangar.CredentialSecrets
}

// expired reports whether st's access token is past (or within skew of) its expiry.
func (o *OAuth) expired(st *oauthState) bool {
	return st.auth.ExpiresAt != nil && !o.cfg.Clock().Add(o.cfg.Skew).Before(*st.auth.ExpiresAt)
}

// load reads and opens credential vaultID/id.
func (o *OAuth) load(ctx context.Context, vaultID, id string) (*hangar.Credential, *oauthState, error) {
	c, err := o.cfg.Store.GetCredential(ctx, vaultID, id)
	if err != nil {
		return nil, nil, err
	}
	st, err := o.open(c)
	return c, st, err
}

func (o *OAuth) open(c *hangar.Credential) (*oauthState, error) {
	if c.AuthType != hangar.AuthMCPOAuth {
		return nil, fmt.Errorf("credential %s is %s, not mcp_oauth", c.ID, c.AuthType)
	}
	if c.ArchivedAt != nil || len(c.Sealed) == 0 {
		return nil, fmt.Errorf("credential %s is archived", c.ID)
	}
	st := &oauthState{}
	if err := json.Unmarshal(c.Auth, &st.auth); err != nil {
		return nil, fmt.Errorf("decode auth of credential %s: %w", c.ID, err)
	}
	if o.cfg.Sealer == nil {
		return nil, fmt.Errorf("open credential %s: no vault keyring configured", c.ID)
	}
	plaintext, err := o.cfg.Sealer.Open(c.Sealed, c.KeyID)
	if err != nil {
		return nil, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	defer clear(plaintext)
	if err := json.Unmarshal(plaintext, &st.sec); err != nil {
		return nil, fmt.Errorf("decode secrets of credential %s", c.ID) // never quote the plaintext
	}
	return st, nil
}

// Token returns credential vaultID/id's access token, refreshing it first when it has
// expired.
func (o *OAuth) Token(ctx context.Context, vaultID, id string) (hangar.Secret, error) {
	_, st, err := o.load(ctx, vaultID, id)
	if err != nil {
		return "", err
	}
	if !o.expired(st) && st.sec.AccessToken != "" {
		return hangar.Secret(st.sec.AccessToken), nil
	}
	return o.Refresh(ctx, vaultID, id, hangar.Secret(st.sec.AccessToken))
}

// Refresh exchanges credential vaultID/id's refresh token for a new access token, unless
// the stored access token is no longer stale and has not expired (another request
// refreshed it). Concurrent calls for one credential share one exchange.
func (o *OAuth) Refresh(ctx context.Context, vaultID, id string, stale hangar.Secret) (hangar.Secret, error) {
	o.mu.Lock()
	f := o.flights[id]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		o.flights[id] = f
		// The exchange outlives a waiter that gives up: the others still want its result,
		// and a rotated refresh token must be stored once the endpoint issued it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.Timeout)
		go func() {
			defer cancel()
			f.tok, f.err = o.refresh(fctx, vaultID, id, stale)
			o.mu.Lock()
			delete(o.flights, id)
			o.mu.Unlock()
			close(f.done)
		}()
	}
	o.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (o *OAuth) refresh(ctx context.Context, vaultID, id string, stale hangar.Secret) (hangar.Secret, error) {
	_, st, err := o.load(ctx, vaultID, id)
	if err != nil {
		return "", err
	}
	if cur := st.sec.AccessToken; cur != "" && cur != stale.Reveal() && !o.expired(st) {
		return hangar.Secret(cur), nil // refreshed by someone else meanwhile
	}
	tr, outcome := o.exchange(ctx, st)
	if outcome.Status != hangar.RefreshSucceeded {
		o.cfg.Logger.Warn("egress: MCP OAuth refresh failed", "credential", id, "status", outcome.Status)
		return "", &RefreshError{CredentialID: id, Outcome: outcome, Err: tr.err}
	}
	now := o.cfg.Clock()
	var expires *time.Time
	if tr.ExpiresIn > 0 {
		t := now.Add(time.Duration(tr.ExpiresIn) * time.Second).UTC()
		expires = &t
	}
	_, err = o.cfg.Store.UpdateCredential(ctx, vaultID, id, func(c *hangar.Credential) error {
		cur, err := o.open(c)
		if err != nil {
			return err
		}
		cur.sec.AccessToken = tr.AccessToken
		if tr.RefreshToken != "" { // rotated (RFC 6749 §6: the client must use the new one)
			cur.sec.RefreshToken = tr.RefreshToken
		}
		auth, err := mergeExpiry(c.Auth, expires)
		if err != nil {
			return err
		}
		plaintext, err := json.Marshal(cur.sec)
		if err != nil {
			return fmt.Errorf("marshal secrets of credential %s", c.ID)
		}
		defer clear(plaintext)
		sealed, keyID, err := o.cfg.Sealer.Seal(plaintext)
		if err != nil {
			return fmt.Errorf("seal credential %s: %w", c.ID, err)
		}
		c.Auth, c.Sealed, c.KeyID, c.UpdatedAt = auth, sealed, keyID, now
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store the refreshed token of credential %s: %w", id, err)
	}
	o.cfg.Logger.Info("egress: refreshed an MCP OAuth access token", "credential", id, "rotated_refresh_token", tr.RefreshToken != "", "expires_at", expires)
	return hangar.Secret(tr.AccessToken), nil
}

// mergeExpiry sets expires_at in a stored auth object, keeping every other field as is.
func mergeExpiry(auth json.RawMessage, expires *time.Time) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(auth, &m); err != nil {
		return nil, fmt.Errorf("decode stored auth: %w", err)
	}
	b, _ := json.Marshal(expires)
	m["expires_at"] = b
	return json.Marshal(m)
}

// tokenResponse is an RFC 6749 §5.1 access token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	err          error
}

// maxTokenResponse bounds what is read of a token endpoint's response.
const maxTokenResponse = 1 << 20

// exchange sends the refresh_token grant of st and reports its outcome.
func (o *OAuth) exchange(ctx context.Context, st *oauthState) (tokenResponse, hangar.RefreshOutcome) {
	ref := st.auth.Refresh
	if ref == nil || st.sec.RefreshToken == "" {
		return tokenResponse{}, hangar.RefreshOutcome{Status: hangar.RefreshNoRefreshToken}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {st.sec.RefreshToken}}
	if ref.Scope != nil && *ref.Scope != "" {
		form.Set("scope", *ref.Scope)
	}
	if ref.Resource != nil && *ref.Resource != "" {
		form.Set("resource", *ref.Resource) // RFC 8707, which the MCP authorization spec requires
	}
	basic := false
	switch ref.TokenEndpointAuth.Type {
	case "client_secret_basic":
		basic = true
	case "client_secret_post":
		form.Set("client_id", ref.ClientID)
		form.Set("client_secret", st.sec.ClientSecret)
	default: // none: a public client identifies itself in the body
		form.Set("client_id", ref.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ref.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{err: err}, hangar.RefreshOutcome{Status: hangar.RefreshConnectError}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(ref.ClientID), url.QueryEscape(st.sec.ClientSecret))
	}
	resp, err := (&http.Client{Transport: o.cfg.Transport, CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		return tokenResponse{err: scrubURLError(err)}, hangar.RefreshOutcome{Status: hangar.RefreshConnectError}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return tokenResponse{err: err}, hangar.RefreshOutcome{Status: hangar.RefreshConnectError}
	}
	var tr tokenResponse
	if resp.StatusCode/100 != 2 {
		return tokenResponse{err: fmt.Errorf("token endpoint answered HTTP %d", resp.StatusCode)},
			hangar.RefreshOutcome{Status: hangar.RefreshFailed, HTTPResponse: capture(resp, body)}
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return tokenResponse{err: errors.New("token endpoint answered without an access_token")},
			hangar.RefreshOutcome{Status: hangar.RefreshFailed, HTTPResponse: capture(resp, body)}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return tokenResponse{err: fmt.Errorf("token endpoint issued a %q token, not a bearer token", tr.TokenType)},
			hangar.RefreshOutcome{Status: hangar.RefreshFailed, HTTPResponse: capture(resp, nil)}
	}
	return tr, hangar.RefreshOutcome{Status: hangar.RefreshSucceeded}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// scrubURLError drops the URL from a client error: a token endpoint URL may carry a
// query the operator considers private, and the error text reaches logs.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// maxCaptured is how much of an error response body a validation result keeps.
const maxCaptured = 2048

// secretFieldRE matches JSON string members and form pairs whose name suggests a secret,
// so their values can be scrubbed from captured bodies.
var secretFieldRE = regexp.MustCompile(`(?i)("?(?:access_token|refresh_token|id_token|client_secret|token|password|secret)"?\s*[:=]\s*"?)([^"&,\s}]+)`)

// capture records an error response for a validation result: truncated to maxCaptured
// bytes, with token-like values replaced.
func capture(resp *http.Response, body []byte) *hangar.CapturedResponse {
	c := &hangar.CapturedResponse{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if len(body) > maxCaptured {
		body, c.BodyTruncated = body[:maxCaptured], true
	}
	c.Body = secretFieldRE.ReplaceAllString(strings.ToValidUTF8(string(body), ""), "${1}REDACTED")
	return c
}
