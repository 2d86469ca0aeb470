package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Deployments (docs/deployments.md): an agent, environment, resources, vaults and initial
// events packaged to run unattended, by hand (POST .../run) or on a cron schedule
// (internal/schedule, which calls RunDeployment). Each run creates a session exactly as
// POST /v1/sessions does and records a deployment_run.

const (
	maxDeploymentName        = 256
	maxDeploymentDescription = 2048
	upcomingRuns             = 5
)

type deploymentRequest struct {
	Name          *string            `json:"name"`
	Description   *string            `json:"description"`
	Agent         json.RawMessage    `json:"agent"`
	EnvironmentID *string            `json:"environment_id"`
	InitialEvents []json.RawMessage  `json:"initial_events"`
	Resources     []json.RawMessage  `json:"resources"`
	VaultIDs      []string           `json:"vault_ids"`
	Metadata      map[string]*string `json:"metadata"`
	Budget        json.RawMessage    `json:"budget"`
	Schedule      json.RawMessage    `json:"schedule"`
}

// scheduleWire is a schedule with its computed times.
type scheduleWire struct {
	Type           string      `json:"type"`
	Expression     string      `json:"expression"`
	Timezone       string      `json:"timezone"`
	LastRunAt      *time.Time  `json:"last_run_at"`
	UpcomingRunsAt []time.Time `json:"upcoming_runs_at"`
}

