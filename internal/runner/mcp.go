package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hangar-dev/hangar"
)

// MCPServer is one URL MCP server of a session's agent, as the egress proxy serves it:
// the sandbox reaches it through the proxy's /mcp/<Name>/ route with the session token,
// and the proxy sends Token (when set) to URL. See docs/egress.md, "MCP servers".
type MCPServer struct {
	Name string
	URL  string
	// Token is the bearer of the session vault credential for URL (static_bearer token or
	// mcp_oauth access_token); empty when no vault holds one.
	Token hangar.Secret
	// VaultID and CredentialID name that credential ("" when none); OAuth is true for an
	// mcp_oauth credential, whose token the proxy refreshes (egress.OAuth) rather than
	// using Token as is.
	VaultID, CredentialID string
	OAuth                 bool
}

// mcpServers resolves the agent's URL MCP servers and their credentials from the session's
// vaults: for each server, the first vault (in session.vault_ids order) holding an active
// static_bearer or mcp_oauth credential whose mcp_server_url is the server's URL supplies
// its token. Secrets are decrypted here, host-side, and go only to the proxy.
func (r *Runner) mcpServers(ctx context.Context, sess *hangar.Session) ([]MCPServer, error) {
	var list []struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	if len(sess.Agent.MCPServers) == 0 || json.Unmarshal(sess.Agent.MCPServers, &list) != nil || len(list) == 0 {
		return nil, nil
	}
	byURL := map[string]*hangar.Credential{}
	for _, vaultID := range sess.VaultIDs {
		if err := r.findMCPCredentials(ctx, vaultID, byURL); hangar.IsKind(err, hangar.KindNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
	}
	var out []MCPServer
	for _, s := range list {
		if s.Name == "" || s.URL == "" {
			continue
		}
		srv := MCPServer{Name: s.Name, URL: s.URL}
		if c := byURL[s.URL]; c != nil {
			tok, err := r.openMCPToken(c)
			if err != nil {
				return nil, err
			}
			r.log.Debug("session MCP server uses a vault credential", "session", sess.ID, "mcp_server", s.Name, "credential", c.ID, "auth_type", c.AuthType)
			srv.Token = tok
			srv.VaultID, srv.CredentialID, srv.OAuth = c.VaultID, c.ID, c.AuthType == hangar.AuthMCPOAuth
		}
		out = append(out, srv)
	}
	return out, nil
}

// findMCPCredentials adds vaultID's active MCP credentials to byURL, by mcp_server_url,
// unless an earlier vault supplied that URL.
func (r *Runner) findMCPCredentials(ctx context.Context, vaultID string, byURL map[string]*hangar.Credential) error {
	page := hangar.Page{Limit: 100}
	for {
		cs, pr, err := r.store.ListCredentials(ctx, vaultID, hangar.VaultFilter{Page: page})
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.ArchivedAt != nil || len(c.Sealed) == 0 || (c.AuthType != hangar.AuthStaticBearer && c.AuthType != hangar.AuthMCPOAuth) {
				continue
			}
			if byURL[c.Key] == nil {
				byURL[c.Key] = c
			}
		}
		if pr.Next == "" {
			return nil
		}
		cur, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return fmt.Errorf("list credentials of vault %s: %w", vaultID, err)
		}
		page.Cursor = &cur
	}
}

// openMCPToken decrypts an MCP credential's bearer: a static_bearer's token or an
// mcp_oauth credential's access_token.
func (r *Runner) openMCPToken(c *hangar.Credential) (hangar.Secret, error) {
	if r.cfg.Secrets == nil {
		return "", fmt.Errorf("open credential %s: no vault keyring configured", c.ID)
	}
	plaintext, err := r.cfg.Secrets.Open(c.Sealed, c.KeyID)
	if err != nil {
		return "", fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	defer clear(plaintext)
	var sec hangar.CredentialSecrets
	if err := json.Unmarshal(plaintext, &sec); err != nil {
		return "", fmt.Errorf("decode secrets of credential %s", c.ID) // never quote the plaintext
	}
	tok := sec.Token
	if c.AuthType == hangar.AuthMCPOAuth {
		tok = sec.AccessToken
	}
	if tok == "" {
		return "", fmt.Errorf("credential %s has no token", c.ID)
	}
	return hangar.Secret(tok), nil
}

// ReportMCPFailure records a session.error (mcp_authentication_failed_error, §4.6) for an
// MCP server whose credential failed in the egress proxy (an mcp_oauth token that could
// not be refreshed; cmd/hangar wires the proxy's report here). The turn goes on: the CLI
// sees the tool call fail, and the proxy tries the credential again on the server's next
// request (retry_status retrying). A session this runner does not hold is ignored.
func (r *Runner) ReportMCPFailure(sessionID, server, credentialID, msg string) {
	r.mu.Lock()
	st := r.sessions[sessionID]
	r.mu.Unlock()
	if st == nil {
		return
	}
	ev := r.newEvent(hangar.EventSessionError, map[string]any{"error": map[string]any{
		"type": "mcp_authentication_failed_error", "message": msg, "retry_status": hangar.RetryStatus{Type: "retrying"},
		"mcp_server_name": server, "credential_id": credentialID,
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deleted {
		return
	}
	var err error
	if st.leased {
		err = r.appendTurnLocked(ctx, st, []hangar.Event{ev}, nil)
	} else {
		_, _, err = r.appendLocked(ctx, st, []hangar.Event{ev}, "", nil)
	}
	if err != nil {
		r.log.Warn("could not record an MCP credential failure", "session", sessionID, "mcp_server", server, "err", err)
	}
}
