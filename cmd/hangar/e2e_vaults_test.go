package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// Secrets the vault tests write; none may ever come back in a response.
var vaultSecrets = []string{"sb-token-SECRET-1", "sb-token-SECRET-2", "oauth-access-SECRET", "oauth-refresh-SECRET", "client-secret-SECRET"}

// noSecrets fails if any secret appears in raw (a response body).
func noSecrets(t *testing.T, what, raw string) {
	t.Helper()
	if raw == "" {
		t.Errorf("%s: empty response body", what)
	}
	for _, s := range vaultSecrets {
		if strings.Contains(raw, s) {
			t.Errorf("%s leaks secret %q: %s", what, s, raw)
		}
	}
}

func TestE2EVaults(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "prod", Metadata: map[string]string{"env": "prod"}})
	if err != nil {
		t.Fatalf("create vault: %v", err)
	}
	if v.Type != "vault" || v.DisplayName != "prod" || v.Metadata["env"] != "prod" || !strings.HasPrefix(v.ID, "vlt_") {
		t.Errorf("vault = %s", v.RawJSON())
	}

	sb, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		DisplayName: anthropic.String("github"),
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
			Token:        "sb-token-SECRET-1",
			MCPServerURL: "https://mcp.example.com/github",
		}},
	})
	if err != nil {
		t.Fatalf("create static_bearer: %v", err)
	}
	noSecrets(t, "create static_bearer", sb.RawJSON())
	checkShape(t, "static_bearer credential", sb)
	if sb.Type != "vault_credential" || sb.VaultID != v.ID || sb.Auth.Type != "static_bearer" || sb.Auth.MCPServerURL != "https://mcp.example.com/github" || !strings.HasPrefix(sb.ID, "vcrd_") {
		t.Errorf("static_bearer credential = %s", sb.RawJSON())
	}

	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	oa, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfMCPOAuth: &anthropic.BetaManagedAgentsMCPOAuthCreateParams{
			AccessToken:  "oauth-access-SECRET",
			MCPServerURL: "https://mcp.example.com/linear",
			ExpiresAt:    anthropic.Time(expires),
			Refresh: anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
				RefreshToken:  "oauth-refresh-SECRET",
				TokenEndpoint: "https://auth.example.com/token",
				ClientID:      "client-1",
				Scope:         anthropic.String("read"),
				TokenEndpointAuth: anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{
					OfClientSecretPost: &anthropic.BetaManagedAgentsTokenEndpointAuthPostParam{ClientSecret: "client-secret-SECRET"},
				},
			},
		}},
	})
	if err != nil {
		t.Fatalf("create mcp_oauth: %v", err)
	}
	noSecrets(t, "create mcp_oauth", oa.RawJSON())
	checkShape(t, "mcp_oauth credential", oa)
	if oa.Auth.Type != "mcp_oauth" || !oa.Auth.ExpiresAt.Equal(expires) {
		t.Errorf("mcp_oauth auth = %s", oa.Auth.RawJSON())
	}
	if r := oa.Auth.Refresh; r.ClientID != "client-1" || r.TokenEndpoint != "https://auth.example.com/token" || r.TokenEndpointAuth.Type != "client_secret_post" {
		t.Errorf("mcp_oauth refresh = %s", oa.Auth.JSON.Refresh.Raw())
	}

	t.Run("duplicate mcp_server_url is 409", func(t *testing.T) {
		_, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
			Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
				Token: "sb-token-SECRET-2", MCPServerURL: "https://mcp.example.com/github",
			}},
		})
		apiErr := wantStatus(t, err, http.StatusConflict, "")
		noSecrets(t, "409 body", apiErr.RawJSON())
	})

	t.Run("get", func(t *testing.T) {
		got, err := c.Beta.Vaults.Credentials.Get(ctx, sb.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		noSecrets(t, "get credential", got.RawJSON())
		if got.DisplayName != "github" {
			t.Errorf("get = %s", got.RawJSON())
		}
		gv, err := c.Beta.Vaults.Get(ctx, v.ID, anthropic.BetaVaultGetParams{})
		if err != nil || gv.ID != v.ID {
			t.Errorf("get vault: %v", err)
		}
	})

	t.Run("update", func(t *testing.T) {
		got, err := c.Beta.Vaults.Credentials.Update(ctx, sb.ID, anthropic.BetaVaultCredentialUpdateParams{
			VaultID:     v.ID,
			DisplayName: anthropic.String("github-rotated"),
			Metadata:    map[string]string{"rotated": "yes"},
			Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerUpdateParams{
				Token: anthropic.String("sb-token-SECRET-2"),
			}},
		})
		if err != nil {
			t.Fatalf("update credential: %v", err)
		}
		noSecrets(t, "update credential", got.RawJSON())
		if got.DisplayName != "github-rotated" || got.Metadata["rotated"] != "yes" || got.Auth.MCPServerURL != "https://mcp.example.com/github" {
			t.Errorf("after update: %s", got.RawJSON())
		}

		// The auth type is immutable.
		_, err = c.Beta.Vaults.Credentials.Update(ctx, sb.ID, anthropic.BetaVaultCredentialUpdateParams{
			VaultID: v.ID,
			Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfMCPOAuth: &anthropic.BetaManagedAgentsMCPOAuthUpdateParams{
				AccessToken: anthropic.String("oauth-access-SECRET"),
			}},
		})
		apiErr := wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
		noSecrets(t, "400 body", apiErr.RawJSON())

		gv, err := c.Beta.Vaults.Update(ctx, v.ID, anthropic.BetaVaultUpdateParams{DisplayName: anthropic.String("production")})
		if err != nil {
			t.Fatalf("update vault: %v", err)
		}
		if gv.DisplayName != "production" || gv.Metadata["env"] != "prod" {
			t.Errorf("vault after update: %s", gv.RawJSON())
		}
	})

	t.Run("list", func(t *testing.T) {
		var ids []string
		iter := c.Beta.Vaults.Credentials.ListAutoPaging(ctx, v.ID, anthropic.BetaVaultCredentialListParams{Limit: anthropic.Int(1)})
		for iter.Next() {
			cred := iter.Current()
			noSecrets(t, "list credentials", cred.RawJSON())
			ids = append(ids, cred.ID)
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("list credentials: %v", err)
		}
		if len(ids) != 2 {
			t.Errorf("credentials = %v, want 2", ids)
		}
		page, err := c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
		if err != nil {
			t.Fatal(err)
		}
		noSecrets(t, "list page", page.RawJSON())

		vaults, err := c.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{})
		if err != nil {
			t.Fatalf("list vaults: %v", err)
		}
		if len(vaults.Data) != 1 || vaults.Data[0].ID != v.ID {
			t.Errorf("vaults = %s", vaults.RawJSON())
		}
	})

	t.Run("archive credential", func(t *testing.T) {
		got, err := c.Beta.Vaults.Credentials.Archive(ctx, oa.ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID})
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		noSecrets(t, "archive credential", got.RawJSON())
		if got.ArchivedAt.IsZero() {
			t.Errorf("archived_at not set: %s", got.RawJSON())
		}
		page, err := c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 {
			t.Errorf("archived credential still listed: %s", page.RawJSON())
		}
	})

	t.Run("delete credential", func(t *testing.T) {
		got, err := c.Beta.Vaults.Credentials.Delete(ctx, sb.ID, anthropic.BetaVaultCredentialDeleteParams{VaultID: v.ID})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		checkShape(t, "credential delete", got)
		if got.ID != sb.ID || got.Type != "vault_credential_deleted" {
			t.Errorf("delete = %s", got.RawJSON())
		}
		_, err = c.Beta.Vaults.Credentials.Get(ctx, sb.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})

	t.Run("credential of another vault is 404", func(t *testing.T) {
		other, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "other"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Beta.Vaults.Credentials.Get(ctx, oa.ID, anthropic.BetaVaultCredentialGetParams{VaultID: other.ID})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})

	t.Run("archive and delete vault", func(t *testing.T) {
		got, err := c.Beta.Vaults.Archive(ctx, v.ID, anthropic.BetaVaultArchiveParams{})
		if err != nil {
			t.Fatalf("archive vault: %v", err)
		}
		if got.ArchivedAt.IsZero() {
			t.Errorf("vault archived_at not set: %s", got.RawJSON())
		}
		del, err := c.Beta.Vaults.Delete(ctx, v.ID, anthropic.BetaVaultDeleteParams{})
		if err != nil {
			t.Fatalf("delete vault: %v", err)
		}
		checkShape(t, "vault delete", del)
		if del.ID != v.ID || del.Type != "vault_deleted" {
			t.Errorf("delete vault = %s", del.RawJSON())
		}
		_, err = c.Beta.Vaults.Get(ctx, v.ID, anthropic.BetaVaultGetParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})
}
