package egress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
	"github.com/hangar-dev/hangar/internal/vault"
)

// memCreds is an in-memory egress.CredentialStore holding sealed credentials, like the
// real stores: UpdateCredential applies fn to a copy and keeps it only when fn succeeds.
type memCreds struct {
	mu sync.Mutex
	m  map[string]hangar.Credential
}

func (s *memCreds) GetCredential(_ context.Context, vaultID, id string) (*hangar.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[id]
	if !ok || c.VaultID != vaultID {
		return nil, hangar.NotFound("credential", id)
	}
	return &c, nil
}

func (s *memCreds) UpdateCredential(_ context.Context, vaultID, id string, fn func(*hangar.Credential) error) (*hangar.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[id]
	if !ok || c.VaultID != vaultID {
		return nil, hangar.NotFound("credential", id)
	}
	if err := fn(&c); err != nil {
		return nil, err
	}
	s.m[id] = c
	return &c, nil
}

// oauthWorld is an OAuth authorization server and an MCP server that accepts only the
// access token the authorization server issued last. The token endpoint implements
// refresh token rotation: each refresh token works once (RFC 9700 §4.14.2), so two
// exchanges racing with the same refresh token make one fail.
type oauthWorld struct {
	t      *testing.T
	token  *httptest.Server
	mcp    *httptest.Server
	store  *memCreds
	keys   *vault.Keyring
	now    time.Time
	oauth  *egress.OAuth
	gate   chan struct{} // when non-nil, the token endpoint waits on it
	called chan struct{} // one send per token endpoint request

	mu        sync.Mutex
	valid     string // the access token the MCP server accepts
	refresh   string // the refresh token the endpoint accepts
	issued    int
	fail      int    // when non-zero, the endpoint answers this status
	wantAuth  string // the client authentication the endpoint expects: none, basic, post
	mcpBodies []string
	mcpAuths  []string
	exchanges atomic.Int32
}

func newOAuthWorld(t *testing.T) *oauthWorld {
	key, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	w := &oauthWorld{t: t, store: &memCreds{m: map[string]hangar.Credential{}}, keys: keys,
		now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), called: make(chan struct{}, 64),
		valid: "at-0", refresh: "rt-0", wantAuth: "none"}
	w.token = httptest.NewServer(http.HandlerFunc(w.serveToken))
	t.Cleanup(w.token.Close)
	w.mcp = httptest.NewServer(http.HandlerFunc(w.serveMCP))
	t.Cleanup(w.mcp.Close)
	w.oauth = egress.NewOAuth(egress.OAuthConfig{Store: w.store, Sealer: keys, Clock: func() time.Time { return w.now }})
	return w
}

func (w *oauthWorld) serveToken(rw http.ResponseWriter, r *http.Request) {
	w.exchanges.Add(1)
	w.called <- struct{}{}
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(rw, "bad request", 400)
		return
	}
	id, secret, basic := r.BasicAuth()
	// RFC 6749 §2.3.1: client_id and client_secret are form-encoded inside Basic.
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	okAuth := false
	switch w.wantAuth {
	case "none":
		okAuth = !basic && r.PostForm.Get("client_id") == "hangar-client" && r.PostForm.Get("client_secret") == ""
	case "basic":
		okAuth = basic && id == "hangar-client" && secret == "s3cret/+" && r.PostForm.Get("client_secret") == ""
	case "post":
		okAuth = !basic && r.PostForm.Get("client_id") == "hangar-client" && r.PostForm.Get("client_secret") == "s3cret/+"
	}
	rw.Header().Set("Content-Type", "application/json")
	switch {
	case w.fail != 0:
		rw.WriteHeader(w.fail)
		io.WriteString(rw, `{"error":"invalid_grant","error_description":"refresh token revoked","refresh_token":"rt-LEAKED"}`)
	case !okAuth:
		rw.WriteHeader(401)
		io.WriteString(rw, `{"error":"invalid_client"}`)
	case r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != w.refresh ||
		r.PostForm.Get("scope") != "read" || r.PostForm.Get("resource") != w.mcp.URL:
		rw.WriteHeader(400)
		io.WriteString(rw, `{"error":"invalid_grant"}`)
	default:
		w.issued++
		w.valid = "at-" + string(rune('0'+w.issued))
		w.refresh = "rt-" + string(rune('0'+w.issued))
		json.NewEncoder(rw).Encode(map[string]any{"access_token": w.valid, "token_type": "Bearer", "expires_in": 3600, "refresh_token": w.refresh})
	}
}

