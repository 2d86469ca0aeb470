package hangar

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// The self-hosted work queue (docs/self-hosted.md; CMA §6.3). A session on a self_hosted
// environment is served by a worker the customer runs: it long-polls the environment's
// queue for a work item, acknowledges it, keeps its lease alive with heartbeats and runs the
// session's tools until it stops the item. The agent loop itself stays on the server.

// PrefixWork is the ID prefix of work items.
const PrefixWork = "work_"

// Work item states, in lifecycle order.
const (
	WorkQueued   = "queued"   // waiting for a worker; polled-but-unacked items stay queued
	WorkStarting = "starting" // acknowledged, no heartbeat yet
	WorkActive   = "active"   // heartbeating
	WorkStopping = "stopping" // stop requested; the worker sees it on its next heartbeat
	WorkStopped  = "stopped"  // done; its sessions token is revoked
)

// Work data types.
const (
	WorkDataSession     = "session"
	WorkDataHealthcheck = "healthcheck"
)

// NoHeartbeat is the expected_last_heartbeat a worker sends to start a lease.
const NoHeartbeat = "NO_HEARTBEAT"

// Heartbeat lease bounds: desired_ttl_seconds is clamped into [MinWorkTTL, MaxWorkTTL] and
// defaults to DefaultWorkTTL.
const (
	MinWorkTTL     = 5 * time.Second
	DefaultWorkTTL = 60 * time.Second
	MaxWorkTTL     = 600 * time.Second
)

// WorkData names what a work item is about.
type WorkData struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Work is one work item. The exported time fields are the wire's; the others are the
// server's claim and lease bookkeeping, which the API never shows.
type Work struct {
	ID                string            `json:"id"`
	EnvironmentID     string            `json:"environment_id"`
	Data              WorkData          `json:"data"`
	State             string            `json:"state"`
	Metadata          map[string]string `json:"metadata"`
	CreatedAt         time.Time         `json:"created_at"`
	AcknowledgedAt    *time.Time        `json:"acknowledged_at"`
	StartedAt         *time.Time        `json:"started_at"`
	LatestHeartbeatAt *time.Time        `json:"latest_heartbeat_at"`
	StopRequestedAt   *time.Time        `json:"stop_requested_at"`
	StoppedAt         *time.Time        `json:"stopped_at"`

	// ClaimedAt is when a poll last handed the item out (nil: never); WorkerID names that
	// poller. An unacknowledged claim older than the poll's reclaim_older_than_ms may be
	// handed to another poller.
	ClaimedAt *time.Time `json:"claimed_at,omitempty"`
	WorkerID  string     `json:"worker_id,omitempty"`
	// LeaseExpiresAt is when the heartbeat lease runs out (nil: no heartbeat yet). An
	// item whose lease expired is claimable again.
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	// LastHeartbeat is the token the last heartbeat returned ("" before the first), which
	// the next heartbeat must echo as expected_last_heartbeat.
	LastHeartbeat string `json:"last_heartbeat,omitempty"`
	// TTL is the lease TTL of the last heartbeat.
	TTL time.Duration `json:"ttl,omitempty"`
	// TokenHash is the hex SHA-256 of the current claim's sessions token ("" once stopped
	// or before the first claim). Each claim issues a new token.
	TokenHash string `json:"token_hash,omitempty"`
}

// Live reports whether the item is not stopped.
func (w *Work) Live() bool { return w.State != WorkStopped }

// WorkClaim asks ClaimWork for the next item of an environment.
type WorkClaim struct {
	EnvironmentID string
	WorkerID      string
	Now           time.Time
	// ReclaimBefore: a claimed but unacknowledged item (or an acknowledged one that never
	// heartbeat) whose claim is at or before this time may be claimed again.
	ReclaimBefore time.Time
	// TokenHash is the hash of the new claim's sessions token.
	TokenHash string
	// NewID is the ID the item takes when this claim retires an earlier one (see
	// ClaimWork); "" makes the store generate one.
	NewID string
}

// WorkFilter selects work items for ListWork.
type WorkFilter struct {
	EnvironmentID string
	Page          Page
}

// WorkStats are the counters of GET .../work/stats.
type WorkStats struct {
	Depth          int64      // queued, never claimed (or claim expired)
	Pending        int64      // queued and claimed, not acknowledged
	OldestQueuedAt *time.Time // oldest queued item, claimed or not
	WorkersPolling int64      // distinct workers that polled since the window start
}

