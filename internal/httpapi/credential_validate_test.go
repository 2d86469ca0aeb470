package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// fakeValidator answers every probe with a fixed failed-refresh result, recording the
// credential it was given.
type fakeValidator struct{ got *hangar.Credential }

func (f *fakeValidator) ValidateMCPOAuth(_ context.Context, c *hangar.Credential) (*hangar.CredentialValidation, error) {
	f.got = c
	return &hangar.CredentialValidation{
		Type: "vault_credential_validation", CredentialID: c.ID, VaultID: c.VaultID,
		Status: hangar.ValidationInvalid, ValidatedAt: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), HasRefreshToken: true,
		Refresh: &hangar.RefreshOutcome{Status: hangar.RefreshFailed, HTTPResponse: &hangar.CapturedResponse{
			StatusCode: 400, ContentType: "application/json", Body: `{"error":"invalid_grant"}`,
		}},
	}, nil
}

func TestCredentialValidate(t *testing.T) {
	v := &fakeValidator{}
	srv, _ := newTestServer(t, func(c *Config) { c.CredentialValidator = v })
	var vault struct{ ID string }
	apiOK(t, srv, "POST", "/v1/vaults", `{"display_name":"v"}`, &vault)
	var oauth, bearer struct{ ID string }
	apiOK(t, srv, "POST", "/v1/vaults/"+vault.ID+"/credentials", credMCPOAuthBody, &oauth)
	apiOK(t, srv, "POST", "/v1/vaults/"+vault.ID+"/credentials", credStaticBearerBody, &bearer)

	raw := apiOK(t, srv, "POST", "/v1/vaults/"+vault.ID+"/credentials/"+oauth.ID+"/mcp_oauth_validate", "", nil)
	checkGolden(t, "credential_validate", raw)
	if v.got == nil || v.got.ID != oauth.ID || len(v.got.Sealed) == 0 {
		t.Errorf("validator got %+v, want the stored credential", v.got)
	}

	var other struct{ ID string }
	apiOK(t, srv, "POST", "/v1/vaults", `{"display_name":"other"}`, &other)
	noValidator, _ := newTestServer(t)
	var v2 struct{ ID string }
	apiOK(t, noValidator, "POST", "/v1/vaults", `{"display_name":"v"}`, &v2)
	var c2 struct{ ID string }
	apiOK(t, noValidator, "POST", "/v1/vaults/"+v2.ID+"/credentials", credMCPOAuthBody, &c2)
	for _, tt := range []struct {
		name string
		h    http.Handler
		path string
		code int
		typ  string
	}{
		{"static_bearer", srv, "/v1/vaults/" + vault.ID + "/credentials/" + bearer.ID + "/mcp_oauth_validate", 400, "invalid_request_error"},
		{"unknown credential", srv, "/v1/vaults/" + vault.ID + "/credentials/vcrd_nope/mcp_oauth_validate", 404, "not_found_error"},
		{"credential of another vault", srv, "/v1/vaults/" + other.ID + "/credentials/" + oauth.ID + "/mcp_oauth_validate", 404, "not_found_error"},
		{"no validator", noValidator, "/v1/vaults/" + v2.ID + "/credentials/" + c2.ID + "/mcp_oauth_validate", 400, "invalid_request_error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			apiError(t, apiDo(t, tt.h, "POST", tt.path, ""), tt.code, tt.typ)
		})
	}
}
