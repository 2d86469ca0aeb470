package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// Every secret the credential tests send. None may appear in a response body or in the
// database files.
var credTestSecrets = []string{
	"sb-token-PLAINTEXT-1", "sb-token-PLAINTEXT-2",
	"oauth-access-PLAINTEXT-1", "oauth-access-PLAINTEXT-2",
	"oauth-refresh-PLAINTEXT-1", "oauth-refresh-PLAINTEXT-2",
	"client-secret-PLAINTEXT-1", "client-secret-PLAINTEXT-2",
	"env-value-PLAINTEXT-1", "env-value-PLAINTEXT-2",
}

const (
	credStaticBearerBody = `{"display_name":"github","metadata":{"team":"infra"},"auth":{"type":"static_bearer","token":"sb-token-PLAINTEXT-1","mcp_server_url":"https://mcp.example.com/github"}}`
	credMCPOAuthBody     = `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/linear","access_token":"oauth-access-PLAINTEXT-1","expires_at":"2030-01-02T03:04:05Z","refresh":{"refresh_token":"oauth-refresh-PLAINTEXT-1","token_endpoint":"https://auth.example.com/token","client_id":"client-1","scope":"read write","token_endpoint_auth":{"type":"client_secret_post","client_secret":"client-secret-PLAINTEXT-1"}}}}`
	credMCPOAuthBareBody = `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/bare","access_token":"oauth-access-PLAINTEXT-2"}}`
	credEnvVarBody       = `{"display_name":"stripe","auth":{"type":"environment_variable","secret_name":"STRIPE_API_KEY","secret_value":"env-value-PLAINTEXT-1","networking":{"type":"limited","allowed_hosts":["api.stripe.com"]},"injection_location":{"header":true,"body":true}}}`
)

// credNoSecrets fails if body contains any test secret.
func credNoSecrets(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, s := range credTestSecrets {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("%s leaks secret %q: %s", what, s, body)
		}
	}
}

