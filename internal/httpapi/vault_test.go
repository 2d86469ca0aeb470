package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/sqlstore"
	"github.com/hangar-dev/hangar/internal/vault"
)

// vaultEnv is a test server whose credentials are sealed by a real vault.Keyring, on a
// SQLite file whose path the test knows (to search the raw bytes for secrets).
type vaultEnv struct {
	srv     *Server
	store   hangar.Store
	keyring *vault.Keyring
	dbPath  string
	logs    *vaultLogBuffer // everything the server logged, at debug level
}

// vaultLogBuffer is a goroutine-safe log sink.
type vaultLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *vaultLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *vaultLogBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func newVaultEnv(t *testing.T) *vaultEnv {
	t.Helper()
	key, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "vault.db")
	st, err := sqlstore.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logs := &vaultLogBuffer{}
	srv, _ := newTestServer(t, func(c *Config) {
		c.Store = st
		c.Sealer = kr
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	return &vaultEnv{srv: srv, store: st, keyring: kr, dbPath: dbPath, logs: logs}
}

// createVault creates a vault named name and returns its ID.
func (e *vaultEnv) createVault(t *testing.T, name string) string {
	t.Helper()
	var v hangar.Vault
	apiOK(t, e.srv, "POST", "/v1/vaults", fmt.Sprintf(`{"display_name":%q}`, name), &v)
	return v.ID
}

func TestVaultCRUD(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	h := e.srv

	created := apiOK(t, h, "POST", "/v1/vaults", `{"display_name":"Alice","metadata":{"external_user_id":"usr_abc123","tier":"pro"}}`, nil)
	checkGolden(t, "vault_create", created)
	var v hangar.Vault
	if err := json.Unmarshal(created, &v); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, hangar.PrefixVault) || v.Type != "vault" || v.ArchivedAt != nil {
		t.Fatalf("created vault = %s", created)
	}

	checkGolden(t, "vault_get", apiOK(t, h, "GET", "/v1/vaults/"+v.ID, "", nil))

	updated := apiOK(t, h, "POST", "/v1/vaults/"+v.ID, `{"display_name":"Alice B.","metadata":{"tier":null,"team":"blue"}}`, nil)
	checkGolden(t, "vault_update", updated)
	var u hangar.Vault
	_ = json.Unmarshal(updated, &u)
	if u.DisplayName != "Alice B." || u.Metadata["team"] != "blue" || u.Metadata["external_user_id"] != "usr_abc123" {
		t.Errorf("after update: %s", updated)
	}
	if _, ok := u.Metadata["tier"]; ok {
		t.Errorf("metadata null did not delete the key: %s", updated)
	}
	if !u.UpdatedAt.After(v.UpdatedAt) || !u.CreatedAt.Equal(v.CreatedAt) {
		t.Errorf("timestamps after update: created %v→%v, updated %v→%v", v.CreatedAt, u.CreatedAt, v.UpdatedAt, u.UpdatedAt)
	}

	// An empty update changes nothing but updated_at.
	var same hangar.Vault
	apiOK(t, h, "POST", "/v1/vaults/"+v.ID, `{}`, &same)
	if same.DisplayName != "Alice B." || len(same.Metadata) != 2 {
		t.Errorf("empty update changed the vault: %+v", same)
	}

	other := e.createVault(t, "Bob")
	checkGolden(t, "vault_list", apiOK(t, h, "GET", "/v1/vaults", "", nil))

	archived := apiOK(t, h, "POST", "/v1/vaults/"+v.ID+"/archive", "", nil)
	checkGolden(t, "vault_archive", archived)
	var a hangar.Vault
	_ = json.Unmarshal(archived, &a)
	if a.ArchivedAt == nil {
		t.Fatalf("archive did not set archived_at: %s", archived)
	}
	// Archiving again is a no-op.
	var again hangar.Vault
	apiOK(t, h, "POST", "/v1/vaults/"+v.ID+"/archive", "", &again)
	if !again.ArchivedAt.Equal(*a.ArchivedAt) {
		t.Errorf("second archive moved archived_at from %v to %v", a.ArchivedAt, again.ArchivedAt)
	}
	msg := apiError(t, apiDo(t, h, "POST", "/v1/vaults/"+v.ID, `{"display_name":"x"}`), http.StatusBadRequest, "invalid_request_error")
	if !strings.Contains(msg, "archived") {
		t.Errorf("update of an archived vault: message %q does not say why", msg)
	}

	if got := vaultListIDs(t, h, "/v1/vaults"); strings.Join(got, ",") != other {
		t.Errorf("list without archived = %v, want [%s]", got, other)
	}
	if got := vaultListIDs(t, h, "/v1/vaults?include_archived=true"); len(got) != 2 {
		t.Errorf("list with archived = %v, want both vaults", got)
	}

	checkGolden(t, "vault_delete", apiOK(t, h, "DELETE", "/v1/vaults/"+v.ID, "", nil))
	apiError(t, apiDo(t, h, "GET", "/v1/vaults/"+v.ID, ""), http.StatusNotFound, "not_found_error")
	apiError(t, apiDo(t, h, "DELETE", "/v1/vaults/"+v.ID, ""), http.StatusNotFound, "not_found_error")
}

// vaultListIDs GETs a {data, next_page} list and returns the IDs of its data.
func vaultListIDs(t *testing.T, h http.Handler, path string) []string {
	t.Helper()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	apiOK(t, h, "GET", path, "", &page)
	ids := make([]string, len(page.Data))
	for i, d := range page.Data {
		ids[i] = d.ID
	}
	return ids
}

