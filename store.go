package hangar

import (
	"context"
	"io"
	"time"
)

// Store persists every resource. Implementations: internal/sqlstore (SQLite, later
// PostgreSQL); internal/storetest is the conformance suite every implementation passes.
//
// Unless stated otherwise, Get/Update/Delete methods return a not_found_error when the
// resource does not exist, and Create methods a conflict_error when a unique key is taken.
// List methods return at most Page.Limit items (default 20 when 0) and the cursors around them.
type Store interface {
	// CreateAgent stores version 1 of a new agent. Conflict when a non-archived agent has
	// the same name.
	CreateAgent(ctx context.Context, a *Agent) error
	// GetAgent returns version (0 = latest) of agent id.
	GetAgent(ctx context.Context, id string, version int) (*Agent, error)
	// ListAgents lists the latest version of each agent.
	ListAgents(ctx context.Context, f AgentFilter) ([]*Agent, PageResult, error)
	// UpdateAgent loads the latest version and calls fn with a copy. If fn returns a
	// config that differs (Agent.SameConfig), it is stored as version latest+1 with
	// UpdatedAt = now; otherwise the latest version is returned unchanged. Errors from fn
	// are returned as they are. Conflict when the new name is taken.
	UpdateAgent(ctx context.Context, id string, now time.Time, fn func(a *Agent) error) (*Agent, error)
	// ArchiveAgent sets archived_at on the agent (all versions). Archiving twice is a no-op.
	ArchiveAgent(ctx context.Context, id string, now time.Time) (*Agent, error)
	// ListAgentVersions lists the versions of an agent, oldest first.
	ListAgentVersions(ctx context.Context, id string, p Page) ([]*Agent, PageResult, error)

	CreateEnvironment(ctx context.Context, e *Environment) error
	GetEnvironment(ctx context.Context, id string) (*Environment, error)
	ListEnvironments(ctx context.Context, f EnvironmentFilter) ([]*Environment, PageResult, error)
	// UpdateEnvironment calls fn with the current environment in a transaction and saves it.
	UpdateEnvironment(ctx context.Context, id string, fn func(e *Environment) error) (*Environment, error)
	// ArchiveEnvironment archives an environment: conflict while a non-archived session that
	// is not terminated uses it.
	ArchiveEnvironment(ctx context.Context, id string, now time.Time) (*Environment, error)
	// DeleteEnvironment deletes an environment: conflict while any session references it.
	DeleteEnvironment(ctx context.Context, id string) error

	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	ListSessions(ctx context.Context, f SessionFilter) ([]*Session, PageResult, error)
	// UpdateSession calls fn with the current session in a transaction and saves it.
	UpdateSession(ctx context.Context, id string, fn func(s *Session) error) (*Session, error)
	// DeleteSession deletes a session and its events.
	DeleteSession(ctx context.Context, id string) error

	// AppendEvents appends events to a session's log in one transaction: it loads the
	// session, calls req.Mutate (if set; its error aborts everything), assigns Seq numbers,
	// inserts the events and saves the session. With a non-empty IdempotencyKey seen before
	// on this session, it stores nothing and returns the events stored the first time.
	AppendEvents(ctx context.Context, req AppendRequest) ([]Event, *Session, error)
	// ListEvents lists a session's events in Seq order (Page.Desc reverses).
	ListEvents(ctx context.Context, sessionID string, f EventFilter) ([]Event, PageResult, error)
	// MarkProcessed sets processed_at on the given events of a session where it is null.
	MarkProcessed(ctx context.Context, sessionID string, eventIDs []string, at time.Time) error

	// Session runtime state and leases (internal/runner; see SessionRuntime and
	// AcquireLease). storetest's "Runtime", "Leases" and "LeaseFence" cases pin them.

	// GetSessionRuntime returns the runtime state of a session: the zero SessionRuntime
	// until SetSessionRuntime is called. not_found_error when the session does not exist.
	GetSessionRuntime(ctx context.Context, sessionID string) (SessionRuntime, error)
	// SetSessionRuntime replaces the runtime state of a session. It does not touch the
	// Session (status, updated_at...). not_found_error when the session does not exist.
	SetSessionRuntime(ctx context.Context, sessionID string, rt SessionRuntime) error
	// AcquireLease makes owner the holder of the session's lease until `until`, in one
	// atomic conditional write, and reports whether it did. It succeeds when the session
	// has no lease, when its lease expired (ExpiresAt <= now), or when owner already holds
	// it (a renewal, expired or not); it returns false, nil when another owner holds an
	// unexpired lease. Two concurrent calls for one free session never both succeed (on
	// PostgreSQL: INSERT ... ON CONFLICT (session_id) DO UPDATE ... WHERE owner = $owner OR
	// expires_at <= $now, then check the affected row). Acquiring must also serialize with
	// AppendEvents of the same session (PostgreSQL: lock the sessions row FOR UPDATE in the
	// same transaction), so that an append fenced by the previous owner's lease
	// (AppendRequest.LeaseOwner) either commits before the takeover or fails after it.
	// not_found_error when the session does not exist.
	AcquireLease(ctx context.Context, sessionID, owner string, now, until time.Time) (bool, error)
	// RenewLeases extends to `until` every lease owner holds (expired or not: a lease
	// stays its owner's until another owner acquires it) and returns the IDs of those
	// sessions, in any order. It is the heartbeat: one statement for all of an instance's
	// sessions.
	RenewLeases(ctx context.Context, owner string, until time.Time) ([]string, error)
	// ReleaseLease deletes the session's lease if owner holds it; otherwise (or when the
	// session or lease does not exist) it does nothing and returns nil.
	ReleaseLease(ctx context.Context, sessionID, owner string) error
	// ListOrphanedSessions returns up to limit IDs of sessions that need a runner and have
	// none, oldest first: their lease is missing or expired (ExpiresAt <= now), and their
	// status is running or rescheduling, or they have a user.message event whose
	// processed_at is null. Archived sessions are included. Deleted sessions have no lease
	// (DeleteSession removes it).
	ListOrphanedSessions(ctx context.Context, now time.Time, limit int) ([]string, error)

	CreateVault(ctx context.Context, v *Vault) error
	GetVault(ctx context.Context, id string) (*Vault, error)
	ListVaults(ctx context.Context, f VaultFilter) ([]*Vault, PageResult, error)
	UpdateVault(ctx context.Context, id string, fn func(v *Vault) error) (*Vault, error)
	// DeleteVault deletes a vault and its credentials.
	DeleteVault(ctx context.Context, id string) error

	// CreateCredential stores a credential. Conflict when an active credential of the vault
	// has the same Key, or the vault already holds MaxCredentialsPerVault active ones.
	CreateCredential(ctx context.Context, c *Credential) error
	GetCredential(ctx context.Context, vaultID, id string) (*Credential, error)
	ListCredentials(ctx context.Context, vaultID string, f VaultFilter) ([]*Credential, PageResult, error)
	UpdateCredential(ctx context.Context, vaultID, id string, fn func(c *Credential) error) (*Credential, error)
	DeleteCredential(ctx context.Context, vaultID, id string) error

	CreateFile(ctx context.Context, f *File) error
	GetFile(ctx context.Context, id string) (*File, error)
	ListFiles(ctx context.Context, f FileFilter) ([]*File, PageResult, error)
	DeleteFile(ctx context.Context, id string) error

	SkillStore
	MemoryStoreStore
	WebhookStore
	WebhookEventStore
	DeploymentStore
	DreamStore
	UserProfileStore
	TunnelStore
	ThreadStore
	WorkStore

	Close() error
}

