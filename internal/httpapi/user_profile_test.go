package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func profileDo(t *testing.T, s *Server, method, path, body, beta string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("x-api-key", testAPIKey)
	req.Header.Set("anthropic-beta", beta)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// TestUserProfiles: both wire forms (current, and the legacy user-profiles-2026-08-18 the
// SDK sends), metadata merge on update, name ordering, delete.
func TestUserProfiles(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	const current, legacy = "user-profiles-2026-09-04", "user-profiles-2026-08-18"
	rec := profileDo(t, s, "POST", "/v1/user_profiles", `{"name":"Zed","metadata":{"plan":"pro","seat":"3"},"external_user_details":{"country":"DE","reference_id":"u-42","account_status":"active","onboarded_at":"2026-01-02T03:04:05Z"}}`, current)
	if rec.Code != 200 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	checkGolden(t, "user_profile_create", rec.Body.Bytes())
	rec = profileDo(t, s, "POST", "/v1/user_profiles", `{"name":"adam","external_id":"u-7","external_user_onboarded_at":"2026-01-02T03:04:05Z","access_type":"passthrough"}`, legacy)
	if rec.Code != 200 {
		t.Fatalf("legacy create: %d %s", rec.Code, rec.Body)
	}
	checkGolden(t, "user_profile_create_legacy", rec.Body.Bytes())
	if rec := profileDo(t, s, "POST", "/v1/user_profiles", `{"external_user_details":{"country":"DE"}}`, legacy); rec.Code != 400 {
		t.Errorf("external_user_details under the legacy header: %d", rec.Code)
	}
	if rec := profileDo(t, s, "POST", "/v1/user_profiles", `{"external_user_details":{"onboarded_at":"`+testEpoch.Add(time.Hour).Format(time.RFC3339)+`"}}`, current); rec.Code != 400 {
		t.Errorf("onboarded_at in the future: %d", rec.Code)
	}
	profileDo(t, s, "POST", "/v1/user_profiles", `{}`, current)

	id := "uprof_011CTest0000000000000001"
	rec = profileDo(t, s, "POST", "/v1/user_profiles/"+id, `{"metadata":{"plan":"","tier":"gold"},"external_user_details":{"country":"FR"}}`, current)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"tier":"gold"`) || strings.Contains(rec.Body.String(), `"plan"`) ||
		!strings.Contains(rec.Body.String(), `"country":"FR"`) || !strings.Contains(rec.Body.String(), `"reference_id":"u-42"`) {
		t.Errorf("update: %d %s", rec.Code, rec.Body)
	}
	if rec := profileDo(t, s, "POST", "/v1/user_profiles/"+id, `{"name":null}`, current); rec.Code != 400 {
		t.Errorf("clearing name: %d", rec.Code)
	}

	var list listEnvelope[map[string]any]
	apiOK(t, s, "GET", "/v1/user_profiles?order_by=name&order=asc&limit=2", "", &list)
	if len(list.Data) != 2 || list.Data[0]["name"] != "adam" || list.Data[1]["name"] != "Zed" || list.NextPage == nil {
		t.Fatalf("by name = %v", list)
	}
	apiOK(t, s, "GET", "/v1/user_profiles?order_by=name&order=asc&limit=2&page="+*list.NextPage, "", &list)
	if len(list.Data) != 1 || list.Data[0]["name"] != nil {
		t.Errorf("second page = %v; want the unnamed profile last", list.Data)
	}
	apiOK(t, s, "GET", "/v1/user_profiles", "", &list)
	if len(list.Data) != 3 || list.Data[0]["name"] != nil || list.Data[2]["id"] != id {
		t.Errorf("default order = %v; want newest first", list.Data)
	}
	checkGolden(t, "user_profile_delete", apiOK(t, s, "DELETE", "/v1/user_profiles/"+id, "", nil))
	apiError(t, apiDo(t, s, "GET", "/v1/user_profiles/"+id, ""), http.StatusNotFound, errNotFound)
}

// TestEnrollment: an enrollment URL points at PublicURL with a sealed token; the page it
// opens needs no API key; completing it activates the end_user_enrollment grant; a
// tampered or expired token is refused.
func TestEnrollment(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	s, _ := newTestServer(t, func(c *Config) { c.PublicURL = "https://hangar.example.com/"; c.Clock = clk.Now })
	var p map[string]any
	apiOK(t, s, "POST", "/v1/user_profiles", `{"name":"Ada"}`, &p)
	id := p["id"].(string)
	var u enrollURLWire
	apiOK(t, s, "POST", "/v1/user_profiles/"+id+"/enrollment_url", "", &u)
	if u.Type != "enrollment_url" || !strings.HasPrefix(u.URL, "https://hangar.example.com/enroll/") || !u.ExpiresAt.After(testEpoch) {
		t.Fatalf("enrollment url = %+v", u)
	}
	var a enrollURLWire
	apiOK(t, s, "POST", "/v1/user_profiles/"+id+"/action_urls", `{"action":{"type":"enroll_end_user"}}`, &a)
	if a.Type != "user_profile_action_url" || a.URL == u.URL {
		t.Fatalf("action url = %+v", a)
	}
	apiError(t, apiDo(t, s, "POST", "/v1/user_profiles/"+id+"/action_urls", `{"action":{"type":"delete_everything"}}`), 400, errInvalid)

	path := strings.TrimPrefix(u.URL, "https://hangar.example.com")
	page := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(method, path, nil)) // no API key
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if code, body := page("GET", path); code != 200 || !strings.Contains(body, "Ada") || !strings.Contains(body, "<form") {
		t.Fatalf("enrollment page: %d %s", code, body)
	}
	if code, body := page("POST", path); code != 200 || !strings.Contains(body, "You are enrolled") {
		t.Fatalf("complete enrollment: %d %s", code, body)
	}
	apiOK(t, s, "GET", "/v1/user_profiles/"+id, "", &p)
	if g, _ := p["trust_grants"].(map[string]any)[enrollmentGrant].(map[string]any); g["status"] != "active" {
		t.Errorf("trust_grants = %v", p["trust_grants"])
	}
	tampered := path[:len(path)-3] + url.PathEscape("xyz")
	if code, _ := page("GET", tampered); code != 404 {
		t.Errorf("tampered token: %d", code)
	}
	clk.t = clk.t.Add(2 * enrollmentTTL)
	if code, _ := page("GET", strings.TrimPrefix(a.URL, "https://hangar.example.com")); code != 404 {
		t.Errorf("expired token: %d", code)
	}
}

// TestGoogleDataControls: defaults, enabling keys and buckets (each region reports that
// Hangar applies nothing), replacing and removing retire the old values, validation.
func TestGoogleDataControls(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	var p map[string]any
	apiOK(t, s, "POST", "/v1/user_profiles", `{}`, &p)
	path := "/v1/user_profiles/" + p["id"].(string) + "/providers/google/data_controls"
	checkGolden(t, "google_data_controls_default", apiOK(t, s, "GET", path, "", nil))
	checkGolden(t, "google_data_controls_enabled", apiOK(t, s, "POST", path,
		`{"cmek":{"type":"enabled","external_key_ids":{"us":"ekey_us1","eu":"ekey_eu1"}},"storage":{"type":"enabled","buckets":{"us":{"project_number":"123","bucket_name":"b-us"}}}}`, nil))
	body := string(apiOK(t, s, "POST", path, `{"cmek":{"type":"enabled","external_key_ids":{"eu":null,"us":"ekey_us2"}}}`, nil))
	if !strings.Contains(body, `"external_key_ids":{"us":"ekey_us2"}`) || !strings.Contains(body, `"external_key_id":"ekey_eu1"`) || !strings.Contains(body, `"external_key_id":"ekey_us1"`) {
		t.Errorf("after replacing keys: %s", body)
	}
	for _, bad := range []string{
		`{"cmek":{"type":"enabled","external_key_ids":{"us":null}}}`,
		`{"cmek":{"type":"enabled","external_key_ids":{"us":"key1"}}}`,
		`{"storage":{"type":"enabled","buckets":{"us":{"project_number":"1","bucket_name":"b"},"eu":{"project_number":"1","bucket_name":"b"}}}}`,
		`{"storage":{"type":"sometimes"}}`,
	} {
		apiError(t, apiDo(t, s, "POST", path, bad), 400, errInvalid)
	}
	body = string(apiOK(t, s, "POST", path, `{"storage":{"type":"disabled"}}`, nil))
	if !strings.Contains(body, `"storage":{"retired_buckets":[{`) {
		t.Errorf("after disabling storage: %s", body)
	}
}
