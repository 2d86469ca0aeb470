package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// bearerDo sends a request authorized by key as an Authorization bearer token (as the SDK
// workers send environment keys and sessions tokens).
func bearerDo(t testing.TB, h http.Handler, key, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Anthropic-Worker-ID", "worker-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func bearerOK(t testing.TB, h http.Handler, key, method, path, body string, out any) []byte {
	t.Helper()
	rec := bearerDo(t, h, key, method, path, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: status %d, want 200; body: %s", method, path, rec.Code, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: decode: %v; body: %s", method, path, err, rec.Body)
		}
	}
	return rec.Body.Bytes()
}

// workFixture is a self_hosted environment with its key, an agent, and helpers.
type workFixture struct {
	t       *testing.T
	s       *Server
	envID   string
	envKey  string
	agentID string
}

func newWorkFixture(t *testing.T) *workFixture {
	s, _ := newTestServer(t)
	var env environmentWire
	apiOK(t, s, "POST", "/v1/environments", `{"name":"workers","config":{"type":"self_hosted"}}`, &env)
	if !strings.HasPrefix(env.EnvironmentKey, hangar.PrefixEnvironmentKey) {
		t.Fatalf("environment_key = %q, want a %s... key", env.EnvironmentKey, hangar.PrefixEnvironmentKey)
	}
	var got environmentWire
	apiOK(t, s, "GET", "/v1/environments/"+env.ID, "", &got)
	if got.EnvironmentKey != "" {
		t.Fatalf("GET environment shows the key")
	}
	a := createAgent(t, s, `{"name":"a","model":"claude-sonnet-4-6"}`)
	f := &workFixture{t: t, s: s, envID: env.ID, envKey: env.EnvironmentKey, agentID: a.ID}
	f.dropHealthcheck()
	return f
}

// dropHealthcheck force-stops the healthcheck item queued with the environment, so the
// tests' polls see their sessions' items only (TestWorkHealthcheck covers it).
func (f *workFixture) dropHealthcheck() {
	f.t.Helper()
	var list listEnvelope[workWire]
	apiOK(f.t, f.s, "GET", f.path(""), "", &list)
	if len(list.Data) != 1 || list.Data[0].Data.Type != hangar.WorkDataHealthcheck || list.Data[0].Data.ID != f.envID {
		f.t.Fatalf("work after environment create = %+v, want its healthcheck", list.Data)
	}
	apiOK(f.t, f.s, "POST", f.path("/"+list.Data[0].ID+"/stop"), `{"force":true}`, nil)
}

func (f *workFixture) session() string {
	var sess sessionWire
	apiOK(f.t, f.s, "POST", "/v1/sessions", fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, f.agentID, f.envID), &sess)
	return sess.ID
}

func (f *workFixture) path(rest string) string {
	return "/v1/environments/" + f.envID + "/work" + rest
}

// poll polls without blocking and returns the item (nil when none) and its sessions token.
func (f *workFixture) poll(query string) (*workWire, string) {
	f.t.Helper()
	body := bearerOK(f.t, f.s, f.envKey, "GET", f.path("/poll"+query), "", nil)
	if strings.TrimSpace(string(body)) == "null" {
		return nil, ""
	}
	var w workWire
	if err := json.Unmarshal(body, &w); err != nil {
		f.t.Fatal(err)
	}
	if w.Secret == nil {
		f.t.Fatalf("polled item has no secret: %s", body)
	}
	raw, err := base64.RawURLEncoding.DecodeString(*w.Secret)
	if err != nil {
		f.t.Fatalf("secret is not URL-safe base64: %v", err)
	}
	var sec struct {
		SessionsToken string `json:"sessions_token"`
	}
	if err := json.Unmarshal(raw, &sec); err != nil || !strings.HasPrefix(sec.SessionsToken, hangar.PrefixSessionsToken) {
		f.t.Fatalf("secret payload %s: %v", raw, err)
	}
	return &w, sec.SessionsToken
}