// WorkStore persists work items and environment keys; Store includes it. storetest's
// "Work" cases pin it.
type WorkStore interface {
	// EnqueueWork stores w unless an item with the same Data that is not stopped exists;
	// then it stores nothing and returns that item and false.
	EnqueueWork(ctx context.Context, w *Work) (*Work, bool, error)
	// ClaimWork hands out the environment's oldest claimable item, in one atomic step: two
	// concurrent claims never return the same item (on PostgreSQL: FOR UPDATE SKIP
	// LOCKED). Claimable: queued (or starting without a lease) and never claimed or
	// claimed at or before ReclaimBefore; or starting/active with an expired lease. The
	// claim resets the item to queued with no acknowledgement, lease or heartbeat, and sets
	// ClaimedAt, WorkerID and TokenHash. nil, nil when nothing is claimable.
	//
	// A work ID stands for one claim: an item claimed before is retired (Work.Retire:
	// stopped) and its claim goes to a copy with ID NewID, in the same transaction. So
	// a late ack, heartbeat or stop of the earlier claimer names a stopped item and gets a
	// 409 without touching the new claim (the SDK's poller and worker take 409 as "gone").
	ClaimWork(ctx context.Context, c WorkClaim) (*Work, error)
	// GetWork returns item id of environment envID ("" = any environment).
	GetWork(ctx context.Context, envID, id string) (*Work, error)
	// ListWork lists an environment's items (newest first unless the page says otherwise).
	ListWork(ctx context.Context, f WorkFilter) ([]*Work, PageResult, error)
	// UpdateWork calls fn with the item in a transaction (row locked) and saves it. Errors
	// from fn are returned as they are.
	UpdateWork(ctx context.Context, envID, id string, fn func(w *Work) error) (*Work, error)
	// SessionWork returns the newest item whose data is session sessionID, or a
	// not_found_error.
	SessionWork(ctx context.Context, sessionID string) (*Work, error)
	// WorkForToken returns the live item whose current sessions token hashes to tokenHash,
	// or a not_found_error.
	WorkForToken(ctx context.Context, tokenHash string) (*Work, error)
	// RecordWorkerPoll notes that workerID polled envID at `at`.
	RecordWorkerPoll(ctx context.Context, envID, workerID string, at time.Time) error
	// WorkStats counts envID's queue; workers that polled at or after pollSince count as
	// polling.
	WorkStats(ctx context.Context, envID string, pollSince time.Time) (WorkStats, error)
	// SetEnvironmentKey makes keyHash the environment's only key (replacing any).
	SetEnvironmentKey(ctx context.Context, envID, keyHash string, at time.Time) error
	// EnvironmentForKey returns the environment whose key hashes to keyHash, or a
	// not_found_error.
	EnvironmentForKey(ctx context.Context, keyHash string) (string, error)
	// EndEnvironmentWork ends envID's queue as the environment is archived or deleted:
	// its key and poll records are deleted, and its items are deleted (purge) or, when
	// they stay visible, every live one is force-stopped at now (tokens revoked). It
	// returns how many items it stopped or deleted.
	EndEnvironmentWork(ctx context.Context, envID string, purge bool, now time.Time) (int64, error)
}

// Credential prefixes of the work queue: environment keys, and the per-claim sessions
// tokens carried in a work item's secret.
const (
	PrefixEnvironmentKey = "sk-hangar-env-"
	PrefixSessionsToken  = "sk-hangar-wst-"
)

