package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// mcpEngineCases are the CLI engines that get the agent's URL MCP servers besides claude
// (e2e_mcp_test.go), each with the credential type its test uses.
var mcpEngineCases = []struct {
	engineCase
	oauth bool // an expired mcp_oauth credential, refreshed by the proxy, instead of static_bearer
}{
	{engineCase: engineCases[1]},              // codex
	{engineCase: engineCases[2], oauth: true}, // gemini
	{engineCase: engineCases[0]},              // opencode
	{engineCase: engineCases[4], oauth: true}, // factory
	{engineCase: engineCases[3]},              // pi (through its bridge extension)
}

// oauthTokenEndpoint is an OAuth token endpoint that exchanges refresh token
// "mcp-refresh-1" for mcpTestToken (what mcpTestServer accepts), rotating the refresh
// token, and counts exchanges.
func oauthTokenEndpoint(t *testing.T, exchanges *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != "mcp-refresh-1" || r.PostForm.Get("client_id") != "hangar-e2e" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		exchanges.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": mcpTestToken, "token_type": "Bearer", "expires_in": 3600, "refresh_token": "mcp-refresh-2"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mcpScript is the fake model of ec's MCP test: "CUSTOM:lookup <input>" calls the MCP
// tool by the CLI's name for it (enginetest.MCPScript); everything else gets next, or the
// default of the engine's model API.
func mcpScript(ec engineCase, next func(fakemodel.Request) fakemodel.Response) func(fakemodel.Request) fakemodel.Response {
	if next == nil {
		next = map[string]func(fakemodel.Request) fakemodel.Response{
			"codex": fakemodel.ResponsesDefault, "gemini": fakemodel.GeminiDefault}[ec.name]
	}
	if next == nil {
		next = fakemodel.Default
	}
	return enginetest.MCPScript(next)
}

// TestE2EMCPEngines runs each CLI engine against a real MCP server through the egress
// proxy: the fake model calls the server's tool by the CLI's name for it (…__lookup), the
// server receives the call with the vault's token, the session shows agent.mcp_tool_use
// and agent.mcp_tool_result, and the token is nowhere in the sandbox.
func TestE2EMCPEngines(t *testing.T) {
	t.Parallel()
	for _, ec := range mcpEngineCases {
		t.Run(ec.name, func(t *testing.T) {
			t.Parallel()
			srv, fake := engineServer(t, ec.engineCase)
			fake.Script = mcpScript(ec.engineCase, fake.Script)
			c := srv.Client
			ctx := testContext(t)
			mcp := &mcpTestServer{}
			mcpSrv := httptest.NewServer(mcp)
			t.Cleanup(mcpSrv.Close)
			mcpURL := mcpSrv.URL + "/mcp"

			a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
				Name:  "mcp-" + ec.name,
				Model: anthropic.BetaManagedAgentsModelConfigParams{ID: ec.model},
			}, option.WithJSONSet("engine", ec.name), option.WithJSONSet("tools", []map[string]any{
				{"type": "agent_toolset_20260401"},
				{"type": "mcp_toolset", "mcp_server_name": "docs", "default_config": map[string]any{"permission_policy": map[string]any{"type": "always_allow"}}},
			}), option.WithJSONSet("mcp_servers", []map[string]any{{"type": "url", "name": "docs", "url": mcpURL}}))
			if err != nil {
				t.Fatalf("create agent: %v", err)
			}
			env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "mcp-" + ec.name},
				option.WithJSONSet("config", map[string]any{"type": "cloud",
					"networking": map[string]any{"type": "limited", "allowed_hosts": []string{}, "allow_mcp_servers": true}}))
			if err != nil {
				t.Fatalf("create environment: %v", err)
			}
			v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "mcp"})
			if err != nil {
				t.Fatalf("create vault: %v", err)
			}
			var exchanges atomic.Int32
			auth := anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
				Token: mcpTestToken, MCPServerURL: mcpURL}}
			if ec.oauth {
				tokenSrv := oauthTokenEndpoint(t, &exchanges)
				auth = anthropic.BetaVaultCredentialNewParamsAuthUnion{OfMCPOAuth: &anthropic.BetaManagedAgentsMCPOAuthCreateParams{
					AccessToken: "mcp-expired-access", MCPServerURL: mcpURL, ExpiresAt: anthropic.Time(time.Now().Add(-time.Hour)),
					Refresh: anthropic.BetaManagedAgentsMCPOAuthRefreshParams{
						RefreshToken: "mcp-refresh-1", TokenEndpoint: tokenSrv.URL + "/token", ClientID: "hangar-e2e",
						TokenEndpointAuth: anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{
							OfNone: &anthropic.BetaManagedAgentsTokenEndpointAuthNoneParam{}},
					}}}
			}
			if _, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{Auth: auth}); err != nil {
				t.Fatalf("create credential: %v", err)
			}
			sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
				Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
				EnvironmentID: env.ID, VaultIDs: []string{v.ID},
			})
			if err != nil {
				t.Fatalf("create session: %v", err)
			}
			streamCtx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
			defer cancel()
			stream := openStream(t, streamCtx, c, sess.ID)

			send(t, c, sess.ID, userMessage(`CUSTOM:lookup {"q":"hangar"}`))
			evs := readUntil(t, stream, isIdle)
			var use, result anthropic.BetaManagedAgentsStreamSessionEventsUnion
			for _, ev := range evs {
				switch ev.Type {
				case "agent.mcp_tool_use":
					use = ev
				case "agent.mcp_tool_result":
					result = ev
				}
			}
			input, _ := use.Input.(map[string]any)
			if use.Name != "lookup" || use.MCPServerName != "docs" || input["q"] != "hangar" {
				logEvents(t, evs)
				for _, r := range fake.Requests() {
					var names []string
					for _, tl := range r.Tools {
						names = append(names, tl.Name)
					}
					t.Logf("model request %s tools %q", r.Path, names)
					if os.Getenv("HANGAR_TEST_DUMP") != "" {
						t.Logf("body %s", r.Body)
					}
				}
				_, m := mcp.seen()
				t.Logf("MCP server methods %q", m)
				t.Fatalf("want agent.mcp_tool_use(docs, lookup, q=hangar); events %q, use %s", eventTypes(evs), use.RawJSON())
			}
			if !strings.Contains(result.RawJSON(), "definition of hangar") || !strings.Contains(result.RawJSON(), use.ID) {
				logEvents(t, evs)
				t.Fatalf("want agent.mcp_tool_result of %s with the server's text; got %s", use.ID, result.RawJSON())
			}
			auths, methods := mcp.seen()
			if !contains(methods, "initialize") || !contains(methods, "tools/call") {
				t.Errorf("the MCP server saw methods %q", methods)
			}
			for _, a := range auths {
				if a != "Bearer "+mcpTestToken {
					t.Errorf("the MCP server saw Authorization %q, want the vault's token", a)
				}
			}
			if ec.oauth && exchanges.Load() != 1 {
				t.Errorf("%d token exchanges, want 1 (the expired token refreshed once)", exchanges.Load())
			}
			if ec.oauth {
				// The refreshed token and the rotated refresh token are stored: validation
				// now finds the credential valid without another exchange.
				creds, err := c.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
				if err != nil || len(creds.Data) != 1 {
					t.Fatalf("list credentials: %v", err)
				}
				val, err := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, creds.Data[0].ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
				if err != nil || val.Status != "valid" || exchanges.Load() != 1 {
					t.Errorf("validate after the session's refresh: %v %s (%d exchanges)", err, val.RawJSON(), exchanges.Load())
				}
			}

			// The token is nowhere in the sandbox: not in what the CLI's shell sees, nor in
			// the files under the session's host directories.
			send(t, c, sess.ID, userMessage(`TOOL:bash env; grep -rl "mcp-secret-token""-for-tests" $HOME /workspace /tmp 2>/dev/null; echo end-of-scan`))
			var scan string
			for _, ev := range readUntil(t, stream, isIdle) {
				if ev.Type == "agent.tool_result" {
					scan = ev.RawJSON()
				}
			}
			if !strings.Contains(scan, "end-of-scan") {
				t.Fatalf("the scan did not run: %s", scan)
			}
			if strings.Contains(scan, mcpTestToken) {
				t.Fatalf("the MCP token is visible inside the sandbox: %s", scan)
			}
			root := filepath.Join(srv.DataDir, "sandboxes", sess.ID)
			err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), mcpTestToken) {
					t.Errorf("%s contains the MCP token", path)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestE2EMCPOAuthValidate probes mcp_oauth credentials through the SDK's MCPOAuthValidate
// against a real MCP server (mcpTestServer, which accepts only mcpTestToken) and token
// endpoint (oauthTokenEndpoint, which issues it for refresh token mcp-refresh-1).
func TestE2EMCPOAuthValidate(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	mcpSrv := httptest.NewServer(&mcpTestServer{})
	t.Cleanup(mcpSrv.Close)
	var exchanges atomic.Int32
	tokenSrv := oauthTokenEndpoint(t, &exchanges)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/mcp"
	down.Close() // nothing listens there now

	refresh := func(token string) anthropic.BetaManagedAgentsMCPOAuthRefreshParams {
		return anthropic.BetaManagedAgentsMCPOAuthRefreshParams{RefreshToken: token, TokenEndpoint: tokenSrv.URL + "/token", ClientID: "hangar-e2e",
			TokenEndpointAuth: anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{OfNone: &anthropic.BetaManagedAgentsTokenEndpointAuthNoneParam{}}}
	}
	past := anthropic.Time(time.Now().Add(-time.Hour))
	tests := []struct {
		name        string
		auth        anthropic.BetaManagedAgentsMCPOAuthCreateParams
		wantStatus  string
		wantRefresh string // "" for none attempted
		wantProbe   bool   // mcp_probe set (initialize failed)
		exchanges   int32
	}{
		{"valid", anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: mcpTestToken, MCPServerURL: mcpSrv.URL + "/valid"},
			"valid", "", false, 0},
		{"expired, refreshable", anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: "old", ExpiresAt: past, MCPServerURL: mcpSrv.URL + "/expired", Refresh: refresh("mcp-refresh-1")},
			"valid", "succeeded", false, 1},
		{"refresh failing", anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: "old", ExpiresAt: past, MCPServerURL: mcpSrv.URL + "/revoked", Refresh: refresh("revoked")},
			"invalid", "failed", false, 0},
		{"rejected without refresh token", anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: "wrong", MCPServerURL: mcpSrv.URL + "/wrong"},
			"invalid", "no_refresh_token", true, 0},
		{"server unreachable", anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: mcpTestToken, MCPServerURL: downURL},
			"unknown", "", true, 0},
	}
	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "validate"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := exchanges.Load()
			cred, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
				Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfMCPOAuth: &tt.auth}})
			if err != nil {
				t.Fatalf("create credential: %v", err)
			}
			val, err := c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, cred.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if string(val.Status) != tt.wantStatus || val.CredentialID != cred.ID || val.VaultID != v.ID || val.ValidatedAt.IsZero() || string(val.Type) != "vault_credential_validation" {
				t.Errorf("validation %s, want status %s", val.RawJSON(), tt.wantStatus)
			}
			if got := string(val.Refresh.Status); got != tt.wantRefresh {
				t.Errorf("refresh %s, want %q", val.Refresh.RawJSON(), tt.wantRefresh)
			}
			if tt.wantRefresh == "failed" && val.Refresh.HTTPResponse.StatusCode != 400 {
				t.Errorf("refresh http_response %s, want the endpoint's 400", val.Refresh.HTTPResponse.RawJSON())
			}
			if got := val.MCPProbe.Method != ""; got != tt.wantProbe {
				t.Errorf("mcp_probe %s, want set = %v", val.MCPProbe.RawJSON(), tt.wantProbe)
			}
			if got := exchanges.Load() - before; got != tt.exchanges {
				t.Errorf("%d token exchanges, want %d", got, tt.exchanges)
			}
			if strings.Contains(val.RawJSON(), mcpTestToken) {
				t.Errorf("the validation leaks the token: %s", val.RawJSON())
			}
		})
	}

	// Errors use the API's envelope.
	bearer, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{Token: "x", MCPServerURL: mcpSrv.URL + "/bearer"}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Beta.Vaults.Credentials.MCPOAuthValidate(ctx, bearer.ID, anthropic.BetaVaultCredentialMCPOAuthValidateParams{VaultID: v.ID})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.RawJSON(), "invalid_request_error") {
		t.Errorf("validate a static_bearer credential: %v, want a 400 invalid_request_error", err)
	}
}