func TestWorkLifecycle(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	s := f.s
	sessID := f.session()

	var list listEnvelope[workWire]
	bearerOK(t, s, f.envKey, "GET", f.path(""), "", &list)
	// Newest first: the session's item, then the environment's (stopped) healthcheck.
	if len(list.Data) != 2 || list.Data[0].State != hangar.WorkQueued || list.Data[0].Data.ID != sessID || list.Data[0].Secret != nil {
		t.Fatalf("work list after session create = %+v", list.Data)
	}
	checkGolden(t, "work_list", apiOK(t, s, "GET", f.path(""), "", nil))

	item, token := f.poll("")
	if item == nil || item.ID != list.Data[0].ID {
		t.Fatalf("poll = %+v", item)
	}
	if again, _ := f.poll(""); again != nil {
		t.Fatalf("second poll claimed %s again", again.ID)
	}
	var stats workStatsWire
	apiOK(t, s, "GET", f.path("/stats"), "", &stats)
	if stats.Depth != 0 || stats.Pending != 1 || stats.WorkersPolling != 1 || stats.OldestQueuedAt == nil {
		t.Errorf("stats after poll = %+v", stats)
	}
	checkGolden(t, "work_stats", apiOK(t, s, "GET", f.path("/stats"), "", nil))

	var acked workWire
	bearerOK(t, s, f.envKey, "POST", f.path("/"+item.ID+"/ack"), "", &acked)
	if acked.State != hangar.WorkStarting || acked.AcknowledgedAt == nil {
		t.Fatalf("ack = %+v", acked)
	}
	apiError(t, bearerDo(t, s, f.envKey, "POST", f.path("/"+item.ID+"/ack"), ""), http.StatusConflict, "invalid_request_error")

	// Heartbeats, authorized by the item's sessions token: the first claims with
	// NO_HEARTBEAT, later ones echo the last value; a stale value is 412.
	hb := func(q string) *httptest.ResponseRecorder {
		return bearerDo(t, s, token, "POST", f.path("/"+item.ID+"/heartbeat"+q), "")
	}
	var beat heartbeatWire
	rec := hb("?desired_ttl_seconds=1&expected_last_heartbeat=NO_HEARTBEAT")
	if rec.Code != http.StatusOK {
		t.Fatalf("first heartbeat: %d %s", rec.Code, rec.Body)
	}
	json.Unmarshal(rec.Body.Bytes(), &beat)
	if beat.State != hangar.WorkActive || !beat.LeaseExtended || beat.TTLSeconds != int64(hangar.MinWorkTTL.Seconds()) || beat.LastHeartbeat == "" {
		t.Fatalf("first heartbeat = %+v", beat)
	}
	checkGolden(t, "work_heartbeat", rec.Body.Bytes())
	stale := hb("?expected_last_heartbeat=NO_HEARTBEAT")
	apiError(t, stale, http.StatusPreconditionFailed, "invalid_request_error")
	checkGolden(t, "work_heartbeat_precondition_failed", stale.Body.Bytes())
	rec = hb("?desired_ttl_seconds=100000&expected_last_heartbeat=" + beat.LastHeartbeat)
	var beat2 heartbeatWire
	json.Unmarshal(rec.Body.Bytes(), &beat2)
	if rec.Code != http.StatusOK || beat2.TTLSeconds != int64(hangar.MaxWorkTTL.Seconds()) || beat2.LastHeartbeat == beat.LastHeartbeat {
		t.Fatalf("second heartbeat: %d %s", rec.Code, rec.Body)
	}

	// The token's scope: its session and item only.
	bearerOK(t, s, token, "GET", "/v1/sessions/"+sessID, "", nil)
	bearerOK(t, s, token, "GET", "/v1/sessions/"+sessID+"/events", "", nil)
	other := f.session()
	// Take other's item off the queue. (The test clock runs a second per reading, so later
	// polls pass a long reclaim_older_than_ms not to take it back.)
	if it, _ := f.poll(""); it == nil || it.Data.ID != other {
		t.Fatalf("poll for the other session = %+v", it)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/sessions/" + other},
		{"GET", "/v1/sessions"},
		{"GET", "/v1/agents"},
		{"DELETE", "/v1/sessions/" + sessID},
		{"GET", f.path("/poll")},
		{"GET", f.path("/" + item.ID)},
		{"GET", "/v1/memory_stores/memstore_x/memories"},
	} {
		apiError(t, bearerDo(t, s, token, tc.method, tc.path, ""), http.StatusForbidden, "permission_error")
	}
	// The environment key's scope: its queue's worker endpoints only.
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/sessions/" + sessID},
		{"GET", f.path("/stats")},
		{"GET", f.path("/" + item.ID)},
		{"POST", "/v1/environments/" + f.envID + "/rotate_key"},
		{"GET", "/v1/environments/env_other/work/poll"},
	} {
		apiError(t, bearerDo(t, s, f.envKey, tc.method, tc.path, ""), http.StatusForbidden, "permission_error")
	}
	apiError(t, bearerDo(t, s, "sk-hangar-env-unknown", "GET", f.path("/poll"), ""), http.StatusUnauthorized, "authentication_error")

	// Metadata patch and get take the API key.
	var upd workWire
	apiOK(t, s, "POST", f.path("/"+item.ID), `{"metadata":{"host":"box-1","gone":null}}`, &upd)
	if upd.Metadata["host"] != "box-1" {
		t.Errorf("metadata = %v", upd.Metadata)
	}
	checkGolden(t, "work_get", apiOK(t, s, "GET", f.path("/"+item.ID), "", nil))

	// A graceful stop: stopping until the worker stops it; heartbeats report it.
	var st workWire
	bearerOK(t, s, token, "POST", f.path("/"+item.ID+"/stop"), "", &st)
	if st.State != hangar.WorkStopping || st.StopRequestedAt == nil {
		t.Fatalf("stop = %+v", st)
	}
	rec = hb("?expected_last_heartbeat=whatever")
	json.Unmarshal(rec.Body.Bytes(), &beat)
	if rec.Code != http.StatusOK || beat.State != hangar.WorkStopping || beat.LeaseExtended {
		t.Fatalf("heartbeat while stopping: %d %s", rec.Code, rec.Body)
	}
	bearerOK(t, s, token, "POST", f.path("/"+item.ID+"/stop"), `{"force":true}`, &st)
	if st.State != hangar.WorkStopped || st.StoppedAt == nil {
		t.Fatalf("forced stop = %+v", st)
	}
	// The token died with the item; stopping again is a conflict.
	apiError(t, bearerDo(t, s, token, "GET", "/v1/sessions/"+sessID, ""), http.StatusUnauthorized, "authentication_error")
	apiError(t, apiDo(t, s, "POST", f.path("/"+item.ID+"/stop"), ""), http.StatusConflict, "invalid_request_error")

	// New input queues a new item; archiving the session stops it.
	apiOK(t, s, "POST", "/v1/sessions/"+sessID+"/events", `{"events":[{"type":"user.message","content":[{"type":"text","text":"again"}]}]}`, nil)
	next, _ := f.poll("?reclaim_older_than_ms=1000000000")
	if next == nil || next.ID == item.ID || next.Data.ID != sessID {
		t.Fatalf("poll after new input = %+v", next)
	}
	apiOK(t, s, "POST", "/v1/sessions/"+sessID+"/archive", "", nil)
	apiOK(t, s, "GET", f.path("/"+next.ID), "", &st)
	if st.State != hangar.WorkStopped {
		t.Errorf("item of an archived session (never acknowledged) = %s, want stopped", st.State)
	}
}

