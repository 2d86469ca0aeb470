package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// TestWorkSelfHostedResources: file and github_repository resources are rejected on
// self_hosted sessions, at create and when added, with a 400 naming the field (CMA §6.2);
// environment_variable credentials in the session's vaults are accepted and never reach a
// worker (docs/self-hosted.md).
func TestWorkSelfHostedResources(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	s := f.s
	for _, tc := range []struct{ name, resources, field string }{
		{"file", `[{"type":"file","file_id":"file_nope"}]`, "resources[0].type"},
		{"github_repository", `[{"type":"file","file_id":"file_nope"},{"type":"github_repository","url":"https://github.com/o/r","authorization_token":"ghp_x"}]`, "resources[0].type"},
		{"github_repository second", `[{"type":"github_repository","url":"https://github.com/o/r","authorization_token":"ghp_x"}]`, "resources[0].type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":%s}`, f.agentID, f.envID, tc.resources)
			msg := apiError(t, apiDo(t, s, "POST", "/v1/sessions", body), http.StatusBadRequest, "invalid_request_error")
			if !strings.HasPrefix(msg, tc.field+":") || !strings.Contains(msg, "self_hosted") {
				t.Errorf("message %q, want it to name %s and self_hosted", msg, tc.field)
			}
		})
	}
	var list listEnvelope[workWire]
	apiOK(t, s, "GET", f.path(""), "", &list)
	if len(list.Data) != 1 { // the healthcheck only: no session, no item
		t.Errorf("rejected creates queued work: %+v", list.Data)
	}

	sessID := f.session()
	msg := apiError(t, apiDo(t, s, "POST", "/v1/sessions/"+sessID+"/resources", `{"type":"file","file_id":"file_nope"}`), http.StatusBadRequest, "invalid_request_error")
	if !strings.HasPrefix(msg, "type:") || !strings.Contains(msg, "self_hosted") {
		t.Errorf("add file resource: message %q", msg)
	}

	// A vault with an environment_variable credential is accepted (unsupported, not
	// rejected: nothing delivers it to a worker).
	var vault struct{ ID string }
	apiOK(t, s, "POST", "/v1/vaults", `{"display_name":"v"}`, &vault)
	apiOK(t, s, "POST", "/v1/vaults/"+vault.ID+"/credentials", `{"auth":{"type":"environment_variable","secret_name":"TOKEN","secret_value":"v","networking":{"type":"unrestricted"}}}`, nil)
	apiOK(t, s, "POST", "/v1/sessions", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"vault_ids":[%q]}`, f.agentID, f.envID, vault.ID), nil)
}

// TestWorkLateAck: a claim taken over by a later poll is retired; the first poller's late
// ack and its discard (force stop, as the SDK's WorkPoller does after a failed ack) get
// 409 and leave the new claim alone.
func TestWorkLateAck(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	s := f.s
	f.session()
	first, _ := f.poll("")
	second, token := f.poll("?reclaim_older_than_ms=0")
	if first == nil || second == nil || second.ID == first.ID {
		t.Fatalf("claims %+v, %+v", first, second)
	}
	apiError(t, bearerDo(t, s, f.envKey, "POST", f.path("/"+first.ID+"/ack"), ""), http.StatusConflict, "invalid_request_error")
	apiError(t, bearerDo(t, s, f.envKey, "POST", f.path("/"+first.ID+"/stop"), `{"force":true}`), http.StatusConflict, "invalid_request_error")
	var acked workWire
	bearerOK(t, s, f.envKey, "POST", f.path("/"+second.ID+"/ack"), "", &acked)
	if acked.State != hangar.WorkStarting {
		t.Fatalf("new claimer's ack = %+v", acked)
	}
	var beat heartbeatWire
	bearerOK(t, s, token, "POST", f.path("/"+second.ID+"/heartbeat?expected_last_heartbeat=NO_HEARTBEAT"), "", &beat)
	if beat.State != hangar.WorkActive {
		t.Fatalf("new claimer's heartbeat = %+v", beat)
	}
}

