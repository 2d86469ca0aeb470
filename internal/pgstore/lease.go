package pgstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// Session runtime state lives in columns of the sessions row that getSession and
// UpdateSession never read or write, so it stays out of the API's JSON. Leases live in
// session_leases, one row per leased session.

// GetSessionRuntime returns the runtime state of a session (zero until set).
func (db *DB) GetSessionRuntime(ctx context.Context, sessionID string) (hangar.SessionRuntime, error) {
	var rt hangar.SessionRuntime
	err := db.pool.QueryRow(ctx, `SELECT sandbox_provider, sandbox_handle, resume_token FROM sessions WHERE id = $1`, sessionID).
		Scan(&rt.Provider, &rt.Sandbox, &rt.Resume)
	if err != nil {
		return hangar.SessionRuntime{}, wrap(notFound(err, "session", sessionID), "get runtime of session %s", sessionID)
	}
	return rt, nil
}

// SetSessionRuntime replaces the runtime state of a session.
func (db *DB) SetSessionRuntime(ctx context.Context, sessionID string, rt hangar.SessionRuntime) error {
	tag, err := db.pool.Exec(ctx, `UPDATE sessions SET sandbox_provider = $1, sandbox_handle = $2, resume_token = $3 WHERE id = $4`,
		rt.Provider, rt.Sandbox, rt.Resume, sessionID)
	if err == nil {
		err = mustAffect(tag, "session", sessionID)
	}
	return wrap(err, "set runtime of session %s", sessionID)
}

// AcquireLease takes, renews or takes over the session's lease in one conditional upsert.
// It first locks the session's row, as AppendEvents does, so a takeover and an append
// fenced by the previous owner's lease are ordered: the append commits before the takeover
// or sees the new owner and fails.
func (db *DB) AcquireLease(ctx context.Context, sessionID, owner string, now, until time.Time) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var locked int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, sessionID).Scan(&locked); err != nil {
			return notFound(err, "session", sessionID)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO session_leases (session_id, owner, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE session_leases.owner = excluded.owner OR session_leases.expires_at <= $4`,
			sessionID, owner, nanos(until), nanos(now))
		ok = tag.RowsAffected() > 0
		return err
	})
	if err != nil {
		return false, wrap(err, "acquire lease of session %s", sessionID)
	}
	return ok, nil
}

// RenewLeases extends every lease owner holds, in one statement.
func (db *DB) RenewLeases(ctx context.Context, owner string, until time.Time) ([]string, error) {
	rows, err := db.pool.Query(ctx, `UPDATE session_leases SET expires_at = $1 WHERE owner = $2 RETURNING session_id`, nanos(until), owner)
	if err != nil {
		return nil, wrap(err, "renew leases of %s", owner)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "renew leases of %s", owner)
}

// ReleaseLease deletes the session's lease if owner holds it.
func (db *DB) ReleaseLease(ctx context.Context, sessionID, owner string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM session_leases WHERE session_id = $1 AND owner = $2`, sessionID, owner)
	return wrap(err, "release lease of session %s", sessionID)
}

// ListOrphanedSessions lists sessions with work and no live lease, oldest first.
func (db *DB) ListOrphanedSessions(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := db.pool.Query(ctx, orphansQuery, nanos(now), limit)
	if err != nil {
		return nil, wrap(err, "list orphaned sessions")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "list orphaned sessions")
}

// orphansQuery is driven from two small sets, each read from a partial index
// (sessions_busy, events_unprocessed), not from every session ever created. The statuses
// are literals so that a generic plan of the prepared statement can still use
// sessions_busy, whose predicate names them.
const orphansQuery = `SELECT s.id FROM sessions s
	LEFT JOIN session_leases l ON l.session_id = s.id
	WHERE (l.session_id IS NULL OR l.expires_at <= $1)
	AND s.id IN (
		SELECT id FROM sessions WHERE status IN ('` + hangar.StatusRunning + `', '` + hangar.StatusRescheduling + `')
		UNION
		SELECT session_id FROM events WHERE type = '` + hangar.EventUserMessage + `' AND processed_at IS NULL)
	ORDER BY s.pos LIMIT $2`