// TestWorkReclaim: a claim that is never acknowledged goes to the next poller once it is
// older than reclaim_older_than_ms, with a new token; the old token stops working.
func TestWorkReclaim(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	f.session()
	first, oldToken := f.poll("")
	if first == nil {
		t.Fatal("no item")
	}
	// The test clock moves a second per reading, so a 0 ms reclaim age makes any earlier
	// claim stale.
	again, newToken := f.poll("?reclaim_older_than_ms=0")
	if again == nil || again.ID == first.ID || again.Data != first.Data || newToken == oldToken {
		t.Fatalf("reclaim = %+v, want a new item for %s", again, first.Data.ID)
	}
	apiError(t, bearerDo(t, f.s, oldToken, "POST", f.path("/"+first.ID+"/heartbeat"), ""), http.StatusUnauthorized, "authentication_error")
	var old workWire
	apiOK(t, f.s, "GET", f.path("/"+first.ID), "", &old)
	if old.State != hangar.WorkStopped {
		t.Errorf("the reclaimed claim's item is %s, want stopped", old.State)
	}
}

// TestWorkLongPoll: a blocking poll waits for an item and wakes as soon as one is queued.
func TestWorkLongPoll(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	waiting := make(chan struct{}, 1)
	f.s.workWake.onIdle = func(string) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		rec := bearerDo(t, f.s, f.envKey, "GET", f.path("/poll?block_ms=999"), "")
		done <- result{rec.Code, rec.Body.String()}
	}()
	<-waiting
	sessID := f.session()
	res := <-done
	if res.code != http.StatusOK || !strings.Contains(res.body, sessID) {
		t.Fatalf("long poll = %d %s, want the new session's item", res.code, res.body)
	}
}