type deploymentWire struct {
	Type          string            `json:"type"`
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	Agent         hangar.AgentRef   `json:"agent"`
	EnvironmentID string            `json:"environment_id"`
	InitialEvents json.RawMessage   `json:"initial_events"`
	Resources     json.RawMessage   `json:"resources"`
	VaultIDs      []string          `json:"vault_ids"`
	Metadata      map[string]string `json:"metadata"`
	Budget        *hangar.Budget    `json:"budget,omitempty"`
	Schedule      *scheduleWire     `json:"schedule"`
	Status        string            `json:"status"`
	PausedReason  json.RawMessage   `json:"paused_reason"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	ArchivedAt    *time.Time        `json:"archived_at"`
}

type deploymentRunWire struct {
	Type string `json:"type"`
	*hangar.DeploymentRun
}

func (s *Server) deploymentOut(d *hangar.Deployment) deploymentWire {
	w := deploymentWire{Type: "deployment", ID: d.ID, Name: d.Name, Description: d.Description, Agent: d.Agent,
		EnvironmentID: d.EnvironmentID, InitialEvents: d.InitialEvents, Resources: d.Resources, VaultIDs: d.VaultIDs,
		Metadata: orEmpty(d.Metadata), Budget: d.Budget, Status: d.Status, PausedReason: d.PausedReason,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, ArchivedAt: d.ArchivedAt}
	if len(w.PausedReason) == 0 {
		w.PausedReason = json.RawMessage(`null`)
	}
	if w.VaultIDs == nil {
		w.VaultIDs = []string{}
	}
	if sc := d.Schedule; sc != nil {
		w.Schedule = &scheduleWire{Type: "cron", Expression: sc.Expression, Timezone: sc.Timezone, LastRunAt: sc.LastRunAt,
			UpcomingRunsAt: []time.Time{}}
		// Paused deployments still show what the schedule would do; archived ones nothing.
		if c, loc, err := hangar.LoadCronSpec(sc); err == nil && d.ArchivedAt == nil {
			w.Schedule.UpcomingRunsAt = c.Upcoming(s.now(), loc, upcomingRuns)
		}
	}
	return w
}

func runOut(r *hangar.DeploymentRun) deploymentRunWire {
	return deploymentRunWire{Type: "deployment_run", DeploymentRun: r}
}

// parseSchedule validates a schedule param; null gives nil.
func parseSchedule(raw json.RawMessage) (*hangar.CronSpec, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := objectType("schedule", raw)
	if err != nil {
		return nil, err
	}
	if typ != "" && typ != "cron" {
		return nil, invalidf("schedule.type: must be \"cron\" (got %q)", typ)
	}
	var p struct {
		Type       string  `json:"type"`
		Expression *string `json:"expression"`
		Timezone   *string `json:"timezone"`
	}
	if err := decodeAt("schedule", raw, &p); err != nil {
		return nil, err
	}
	if err := requireString("schedule.expression", p.Expression, 1, 256); err != nil {
		return nil, err
	}
	if err := requireString("schedule.timezone", p.Timezone, 1, 256); err != nil {
		return nil, err
	}
	sc := &hangar.CronSpec{Type: "cron", Expression: *p.Expression, Timezone: *p.Timezone}
	if _, _, err := hangar.LoadCronSpec(sc); err != nil {
		return nil, invalidf("schedule: %s", strings.TrimPrefix(err.Error(), "schedule."))
	}
	return sc, nil
}

// checkDeploymentParts validates the parts a deployment hands to each of its sessions, as
// session creation would, and returns them in stored form.
func (s *Server) checkDeploymentParts(ctx context.Context, req *deploymentRequest, d *hangar.Deployment) error {
	if req.Agent != nil {
		a, err := s.sessionAgent(ctx, req.Agent)
		if err != nil {
			return err
		}
		d.Agent = hangar.AgentRef{Type: "agent", ID: a.ID, Version: a.Version}
	}
	if req.EnvironmentID != nil {
		if err := requireString("environment_id", req.EnvironmentID, 1, maxIDParamChars); err != nil {
			return err
		}
		env, err := s.store.GetEnvironment(ctx, *req.EnvironmentID)
		if err != nil {
			return err
		}
		if env.ArchivedAt != nil {
			return invalidf("environment_id: environment %s is archived", env.ID)
		}
		d.EnvironmentID = env.ID
	}
	if req.InitialEvents != nil {
		if _, err := validateEvents("initial_events", req.InitialEvents, initialEvents); err != nil {
			return err
		}
		d.InitialEvents = mustJSON(req.InitialEvents)
	}
	if req.Resources != nil {
		for i, raw := range req.Resources {
			var tok struct {
				Token json.RawMessage `json:"authorization_token"`
			}
			_ = json.Unmarshal(raw, &tok)
			if tok.Token != nil {
				return invalidf("resources[%d].authorization_token: not supported on deployments yet; use a vault credential", i)
			}
		}
		if _, err := s.sessionResources(ctx, req.Resources, s.now()); err != nil {
			return err
		}
		d.Resources = mustJSON(req.Resources)
	}
	if req.VaultIDs != nil {
		ids, err := s.sessionVaults(ctx, req.VaultIDs)
		if err != nil {
			return err
		}
		d.VaultIDs = ids
	}
	if req.Budget != nil {
		b, err := parseBudget("budget", req.Budget)
		if err != nil {
			return err
		}
		d.Budget = b
	}
	if req.Description != nil {
		if err := checkLen("description", *req.Description, 0, maxDeploymentDescription); err != nil {
			return err
		}
		d.Description = *req.Description
	}
	if (req.EnvironmentID != nil || req.Resources != nil) && d.EnvironmentID != "" && len(d.Resources) > 0 {
		// Its sessions would be refused these at every run (work_resources.go).
		env, err := s.store.GetEnvironment(ctx, d.EnvironmentID)
		if err != nil {
			return err
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(d.Resources, &raws); err != nil {
			return hangar.Errorf(hangar.KindInternal, "deployment %s resources: %v", d.ID, err)
		}
		if err := rejectSelfHostedResources(env, raws); err != nil {
			return err
		}
	}
	if req.Schedule != nil {
		sc, err := parseSchedule(req.Schedule)
		if err != nil {
			return err
		}
		if sc != nil && d.Schedule != nil {
			sc.LastRunAt = d.Schedule.LastRunAt
		}
		d.Schedule = sc
	}
	return nil
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) error {
	var req deploymentRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := requireString("name", req.Name, 1, maxDeploymentName); err != nil {
		return err
	}
	if req.Agent == nil {
		return invalidf("agent: field required")
	}
	if req.EnvironmentID == nil {
		return invalidf("environment_id: field required")
	}
	if req.InitialEvents == nil {
		return invalidf("initial_events: field required")
	}
	meta, err := patchMetadata("metadata", map[string]string{}, req.Metadata, false)
	if err != nil {
		return err
	}
	now := s.now()
	d := &hangar.Deployment{ID: s.newID(hangar.PrefixDeployment), Name: *req.Name, Metadata: meta,
		Resources: json.RawMessage(`[]`), VaultIDs: []string{}, Status: hangar.DeploymentActive,
		PausedReason: json.RawMessage(`null`), CreatedAt: now, UpdatedAt: now}
	if err := s.checkDeploymentParts(r.Context(), &req, d); err != nil {
		return err
	}
	d.NextRunAt = d.NextRun(now)
	if err := s.store.CreateDeployment(r.Context(), d); err != nil {
		return err
	}
	encode(w, http.StatusOK, s.deploymentOut(d))
	return nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.GetDeployment(r.Context(), pathID(r, "deployment_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.deploymentOut(d))
	return nil
}

func (s *Server) updateDeployment(w http.ResponseWriter, r *http.Request) error {
	var req deploymentRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Name != nil {
		if err := checkLen("name", *req.Name, 1, maxDeploymentName); err != nil {
			return err
		}
	}
	ctx := r.Context()
	d, err := s.store.UpdateDeployment(ctx, pathID(r, "deployment_id"), func(d *hangar.Deployment) error {
		if d.ArchivedAt != nil {
			return conflictf("deployment %s is archived and cannot be updated", d.ID)
		}
		if err := s.checkDeploymentParts(ctx, &req, d); err != nil {
			return err
		}
		if req.Name != nil {
			d.Name = *req.Name
		}
		meta, err := patchMetadata("metadata", d.Metadata, req.Metadata, true)
		if err != nil {
			return err
		}
		d.Metadata = meta
		now := s.now()
		d.UpdatedAt = now
		d.NextRunAt = d.NextRun(now)
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.deploymentOut(d))
	return nil
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	f := hangar.DeploymentFilter{Page: page, AgentID: q.Get("agent_id"), Status: q.Get("status")}
	if f.IncludeArchived, err = parseBool(q, "include_archived"); err != nil {
		return err
	}
	if f.CreatedAt, err = parseTimeRange(q, "created_at"); err != nil {
		return err
	}
	if f.Status != "" {
		if err := checkOneOf("status", f.Status, hangar.DeploymentActive, hangar.DeploymentPaused); err != nil {
			return err
		}
		if f.IncludeArchived {
			return invalidf("status and include_archived cannot be combined")
		}
	}
	ds, pr, err := s.store.ListDeployments(r.Context(), f)
	if err != nil {
		return err
	}
	data := []deploymentWire{}
	for _, d := range ds {
		data = append(data, s.deploymentOut(d))
	}
	encode(w, http.StatusOK, listEnvelope[deploymentWire]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

// setDeploymentState archives, pauses or unpauses.
func (s *Server) setDeploymentState(w http.ResponseWriter, r *http.Request, fn func(d *hangar.Deployment, now time.Time) error) error {
	d, err := s.store.UpdateDeployment(r.Context(), pathID(r, "deployment_id"), func(d *hangar.Deployment) error {
		now := s.now()
		if err := fn(d, now); err != nil {
			return err
		}
		d.UpdatedAt = now
		d.NextRunAt = d.NextRun(now)
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, s.deploymentOut(d))
	return nil
}

func (s *Server) archiveDeployment(w http.ResponseWriter, r *http.Request) error {
	return s.setDeploymentState(w, r, func(d *hangar.Deployment, now time.Time) error {
		if d.ArchivedAt == nil {
			d.ArchivedAt = &now
			// Archived deployments report active, as CMA.
			d.Status, d.PausedReason = hangar.DeploymentActive, json.RawMessage(`null`)
		}
		return nil
	})
}

func (s *Server) pauseDeployment(w http.ResponseWriter, r *http.Request) error {
	return s.setDeploymentState(w, r, func(d *hangar.Deployment, now time.Time) error {
		if d.ArchivedAt != nil {
			return conflictf("deployment %s is archived and cannot be paused", d.ID)
		}
		if d.Status != hangar.DeploymentPaused {
			d.Status, d.PausedReason = hangar.DeploymentPaused, json.RawMessage(`{"type":"manual"}`)
		}
		return nil
	})
}

func (s *Server) unpauseDeployment(w http.ResponseWriter, r *http.Request) error {
	return s.setDeploymentState(w, r, func(d *hangar.Deployment, now time.Time) error {
		if d.ArchivedAt != nil {
			return conflictf("deployment %s is archived and cannot be unpaused", d.ID)
		}
		d.Status, d.PausedReason = hangar.DeploymentActive, json.RawMessage(`null`)
		return nil
	})
}

func (s *Server) runDeployment(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "deployment_id")
	d, err := s.store.GetDeployment(r.Context(), id)
	if err != nil {
		return err
	}
	if d.ArchivedAt != nil {
		return conflictf("deployment %s is archived and cannot run", d.ID)
	}
	// Manual runs are allowed while paused, as CMA.
	run, err := s.RunDeployment(r.Context(), id, hangar.TriggerContext{Type: hangar.TriggerManual})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, runOut(run))
	return nil
}

func (s *Server) getDeploymentRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.store.GetDeploymentRun(r.Context(), pathID(r, "deployment_run_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, runOut(run))
	return nil
}

func (s *Server) listDeploymentRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	f := hangar.DeploymentRunFilter{Page: page, DeploymentID: q.Get("deployment_id"), TriggerType: q.Get("trigger_type")}
	if f.TriggerType != "" {
		if err := checkOneOf("trigger_type", f.TriggerType, hangar.TriggerSchedule, hangar.TriggerManual); err != nil {
			return err
		}
	}
	if q.Has("has_error") {
		v, err := parseBool(q, "has_error")
		if err != nil {
			return err
		}
		f.HasError = &v
	}
	if f.CreatedAt, err = parseTimeRange(q, "created_at"); err != nil {
		return err
	}
	runs, pr, err := s.store.ListDeploymentRuns(r.Context(), f)
	if err != nil {
		return err
	}
	data := []deploymentRunWire{}
	for _, run := range runs {
		data = append(data, runOut(run))
	}
	encode(w, http.StatusOK, listEnvelope[deploymentRunWire]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

// RunDeployment runs deployment id once: it creates a session from the deployment the way
// POST /v1/sessions does (same validation, same store and runner calls), sends the initial
// events, and records the run. A session that cannot be created is recorded as a run with
// an error, not returned as one; a scheduled run that fails for a reason that will not go
// away by itself (an archived or missing environment, agent, vault...) also pauses the
// deployment with that reason, as CMA does. internal/schedule calls this for cron fires.
func (s *Server) RunDeployment(ctx context.Context, id string, trigger hangar.TriggerContext) (*hangar.DeploymentRun, error) {
	d, err := s.store.GetDeployment(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	run := &hangar.DeploymentRun{ID: s.newID(hangar.PrefixDeploymentRun), DeploymentID: d.ID, Agent: d.Agent,
		Trigger: trigger, CreatedAt: now}
	sessID, err := s.deploymentSession(ctx, d)
	if err != nil {
		if !isClientError(err) {
			return nil, err
		}
		run.Error = &hangar.RunError{Type: runErrorType(err), Message: clientMessage(err)}
	} else {
		run.SessionID = &sessID
	}
	if err := s.store.CreateDeploymentRun(ctx, run); err != nil {
		return nil, err
	}
	s.deploymentRunWebhooks(ctx, run) // webhook_lifecycle.go
	if run.Error != nil && trigger.Type == hangar.TriggerSchedule && pausesDeployment(run.Error.Type) {
		reason := mustJSON(map[string]any{"type": "error", "error": map[string]string{"type": run.Error.Type}})
		if _, err := s.store.UpdateDeployment(ctx, d.ID, func(d *hangar.Deployment) error {
			d.Status, d.PausedReason, d.NextRunAt, d.UpdatedAt = hangar.DeploymentPaused, reason, nil, s.now()
			return nil
		}); err != nil {
			return nil, err
		}
		s.enqueueWebhooks(ctx, hangar.WebhookData{Type: "deployment.paused", ID: d.ID})
	}
	return run, nil
}

// deploymentSession creates and starts one session of d.
func (s *Server) deploymentSession(ctx context.Context, d *hangar.Deployment) (string, error) {
	req := &createSessionRequest{
		Agent:         mustJSON(d.Agent),
		EnvironmentID: &d.EnvironmentID,
		VaultIDs:      d.VaultIDs,
	}
	if err := json.Unmarshal(d.InitialEvents, &req.InitialEvents); err != nil {
		return "", err
	}
	if len(d.Resources) > 0 {
		if err := json.Unmarshal(d.Resources, &req.Resources); err != nil {
			return "", err
		}
	}
	if d.Budget != nil {
		req.Budget = mustJSON(d.Budget)
	}
	sess, initial, err := s.newSession(ctx, req)
	if err != nil {
		return "", err
	}
	sess.DeploymentID = d.ID
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", err
	}
	s.enqueueWebhooks(ctx, hangar.WebhookData{Type: "session.created", ID: sess.ID})
	if err := s.enqueueSessionWork(ctx, sess); err != nil {
		return "", err
	}
	if _, err := s.runner().Send(ctx, sess.ID, s.storedEvents(initial), ""); err != nil {
		return "", err
	}
	return sess.ID, nil
}

func isClientError(err error) bool {
	return hangar.IsKind(err, hangar.KindInvalidRequest) || hangar.IsKind(err, hangar.KindNotFound) ||
		hangar.IsKind(err, hangar.KindConflict)
}

// runErrorType maps why a session could not be created to CMA's run error types, from the
// field the validation error names.
func runErrorType(err error) string {
	msg := clientMessage(err)
	archived := strings.Contains(msg, "archived")
	missing := hangar.IsKind(err, hangar.KindNotFound) || strings.Contains(msg, "not found")
	field, _, _ := strings.Cut(msg, ":")
	switch {
	case strings.HasPrefix(field, "environment") || strings.HasPrefix(msg, "environment "):
		if archived {
			return "environment_archived_error"
		}
		return "environment_not_found_error"
	case strings.HasPrefix(field, "agent"):
		if archived {
			return "agent_archived_error"
		}
	case strings.HasPrefix(field, "vault_ids"):
		if archived {
			return "vault_archived_error"
		}
		return "vault_not_found_error"
	case strings.HasPrefix(field, "resources") || strings.HasPrefix(msg, "file "):
		switch {
		case strings.Contains(msg, "memory store") && archived:
			return "memory_store_archived_error"
		case strings.Contains(msg, "file") && missing:
			return "file_not_found_error"
		case missing:
			return "session_resource_not_found_error"
		}
	}
	if missing {
		return "session_resource_not_found_error"
	}
	return "session_creation_rejected_error"
}

// pausesDeployment reports whether a scheduled run failing with run error type t pauses its
// deployment: the thing it needs is gone and will not come back by itself.
func pausesDeployment(t string) bool {
	return strings.HasSuffix(t, "_archived_error") || strings.HasSuffix(t, "_not_found_error")
}

// clientMessage is the client-visible message of a classified error.
func clientMessage(err error) string {
	var e *hangar.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
