package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestMemoryWireShapes(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t)
	var ms struct {
		ID string `json:"id"`
	}
	body := apiOK(t, srv, "POST", "/v1/memory_stores", `{"name":"Notes","description":"d","metadata":{"k":"v"}}`, &ms)
	checkGolden(t, "memory_store_create", body)
	checkGolden(t, "memory_store_archive", apiOK(t, srv, "POST", "/v1/memory_stores/"+ms.ID+"/archive", "", nil))
	apiOK(t, srv, "POST", "/v1/memory_stores", `{"name":"Live"}`, &ms)
	base := "/v1/memory_stores/" + ms.ID

	var m struct {
		ID            string `json:"id"`
		ContentSHA256 string `json:"content_sha256"`
	}
	checkGolden(t, "memory_create", apiOK(t, srv, "POST", base+"/memories", `{"path":"/a/b.md","content":"hello"}`, &m))
	checkGolden(t, "memory_get", apiOK(t, srv, "GET", base+"/memories/"+m.ID, "", nil))
	apiOK(t, srv, "POST", base+"/memories", `{"path":"/a/deep/c.md","content":"x"}`, nil)
	checkGolden(t, "memory_list_depth", apiOK(t, srv, "GET", base+"/memories?path_prefix=/a/&depth=0", "", nil))
	checkGolden(t, "memory_path_conflict", apiDo(t, srv, "POST", base+"/memories", `{"path":"/a","content":"x"}`).Body.Bytes())
	checkGolden(t, "memory_precondition_failed", apiDo(t, srv, "POST", base+"/memories/"+m.ID,
		`{"content":"new","precondition":{"type":"content_sha256","content_sha256":"00"}}`).Body.Bytes())
	apiOK(t, srv, "POST", base+"/memories/"+m.ID, `{"content":"new","precondition":{"type":"content_sha256","content_sha256":"`+m.ContentSHA256+`"}}`, nil)

	var vs struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	checkGolden(t, "memory_version_list", apiOK(t, srv, "GET", base+"/memory_versions?memory_id="+m.ID+"&view=full", "", &vs))
	if len(vs.Data) != 2 {
		t.Fatalf("versions = %d, want 2", len(vs.Data))
	}
	checkGolden(t, "memory_version_redact", apiOK(t, srv, "POST", base+"/memory_versions/"+vs.Data[1].ID+"/redact", "", nil))
	checkGolden(t, "memory_delete", apiOK(t, srv, "DELETE", base+"/memories/"+m.ID, "", nil))

	for name, tc := range map[string]struct{ method, path, body string }{
		"relative path": {"POST", base + "/memories", `{"path":"a.md","content":"x"}`},
		"dot segment":   {"POST", base + "/memories", `{"path":"/a/./b","content":"x"}`},
		"trailing /":    {"POST", base + "/memories", `{"path":"/a/","content":"x"}`},
		"no content":    {"POST", base + "/memories", `{"path":"/x"}`},
		"bad view":      {"GET", base + "/memories?view=huge", ""},
		"no name":       {"POST", "/v1/memory_stores", `{}`},
		"bad operation": {"GET", base + "/memory_versions?operation=moved", ""},
	} {
		if rec := apiDo(t, srv, tc.method, tc.path, tc.body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, rec.Code, rec.Body)
		}
	}
	var e struct {
		Error struct{ Type string } `json:"error"`
	}
	json.Unmarshal(apiDo(t, srv, "GET", "/v1/memory_stores/memstore_missing", "").Body.Bytes(), &e)
	if e.Error.Type != "not_found_error" {
		t.Errorf("missing store: %q", e.Error.Type)
	}
}

func TestRollup(t *testing.T) {
	for _, tc := range []struct {
		prefix, path string
		depth        int
		want         string
	}{
		{"", "/a.md", 0, ""},
		{"", "/a/b.md", 0, "/a/"},
		{"", "/a/b/c.md", 1, "/a/b/"},
		{"/a/", "/a/b.md", 0, ""},
		{"/a/", "/a/b/c.md", 0, "/a/b/"},
		{"/a/b", "/a/bc/d.md", 0, "/a/bc/"},
		{"/a/", "/a/b/c.md", -1, ""},
	} {
		if got := rollup(tc.prefix, tc.path, tc.depth); got != tc.want {
			t.Errorf("rollup(%q, %q, %d) = %q, want %q", tc.prefix, tc.path, tc.depth, got, tc.want)
		}
	}
}