// NewToken returns prefix followed by 43 URL-safe characters of crypto/rand (256 bits).
func NewToken(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("hangar: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken is how keys and tokens are stored: hex SHA-256. They are random 256-bit
// values, so a plain hash (no salt, no stretching) is enough and lookups stay one index
// probe.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Claim resets w to a fresh claim by c: queued, not acknowledged, no lease, a new token.
func (w *Work) Claim(c WorkClaim) {
	now := c.Now
	w.State = WorkQueued
	w.ClaimedAt = &now
	w.WorkerID = c.WorkerID
	w.TokenHash = c.TokenHash
	w.AcknowledgedAt, w.LeaseExpiresAt, w.LastHeartbeat, w.TTL = nil, nil, "", 0
}

// Retire ends an earlier claim that a new poll takes over (ClaimWork): the item stops
// as if force-stopped, and next, a copy of it under newID, carries the new claim. next
// keeps CreatedAt, Data and Metadata, so the queue's age and the item's labels survive.
func (w *Work) Retire(c WorkClaim, newID string) (next *Work) {
	cp := *w
	cp.Metadata = make(map[string]string, len(w.Metadata))
	for k, v := range w.Metadata {
		cp.Metadata[k] = v
	}
	cp.ID = newID
	cp.StartedAt, cp.LatestHeartbeatAt, cp.StopRequestedAt, cp.StoppedAt = nil, nil, nil, nil
	cp.Claim(c)
	now := c.Now
	if w.StopRequestedAt == nil {
		w.StopRequestedAt = &now
	}
	w.State, w.StoppedAt, w.TokenHash, w.LeaseExpiresAt = WorkStopped, &now, "", nil
	return &cp
}

// Ack moves a claimed, queued item to starting.
func (w *Work) Ack(now time.Time) error {
	if w.State != WorkQueued || w.ClaimedAt == nil {
		return Errorf(KindConflict, "work %s is %s and cannot be acknowledged", w.ID, w.stateForAck())
	}
	w.State = WorkStarting
	w.AcknowledgedAt = &now
	return nil
}

func (w *Work) stateForAck() string {
	if w.State == WorkQueued {
		return "queued but not claimed by a poll"
	}
	return w.State
}

// HeartbeatResult is what a heartbeat reports back.
type HeartbeatResult struct {
	LastHeartbeat string
	LeaseExtended bool
	State         string
	TTL           time.Duration
}

// PreconditionError is a heartbeat whose expected_last_heartbeat does not match: the item
// was reclaimed or another worker holds the lease. It carries the server's view.
type PreconditionError struct {
	Expected string
	Current  HeartbeatResult
}

func (e *PreconditionError) Error() string {
	actual := e.Current.LastHeartbeat
	if actual == "" {
		actual = "NULL"
	}
	return "Heartbeat precondition failed: expected " + e.Expected + ", actual was " + actual
}

// Heartbeat extends the lease of a starting or active item to now+ttl when expected
// matches the last heartbeat token (NoHeartbeat for none; "" skips the check), moving
// starting to active. A stopping or stopped item is not compared and not extended: its
// state tells the worker to stop. A mismatch returns a *PreconditionError.
func (w *Work) Heartbeat(expected string, ttl time.Duration, now time.Time) (HeartbeatResult, error) {
	res := HeartbeatResult{LastHeartbeat: w.LastHeartbeat, State: w.State, TTL: w.TTL}
	switch w.State {
	case WorkStopping, WorkStopped:
		return res, nil
	case WorkQueued:
		return res, Errorf(KindConflict, "work %s has not been acknowledged", w.ID)
	}
	last := w.LastHeartbeat
	if last == "" {
		last = NoHeartbeat
	}
	if expected != "" && expected != last {
		return res, &PreconditionError{Expected: expected, Current: res}
	}
	// The token is the heartbeat's time; it must change on every beat, so it moves at
	// least a microsecond past the previous one.
	at := now
	if w.LatestHeartbeatAt != nil && !at.After(*w.LatestHeartbeatAt) {
		at = w.LatestHeartbeatAt.Add(time.Microsecond)
	}
	exp := now.Add(ttl)
	w.LatestHeartbeatAt = &at
	w.LastHeartbeat = at.UTC().Format(time.RFC3339Nano)
	w.LeaseExpiresAt = &exp
	w.TTL = ttl
	if w.State == WorkStarting {
		w.State = WorkActive
		w.StartedAt = &at
	}
	return HeartbeatResult{LastHeartbeat: w.LastHeartbeat, LeaseExtended: true, State: w.State, TTL: ttl}, nil
}

// Stop requests a stop. An item no worker runs (queued) or a forced stop ends at once
// (stopped, token revoked); a running one goes to stopping until its worker stops it.
// Stopping a stopped item is a conflict.
func (w *Work) Stop(force bool, now time.Time) error {
	if w.State == WorkStopped {
		return Errorf(KindConflict, "work %s is already stopped", w.ID)
	}
	if w.StopRequestedAt == nil {
		w.StopRequestedAt = &now
	}
	if force || w.State == WorkQueued {
		w.State = WorkStopped
		w.StoppedAt = &now
		w.TokenHash = ""
		w.LeaseExpiresAt = nil
		return nil
	}
	w.State = WorkStopping
	return nil
}

// ClampWorkTTL returns the lease TTL for a desired number of seconds (0: the default).
func ClampWorkTTL(seconds int64) time.Duration {
	if seconds <= 0 {
		return DefaultWorkTTL
	}
	d := time.Duration(seconds) * time.Second
	return max(MinWorkTTL, min(MaxWorkTTL, d))
}
