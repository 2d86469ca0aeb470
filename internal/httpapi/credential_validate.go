package httpapi

import (
	"net/http"

	"github.com/hangar-dev/hangar"
)

// validateCredential serves POST /v1/vaults/{vid}/credentials/{cid}/mcp_oauth_validate: a
// live probe of an mcp_oauth credential (Config.CredentialValidator): refresh when the
// access token has expired, then MCP initialize against its mcp_server_url. The probe's
// outcome is the response (status valid, invalid or unknown); errors are for requests
// that cannot be probed at all. The request has no body.
func (s *Server) validateCredential(w http.ResponseWriter, r *http.Request) error {
	vaultID, id := pathID(r, "vault_id"), pathID(r, "credential_id")
	c, err := s.store.GetCredential(r.Context(), vaultID, id)
	if err != nil {
		return err
	}
	if c.VaultID != vaultID {
		return hangar.NotFound("credential", id)
	}
	if c.AuthType != hangar.AuthMCPOAuth {
		return invalidf("credential %s is %s: only mcp_oauth credentials can be validated", c.ID, c.AuthType)
	}
	if c.ArchivedAt != nil {
		return invalidf("credential %s is archived and cannot be validated", c.ID)
	}
	if s.cfg.CredentialValidator == nil {
		return invalidf("credential validation is not supported by this server")
	}
	v, err := s.cfg.CredentialValidator.ValidateMCPOAuth(r.Context(), c)
	if err != nil {
		return &hangar.Error{Kind: hangar.KindInternal, Message: "validate credential " + c.ID, Err: err}
	}
	encode(w, http.StatusOK, v)
	return nil
}
