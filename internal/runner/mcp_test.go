package runner_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/runner"
)

// mcpCred is an MCP credential of a test vault.
type mcpCred struct {
	authType, url string
	secrets       hangar.CredentialSecrets
	archived      bool
}

// mcpVault creates a vault holding creds and returns its ID.
func (e *env) mcpVault(creds ...mcpCred) string {
	e.t.Helper()
	now := hangar.Now()
	v := &hangar.Vault{Type: "vault", ID: hangar.NewID(hangar.PrefixVault), DisplayName: "mcp", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateVault(e.ctx, v); err != nil {
		e.t.Fatalf("create vault: %v", err)
	}
	for _, c := range creds {
		plain, _ := json.Marshal(c.secrets)
		cred := &hangar.Credential{
			Type: "vault_credential", ID: hangar.NewID(hangar.PrefixCredential), VaultID: v.ID, Metadata: map[string]string{},
			Auth: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now,
			AuthType: c.authType, Key: c.url, Sealed: append([]byte("sealed:"), plain...), KeyID: fakeKeyID,
		}
		if c.archived {
			cred.ArchivedAt = &now
		}
		if err := e.store.CreateCredential(e.ctx, cred); err != nil {
			e.t.Fatalf("create credential: %v", err)
		}
	}
	return v.ID
}

// TestEgressMCPServers checks how the runner resolves the agent's URL MCP servers and
// their vault credentials for Egress.Attach.
func TestEgressMCPServers(t *testing.T) {
	t.Parallel()
	const docs, gh = "https://docs.example.com/mcp", "https://gh.example.com/mcp"
	servers := `[{"type":"url","name":"docs","url":"` + docs + `"},{"type":"url","name":"gh","url":"` + gh + `"}]`
	bearer := func(url, tok string) mcpCred {
		return mcpCred{authType: hangar.AuthStaticBearer, url: url, secrets: hangar.CredentialSecrets{Token: tok}}
	}
	tests := []struct {
		name   string
		vaults func(e *env) []string
		want   []runner.MCPServer
	}{
		{
			name:   "no vault: servers without tokens",
			vaults: func(e *env) []string { return nil },
			want:   []runner.MCPServer{{Name: "docs", URL: docs}, {Name: "gh", URL: gh}},
		},
		{
			name: "static_bearer and mcp_oauth by URL, first vault wins",
			vaults: func(e *env) []string {
				return []string{
					e.mcpVault(bearer(docs, "docs-1"), mcpCred{authType: hangar.AuthEnvVar, url: gh, secrets: hangar.CredentialSecrets{SecretValue: "not-mcp"}}),
					e.mcpVault(bearer(docs, "docs-2"), mcpCred{authType: hangar.AuthMCPOAuth, url: gh,
						secrets: hangar.CredentialSecrets{AccessToken: "gh-access", RefreshToken: "gh-refresh"}}),
				}
			},
			want: []runner.MCPServer{{Name: "docs", URL: docs, Token: "docs-1"}, {Name: "gh", URL: gh, Token: "gh-access", OAuth: true}},
		},
		{
			name: "archived skipped, other URLs ignored",
			vaults: func(e *env) []string {
				old := bearer(docs, "old")
				old.archived = true
				return []string{e.mcpVault(old, bearer("https://other.example.com/", "x")), e.mcpVault(bearer(docs, "new"))}
			},
			want: []runner.MCPServer{{Name: "docs", URL: docs, Token: "new"}, {Name: "gh", URL: gh}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			eg := &fakeEgress{}
			e.startWithEgress(eg, &memory.Provider{})
			id := e.sessionWithVaults(tt.vaults(e))
			if _, err := e.store.UpdateSession(e.ctx, id, func(s *hangar.Session) error {
				s.Agent.MCPServers = json.RawMessage(servers)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			e.turn(id, "hi")
			calls := eg.calls()
			if len(calls) != 1 {
				t.Fatalf("%d Attach calls, want 1", len(calls))
			}
			got := calls[0].Opts.MCPServers
			for i, s := range got {
				// The credential's IDs are generated: present exactly when a token is.
				if (s.Token != "") != (s.CredentialID != "" && strings.HasPrefix(s.VaultID, "vlt_")) {
					t.Errorf("server %s: token set %v, credential %q of vault %q", s.Name, s.Token != "", s.CredentialID, s.VaultID)
				}
				got[i].VaultID, got[i].CredentialID = "", ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("MCP servers (-want +got):\n%s", diff)
			}
		})
	}
}