// TestE2EMCPOAuthRefreshFailure gives a codex session an expired mcp_oauth credential
// whose refresh the token endpoint refuses: the MCP server is never called, and the
// session gets a session.error naming the server and the credential (§4.6).
func TestE2EMCPOAuthRefreshFailure(t *testing.T) {
	t.Parallel()
	ec := engineCases[1] // codex
	srv, fake := engineServer(t, ec)
	fake.Script = mcpScript(ec, nil)
	c := srv.Client
	ctx := testContext(t)
	mcp := &mcpTestServer{}
	mcpSrv := httptest.NewServer(mcp)
	t.Cleanup(mcpSrv.Close)
	mcpURL := mcpSrv.URL + "/mcp"
	var exchanges atomic.Int32
	tokenSrv := oauthTokenEndpoint(t, &exchanges)

	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "mcp-fail", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: ec.model}},
		option.WithJSONSet("engine", ec.name), option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}, {"type": "mcp_toolset", "mcp_server_name": "docs"}}),
		option.WithJSONSet("mcp_servers", []map[string]any{{"type": "url", "name": "docs", "url": mcpURL}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "mcp-fail"},
		option.WithJSONSet("config", map[string]any{"type": "cloud",
			"networking": map[string]any{"type": "limited", "allowed_hosts": []string{}, "allow_mcp_servers": true}}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "mcp"})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{
		OfMCPOAuth: &anthropic.BetaManagedAgentsMCPOAuthCreateParams{AccessToken: "mcp-expired-access", MCPServerURL: mcpURL,
			ExpiresAt: anthropic.Time(time.Now().Add(-time.Hour)),
			Refresh: anthropic.BetaManagedAgentsMCPOAuthRefreshParams{RefreshToken: "revoked", TokenEndpoint: tokenSrv.URL + "/token", ClientID: "hangar-e2e",
				TokenEndpointAuth: anthropic.BetaManagedAgentsMCPOAuthRefreshParamsTokenEndpointAuthUnion{OfNone: &anthropic.BetaManagedAgentsTokenEndpointAuthNoneParam{}}},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, EnvironmentID: env.ID, VaultIDs: []string{v.ID}})
	if err != nil {
		t.Fatal(err)
	}
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("hello"))
	evs := readUntil(t, stream, isIdle)
	var serr anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, ev := range evs {
		if ev.Type == "session.error" {
			serr = ev
		}
	}
	raw := serr.RawJSON()
	for _, want := range []string{`"mcp_authentication_failed_error"`, `"mcp_server_name":"docs"`, `"credential_id":"` + cred.ID + `"`, `"retrying"`} {
		if !strings.Contains(raw, want) {
			logEvents(t, evs)
			t.Fatalf("session.error %s lacks %s", raw, want)
		}
	}
	if auths, _ := mcp.seen(); len(auths) != 0 {
		t.Errorf("the MCP server was called: %q", auths)
	}
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
		t.Errorf("the turn ended with %s; an MCP failure should not end it", idle.RawJSON())
	}
}