func TestVaultCreateValidation(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	tooMany := map[string]string{}
	for i := range 17 {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}
	tooManyJSON, _ := json.Marshal(tooMany)
	tests := []struct {
		name    string
		body    string
		status  int
		errType string
		mention string
	}{
		{"empty body", ``, 400, "invalid_request_error", "empty"},
		{"not an object", `[]`, 400, "invalid_request_error", "JSON object"},
		{"missing display_name", `{"metadata":{}}`, 400, "invalid_request_error", "display_name: field required"},
		{"null display_name", `{"display_name":null}`, 400, "invalid_request_error", "display_name"},
		{"empty display_name", `{"display_name":""}`, 400, "invalid_request_error", "display_name"},
		{"display_name too long", fmt.Sprintf(`{"display_name":%q}`, strings.Repeat("é", 256)), 400, "invalid_request_error", "at most 255"},
		{"display_name wrong type", `{"display_name":5}`, 400, "invalid_request_error", "display_name"},
		{"unknown field", `{"display_name":"x","name":"y"}`, 400, "invalid_request_error", "name: extra inputs"},
		{"too many metadata pairs", `{"display_name":"x","metadata":` + string(tooManyJSON) + `}`, 400, "invalid_request_error", "at most 16"},
		{"metadata key too long", fmt.Sprintf(`{"display_name":"x","metadata":{%q:"v"}}`, strings.Repeat("k", 65)), 400, "invalid_request_error", "metadata"},
		{"metadata value too long", fmt.Sprintf(`{"display_name":"x","metadata":{"k":%q}}`, strings.Repeat("v", 513)), 400, "invalid_request_error", "metadata.k"},
		{"metadata value not a string", `{"display_name":"x","metadata":{"k":1}}`, 400, "invalid_request_error", "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/vaults", tt.body), tt.status, tt.errType)
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
		})
	}
	// 255 characters is fine.
	apiOK(t, e.srv, "POST", "/v1/vaults", fmt.Sprintf(`{"display_name":%q}`, strings.Repeat("é", 255)), nil)
}

func TestVaultUpdateValidation(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	id := e.createVault(t, "v")
	tests := []struct {
		name    string
		body    string
		mention string
	}{
		{"null display_name", `{"display_name":null}`, "display_name"},
		{"empty display_name", `{"display_name":""}`, "display_name"},
		{"display_name not a string", `{"display_name":[]}`, "display_name"},
		{"metadata empty key", `{"metadata":{"":"v"}}`, "metadata"},
		{"unknown field", `{"archived":true}`, "archived: extra inputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/vaults/"+id, tt.body), 400, "invalid_request_error")
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
		})
	}
}

func TestVaultNotFound(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	const missing = "vlt_011CNope000000000000000000"
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/v1/vaults/" + missing, ""},
		{"POST", "/v1/vaults/" + missing, `{"display_name":"x"}`},
		{"DELETE", "/v1/vaults/" + missing, ""},
		{"POST", "/v1/vaults/" + missing + "/archive", ""},
		{"GET", "/v1/vaults/" + missing + "/credentials", ""},
		{"POST", "/v1/vaults/" + missing + "/credentials", `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com"}}`},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			msg := apiError(t, apiDo(t, e.srv, tt.method, tt.path, tt.body), http.StatusNotFound, "not_found_error")
			if !strings.Contains(msg, missing) {
				t.Errorf("message %q does not name the vault", msg)
			}
		})
	}
}

func TestVaultListPagination(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	var want []string
	for i := range 5 {
		want = append(want, e.createVault(t, fmt.Sprintf("v%d", i)))
	}
	var got []string
	path := "/v1/vaults?limit=2"
	pages := 0
	for {
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextPage *string `json:"next_page"`
		}
		body := apiOK(t, e.srv, "GET", path, "", &page)
		if !strings.Contains(string(body), `"next_page"`) {
			t.Fatalf("list lacks next_page: %s", body)
		}
		pages++
		for _, d := range page.Data {
			got = append(got, d.ID)
		}
		if page.NextPage == nil {
			break
		}
		path = "/v1/vaults?limit=2&page=" + *page.NextPage
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || len(got) != 5 {
		t.Fatalf("paged %d times through %v, want 3 pages of the 5 vaults %v", pages, got, want)
	}
	// Newest first.
	for i := range want {
		if got[i] != want[len(want)-1-i] {
			t.Fatalf("order = %v, want newest first %v", got, want)
		}
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=x", "page=bogus", "include_archived=maybe"} {
		t.Run(q, func(t *testing.T) {
			apiError(t, apiDo(t, e.srv, "GET", "/v1/vaults?"+q, ""), 400, "invalid_request_error")
		})
	}
	// Unknown parameters (the SDKs' beta=true) are ignored.
	apiOK(t, e.srv, "GET", "/v1/vaults?beta=true&limit=100", "", nil)
}

// Archiving a vault archives its credentials and purges their secrets.
func TestVaultArchivePurgesCredentials(t *testing.T) {
	t.Parallel()
	e := newVaultEnv(t)
	vid := e.createVault(t, "v")
	var c hangar.Credential
	apiOK(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials",
		`{"auth":{"type":"static_bearer","token":"tok-PURGE-ME","mcp_server_url":"https://mcp.example.com/a"}}`, &c)
	apiOK(t, e.srv, "POST", "/v1/vaults/"+vid+"/archive", "", nil)

	stored, err := e.store.GetCredential(context.Background(), vid, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ArchivedAt == nil || stored.Sealed != nil {
		t.Errorf("credential after vault archive: archived_at=%v, sealed %d bytes; want archived and purged", stored.ArchivedAt, len(stored.Sealed))
	}
	msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/vaults/"+vid+"/credentials",
		`{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com/b"}}`), 400, "invalid_request_error")
	if !strings.Contains(msg, "archived") {
		t.Errorf("create in archived vault: message %q does not say why", msg)
	}
}