func (w *oauthWorld) serveMCP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	valid := w.valid
	w.mcpBodies = append(w.mcpBodies, string(body))
	w.mcpAuths = append(w.mcpAuths, r.Header.Get("Authorization"))
	w.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+valid {
		rw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(rw, `{"error":"invalid_token"}`, http.StatusUnauthorized)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	io.WriteString(rw, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"fake","version":"1"}}}`)
}

// addCredential stores an mcp_oauth credential for w's MCP server holding access token
// at-0 (expiring at expires, when set) and, with refresh, refresh token rt-0.
func (w *oauthWorld) addCredential(expires *time.Time, refresh bool, clientAuth string) *hangar.Credential {
	auth := map[string]any{"type": "mcp_oauth", "mcp_server_url": w.mcp.URL, "expires_at": expires, "refresh": nil}
	sec := hangar.CredentialSecrets{AccessToken: "at-0"}
	if refresh {
		auth["refresh"] = map[string]any{"token_endpoint": w.token.URL + "/token", "client_id": "hangar-client",
			"scope": "read", "resource": w.mcp.URL, "token_endpoint_auth": map[string]string{"type": clientAuth}}
		sec.RefreshToken = "rt-0"
		if clientAuth != "none" {
			sec.ClientSecret = "s3cret/+"
		}
	}
	plaintext, _ := json.Marshal(sec)
	sealed, keyID, err := w.keys.Seal(plaintext)
	if err != nil {
		w.t.Fatal(err)
	}
	a, _ := json.Marshal(auth)
	c := hangar.Credential{ID: "vcrd_1", VaultID: "vlt_1", Auth: a, AuthType: hangar.AuthMCPOAuth, Key: w.mcp.URL, Sealed: sealed, KeyID: keyID}
	w.store.m[c.ID] = c
	return &c
}

// stored returns the credential's stored secrets and public auth.
func (w *oauthWorld) stored() (hangar.CredentialSecrets, map[string]any, []byte) {
	c, err := w.store.GetCredential(context.Background(), "vlt_1", "vcrd_1")
	if err != nil {
		w.t.Fatal(err)
	}
	plaintext, err := w.keys.Open(c.Sealed, c.KeyID)
	if err != nil {
		w.t.Fatal(err)
	}
	var sec hangar.CredentialSecrets
	var auth map[string]any
	json.Unmarshal(plaintext, &sec)
	json.Unmarshal(c.Auth, &auth)
	return sec, auth, c.Sealed
}

// attach attaches a session whose MCP server "docs" uses the world's credential.
func (w *oauthWorld) attach(failures chan<- egress.MCPFailure) *egress.Attachment {
	up, _ := url.Parse(w.mcp.URL)
	f := newFixture(w.t, nil, func(c *egress.Config) { c.AllowLoopback = true })
	a, err := f.proxy.Attach(w.t.Context(), "sesn_oauth", hangar.Networking{Type: "unrestricted"}, egress.AttachOptions{
		MCPServers: []egress.MCPServer{{Name: "docs", URL: up, Auth: w.oauth.Source("vlt_1", "vcrd_1")}},
		OnMCPError: func(fl egress.MCPFailure) { failures <- fl },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { a.Close() })
	return a
}

func mcpCall(t *testing.T, a *egress.Attachment, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.TCPAddr+egress.MCPPath("docs"), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := tcpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

func TestOAuthRefreshesExpiredToken(t *testing.T) {
	for _, clientAuth := range []string{"none", "client_secret_basic", "client_secret_post"} {
		t.Run(clientAuth, func(t *testing.T) {
			w := newOAuthWorld(t)
			w.wantAuth = map[string]string{"none": "none", "client_secret_basic": "basic", "client_secret_post": "post"}[clientAuth]
			past := w.now.Add(-time.Minute)
			w.addCredential(&past, true, clientAuth)
			a := w.attach(make(chan egress.MCPFailure, 1))
			if code, body := mcpCall(t, a, `{"jsonrpc":"2.0","id":1,"method":"initialize"}`); code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if n := w.exchanges.Load(); n != 1 {
				t.Errorf("%d token exchanges, want 1", n)
			}
			// The expired token was never sent: the refresh came first.
			if got := strings.Join(w.mcpAuths, ","); got != "Bearer at-1" {
				t.Errorf("MCP server saw %q, want only the new token", got)
			}
			sec, auth, sealed := w.stored()
			if sec.AccessToken != "at-1" || sec.RefreshToken != "rt-1" {
				t.Errorf("stored access %q refresh %q, want at-1 rt-1 (rotation kept)", sec.AccessToken, sec.RefreshToken)
			}
			if want := w.now.Add(time.Hour).Format(time.RFC3339); auth["expires_at"] != want {
				t.Errorf("stored expires_at %v, want %s", auth["expires_at"], want)
			}
			if auth["refresh"] == nil || auth["mcp_server_url"] != w.mcp.URL {
				t.Errorf("stored auth lost fields: %v", auth)
			}
			if bytes.Contains(sealed, []byte("at-1")) || bytes.Contains(sealed, []byte("rt-1")) {
				t.Error("the new tokens are stored in plaintext")
			}
			// A second call uses the stored token without another exchange.
			if code, _ := mcpCall(t, a, `{}`); code != 200 || w.exchanges.Load() != 1 {
				t.Errorf("second call: status %d, %d exchanges", code, w.exchanges.Load())
			}
		})
	}
}

func TestOAuthRefreshesOn401AndRetries(t *testing.T) {
	w := newOAuthWorld(t)
	future := w.now.Add(time.Hour)
	w.addCredential(&future, true, "none")
	w.valid = "at-revoked-elsewhere" // the server no longer accepts at-0
	a := w.attach(make(chan egress.MCPFailure, 1))
	const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"lookup","arguments":{"q":"x"}}}`
	if code, resp := mcpCall(t, a, body); code != 200 {
		t.Fatalf("status %d: %s", code, resp)
	}
	if got := strings.Join(w.mcpAuths, ","); got != "Bearer at-0,Bearer at-1" {
		t.Errorf("MCP server saw %q, want the stale token then the refreshed one", got)
	}
	if len(w.mcpBodies) != 2 || w.mcpBodies[1] != body {
		t.Errorf("retried body %q, want the original", w.mcpBodies)
	}
	if sec, _, _ := w.stored(); sec.AccessToken != "at-1" || sec.RefreshToken != "rt-1" {
		t.Errorf("stored %q %q", sec.AccessToken, sec.RefreshToken)
	}
}

