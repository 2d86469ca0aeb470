package hangar

import (
	"context"
	"strings"
	"time"
)

// PrefixThread prefixes session thread IDs.
const PrefixThread = "sthr_"

// Session thread event types (multiagent sessions, docs/threads.md).
const (
	EventThreadCreated           = "session.thread_created"
	EventThreadStatusRunning     = "session.thread_status_running"
	EventThreadStatusIdle        = "session.thread_status_idle"
	EventThreadStatusRescheduled = "session.thread_status_rescheduled"
	EventThreadStatusTerminated  = "session.thread_status_terminated"
	EventThreadMessageSent       = "agent.thread_message_sent"
	EventThreadMessageReceived   = "agent.thread_message_received"
)

// MaxThreads is how many child threads of a session may run at once (CMA: 25).
const MaxThreads = 25

// Thread is one session thread of a multiagent session: the primary thread (the
// coordinator; ParentThreadID nil) or a child thread a delegation spawned. Each has its own
// agent snapshot, conversation and status; they share the session's sandbox.
type Thread struct {
	ID        string `json:"id"`
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
	// Agent is the snapshot of the agent the thread runs (without a roster).
	Agent          Agent   `json:"agent"`
	ParentThreadID *string `json:"parent_thread_id"`
	// Usage is nil until the thread's first model request.
	Usage      *Usage      `json:"usage"`
	Stats      ThreadStats `json:"stats"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	ArchivedAt *time.Time  `json:"archived_at"`

	// The fields below are the runner's, never shown by the API.

	// Roster is the index of the coordinator's roster entry the thread serves (-1 for the
	// primary thread): a later delegation to the same entry continues this thread.
	Roster int `json:"roster"`
	// Resume is the engine's resume token of the thread's last run (see SessionRuntime).
	Resume string `json:"resume,omitempty"`
	// Turns counts the thread's completed runs (engine.Spec.Turn).
	Turns int `json:"turns,omitempty"`
}

// ThreadStats are wall-clock statistics of a thread.
type ThreadStats struct {
	DurationSeconds float64 `json:"duration_seconds"`
	StartupSeconds  float64 `json:"startup_seconds"`
	ActiveSeconds   float64 `json:"active_seconds"`
}

// ThreadFilter selects threads for ListThreads.
type ThreadFilter struct {
	Statuses []string
	Page     Page
}

// ThreadStore persists session threads (implemented by the stores; storetest "Threads").
// Threads are deleted with their session.
type ThreadStore interface {
	// CreateThread stores a thread; not_found_error when its session does not exist,
	// conflict_error when the ID is taken.
	CreateThread(ctx context.Context, t *Thread) error
	// GetThread returns thread id of session sessionID.
	GetThread(ctx context.Context, sessionID, id string) (*Thread, error)
	// ListThreads lists a session's threads in creation order (the primary thread first).
	ListThreads(ctx context.Context, sessionID string, f ThreadFilter) ([]*Thread, PageResult, error)
	// UpdateThread calls fn with the thread in a transaction and saves it.
	UpdateThread(ctx context.Context, sessionID, id string, fn func(t *Thread) error) (*Thread, error)
}

// PrimaryThreadID is the ID of a session's primary thread: derived from the session ID, so
// that whoever creates it first (the API listing threads, the runner starting a turn)
// creates the same one.
func PrimaryThreadID(sessionID string) string {
	return PrefixThread + strings.TrimPrefix(sessionID, PrefixSession)
}

// NewPrimaryThread returns the primary thread of a multiagent session: the coordinator,
// its snapshot without the roster.
func NewPrimaryThread(sess *Session) *Thread {
	a := sess.Agent
	a.Multiagent = nil
	return &Thread{
		ID: PrimaryThreadID(sess.ID), SessionID: sess.ID, Status: StatusIdle, Agent: a, Roster: -1,
		CreatedAt: sess.CreatedAt, UpdatedAt: sess.CreatedAt,
	}
}