// TestWorkHealthcheck: creating a self_hosted environment queues a healthcheck item,
// which a worker answers by acknowledging and stopping it; stats follow.
func TestWorkHealthcheck(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	var env environmentWire
	apiOK(t, s, "POST", "/v1/environments", `{"name":"hc","config":{"type":"self_hosted"}}`, &env)
	path := "/v1/environments/" + env.ID + "/work"
	var stats workStatsWire
	apiOK(t, s, "GET", path+"/stats", "", &stats)
	if stats.Depth != 1 || stats.OldestQueuedAt == nil {
		t.Fatalf("stats after create = %+v, want the healthcheck queued", stats)
	}
	var item workWire
	bearerOK(t, s, env.EnvironmentKey, "GET", path+"/poll", "", &item)
	if item.Data.Type != hangar.WorkDataHealthcheck || item.Data.ID != env.ID || item.Secret == nil {
		t.Fatalf("poll = %+v, want the healthcheck", item)
	}
	bearerOK(t, s, env.EnvironmentKey, "POST", path+"/"+item.ID+"/ack", "", nil)
	var st workWire
	bearerOK(t, s, env.EnvironmentKey, "POST", path+"/"+item.ID+"/stop", `{"force":true}`, &st)
	if st.State != hangar.WorkStopped {
		t.Fatalf("stop = %+v", st)
	}
	apiOK(t, s, "GET", path+"/stats", "", &stats)
	if stats.Depth != 0 || stats.Pending != 0 || stats.WorkersPolling != 1 {
		t.Errorf("stats after the healthcheck = %+v", stats)
	}
	var cloud environmentWire
	apiOK(t, s, "POST", "/v1/environments", `{"name":"cloud"}`, &cloud)
	if items, _, err := s.store.ListWork(t.Context(), hangar.WorkFilter{EnvironmentID: cloud.ID, Page: hangar.Page{Limit: 10}}); err != nil || len(items) != 0 {
		t.Errorf("a cloud environment has %d work items (%v), want none", len(items), err)
	}
}

// TestWorkEnvironmentEnd: archiving a self_hosted environment (its sessions archived
// first, as archive requires) force-stops its items still stopping and revokes its key;
// deleting it deletes its items.
func TestWorkEnvironmentEnd(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	s := f.s
	sessID := f.session()
	item, token := f.poll("")
	bearerOK(t, s, f.envKey, "POST", f.path("/"+item.ID+"/ack"), "", nil)
	apiOK(t, s, "POST", "/v1/sessions/"+sessID+"/archive", "", nil)
	var got workWire
	apiOK(t, s, "GET", f.path("/"+item.ID), "", &got)
	if got.State != hangar.WorkStopping {
		t.Fatalf("item of the archived session = %s, want stopping", got.State)
	}
	apiOK(t, s, "POST", "/v1/environments/"+f.envID+"/archive", "", nil)
	apiOK(t, s, "GET", f.path("/"+item.ID), "", &got)
	if got.State != hangar.WorkStopped {
		t.Errorf("item after archive = %s, want stopped", got.State)
	}
	apiError(t, bearerDo(t, s, f.envKey, "GET", f.path("/poll"), ""), http.StatusUnauthorized, "authentication_error")
	apiError(t, bearerDo(t, s, token, "POST", f.path("/"+item.ID+"/heartbeat"), ""), http.StatusUnauthorized, "authentication_error")

	g := newWorkFixture(t)
	other := g.session()
	it, _ := g.poll("")
	apiOK(t, g.s, "DELETE", "/v1/sessions/"+other, "", nil)
	apiOK(t, g.s, "DELETE", "/v1/environments/"+g.envID, "", nil)
	items, _, err := g.s.store.ListWork(t.Context(), hangar.WorkFilter{EnvironmentID: g.envID, Page: hangar.Page{Limit: 10}})
	if err != nil || len(items) != 0 {
		t.Errorf("items after delete = %d, %v; want none", len(items), err)
	}
	if _, err := g.s.store.GetWork(t.Context(), "", it.ID); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("GetWork after delete: %v", err)
	}
	apiError(t, bearerDo(t, g.s, g.envKey, "GET", g.path("/poll"), ""), http.StatusUnauthorized, "authentication_error")
}

// TestWorkSelfHostedDeploymentResources: a deployment on a self_hosted environment is
// refused the resources its sessions would be refused at every run.
func TestWorkSelfHostedDeploymentResources(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	file := &hangar.File{Type: "file", ID: f.s.newID(hangar.PrefixFile), Filename: "notes.txt", MimeType: "text/plain", SizeBytes: 3, CreatedAt: time.Now()}
	if err := f.s.store.CreateFile(context.Background(), file); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"name":"d","agent":%q,"environment_id":%q,"initial_events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}],"resources":[{"type":"file","file_id":%q}]}`, f.agentID, f.envID, file.ID)
	msg := apiError(t, apiDo(t, f.s, "POST", "/v1/deployments", body), http.StatusBadRequest, "invalid_request_error")
	if !strings.HasPrefix(msg, "resources[0].type:") || !strings.Contains(msg, "self_hosted") {
		t.Errorf("message %q, want it to name resources[0].type and self_hosted", msg)
	}
}
