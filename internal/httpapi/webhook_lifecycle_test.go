package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// Lifecycle webhooks (webhook_lifecycle.go) and agent webhook secret rotation
// (agent_webhook_rotate.go).
func TestLifecycleWebhooks(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	h := e.srv
	var ep struct {
		ID string `json:"id"`
	}
	apiOK(t, h, "POST", "/v1/organizations/webhooks", fmt.Sprintf(`{"url":"https://example.com/hook","enabled_events":%s}`, mustJSON(hangar.WebhookEventTypes())), &ep)

	type ref struct {
		ID string `json:"id"`
	}
	var agent, env, sess, vault, cred, store, dep ref
	apiOK(t, h, "POST", "/v1/agents", `{"name":"a","model":"claude-sonnet-4-6","engine":"scripted"}`, &agent)
	apiOK(t, h, "POST", "/v1/agents/"+agent.ID, `{"version":1,"description":"d"}`, nil)
	apiOK(t, h, "POST", "/v1/environments", `{"name":"e"}`, &env)
	apiOK(t, h, "POST", "/v1/environments/"+env.ID, `{"description":"d"}`, nil)
	apiOK(t, h, "POST", "/v1/sessions", fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, agent.ID, env.ID), &sess)
	apiOK(t, h, "POST", "/v1/sessions/"+sess.ID, `{"title":"renamed"}`, nil)
	apiOK(t, h, "POST", "/v1/sessions/"+sess.ID+"/archive", "", nil)
	apiOK(t, h, "DELETE", "/v1/sessions/"+sess.ID, "", nil)
	apiOK(t, h, "POST", "/v1/vaults", `{"display_name":"v"}`, &vault)
	apiOK(t, h, "POST", "/v1/vaults/"+vault.ID+"/credentials", `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com/x"}}`, &cred)
	apiOK(t, h, "POST", "/v1/vaults/"+vault.ID+"/credentials/"+cred.ID+"/archive", "", nil)
	apiOK(t, h, "DELETE", "/v1/vaults/"+vault.ID+"/credentials/"+cred.ID, "", nil)
	apiOK(t, h, "POST", "/v1/vaults/"+vault.ID+"/archive", "", nil)
	apiOK(t, h, "DELETE", "/v1/vaults/"+vault.ID, "", nil)
	apiOK(t, h, "POST", "/v1/memory_stores", `{"name":"m"}`, &store)
	apiOK(t, h, "POST", "/v1/memory_stores/"+store.ID+"/archive", "", nil)
	apiOK(t, h, "POST", "/v1/deployments", fmt.Sprintf(`{"name":"d","agent":%q,"environment_id":%q,
		"initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]}`, agent.ID, env.ID), &dep)
	apiOK(t, h, "POST", "/v1/deployments/"+dep.ID+"/pause", "", nil)
	apiOK(t, h, "POST", "/v1/deployments/"+dep.ID+"/unpause", "", nil)
	var run struct {
		ID        string `json:"id"`
		SessionID string `json:"session_id"`
	}
	apiOK(t, h, "POST", "/v1/deployments/"+dep.ID+"/run", "", &run)
	apiOK(t, h, "POST", "/v1/agents/"+agent.ID+"/archive", "", nil)
	var spare ref
	apiOK(t, h, "POST", "/v1/environments", `{"name":"spare"}`, &spare)
	apiOK(t, h, "POST", "/v1/environments/"+spare.ID+"/archive", "", nil)
	apiOK(t, h, "DELETE", "/v1/environments/"+spare.ID, "", nil)
	// Refused requests trigger nothing.
	apiDo(t, h, "POST", "/v1/agents", `{"name":""}`)
	apiDo(t, h, "POST", "/v1/sessions/sesn_missing/archive", "")

	ds, err := e.store.ListWebhookDeliveries(e.ctx(), ep.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range slices.Backward(ds) {
		var p struct {
			Data map[string]string `json:"data"`
		}
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(d.EventType+" "+p.Data["id"]+" "+p.Data["vault_id"]))
	}
	want := []string{
		"agent.created " + agent.ID,
		"agent.updated " + agent.ID,
		"environment.created " + env.ID,
		"environment.updated " + env.ID,
		"session.created " + sess.ID,
		"session.updated " + sess.ID,
		"session.archived " + sess.ID,
		"session.deleted " + sess.ID,
		"vault.created " + vault.ID,
		"vault_credential.created " + cred.ID + " " + vault.ID,
		"vault_credential.archived " + cred.ID + " " + vault.ID,
		"vault_credential.deleted " + cred.ID + " " + vault.ID,
		"vault.archived " + vault.ID,
		"vault.deleted " + vault.ID,
		"memory_store.created " + store.ID,
		"memory_store.archived " + store.ID,
		"deployment.created " + dep.ID,
		"deployment.paused " + dep.ID,
		"deployment.unpaused " + dep.ID,
		"session.created " + run.SessionID,
	}
	// The run's session runs a turn on the fake runner: its status webhooks come next.
	for _, typ := range []string{"session.status_run_started", "session.running", "session.status_idled", "session.idled"} {
		want = append(want, typ+" "+run.SessionID)
	}
	want = append(want,
		"deployment_run.started "+run.ID,
		"deployment_run.succeeded "+run.ID,
		"agent.archived "+agent.ID,
		"environment.created "+spare.ID,
		"environment.archived "+spare.ID,
		"environment.deleted "+spare.ID,
	)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("deliveries (-want +got):\n%s", d)
	}
}

func TestRotateAgentWebhookSecret(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	h := e.srv
	var hooked struct {
		ID            string `json:"id"`
		WebhookSecret string `json:"webhook_secret"`
	}
	apiOK(t, h, "POST", "/v1/agents", `{"name":"hooked","model":"claude-sonnet-4-6","engine":"scripted","webhook_url":"https://example.com/agent"}`, &hooked)
	var rotated struct {
		Type          string `json:"type"`
		AgentID       string `json:"agent_id"`
		WebhookSecret string `json:"webhook_secret"`
	}
	apiOK(t, h, "POST", "/v1/agents/"+hooked.ID+"/webhook_secret/rotate", "", &rotated)
	if rotated.Type != "agent_webhook_secret" || rotated.AgentID != hooked.ID || !strings.HasPrefix(rotated.WebhookSecret, "whsec_") || rotated.WebhookSecret == hooked.WebhookSecret {
		t.Errorf("rotate = %+v (old secret %q)", rotated, hooked.WebhookSecret)
	}
	ep, err := e.store.GetWebhookEndpoint(e.ctx(), hooked.ID)
	if err != nil {
		t.Fatal(err)
	}
	if secret, err := (tsSealer{}).Open(ep.Sealed, ep.KeyID); err != nil || string(secret) != rotated.WebhookSecret {
		t.Errorf("stored secret %q (%v), want the rotated one", secret, err)
	}

	var plain struct {
		ID string `json:"id"`
	}
	apiOK(t, h, "POST", "/v1/agents", `{"name":"plain","model":"claude-sonnet-4-6","engine":"scripted"}`, &plain)
	msg := apiError(t, apiDo(t, h, "POST", "/v1/agents/"+plain.ID+"/webhook_secret/rotate", ""), 400, "invalid_request_error")
	if !strings.Contains(msg, "has no webhook secret") {
		t.Errorf("message %q", msg)
	}
	apiError(t, apiDo(t, h, "POST", "/v1/agents/agent_missing/webhook_secret/rotate", ""), 404, "not_found_error")
}
