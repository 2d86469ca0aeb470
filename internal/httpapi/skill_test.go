package httpapi

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"testing"
)

const testSkillMD = "---\nname: greet\ndescription: Greets people.\n---\nSay AHOY.\n"

// versionPattern hides the epoch-µs version names, which come from the clock.
var versionPattern = regexp.MustCompile(`"(latest_version|version)":\s*"\d+"`)

func skillUpload(t *testing.T, h http.Handler, path string, fields map[string]string, files map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for name, content := range files {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Disposition", `form-data; name="files[]"; filename="`+name+`"`)
		w, _ := mw.CreatePart(hdr)
		w.Write([]byte(content))
	}
	mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("x-api-key", testAPIKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func checkSkillGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	checkGolden(t, name, versionPattern.ReplaceAll(body, []byte(`"$1": "<version>"`)))
}

func TestSkillWireShapes(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, func(c *Config) { c.Blobs = newFileBlobs(true) })
	rec := skillUpload(t, srv, "/v1/skills", map[string]string{"display_title": "Greeter"}, map[string]string{"greet/SKILL.md": testSkillMD})
	if rec.Code != http.StatusOK {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	checkSkillGolden(t, "skill_create", rec.Body.Bytes())
	var sk struct {
		ID string `json:"id"`
	}
	checkSkillGolden(t, "skill_list", apiOK(t, srv, "GET", "/v1/skills", "", nil))
	rec = skillUpload(t, srv, "/v1/skills", nil, map[string]string{"SKILL.md": testSkillMD})
	json.Unmarshal(rec.Body.Bytes(), &sk)
	checkSkillGolden(t, "skill_version_list", apiOK(t, srv, "GET", "/v1/skills/"+sk.ID+"/versions", "", nil))
	checkSkillGolden(t, "skill_version_get", apiOK(t, srv, "GET", "/v1/skills/"+sk.ID+"/versions/latest", "", nil))
	checkGolden(t, "skill_delete_conflict", apiDo(t, srv, "DELETE", "/v1/skills/"+sk.ID, "").Body.Bytes())

	for name, files := range map[string]map[string]string{
		"traversal":     {"greet/../../x/SKILL.md": testSkillMD},
		"absolute":      {"/greet/SKILL.md": testSkillMD},
		"no skill md":   {"greet/README.md": "hi"},
		"bad name":      {"greet/SKILL.md": "---\nname: Greet!\ndescription: d\n---\n"},
		"no desc":       {"greet/SKILL.md": "---\nname: greet\n---\n"},
		"two folders":   {"a/SKILL.md": testSkillMD, "b/x": "x"},
		"not multipart": nil,
	} {
		var rec *httptest.ResponseRecorder
		if files == nil {
			rec = apiDo(t, srv, "POST", "/v1/skills", `{}`)
		} else {
			rec = skillUpload(t, srv, "/v1/skills", nil, files)
		}
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, rec.Code, rec.Body)
		}
	}
}
