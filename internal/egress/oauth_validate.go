package egress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar"
)

// probeTimeout bounds one MCP initialize request of a validation.
const probeTimeout = 15 * time.Second

// initializeRequest is the MCP initialize request a validation sends: the smallest valid
// one, as the probe only needs to know whether the server accepts the token.
const initializeRequest = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"hangar-credential-validation","version":"1"}}}`

var _ hangar.CredentialValidator = (*OAuth)(nil)

// ValidateMCPOAuth implements hangar.CredentialValidator: it refreshes c's access token
// when it has expired (or the server rejects it), then sends MCP initialize to c's
// mcp_server_url with it. A refresh that succeeds is stored, as on the MCP route.
func (o *OAuth) ValidateMCPOAuth(ctx context.Context, c *hangar.Credential) (*hangar.CredentialValidation, error) {
	st, err := o.open(c)
	if err != nil {
		return nil, err
	}
	v := &hangar.CredentialValidation{
		Type: "vault_credential_validation", CredentialID: c.ID, VaultID: c.VaultID,
		HasRefreshToken: st.auth.Refresh != nil && st.sec.RefreshToken != "",
	}
	defer func() { v.ValidatedAt = o.cfg.Clock().UTC() }()
	tok := hangar.Secret(st.sec.AccessToken)
	refresh := func() bool {
		nt, err := o.Refresh(ctx, c.VaultID, c.ID, tok)
		var re *RefreshError
		switch {
		case errors.As(err, &re):
			v.Refresh = &re.Outcome
			v.Status = hangar.ValidationInvalid
			if re.Outcome.Status == hangar.RefreshConnectError {
				v.Status = hangar.ValidationUnknown
			}
			return false
		case err != nil:
			v.Refresh = &hangar.RefreshOutcome{Status: hangar.RefreshConnectError}
			v.Status = hangar.ValidationUnknown
			return false
		}
		v.Refresh = &hangar.RefreshOutcome{Status: hangar.RefreshSucceeded}
		tok = nt
		return true
	}
	if (tok == "" || o.expired(st)) && !refresh() {
		return v, ctx.Err()
	}
	for attempt := 0; ; attempt++ {
		probe := o.probe(ctx, st.auth.MCPServerURL, tok)
		switch {
		case probe == nil:
			v.Status, v.MCPProbe = hangar.ValidationValid, nil
			return v, nil
		case probe.HTTPResponse != nil && probe.HTTPResponse.StatusCode == http.StatusUnauthorized && attempt == 0 && v.Refresh == nil:
			if !refresh() {
				v.MCPProbe = probe
				return v, ctx.Err()
			}
			continue
		}
		v.MCPProbe = probe
		v.Status = hangar.ValidationUnknown
		if r := probe.HTTPResponse; r != nil && (r.StatusCode == http.StatusUnauthorized || r.StatusCode == http.StatusForbidden) {
			v.Status = hangar.ValidationInvalid
		}
		return v, ctx.Err()
	}
}

// probe sends MCP initialize to serverURL with tok; nil means the server accepted it.
func (o *OAuth) probe(ctx context.Context, serverURL string, tok hangar.Secret) *hangar.MCPProbe {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	fail := &hangar.MCPProbe{Method: "initialize"}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, bytes.NewReader([]byte(initializeRequest)))
	if err != nil {
		return fail
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	resp, err := (&http.Client{Transport: o.cfg.Transport, CheckRedirect: noRedirect}).Do(req)
	if err != nil {
		return fail
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		o.endMCPSession(serverURL, tok, resp.Header.Get("Mcp-Session-Id"))
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxCaptured+1))
	fail.HTTPResponse = capture(resp, body)
	return fail
}

// endMCPSession deletes the MCP session a probe opened (streamable HTTP: DELETE with
// Mcp-Session-Id), so probes do not pile up sessions on the server. Best effort.
func (o *OAuth) endMCPSession(serverURL string, tok hangar.Secret, id string) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, serverURL, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	req.Header.Set("Mcp-Session-Id", id)
	if resp, err := (&http.Client{Transport: o.cfg.Transport, CheckRedirect: noRedirect}).Do(req); err == nil {
		resp.Body.Close()
	}
}
