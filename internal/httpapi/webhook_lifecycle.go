package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Resource lifecycle webhooks (docs/webhooks.md "Event types"): agent.created,
// session.archived, vault_credential.deleted... Session events (status changes, outcome
// evaluations, session.updated) reach the outbox in the transaction that stores them
// (hangar.SessionWebhooks); lifecycle changes have no event, so the routes below enqueue
// theirs once the handler has answered 200, naming the resource by the "id" of its
// response. The enqueue follows the change instead of sharing its transaction: a crash in
// between loses that webhook, which the docs state.

// lifecycleWebhooks maps route patterns to the webhook event type a success triggers.
var lifecycleWebhooks = map[string]string{
	"POST /v1/agents":                                                "agent.created",
	"POST /v1/agents/{agent_id}":                                     "agent.updated",
	"POST /v1/agents/{agent_id}/archive":                             "agent.archived",
	"POST /v1/environments":                                          "environment.created",
	"POST /v1/environments/{environment_id}":                         "environment.updated",
	"DELETE /v1/environments/{environment_id}":                       "environment.deleted",
	"POST /v1/environments/{environment_id}/archive":                 "environment.archived",
	"POST /v1/sessions":                                              "session.created",
	"DELETE /v1/sessions/{session_id}":                               "session.deleted",
	"POST /v1/sessions/{session_id}/archive":                         "session.archived",
	"POST /v1/vaults":                                                "vault.created",
	"DELETE /v1/vaults/{vault_id}":                                   "vault.deleted",
	"POST /v1/vaults/{vault_id}/archive":                             "vault.archived",
	"POST /v1/vaults/{vault_id}/credentials":                         "vault_credential.created",
	"DELETE /v1/vaults/{vault_id}/credentials/{credential_id}":       "vault_credential.deleted",
	"POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive": "vault_credential.archived",
	"POST /v1/memory_stores":                                         "memory_store.created",
	"DELETE /v1/memory_stores/{memory_store_id}":                     "memory_store.deleted",
	"POST /v1/memory_stores/{memory_store_id}/archive":               "memory_store.archived",
	"POST /v1/deployments":                                           "deployment.created",
	"POST /v1/deployments/{deployment_id}":                           "deployment.updated",
	"POST /v1/deployments/{deployment_id}/archive":                   "deployment.archived",
	"POST /v1/deployments/{deployment_id}/pause":                     "deployment.paused",
	"POST /v1/deployments/{deployment_id}/unpause":                   "deployment.unpaused",
}

// withLifecycleWebhook wraps the handler of pattern so that its successes enqueue their
// webhook event; handlers of other patterns are returned as they are.
func (s *Server) withLifecycleWebhook(pattern string, fn handlerFunc) handlerFunc {
	typ, ok := lifecycleWebhooks[pattern]
	if !ok {
		return fn
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		rec := &bodyRecorder{ResponseWriter: w, status: http.StatusOK}
		if err := fn(rec, r); err != nil {
			return err
		}
		if rec.status != http.StatusOK {
			return nil
		}
		var res struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(rec.body.Bytes(), &res) != nil || res.ID == "" {
			return nil
		}
		d := hangar.WebhookData{Type: typ, ID: res.ID}
		if strings.HasPrefix(typ, "vault_credential.") {
			d.VaultID = r.PathValue("vault_id")
		}
		s.enqueueWebhooks(r.Context(), d)
		return nil
	}
}

// enqueueWebhooks enqueues lifecycle webhook events. The change they report is done, so a
// failure is logged, not returned.
func (s *Server) enqueueWebhooks(ctx context.Context, ds ...hangar.WebhookData) {
	now := s.now()
	out := make([]hangar.WebhookOutbox, len(ds))
	for i, d := range ds {
		out[i] = hangar.NewWebhookEvent(d, now)
	}
	if err := s.store.EnqueueWebhookEvents(context.WithoutCancel(ctx), out, now); err != nil {
		s.log.Error("enqueue webhook events", "type", ds[0].Type, "id", ds[0].ID, "err", err)
	}
}

// bodyRecorder passes a response through and keeps its status and (JSON) body.
type bodyRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *bodyRecorder) WriteHeader(code int) {
	b.status = code
	b.ResponseWriter.WriteHeader(code)
}

func (b *bodyRecorder) Write(p []byte) (int, error) {
	b.body.Write(p)
	return b.ResponseWriter.Write(p)
}

// deploymentRunWebhooks enqueues deployment_run.started and how the run ended: succeeded
// once its session exists and has its initial events, failed when it could not be created.
func (s *Server) deploymentRunWebhooks(ctx context.Context, run *hangar.DeploymentRun) {
	end := "deployment_run.succeeded"
	if run.Error != nil {
		end = "deployment_run.failed"
	}
	s.enqueueWebhooks(ctx, hangar.WebhookData{Type: "deployment_run.started", ID: run.ID}, hangar.WebhookData{Type: end, ID: run.ID})
}