func TestOAuthSingleFlight(t *testing.T) {
	w := newOAuthWorld(t)
	past := w.now.Add(-time.Minute)
	w.addCredential(&past, true, "none")
	w.gate = make(chan struct{})
	const n = 8
	toks := make([]hangar.Secret, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = w.oauth.Token(t.Context(), "vlt_1", "vcrd_1") })
	}
	<-w.called // the first exchange is in flight: the others join it or find its result
	close(w.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i].Reveal() != "at-1" {
			t.Errorf("caller %d: %q %v", i, toks[i].Reveal(), errs[i])
		}
	}
	if got := w.exchanges.Load(); got != 1 {
		t.Errorf("%d token exchanges, want 1", got)
	}
}

func TestOAuthRefreshFailure(t *testing.T) {
	tests := []struct {
		name       string
		refresh    bool
		fail       int
		wantStatus string
	}{
		{"token endpoint refuses", true, 400, hangar.RefreshFailed},
		{"no refresh token", false, 0, hangar.RefreshNoRefreshToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newOAuthWorld(t)
			w.fail = tt.fail
			past := w.now.Add(-time.Minute)
			w.addCredential(&past, tt.refresh, "none")
			failures := make(chan egress.MCPFailure, 4)
			a := w.attach(failures)
			for range 2 {
				code, body := mcpCall(t, a, `{}`)
				if code != http.StatusUnauthorized || !strings.Contains(body, "could not be refreshed") {
					t.Fatalf("status %d: %s", code, body)
				}
				if strings.Contains(body, "rt-") || strings.Contains(body, "at-0") {
					t.Fatalf("error leaks a token: %s", body)
				}
			}
			if len(w.mcpAuths) != 0 {
				t.Errorf("the MCP server was called with %q", w.mcpAuths)
			}
			fl := <-failures
			if fl.ServerName != "docs" || fl.CredentialID != "vcrd_1" {
				t.Errorf("failure %+v", fl)
			}
			var re *egress.RefreshError
			if !errors.As(fl.Err, &re) || re.Outcome.Status != tt.wantStatus {
				t.Errorf("failure error %v, want refresh status %s", fl.Err, tt.wantStatus)
			}
			select {
			case fl := <-failures:
				t.Errorf("failure reported twice: %+v", fl)
			default:
			}
			if sec, _, _ := w.stored(); sec.AccessToken != "at-0" {
				t.Errorf("a failed refresh changed the stored token")
			}
		})
	}
}
