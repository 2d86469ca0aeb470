package hangar

import (
	"context"
	"time"
)

// PrefixDream prefixes dream IDs.
const PrefixDream = "drm_"

// Dream statuses (docs/dreams.md). Completed, failed and canceled are final.
const (
	DreamPending   = "pending"
	DreamRunning   = "running"
	DreamCompleted = "completed"
	DreamFailed    = "failed"
	DreamCanceled  = "canceled"
)

// Dream output behaviors.
const (
	DreamCreateNew      = "create_new"
	DreamUpdateExisting = "update_existing"
)

// Dream is an asynchronous job that reads a memory store and the transcripts of sessions,
// asks a model for a reorganized set of memories, and writes it to a memory store
// (internal/dream). Its JSON is the stored form; httpapi shapes the wire form.
type Dream struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	EndedAt      *time.Time `json:"ended_at"`
	ArchivedAt   *time.Time `json:"archived_at"`
	MemoryStore  string     `json:"memory_store_id"` // the input store
	SessionIDs   []string   `json:"session_ids"`     // sorted
	Instructions string     `json:"instructions"`
	Model        string     `json:"model"`
	// Output is DreamCreateNew or DreamUpdateExisting; OutputStore is the store written
	// ("" until a create_new dream has made its store).
	Output      string      `json:"output"`
	OutputStore string      `json:"output_store_id"`
	Error       *DreamError `json:"error"`
	Usage       DreamUsage  `json:"usage"`
}

// DreamError says why a dream failed.
type DreamError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// DreamUsage counts the tokens of a dream's model requests.
type DreamUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// Final reports whether the dream's status can no longer change.
func (d *Dream) Final() bool {
	return d.Status == DreamCompleted || d.Status == DreamFailed || d.Status == DreamCanceled
}

// DreamFilter selects dreams for ListDreams.
type DreamFilter struct {
	IncludeArchived bool
	Statuses        []string
	Created         TimeRange
	Page            Page
}

// DreamStore persists dreams and the claims of the instances that run them; Store
// includes it. storetest's "Dreams" case pins it.
type DreamStore interface {
	// CreateDream stores a new dream (unclaimed). Conflict when the ID is taken.
	CreateDream(ctx context.Context, d *Dream) error
	GetDream(ctx context.Context, id string) (*Dream, error)
	// ListDreams lists dreams (Page.Desc: newest first).
	ListDreams(ctx context.Context, f DreamFilter) ([]*Dream, PageResult, error)
	// UpdateDream calls fn with the dream in a transaction and saves it. Errors from fn are
	// returned as they are.
	UpdateDream(ctx context.Context, id string, fn func(d *Dream) error) (*Dream, error)
	// ClaimDream makes owner the runner of a pending or running dream until `until`, in
	// one conditional write, and reports whether it did: it succeeds when the dream has
	// no runner, its claim expired (<= now), or owner already holds it (a renewal). Of
	// several instances claiming one dream, exactly one succeeds. A final dream is never
	// claimed.
	ClaimDream(ctx context.Context, id, owner string, now, until time.Time) (bool, error)
	// ReleaseDream drops owner's claim on a dream (a graceful shutdown: another instance, or
	// this one restarted, may run it at once). It does nothing unless owner holds the claim.
	ReleaseDream(ctx context.Context, id, owner string) error
	// RunnableDreams lists up to limit IDs of pending or running dreams whose claim is
	// missing or expired at now, oldest first.
	RunnableDreams(ctx context.Context, now time.Time, limit int) ([]string, error)
}
