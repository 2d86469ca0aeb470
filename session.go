package hangar

import (
	"encoding/json"
	"time"
)

// Session statuses.
const (
	StatusIdle         = "idle"
	StatusRunning      = "running"
	StatusRescheduling = "rescheduling"
	StatusTerminated   = "terminated"
)

// Session is one conversation with an agent in an environment. Agent is the snapshot of
// the agent version pinned at creation.
type Session struct {
	Type               string            `json:"type"`
	ID                 string            `json:"id"`
	Status             string            `json:"status"`
	Agent              Agent             `json:"agent"`
	EnvironmentID      string            `json:"environment_id"`
	Title              *string           `json:"title"`
	Metadata           map[string]string `json:"metadata"`
	Resources          json.RawMessage   `json:"resources"`
	VaultIDs           []string          `json:"vault_ids"`
	OutcomeEvaluations json.RawMessage   `json:"outcome_evaluations"`
	Usage              Usage             `json:"usage"`
	Stats              Stats             `json:"stats"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
	ArchivedAt         *time.Time        `json:"archived_at"`
	// Budget is the session's spend ceiling; nil when none (see budget.go).
	Budget *Budget `json:"budget,omitempty"`
	// DeploymentID names the deployment that started the session ("" when none).
	DeploymentID string `json:"deployment_id,omitempty"`
	// CostCents is the session's cumulative list cost in US cents, each model request
	// priced with the model that made it (see ListCost). Internal: the wire shows
	// usage.list_cost.
	CostCents float64 `json:"cost_cents,omitempty"`
}

// Usage is the cumulative token usage of a session.
type Usage struct {
	InputTokens          int64         `json:"input_tokens"`
	OutputTokens         int64         `json:"output_tokens"`
	CacheReadInputTokens int64         `json:"cache_read_input_tokens"`
	CacheCreation        CacheCreation `json:"cache_creation"`
}

// CacheCreation splits cache-write tokens by TTL.
type CacheCreation struct {
	Ephemeral1hInputTokens int64 `json:"ephemeral_1h_input_tokens"`
	Ephemeral5mInputTokens int64 `json:"ephemeral_5m_input_tokens"`
}

// Add accumulates u2 into u.
func (u *Usage) Add(u2 Usage) {
	u.InputTokens += u2.InputTokens
	u.OutputTokens += u2.OutputTokens
	u.CacheReadInputTokens += u2.CacheReadInputTokens
	u.CacheCreation.Ephemeral1hInputTokens += u2.CacheCreation.Ephemeral1hInputTokens
	u.CacheCreation.Ephemeral5mInputTokens += u2.CacheCreation.Ephemeral5mInputTokens
}

// Stats are wall-clock statistics of a session.
type Stats struct {
	DurationSeconds float64 `json:"duration_seconds"`
	ActiveSeconds   float64 `json:"active_seconds"`
}

// SessionFilter selects sessions for ListSessions.
type SessionFilter struct {
	IncludeArchived bool
	AgentID         string
	AgentVersion    int
	DeploymentID    string
	Statuses        []string
	CreatedAt       TimeRange
	Page            Page
}

// TimeRange bounds a timestamp; nil ends are open.
type TimeRange struct {
	GT, GTE, LT, LTE *time.Time
}
