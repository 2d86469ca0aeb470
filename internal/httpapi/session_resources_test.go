package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestSessionResources covers the resources endpoints' wire shapes (golden files), their
// validation, and that a repository's token is sealed and never returned.
func TestSessionResources(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("coder", 1)
	env := e.environment("env")
	f := e.file("notes.txt")
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[
		{"type":"file","file_id":%q},
		{"type":"github_repository","url":"https://github.com/acme/widgets.git","authorization_token":"ghp_secret_token","checkout":{"type":"branch","name":"main"}}]}`,
		a.ID, env.ID, f.ID))
	base := "/v1/sessions/" + s.ID + "/resources"

	added := apiOK(t, e.srv, "POST", base, fmt.Sprintf(`{"type":"file","file_id":%q,"mount_path":"/workspace/data//notes.txt"}`, f.ID), nil)
	checkGolden(t, "session_resource_add", added)
	list := apiOK(t, e.srv, "GET", base, "", nil)
	checkGolden(t, "session_resource_list", list)
	if strings.Contains(string(list), "ghp_secret_token") || strings.Contains(string(list), "sealed") {
		t.Fatalf("list shows the token: %s", list)
	}
	var page struct {
		Data []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"data"`
		NextPage *string `json:"next_page"`
	}
	apiOK(t, e.srv, "GET", base+"?limit=2", "", &page)
	if len(page.Data) != 2 || page.NextPage == nil {
		t.Fatalf("limit=2: %+v", page)
	}
	repoID := page.Data[1].ID
	apiOK(t, e.srv, "GET", base+"?limit=2&page="+*page.NextPage, "", &page)
	if len(page.Data) != 1 || page.NextPage != nil {
		t.Fatalf("second page: %+v", page)
	}
	fileID := page.Data[0].ID

	rotated := apiOK(t, e.srv, "POST", base+"/"+repoID, `{"authorization_token":"ghp_new_token"}`, nil)
	checkGolden(t, "session_resource_rotate", rotated)
	stored, err := e.store.GetSession(e.ctx(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Resources), "ghp_") || !strings.Contains(string(stored.Resources), "sealed_token") {
		t.Errorf("stored resources do not hold the token sealed: %s", stored.Resources)
	}
	if body := apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID, "", nil); strings.Contains(string(body), "sealed") {
		t.Errorf("session shows the sealed token: %s", body)
	}

	errs := []struct {
		name, method, path, body string
		status                   int
		errType, msg             string
	}{
		{"add repository", "POST", base, `{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"x"}`, 400, "invalid_request_error", `only "file" resources`},
		{"add taken mount", "POST", base, fmt.Sprintf(`{"type":"file","file_id":%q,"mount_path":"/workspace/data/notes.txt"}`, f.ID), 400, "invalid_request_error", "already used"},
		{"add unknown file", "POST", base, `{"type":"file","file_id":"file_nope"}`, 400, "invalid_request_error", "file file_nope not found"},
		{"add relative mount", "POST", base, fmt.Sprintf(`{"type":"file","file_id":%q,"mount_path":"data"}`, f.ID), 400, "invalid_request_error", "absolute"},
		{"add to missing session", "POST", "/v1/sessions/sesn_nope/resources", fmt.Sprintf(`{"type":"file","file_id":%q}`, f.ID), 404, "not_found_error", "sesn_nope"},
		{"get missing", "GET", base + "/sesrsc_nope", "", 404, "not_found_error", "sesrsc_nope"},
		{"rotate a file", "POST", base + "/" + fileID, `{"authorization_token":"x"}`, 400, "invalid_request_error", "only github_repository"},
		{"rotate without token", "POST", base + "/" + repoID, `{}`, 400, "invalid_request_error", "authorization_token"},
		{"bad limit", "GET", base + "?limit=0", "", 400, "invalid_request_error", "limit"},
		{"bad page", "GET", base + "?page=nope", "", 400, "invalid_request_error", "page"},
		{"delete missing", "DELETE", base + "/sesrsc_nope", "", 404, "not_found_error", "sesrsc_nope"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, e.srv, tt.method, tt.path, tt.body), tt.status, tt.errType)
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q lacks %q", msg, tt.msg)
			}
		})
	}

	checkGolden(t, "session_resource_delete", apiOK(t, e.srv, "DELETE", base+"/"+fileID, "", nil))
	if rec := apiDo(t, e.srv, "GET", base+"/"+fileID, ""); rec.Code != http.StatusNotFound {
		t.Errorf("deleted resource: status %d", rec.Code)
	}
}