// MaxCredentialsPerVault is the CMA limit of active credentials in one vault.
const MaxCredentialsPerVault = 20

// AppendRequest is the argument of Store.AppendEvents. Events carry their IDs and types;
// the store assigns SessionID and Seq.
type AppendRequest struct {
	SessionID      string
	Events         []Event
	IdempotencyKey string
	Mutate         func(s *Session) error
	// LeaseOwner, when set, fences the append: in the same transaction the store checks
	// that LeaseOwner holds the session's lease (the lease row names it; expiry is not
	// checked, since a lease stays its owner's until another owner acquires it) and
	// otherwise stores nothing and returns a conflict_error. The runner sets it on the
	// events of a turn, so that an instance that lost a session to a takeover cannot
	// write into its log any more.
	LeaseOwner string
}

// SessionRuntime is the server-side state of a session that the API never shows: what a
// runner on any instance needs to continue the session after a crash or a takeover.
// Stores keep it in columns of their own, outside the session's JSON.
type SessionRuntime struct {
	// Provider names the sandbox provider that made Sandbox ("" when none).
	Provider string
	// Sandbox is that provider's opaque handle (provider.Handle) of the session's sandbox.
	Sandbox []byte
	// Resume is the engine's token for continuing the agent CLI's conversation in the
	// session's next turn (engine.EventResume); "" starts a fresh conversation.
	Resume string
}

// BlobStore keeps file contents. Implementation: internal/blob (a directory).
type BlobStore interface {
	// Put stores the content of r under id and returns its size and hex SHA-256.
	Put(ctx context.Context, id string, r io.Reader) (size int64, sha256hex string, err error)
	// Open returns the content stored under id; not_found_error when missing.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	Delete(ctx context.Context, id string) error
}
