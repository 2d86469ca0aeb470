package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envResp is the environment response decoded loosely, for assertions.
type envResp struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description *string           `json:"description"`
	Config      json.RawMessage   `json:"config"`
	Metadata    map[string]string `json:"metadata"`
	Scope       string            `json:"scope"`
	ArchivedAt  *string           `json:"archived_at"`
	UpdatedAt   string            `json:"updated_at"`
}

func createEnv(t *testing.T, h http.Handler, body string) envResp {
	t.Helper()
	var e envResp
	apiOK(t, h, "POST", "/v1/environments", body, &e)
	return e
}

const limitedEnvBody = `{
	"name": "locked",
	"description": "Only the docs site",
	"config": {
		"type": "cloud",
		"networking": {"type": "limited", "allowed_hosts": ["docs.example.com"], "allow_package_managers": true},
		"packages": {"pip": ["pandas==2.2.0"], "npm": ["left-pad"]},
		"provider": "docker",
		"sandbox": {"memory_mb": 2048}
	},
	"metadata": {"owner": "ops"}
}`

func TestEnvironmentCreateGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"environment_create_minimal", `{"name":"default"}`},
		{"environment_create_limited", limitedEnvBody},
		{"environment_create_self_hosted", `{"name":"worker","config":{"type":"self_hosted"},"scope":"account"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestServer(t)
			checkGolden(t, tc.name, apiOK(t, s, "POST", "/v1/environments", tc.body, nil))
		})
	}
}

func TestEnvironmentConfigResolves(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	const none = `"apt":[],"cargo":[],"gem":[],"go":[],"npm":[],"pip":[]`
	tests := []struct{ name, config, want string }{
		{"omitted", ``, `{"type":"cloud","networking":{"type":"unrestricted"},"packages":{"type":"packages",` + none + `}}`},
		{"null", `null`, `{"type":"cloud","networking":{"type":"unrestricted"},"packages":{"type":"packages",` + none + `}}`},
		{"empty cloud", `{"type":"cloud"}`, `{"type":"cloud","networking":{"type":"unrestricted"},"packages":{"type":"packages",` + none + `}}`},
		{"limited defaults", `{"type":"cloud","networking":{"type":"limited"}}`,
			`{"type":"cloud","networking":{"type":"limited","allowed_hosts":[],"allow_package_managers":false,"allow_mcp_servers":false},"packages":{"type":"packages",` + none + `}}`},
		{"packages filled", `{"type":"cloud","packages":{"type":"packages","go":["golang.org/x/tools/cmd/stringer@latest"]}}`,
			`{"type":"cloud","networking":{"type":"unrestricted"},"packages":{"type":"packages","apt":[],"cargo":[],"gem":[],"go":["golang.org/x/tools/cmd/stringer@latest"],"npm":[],"pip":[]}}`},
		{"provider only", `{"type":"cloud","provider":"local"}`,
			`{"type":"cloud","networking":{"type":"unrestricted"},"packages":{"type":"packages",` + none + `},"provider":"local"}`},
		{"self hosted", `{"type":"self_hosted"}`, `{"type":"self_hosted"}`},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"name":"e` + string(rune('a'+i)) + `"}`
			if tc.config != "" {
				body = `{"name":"e` + string(rune('a'+i)) + `","config":` + tc.config + `}`
			}
			e := createEnv(t, s, body)
			if diff := cmp.Diff(compactJSON(t, tc.want), compactJSON(t, string(e.Config))); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvironmentGetListArchiveDelete(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	a := createEnv(t, s, limitedEnvBody)
	b := createEnv(t, s, `{"name":"second"}`)
	c := createEnv(t, s, `{"name":"third"}`)

	checkGolden(t, "environment_get", apiOK(t, s, "GET", "/v1/environments/"+a.ID, "", nil))
	apiError(t, apiDo(t, s, "GET", "/v1/environments/env_011CMissing", ""), 404, "not_found_error")

	checkGolden(t, "environment_archive", apiOK(t, s, "POST", "/v1/environments/"+b.ID+"/archive", "", nil))
	apiError(t, apiDo(t, s, "POST", "/v1/environments/env_011CMissing/archive", ""), 404, "not_found_error")

	checkGolden(t, "environment_list", apiOK(t, s, "GET", "/v1/environments", "", nil))

	list := func(query string) ([]string, *string) {
		t.Helper()
		var page listEnvelope[envResp]
		apiOK(t, s, "GET", "/v1/environments"+query, "", &page)
		var ids []string
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		return ids, page.NextPage
	}
	if got, next := list(""); !cmp.Equal(got, []string{a.ID, c.ID}) || next != nil {
		t.Errorf("list = %v next %v", got, next)
	}
	got, next := list("?include_archived=true&limit=2")
	if !cmp.Equal(got, []string{a.ID, b.ID}) || next == nil {
		t.Fatalf("page 1 = %v next %v", got, next)
	}
	if got, next = list("?include_archived=true&limit=2&page=" + *next); !cmp.Equal(got, []string{c.ID}) || next != nil {
		t.Errorf("page 2 = %v next %v", got, next)
	}
	if got, _ := list("?limit=1000"); len(got) != 2 {
		t.Errorf("limit=1000 = %v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?include_archived=2"} {
		apiError(t, apiDo(t, s, "GET", "/v1/environments"+q, ""), 400, "invalid_request_error")
	}

	checkGolden(t, "environment_delete", apiOK(t, s, "DELETE", "/v1/environments/"+c.ID, "", nil))
	apiError(t, apiDo(t, s, "GET", "/v1/environments/"+c.ID, ""), 404, "not_found_error")
	apiError(t, apiDo(t, s, "DELETE", "/v1/environments/"+c.ID, ""), 404, "not_found_error")
}

func TestEnvironmentUpdate(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	e := createEnv(t, s, limitedEnvBody)
	path := "/v1/environments/" + e.ID

	var u envResp
	body := apiOK(t, s, "POST", path, `{"name":"renamed","metadata":{"owner":"","team":"infra"},"config":{"type":"cloud","networking":{"type":"limited","allow_mcp_servers":true}}}`, &u)
	checkGolden(t, "environment_update", body)
	if u.Name != "renamed" || *u.Description != "Only the docs site" || !cmp.Equal(u.Metadata, map[string]string{"team": "infra"}) {
		t.Errorf("update = %+v", u)
	}
	// Omitted limited-network fields and packages, provider and sandbox are kept.
	wantCfg := `{"type":"cloud","networking":{"type":"limited","allowed_hosts":["docs.example.com"],"allow_package_managers":true,"allow_mcp_servers":true},
		"packages":{"type":"packages","apt":[],"cargo":[],"gem":[],"go":[],"npm":["left-pad"],"pip":["pandas==2.2.0"]},"provider":"docker","sandbox":{"memory_mb":2048}}`
	if diff := cmp.Diff(compactJSON(t, wantCfg), compactJSON(t, string(u.Config))); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	// Description: null clears, "" is stored as "".
	apiOK(t, s, "POST", path, `{"description":null}`, &u)
	if u.Description != nil {
		t.Errorf("description = %q, want null", *u.Description)
	}
	apiOK(t, s, "POST", path, `{"description":""}`, &u)
	if u.Description == nil || *u.Description != "" {
		t.Errorf("description = %v, want \"\"", u.Description)
	}
	// A no-op update keeps updated_at.
	before := u.UpdatedAt
	apiOK(t, s, "POST", path, `{"name":"renamed"}`, &u)
	if u.UpdatedAt != before {
		t.Errorf("no-op update moved updated_at from %s to %s", before, u.UpdatedAt)
	}
	// Switching to unrestricted drops the limited fields; packages stay.
	apiOK(t, s, "POST", path, `{"config":{"type":"cloud","networking":{"type":"unrestricted"},"provider":null,"sandbox":null}}`, &u)
	wantCfg = `{"type":"cloud","networking":{"type":"unrestricted"},
		"packages":{"type":"packages","apt":[],"cargo":[],"gem":[],"go":[],"npm":["left-pad"],"pip":["pandas==2.2.0"]}}`
	if diff := cmp.Diff(compactJSON(t, wantCfg), compactJSON(t, string(u.Config))); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	tests := []struct{ name, body, prefix string }{
		{"name null", `{"name":null}`, "name:"},
		{"name too long", `{"name":"` + strings.Repeat("n", 257) + `"}`, "name:"},
		{"limited packages without package managers", `{"config":{"type":"cloud","networking":{"type":"limited","allow_package_managers":false}}}`, "config.packages:"},
		{"unknown config field", `{"config":{"type":"cloud","gpu":true}}`, "config.gpu:"},
		{"bad networking type", `{"config":{"type":"cloud","networking":{"type":"open"}}}`, "config.networking.type:"},
		{"bad scope", `{"scope":"world"}`, "scope:"},
		{"metadata value too long", `{"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, "metadata.k:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, s, "POST", path, tc.body), 400, "invalid_request_error")
			if !strings.HasPrefix(msg, tc.prefix) {
				t.Errorf("message %q, want prefix %q", msg, tc.prefix)
			}
		})
	}
	apiError(t, apiDo(t, s, "POST", "/v1/environments/env_011CMissing", `{"name":"x"}`), 404, "not_found_error")

	apiOK(t, s, "POST", path+"/archive", "", nil)
	apiError(t, apiDo(t, s, "POST", path, `{"name":"again"}`), 409, "invalid_request_error")
}