// openSealed decrypts the stored secrets of a credential with the env's keyring.
func (e *vaultEnv) openSealed(t *testing.T, vaultID, id string) map[string]string {
	t.Helper()
	c, err := e.store.GetCredential(context.Background(), vaultID, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sealed == nil {
		return nil
	}
	if c.KeyID != e.keyring.PrimaryKeyID() {
		t.Errorf("key_id = %q, want the keyring's %q", c.KeyID, e.keyring.PrimaryKeyID())
	}
	plain, err := e.keyring.Open(c.Sealed, c.KeyID)
	if err != nil {
		t.Fatalf("open sealed secrets: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *vaultEnv) createCredential(t *testing.T, vaultID, body string) hangar.Credential {
	t.Helper()
	var c hangar.Credential
	raw := apiOK(t, e.srv, "POST", "/v1/vaults/"+vaultID+"/credentials", body, &c)
	credNoSecrets(t, "create", raw)
	return c
}

func TestCredentialCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		body        string
		wantSecrets map[string]string
		wantKey     string
	}{
		{"static_bearer", credStaticBearerBody, map[string]string{"token": "sb-token-PLAINTEXT-1"}, "https://mcp.example.com/github"},
		{"mcp_oauth", credMCPOAuthBody, map[string]string{
			"access_token": "oauth-access-PLAINTEXT-1", "refresh_token": "oauth-refresh-PLAINTEXT-1", "client_secret": "client-secret-PLAINTEXT-1",
		}, "https://mcp.example.com/linear"},
		{"mcp_oauth_minimal", credMCPOAuthBareBody, map[string]string{"access_token": "oauth-access-PLAINTEXT-2"}, "https://mcp.example.com/bare"},
		{"mcp_oauth_refresh_none", `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/n","access_token":"oauth-access-PLAINTEXT-1","refresh":{"refresh_token":"oauth-refresh-PLAINTEXT-1","token_endpoint":"https://auth.example.com/token","client_id":"c","resource":"https://mcp.example.com/","token_endpoint_auth":{"type":"none"}}}}`,
			map[string]string{"access_token": "oauth-access-PLAINTEXT-1", "refresh_token": "oauth-refresh-PLAINTEXT-1"}, "https://mcp.example.com/n"},
		{"environment_variable", credEnvVarBody, map[string]string{"secret_value": "env-value-PLAINTEXT-1"}, "STRIPE_API_KEY"},
		{"environment_variable_defaults", `{"auth":{"type":"environment_variable","secret_name":"TOKEN","secret_value":"env-value-PLAINTEXT-2","networking":{"type":"unrestricted"}}}`,
			map[string]string{"secret_value": "env-value-PLAINTEXT-2"}, "TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newVaultEnv(t)
			vid := e.createVault(t, "v")
			raw := apiOK(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials", tt.body, nil)
			credNoSecrets(t, "create", raw)
			checkGolden(t, "credential_create_"+tt.name, raw)

			var c hangar.Credential
			_ = json.Unmarshal(raw, &c)
			if diff := cmp.Diff(tt.wantSecrets, e.openSealed(t, vid, c.ID)); diff != "" {
				t.Errorf("sealed secrets (-want +got):\n%s", diff)
			}
			stored, err := e.store.GetCredential(context.Background(), vid, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if typ := credAuthType(t, c.Auth); stored.Key != tt.wantKey || stored.AuthType != typ {
				t.Errorf("stored key/type = %q/%q, want %q/%q", stored.Key, stored.AuthType, tt.wantKey, typ)
			}
			credNoSecrets(t, "stored auth", stored.Auth)
		})
	}
}

// credAuthType reads auth.type.
func credAuthType(t *testing.T, auth json.RawMessage) string {
	t.Helper()
	var a struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(auth, &a); err != nil {
		t.Fatalf("auth %s: %v", auth, err)
	}
	return a.Type
}

func TestCredentialCreateValidation(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	vid := e.createVault(t, "v")
	sb := func(fields string) string { return `{"auth":{"type":"static_bearer",` + fields + `}}` }
	oa := func(refresh string) string {
		return `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/o","access_token":"oauth-access-PLAINTEXT-1","refresh":` + refresh + `}}`
	}
	ev := func(fields string) string { return `{"auth":{"type":"environment_variable",` + fields + `}}` }
	const evBase = `"secret_name":"K","secret_value":"env-value-PLAINTEXT-1"`
	long := strings.Repeat("x", 8193)
	tests := []struct {
		name    string
		body    string
		mention string
	}{
		{"missing auth", `{"display_name":"x"}`, "auth: field required"},
		{"auth not an object", `{"auth":"static_bearer"}`, "auth: expected object"},
		{"auth without type", `{"auth":{"token":"t"}}`, "auth.type: field required"},
		{"unknown auth type", `{"auth":{"type":"basic"}}`, "auth.type: must be one of"},
		{"display_name too long", `{"display_name":"` + strings.Repeat("d", 256) + `","auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://m.example.com"}}`, "display_name"},
		{"bad metadata", `{"metadata":{"":"v"},"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://m.example.com"}}`, "metadata"},
		{"unknown top-level field", `{"secret":"x","auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://m.example.com"}}`, "secret: extra inputs"},

		{"static_bearer missing token", sb(`"mcp_server_url":"https://m.example.com"`), "auth.token: field required"},
		{"static_bearer empty token", sb(`"token":"","mcp_server_url":"https://m.example.com"`), "auth.token: must not be empty"},
		{"static_bearer token too long", sb(`"token":"` + long + `","mcp_server_url":"https://m.example.com"`), "auth.token: must be at most 8192"},
		{"static_bearer missing url", sb(`"token":"sb-token-PLAINTEXT-1"`), "auth.mcp_server_url: field required"},
		{"static_bearer relative url", sb(`"token":"sb-token-PLAINTEXT-1","mcp_server_url":"/mcp"`), "auth.mcp_server_url"},
		{"static_bearer url too long", sb(`"token":"t","mcp_server_url":"https://m.example.com/` + strings.Repeat("p", 2030) + `"`), "auth.mcp_server_url: must be at most 2047"},
		{"static_bearer extra field", sb(`"token":"t","mcp_server_url":"https://m.example.com","access_token":"x"`), "auth.access_token: extra inputs"},
		{"static_bearer token not a string", sb(`"token":12,"mcp_server_url":"https://m.example.com"`), "auth.token"},

		{"mcp_oauth missing access_token", `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://m.example.com"}}`, "auth.access_token: field required"},
		{"mcp_oauth bad expires_at", `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://m.example.com","access_token":"a","expires_at":"tomorrow"}}`, "auth"},
		{"mcp_oauth refresh not an object", oa(`"r"`), "auth.refresh: expected object"},
		{"mcp_oauth refresh missing token", oa(`{"token_endpoint":"https://a.example.com/t","client_id":"c","token_endpoint_auth":{"type":"none"}}`), "auth.refresh.refresh_token: field required"},
		{"mcp_oauth refresh missing endpoint", oa(`{"refresh_token":"r","client_id":"c","token_endpoint_auth":{"type":"none"}}`), "auth.refresh.token_endpoint: field required"},
		{"mcp_oauth refresh bad endpoint", oa(`{"refresh_token":"r","token_endpoint":"ftp://a","client_id":"c","token_endpoint_auth":{"type":"none"}}`), "auth.refresh.token_endpoint"},
		{"mcp_oauth refresh missing client_id", oa(`{"refresh_token":"r","token_endpoint":"https://a.example.com/t","token_endpoint_auth":{"type":"none"}}`), "auth.refresh.client_id: field required"},
		{"mcp_oauth refresh missing endpoint auth", oa(`{"refresh_token":"r","token_endpoint":"https://a.example.com/t","client_id":"c"}`), "auth.refresh.token_endpoint_auth: field required"},
		{"mcp_oauth refresh unknown endpoint auth", oa(`{"refresh_token":"r","token_endpoint":"https://a.example.com/t","client_id":"c","token_endpoint_auth":{"type":"private_key_jwt"}}`), "auth.refresh.token_endpoint_auth.type: must be one of"},
		{"mcp_oauth basic without secret", oa(`{"refresh_token":"r","token_endpoint":"https://a.example.com/t","client_id":"c","token_endpoint_auth":{"type":"client_secret_basic"}}`), "auth.refresh.token_endpoint_auth.client_secret: field required"},
		{"mcp_oauth none with secret", oa(`{"refresh_token":"r","token_endpoint":"https://a.example.com/t","client_id":"c","token_endpoint_auth":{"type":"none","client_secret":"client-secret-PLAINTEXT-1"}}`), "client_secret: extra inputs"},

		{"env missing name", ev(`"secret_value":"v","networking":{"type":"unrestricted"}`), "auth.secret_name: field required"},
		{"env bad name", ev(`"secret_name":"1BAD-NAME","secret_value":"v","networking":{"type":"unrestricted"}`), "auth.secret_name: must be an environment variable name"},
		{"env missing value", ev(`"secret_name":"K","networking":{"type":"unrestricted"}`), "auth.secret_value: field required"},
		{"env missing networking", ev(evBase), "auth.networking: field required"},
		{"env networking null", ev(evBase + `,"networking":null`), "auth.networking: expected object"},
		{"env networking unknown", ev(evBase + `,"networking":{"type":"open"}`), "auth.networking.type: must be one of"},
		{"env limited without hosts", ev(evBase + `,"networking":{"type":"limited"}`), "auth.networking.allowed_hosts: must list at least one host"},
		{"env limited too many hosts", ev(evBase + `,"networking":{"type":"limited","allowed_hosts":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}}`), "at most 16"},
		{"env limited bad host", ev(evBase + `,"networking":{"type":"limited","allowed_hosts":["https://api.example.com/"]}`), "auth.networking.allowed_hosts[0]"},
		{"env unrestricted with hosts", ev(evBase + `,"networking":{"type":"unrestricted","allowed_hosts":["a"]}`), "allowed_hosts: extra inputs"},
		{"env injection not bool", ev(evBase + `,"networking":{"type":"unrestricted"},"injection_location":{"header":"yes"}`), "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := apiDo(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials", tt.body)
			msg := apiError(t, rec, http.StatusBadRequest, "invalid_request_error")
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			credNoSecrets(t, "error", rec.Body.Bytes())
		})
	}
	if got := vaultListIDs(t, e.srv, "/v1/vaults/"+vid+"/credentials?include_archived=true"); len(got) != 0 {
		t.Errorf("failed creates stored credentials: %v", got)
	}
}

