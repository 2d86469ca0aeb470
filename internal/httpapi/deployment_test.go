package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// deploymentFixture creates an agent and an environment and returns a create body using them.
func deploymentFixture(t *testing.T, s http.Handler) (agentID, envID string) {
	t.Helper()
	var a hangar.Agent
	apiOK(t, s, "POST", "/v1/agents", `{"name":"a","model":"claude-sonnet-4-6"}`, &a)
	var e hangar.Environment
	apiOK(t, s, "POST", "/v1/environments", `{"name":"e"}`, &e)
	return a.ID, e.ID
}

func TestDeploymentWireShapes(t *testing.T) {
	s, _ := newTestServer(t)
	agentID, envID := deploymentFixture(t, s)
	body := `{"name":"nightly","description":"triage","agent":"` + agentID + `","environment_id":"` + envID + `",
		"initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}],
		"metadata":{"team":"infra"},"schedule":{"type":"cron","expression":"0 9 * * 1-5","timezone":"Europe/Paris"}}`
	var d struct{ ID string }
	checkGolden(t, "deployment_create", apiOK(t, s, "POST", "/v1/deployments", body, &d))
	checkGolden(t, "deployment_pause", apiOK(t, s, "POST", "/v1/deployments/"+d.ID+"/pause", "", nil))
	checkGolden(t, "deployment_run", apiOK(t, s, "POST", "/v1/deployments/"+d.ID+"/run", "", nil))
	checkGolden(t, "deployment_run_list", apiOK(t, s, "GET", "/v1/deployment_runs?deployment_id="+d.ID, "", nil))
	checkGolden(t, "deployment_list", apiOK(t, s, "GET", "/v1/deployments", "", nil))
	checkGolden(t, "deployment_archive", apiOK(t, s, "POST", "/v1/deployments/"+d.ID+"/archive", "", nil))
}

func TestDeploymentErrors(t *testing.T) {
	s, _ := newTestServer(t)
	agentID, envID := deploymentFixture(t, s)
	ok := `"agent":"` + agentID + `","environment_id":"` + envID + `","initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]`
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		errType, msg             string
	}{
		{"no name", "POST", "/v1/deployments", `{` + ok + `}`, 400, "invalid_request_error", "name"},
		{"no agent", "POST", "/v1/deployments", `{"name":"d","environment_id":"` + envID + `","initial_events":[]}`, 400, "invalid_request_error", "agent"},
		{"unknown agent", "POST", "/v1/deployments", `{"name":"d",` + strings.Replace(ok, agentID, "agent_nope", 1) + `}`, 404, "not_found_error", "agent_nope"},
		{"unknown environment", "POST", "/v1/deployments", `{"name":"d",` + strings.Replace(ok, envID, "env_nope", 1) + `}`, 404, "not_found_error", "env_nope"},
		{"bad event type", "POST", "/v1/deployments", `{"name":"d","agent":"` + agentID + `","environment_id":"` + envID + `","initial_events":[{"type":"user.interrupt"}]}`, 400, "invalid_request_error", "initial_events"},
		{"bad cron", "POST", "/v1/deployments", `{"name":"d",` + ok + `,"schedule":{"type":"cron","expression":"0 0 L * *","timezone":"UTC"}}`, 400, "invalid_request_error", "cron"},
		{"no timezone", "POST", "/v1/deployments", `{"name":"d",` + ok + `,"schedule":{"type":"cron","expression":"0 0 * * *"}}`, 400, "invalid_request_error", "timezone"},
		{"bad tz", "POST", "/v1/deployments", `{"name":"d",` + ok + `,"schedule":{"type":"cron","expression":"0 0 * * *","timezone":"Nowhere/City"}}`, 400, "invalid_request_error", "Nowhere/City"},
		{"bad schedule type", "POST", "/v1/deployments", `{"name":"d",` + ok + `,"schedule":{"type":"rate","expression":"0 0 * * *","timezone":"UTC"}}`, 400, "invalid_request_error", "schedule.type"},
		{"repo token", "POST", "/v1/deployments", `{"name":"d",` + ok + `,"resources":[{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"x"}]}`, 400, "invalid_request_error", "authorization_token"},
		{"status with archived", "GET", "/v1/deployments?status=paused&include_archived=true", "", 400, "invalid_request_error", "include_archived"},
		{"bad status", "GET", "/v1/deployments?status=archived", "", 400, "invalid_request_error", "status"},
		{"bad trigger", "GET", "/v1/deployment_runs?trigger_type=cron", "", 400, "invalid_request_error", "trigger_type"},
		{"missing", "GET", "/v1/deployments/depl_nope", "", 404, "not_found_error", "depl_nope"},
		{"missing pause", "POST", "/v1/deployments/depl_nope/pause", "", 404, "not_found_error", "depl_nope"},
		{"missing run", "GET", "/v1/deployment_runs/drun_nope", "", 404, "not_found_error", "drun_nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, s, tc.method, tc.path, tc.body), tc.status, tc.errType)
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not mention %q", msg, tc.msg)
			}
		})
	}
}

// A scheduled run that cannot create its session records the error and pauses the
// deployment with it, as CMA; a manual one only records it.
func TestScheduledRunErrorPauses(t *testing.T) {
	s, st := newTestServer(t)
	agentID, envID := deploymentFixture(t, s)
	var d hangar.Deployment
	apiOK(t, s, "POST", "/v1/deployments", `{"name":"d","agent":"`+agentID+`","environment_id":"`+envID+`",
		"initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}],
		"schedule":{"type":"cron","expression":"* * * * *","timezone":"UTC"}}`, &d)
	stored, err := st.GetDeployment(context.Background(), d.ID)
	if err != nil || stored.NextRunAt == nil {
		t.Fatalf("a scheduled deployment has no next_run_at: %v, %v", stored, err)
	}
	apiOK(t, s, "POST", "/v1/environments/"+envID+"/archive", "", nil)

	manual, err := s.RunDeployment(context.Background(), d.ID, hangar.TriggerContext{Type: hangar.TriggerManual})
	if err != nil || manual.Error == nil || manual.Error.Type != "environment_archived_error" || manual.SessionID != nil {
		t.Fatalf("manual run = %+v, %v", manual, err)
	}
	if got, _ := st.GetDeployment(context.Background(), d.ID); got.Status != hangar.DeploymentActive {
		t.Errorf("a manual run's error paused the deployment")
	}
	at := testEpoch
	if _, err := s.RunDeployment(context.Background(), d.ID, hangar.TriggerContext{Type: hangar.TriggerSchedule, ScheduledAt: &at}); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetDeployment(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != hangar.DeploymentPaused || got.NextRunAt != nil ||
		string(got.PausedReason) != `{"error":{"type":"environment_archived_error"},"type":"error"}` {
		t.Errorf("after a failed scheduled run: status %s, next %v, reason %s", got.Status, got.NextRunAt, got.PausedReason)
	}
}