func TestWorkBadInput(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	s := f.s
	f.session()
	var cloud environmentWire
	apiOK(t, s, "POST", "/v1/environments", `{"name":"cloudy"}`, &cloud)
	if cloud.EnvironmentKey != "" {
		t.Errorf("a cloud environment got a key")
	}
	item, _ := f.poll("")
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		typ                      string
	}{
		{"block_ms zero", "GET", f.path("/poll?block_ms=0"), "", 400, "invalid_request_error"},
		{"block_ms too big", "GET", f.path("/poll?block_ms=1000"), "", 400, "invalid_request_error"},
		{"block_ms not a number", "GET", f.path("/poll?block_ms=soon"), "", 400, "invalid_request_error"},
		{"negative reclaim", "GET", f.path("/poll?reclaim_older_than_ms=-1"), "", 400, "invalid_request_error"},
		{"cloud environment", "GET", "/v1/environments/" + cloud.ID + "/work/poll", "", 400, "invalid_request_error"},
		{"cloud stats", "GET", "/v1/environments/" + cloud.ID + "/work/stats", "", 400, "invalid_request_error"},
		{"unknown environment", "GET", "/v1/environments/env_nope/work/poll", "", 404, "not_found_error"},
		{"unknown item", "POST", f.path("/work_nope/ack"), "", 404, "not_found_error"},
		{"item of another environment", "GET", "/v1/environments/" + cloud.ID + "/work/" + item.ID, "", 404, "not_found_error"},
		{"heartbeat before ack", "POST", f.path("/" + item.ID + "/heartbeat"), "", 409, "invalid_request_error"},
		{"ttl zero", "POST", f.path("/" + item.ID + "/heartbeat?desired_ttl_seconds=0"), "", 400, "invalid_request_error"},
		{"ttl not a number", "POST", f.path("/" + item.ID + "/heartbeat?desired_ttl_seconds=x"), "", 400, "invalid_request_error"},
		{"stop body not an object", "POST", f.path("/" + item.ID + "/stop"), `[true]`, 400, "invalid_request_error"},
		{"stop force not a boolean", "POST", f.path("/" + item.ID + "/stop"), `{"force":"yes"}`, 400, "invalid_request_error"},
		{"stop unknown field", "POST", f.path("/" + item.ID + "/stop"), `{"now":true}`, 400, "invalid_request_error"},
		{"update without metadata", "POST", f.path("/" + item.ID), `{}`, 400, "invalid_request_error"},
		{"update metadata not strings", "POST", f.path("/" + item.ID), `{"metadata":{"a":1}}`, 400, "invalid_request_error"},
		{"rotate key of cloud", "POST", "/v1/environments/" + cloud.ID + "/rotate_key", "", 400, "invalid_request_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apiError(t, apiDo(t, s, tc.method, tc.path, tc.body), tc.status, tc.typ)
		})
	}
}

// TestEnvironmentKeyRotation: rotate_key returns a new key once; the old one stops working.
func TestEnvironmentKeyRotation(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	var env environmentWire
	apiOK(t, f.s, "POST", "/v1/environments/"+f.envID+"/rotate_key", "", &env)
	if env.EnvironmentKey == "" || env.EnvironmentKey == f.envKey {
		t.Fatalf("rotate_key returned %q", env.EnvironmentKey)
	}
	apiError(t, bearerDo(t, f.s, f.envKey, "GET", f.path("/poll"), ""), http.StatusUnauthorized, "authentication_error")
	bearerOK(t, f.s, env.EnvironmentKey, "GET", f.path("/poll"), "", nil)
}

// TestWorkHeartbeatSessionGone: the heartbeat of an item whose session disappeared (deleted
// behind the API's back) asks the worker to stop; deleting a session through the API
// force-stops its item.
func TestWorkHeartbeatSessionGone(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	s := f.s
	sessID := f.session()
	item, token := f.poll("")
	bearerOK(t, s, f.envKey, "POST", f.path("/"+item.ID+"/ack"), "", nil)
	bearerOK(t, s, token, "POST", f.path("/"+item.ID+"/heartbeat?expected_last_heartbeat=NO_HEARTBEAT"), "", nil)
	if err := s.store.DeleteSession(context.Background(), sessID); err != nil {
		t.Fatal(err)
	}
	var beat heartbeatWire
	bearerOK(t, s, token, "POST", f.path("/"+item.ID+"/heartbeat"), "", &beat)
	if beat.State != hangar.WorkStopping || beat.LeaseExtended {
		t.Fatalf("heartbeat after the session was deleted = %+v", beat)
	}

	other := f.session()
	next, _ := f.poll("")
	if next == nil || next.Data.ID != other {
		t.Fatalf("poll = %+v", next)
	}
	apiOK(t, s, "DELETE", "/v1/sessions/"+other, "", nil)
	var got workWire
	apiOK(t, s, "GET", f.path("/"+next.ID), "", &got)
	if got.State != hangar.WorkStopped {
		t.Errorf("item of a deleted session = %s, want stopped", got.State)
	}
}
