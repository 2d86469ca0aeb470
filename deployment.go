package hangar

import (
	"context"
	"encoding/json"
	"time"
)

// Deployments (docs/deployments.md): CMA's /v1/deployments. A deployment packages an agent,
// an environment, resources, vaults and initial events; each run creates a session from
// them, by hand (POST /v1/deployments/{id}/run) or on a cron schedule (internal/schedule).

// ID prefixes of deployments and their runs.
const (
	PrefixDeployment    = "depl_"
	PrefixDeploymentRun = "drun_"
)

// Deployment statuses. Archived deployments report active with ArchivedAt set, as CMA.
const (
	DeploymentActive = "active"
	DeploymentPaused = "paused"
)

// Run trigger types.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// Deployment is one deployment. Raw fields hold the validated request JSON as CMA echoes it.
type Deployment struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	Agent         AgentRef          `json:"agent"`
	EnvironmentID string            `json:"environment_id"`
	InitialEvents json.RawMessage   `json:"initial_events"`
	Resources     json.RawMessage   `json:"resources"`
	VaultIDs      []string          `json:"vault_ids"`
	Metadata      map[string]string `json:"metadata"`
	Budget        *Budget           `json:"budget,omitempty"`
	Schedule      *CronSpec         `json:"schedule"`
	Status        string            `json:"status"`
	// PausedReason is {"type":"manual"} or {"type":"error","error":{"type":...}}; nil
	// unless paused.
	PausedReason json.RawMessage `json:"paused_reason"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	ArchivedAt   *time.Time      `json:"archived_at"`
	// NextRunAt is the next scheduled fire time: nil when the deployment has no schedule,
	// is paused or archived. Stores keep it in a column of its own; schedulers claim a fire
	// by moving it forward conditionally (ClaimDeploymentFire).
	NextRunAt *time.Time `json:"-"`
}

// AgentRef names an agent version.
type AgentRef struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// CronSpec is a deployment's schedule. LastRunAt is the time of the latest scheduled run.
type CronSpec struct {
	Type       string     `json:"type"`
	Expression string     `json:"expression"`
	Timezone   string     `json:"timezone"`
	LastRunAt  *time.Time `json:"last_run_at"`
}

// Schedulable reports whether the deployment's schedule should fire.
func (d *Deployment) Schedulable() bool {
	return d.Schedule != nil && d.Status == DeploymentActive && d.ArchivedAt == nil
}

// DeploymentRun is one run of a deployment: the session it created, or the error that
// prevented it.
type DeploymentRun struct {
	ID           string         `json:"id"`
	DeploymentID string         `json:"deployment_id"`
	Agent        AgentRef       `json:"agent"`
	SessionID    *string        `json:"session_id"`
	Error        *RunError      `json:"error"`
	Trigger      TriggerContext `json:"trigger_context"`
	CreatedAt    time.Time      `json:"created_at"`
}

// RunError says why a run created no session (types as CMA: environment_archived_error...).
type RunError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// TriggerContext says what started a run; ScheduledAt is set for schedule triggers.
type TriggerContext struct {
	Type        string     `json:"type"`
	ScheduledAt *time.Time `json:"scheduled_at,omitempty"`
}

// DeploymentFilter selects deployments for ListDeployments.
type DeploymentFilter struct {
	AgentID         string
	Status          string // "" = any
	IncludeArchived bool
	CreatedAt       TimeRange
	Page            Page
}

// DeploymentRunFilter selects runs for ListDeploymentRuns.
type DeploymentRunFilter struct {
	DeploymentID string
	TriggerType  string
	HasError     *bool
	CreatedAt    TimeRange
	Page         Page
}

// DeploymentStore persists deployments and their runs; Store includes it. storetest's
// "Deployments" cases pin it.
type DeploymentStore interface {
	// CreateDeployment stores a deployment. Conflict when the ID is taken.
	CreateDeployment(ctx context.Context, d *Deployment) error
	GetDeployment(ctx context.Context, id string) (*Deployment, error)
	// ListDeployments lists deployments (newest first unless the page says otherwise).
	ListDeployments(ctx context.Context, f DeploymentFilter) ([]*Deployment, PageResult, error)
	// UpdateDeployment calls fn with the deployment in a transaction and saves it,
	// NextRunAt included. Errors from fn are returned as they are.
	UpdateDeployment(ctx context.Context, id string, fn func(d *Deployment) error) (*Deployment, error)
	// DueDeployments lists up to limit active, unarchived deployments with NextRunAt <= now,
	// earliest first.
	DueDeployments(ctx context.Context, now time.Time, limit int) ([]*Deployment, error)
	// ClaimDeploymentFire moves NextRunAt from `from` to `to` (nil: none) in one
	// conditional write (... WHERE id = ? AND next_run_at = from) and sets the schedule's
	// LastRunAt to lastRun; it reports whether it did. Of several schedulers claiming the
	// same fire, exactly one succeeds.
	ClaimDeploymentFire(ctx context.Context, id string, from time.Time, to *time.Time, lastRun time.Time) (bool, error)
	CreateDeploymentRun(ctx context.Context, r *DeploymentRun) error
	GetDeploymentRun(ctx context.Context, id string) (*DeploymentRun, error)
	// ListDeploymentRuns lists runs (newest first unless the page says otherwise).
	ListDeploymentRuns(ctx context.Context, f DeploymentRunFilter) ([]*DeploymentRun, PageResult, error)
}