func TestCredentialConflicts(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	vid := e.createVault(t, "v")
	e.createCredential(t, vid, credStaticBearerBody)
	e.createCredential(t, vid, credEnvVarBody)

	rec := apiDo(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials", strings.Replace(credStaticBearerBody, "PLAINTEXT-1", "PLAINTEXT-2", 1))
	apiError(t, rec, http.StatusConflict, "invalid_request_error")
	credNoSecrets(t, "409", rec.Body.Bytes())
	rec = apiDo(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials", strings.Replace(credEnvVarBody, "PLAINTEXT-1", "PLAINTEXT-2", 1))
	apiError(t, rec, http.StatusConflict, "invalid_request_error")

	// The same key in another vault is fine.
	other := e.createVault(t, "other")
	e.createCredential(t, other, credStaticBearerBody)

	// At most 20 active credentials per vault.
	for i := 2; i < hangar.MaxCredentialsPerVault; i++ {
		e.createCredential(t, vid, fmt.Sprintf(`{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com/%d"}}`, i))
	}
	rec = apiDo(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials", `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com/21"}}`)
	apiError(t, rec, http.StatusConflict, "invalid_request_error")
}

func TestCredentialGetListDeleteArchive(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	vid := e.createVault(t, "v")
	sb := e.createCredential(t, vid, credStaticBearerBody)
	oa := e.createCredential(t, vid, credMCPOAuthBody)
	ev := e.createCredential(t, vid, credEnvVarBody)
	h := e.srv
	base := "/v1/vaults/" + vid + "/credentials/"

	got := apiOK(t, h, "GET", base+oa.ID, "", nil)
	credNoSecrets(t, "get", got)
	checkGolden(t, "credential_get", got)

	list := apiOK(t, h, "GET", "/v1/vaults/"+vid+"/credentials", "", nil)
	credNoSecrets(t, "list", list)
	checkGolden(t, "credential_list", list)

	// Paging with limit=1 walks all three.
	var ids []string
	path := "/v1/vaults/" + vid + "/credentials?limit=1"
	for range 5 {
		var page struct {
			Data     []hangar.Credential `json:"data"`
			NextPage *string             `json:"next_page"`
		}
		credNoSecrets(t, "list page", apiOK(t, h, "GET", path, "", &page))
		for _, c := range page.Data {
			ids = append(ids, c.ID)
		}
		if page.NextPage == nil {
			break
		}
		path = "/v1/vaults/" + vid + "/credentials?limit=1&page=" + *page.NextPage
	}
	if want := []string{ev.ID, oa.ID, sb.ID}; !cmp.Equal(ids, want) {
		t.Errorf("paged credentials = %v, want newest first %v", ids, want)
	}
	for _, q := range []string{"limit=0", "limit=101", "page=nope", "include_archived=2"} {
		apiError(t, apiDo(t, h, "GET", "/v1/vaults/"+vid+"/credentials?"+q, ""), 400, "invalid_request_error")
	}

	archived := apiOK(t, h, "POST", base+oa.ID+"/archive", "", nil)
	credNoSecrets(t, "archive", archived)
	checkGolden(t, "credential_archive", archived)
	stored, err := e.store.GetCredential(context.Background(), vid, oa.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ArchivedAt == nil || stored.Sealed != nil {
		t.Errorf("archived credential: archived_at=%v, sealed %d bytes; want the secret purged", stored.ArchivedAt, len(stored.Sealed))
	}
	apiOK(t, h, "POST", base+oa.ID+"/archive", "", nil) // idempotent
	if got := vaultListIDs(t, h, "/v1/vaults/"+vid+"/credentials"); len(got) != 2 {
		t.Errorf("active credentials = %v, want 2", got)
	}
	if got := vaultListIDs(t, h, "/v1/vaults/"+vid+"/credentials?include_archived=true"); len(got) != 3 {
		t.Errorf("all credentials = %v, want 3", got)
	}
	msg := apiError(t, apiDo(t, h, "POST", base+oa.ID, `{"display_name":"x"}`), 400, "invalid_request_error")
	if !strings.Contains(msg, "archived") {
		t.Errorf("update of archived credential: %q", msg)
	}
	// An archived credential frees its key.
	e.createCredential(t, vid, strings.Replace(credMCPOAuthBody, "PLAINTEXT-1", "PLAINTEXT-2", -1))

	checkGolden(t, "credential_delete", apiOK(t, h, "DELETE", base+sb.ID, "", nil))
	apiError(t, apiDo(t, h, "GET", base+sb.ID, ""), 404, "not_found_error")

	// Not found: unknown IDs, and a credential addressed through another vault.
	other := e.createVault(t, "other")
	const missing = "vcrd_011CNope000000000000000000"
	for _, tt := range []struct{ method, path, body string }{
		{"GET", base + missing, ""},
		{"POST", base + missing, `{}`},
		{"DELETE", base + missing, ""},
		{"POST", base + missing + "/archive", ""},
		{"GET", "/v1/vaults/" + other + "/credentials/" + ev.ID, ""},
		{"POST", "/v1/vaults/" + other + "/credentials/" + ev.ID, `{"display_name":"x"}`},
		{"DELETE", "/v1/vaults/" + other + "/credentials/" + ev.ID, ""},
		{"POST", "/v1/vaults/" + other + "/credentials/" + ev.ID + "/archive", ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			apiError(t, apiDo(t, h, tt.method, tt.path, tt.body), http.StatusNotFound, "not_found_error")
		})
	}
	// The cross-vault attempts changed nothing.
	var still hangar.Credential
	apiOK(t, h, "GET", base+ev.ID, "", &still)
	if still.ArchivedAt != nil || still.DisplayName == nil || *still.DisplayName != "stripe" {
		t.Errorf("credential changed through another vault: %+v", still)
	}
}

func TestCredentialUpdate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		create      string
		update      string
		golden      string // compare the response with credential_<golden>.golden
		wantSecrets map[string]string
		check       func(t *testing.T, c hangar.Credential)
	}{
		{
			name:        "static_bearer token and fields",
			create:      credStaticBearerBody,
			update:      `{"display_name":"github-rotated","metadata":{"team":null,"rotated":"yes"},"auth":{"type":"static_bearer","token":"sb-token-PLAINTEXT-2"}}`,
			golden:      "update_static_bearer",
			wantSecrets: map[string]string{"token": "sb-token-PLAINTEXT-2"},
		},
		{
			name:        "static_bearer same url is accepted",
			create:      credStaticBearerBody,
			update:      `{"auth":{"type":"static_bearer","mcp_server_url":"https://mcp.example.com/github"}}`,
			wantSecrets: map[string]string{"token": "sb-token-PLAINTEXT-1"},
		},
		{
			name:        "display_name null clears",
			create:      credStaticBearerBody,
			update:      `{"display_name":null}`,
			wantSecrets: map[string]string{"token": "sb-token-PLAINTEXT-1"},
			check: func(t *testing.T, c hangar.Credential) {
				if c.DisplayName != nil {
					t.Errorf("display_name = %q, want null", *c.DisplayName)
				}
			},
		},
		{
			name:   "mcp_oauth access token keeps refresh secrets",
			create: credMCPOAuthBody,
			update: `{"auth":{"type":"mcp_oauth","access_token":"oauth-access-PLAINTEXT-2","expires_at":"2031-05-06T07:08:09Z"}}`,
			wantSecrets: map[string]string{
				"access_token": "oauth-access-PLAINTEXT-2", "refresh_token": "oauth-refresh-PLAINTEXT-1", "client_secret": "client-secret-PLAINTEXT-1",
			},
		},
		{
			name:   "mcp_oauth refresh rotation keeps endpoint auth type",
			create: credMCPOAuthBody,
			update: `{"auth":{"type":"mcp_oauth","refresh":{"refresh_token":"oauth-refresh-PLAINTEXT-2","scope":"","token_endpoint_auth":{"type":"client_secret_basic","client_secret":"client-secret-PLAINTEXT-2"}}}}`,
			golden: "update_mcp_oauth",
			wantSecrets: map[string]string{
				"access_token": "oauth-access-PLAINTEXT-1", "refresh_token": "oauth-refresh-PLAINTEXT-2", "client_secret": "client-secret-PLAINTEXT-2",
			},
		},
		{
			name:   "mcp_oauth add refresh",
			create: credMCPOAuthBareBody,
			update: `{"auth":{"type":"mcp_oauth","refresh":{"refresh_token":"oauth-refresh-PLAINTEXT-2","token_endpoint":"https://auth.example.com/token","client_id":"c2","token_endpoint_auth":{"type":"none"}}}}`,
			wantSecrets: map[string]string{
				"access_token": "oauth-access-PLAINTEXT-2", "refresh_token": "oauth-refresh-PLAINTEXT-2",
			},
		},
		{
			name:   "mcp_oauth expires_at null clears",
			create: credMCPOAuthBody,
			update: `{"auth":{"type":"mcp_oauth","expires_at":null}}`,
			wantSecrets: map[string]string{
				"access_token": "oauth-access-PLAINTEXT-1", "refresh_token": "oauth-refresh-PLAINTEXT-1", "client_secret": "client-secret-PLAINTEXT-1",
			},
			check: func(t *testing.T, c hangar.Credential) {
				if !strings.Contains(string(c.Auth), `"expires_at":null`) {
					t.Errorf("auth = %s, want expires_at null", c.Auth)
				}
			},
		},
		{
			name:        "environment_variable value, networking and injection",
			create:      credEnvVarBody,
			update:      `{"auth":{"type":"environment_variable","secret_value":"env-value-PLAINTEXT-2","networking":{"type":"unrestricted"},"injection_location":{"body":false}}}`,
			golden:      "update_environment_variable",
			wantSecrets: map[string]string{"secret_value": "env-value-PLAINTEXT-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newVaultEnv(t)
			vid := e.createVault(t, "v")
			c := e.createCredential(t, vid, tt.create)
			raw := apiOK(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials/"+c.ID, tt.update, nil)
			credNoSecrets(t, "update", raw)
			if tt.golden != "" {
				checkGolden(t, "credential_"+tt.golden, raw)
			}
			var got hangar.Credential
			_ = json.Unmarshal(raw, &got)
			if !got.UpdatedAt.After(c.UpdatedAt) {
				t.Errorf("updated_at %v not after %v", got.UpdatedAt, c.UpdatedAt)
			}
			if diff := cmp.Diff(tt.wantSecrets, e.openSealed(t, vid, c.ID)); diff != "" {
				t.Errorf("sealed secrets (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
			// GET agrees with the update's response.
			if again := apiOK(t, e.srv, "GET", "/v1/vaults/"+vid+"/credentials/"+c.ID, "", nil); !bytes.Equal(again, raw) {
				t.Errorf("GET after update = %s\nwant %s", again, raw)
			}
		})
	}
}

func TestCredentialUpdateValidation(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	vid := e.createVault(t, "v")
	sb := e.createCredential(t, vid, credStaticBearerBody)
	oa := e.createCredential(t, vid, credMCPOAuthBody)
	bare := e.createCredential(t, vid, credMCPOAuthBareBody)
	none := e.createCredential(t, vid, `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/n","access_token":"a","refresh":{"refresh_token":"r","token_endpoint":"https://auth.example.com/token","client_id":"c","token_endpoint_auth":{"type":"none"}}}}`)
	ev := e.createCredential(t, vid, credEnvVarBody)
	before := map[string]map[string]string{}
	for _, c := range []hangar.Credential{sb, oa, bare, none, ev} {
		before[c.ID] = e.openSealed(t, vid, c.ID)
	}
	tests := []struct {
		name    string
		id      string
		body    string
		mention string
	}{
		{"type change", sb.ID, `{"auth":{"type":"mcp_oauth","access_token":"oauth-access-PLAINTEXT-2"}}`, "auth.type"},
		{"missing type", sb.ID, `{"auth":{"token":"sb-token-PLAINTEXT-2"}}`, "auth.type: field required"},
		{"auth null", sb.ID, `{"auth":null}`, "auth: expected object"},
		{"static_bearer url change", sb.ID, `{"auth":{"type":"static_bearer","mcp_server_url":"https://mcp.example.com/other","token":"sb-token-PLAINTEXT-2"}}`, "auth.mcp_server_url: is immutable"},
		{"static_bearer empty token", sb.ID, `{"auth":{"type":"static_bearer","token":""}}`, "auth.token: must not be empty"},
		{"mcp_oauth url change", oa.ID, `{"auth":{"type":"mcp_oauth","mcp_server_url":"https://mcp.example.com/x"}}`, "auth.mcp_server_url: is immutable"},
		{"mcp_oauth expires_at in the past", oa.ID, `{"auth":{"type":"mcp_oauth","expires_at":"2001-01-01T00:00:00Z"}}`, "auth.expires_at: must be in the future"},
		{"mcp_oauth expires_at garbage", oa.ID, `{"auth":{"type":"mcp_oauth","expires_at":"soon"}}`, "auth.expires_at"},
		{"mcp_oauth refresh immutable field", oa.ID, `{"auth":{"type":"mcp_oauth","refresh":{"client_id":"other"}}}`, "client_id: extra inputs"},
		{"mcp_oauth add incomplete refresh", bare.ID, `{"auth":{"type":"mcp_oauth","refresh":{"refresh_token":"oauth-refresh-PLAINTEXT-2"}}}`, "auth.refresh.token_endpoint: field required"},
		{"mcp_oauth client secret on none", none.ID, `{"auth":{"type":"mcp_oauth","refresh":{"token_endpoint_auth":{"type":"client_secret_post","client_secret":"client-secret-PLAINTEXT-2"}}}}`, "no client secret to replace"},
		{"mcp_oauth endpoint auth none", oa.ID, `{"auth":{"type":"mcp_oauth","refresh":{"token_endpoint_auth":{"type":"none"}}}}`, "token_endpoint_auth.type"},
		{"env name change", ev.ID, `{"auth":{"type":"environment_variable","secret_name":"OTHER","secret_value":"env-value-PLAINTEXT-2"}}`, "auth.secret_name: is immutable"},
		{"env bad networking", ev.ID, `{"auth":{"type":"environment_variable","networking":{"type":"limited","allowed_hosts":[]}}}`, "allowed_hosts"},
		{"display_name too long", ev.ID, `{"display_name":"` + strings.Repeat("n", 256) + `"}`, "display_name"},
		{"metadata too long", ev.ID, `{"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, "metadata.k"},
		{"unknown field", ev.ID, `{"vault_id":"vlt_x"}`, "vault_id: extra inputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := apiDo(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials/"+tt.id, tt.body)
			msg := apiError(t, rec, http.StatusBadRequest, "invalid_request_error")
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			credNoSecrets(t, "error", rec.Body.Bytes())
		})
	}
	t.Run("nothing changed", func(t *testing.T) {
		for id, want := range before {
			if diff := cmp.Diff(want, e.openSealed(t, vid, id)); diff != "" {
				t.Errorf("secrets of %s changed by a rejected update (-want +got):\n%s", id, diff)
			}
		}
	})
}

// TestCredentialSecretsNeverExposed drives every credential endpoint for each auth type and
// checks that no secret appears in any response, nor in the raw database files.
func TestCredentialSecretsNeverExposed(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	vid := e.createVault(t, "v")
	var bodies [][]byte
	call := func(method, path, body string) {
		t.Helper()
		rec := apiDo(t, e.srv, method, path, body)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		bodies = append(bodies, rec.Body.Bytes())
	}
	updates := map[string]string{
		credStaticBearerBody: `{"auth":{"type":"static_bearer","token":"sb-token-PLAINTEXT-2"}}`,
		credMCPOAuthBody:     `{"auth":{"type":"mcp_oauth","access_token":"oauth-access-PLAINTEXT-2","refresh":{"refresh_token":"oauth-refresh-PLAINTEXT-2","token_endpoint_auth":{"type":"client_secret_post","client_secret":"client-secret-PLAINTEXT-2"}}}}`,
		credEnvVarBody:       `{"auth":{"type":"environment_variable","secret_value":"env-value-PLAINTEXT-2"}}`,
	}
	var ids []string
	for create, update := range updates {
		c := e.createCredential(t, vid, create)
		ids = append(ids, c.ID)
		base := "/v1/vaults/" + vid + "/credentials/" + c.ID
		call("GET", base, "")
		call("GET", "/v1/vaults/"+vid+"/credentials", "")
		call("POST", base, update)
		call("GET", base, "")
		call("GET", "/v1/vaults/"+vid+"/credentials?include_archived=true", "")
	}
	for i, b := range bodies {
		credNoSecrets(t, fmt.Sprintf("response %d", i), b)
	}
	if logs := e.logs.Bytes(); len(logs) == 0 {
		t.Error("the server logged nothing at debug level; the log check is vacuous")
	} else {
		credNoSecrets(t, "server log", logs)
	}
	// Every secret made it into the store, sealed: the keyring opens them...
	var opened []string
	for _, id := range ids {
		for _, v := range e.openSealed(t, vid, id) {
			opened = append(opened, v)
		}
	}
	if len(opened) != 5 {
		t.Errorf("opened %d secrets, want 5 (token, access, refresh, client secret, env value)", len(opened))
	}
	// ...but none is readable in the database files (WAL included).
	checkpointed := false
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		raw, err := os.ReadFile(e.dbPath + suffix)
		if err != nil {
			continue
		}
		if suffix == "" && len(raw) > 0 {
			checkpointed = true
		}
		for _, s := range credTestSecrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("database file %s contains secret %q in plaintext", e.dbPath+suffix, s)
			}
		}
		// The public parts are there, so the search is looking at the right bytes.
		if bytes.Contains(raw, []byte("STRIPE_API_KEY")) {
			checkpointed = true
		}
	}
	if !checkpointed {
		t.Errorf("database files not found or empty at %s", e.dbPath)
	}
}
