package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hangar-dev/hangar"
)

// Session runtime state lives in columns of the sessions row that getSession and
// saveSession never read or write, so it stays out of the API's JSON. Leases live in
// session_leases, one row per leased session.

// GetSessionRuntime returns the runtime state of a session (zero until set).
func (db *DB) GetSessionRuntime(ctx context.Context, sessionID string) (hangar.SessionRuntime, error) {
	var rt hangar.SessionRuntime
	err := db.reader().queryRow(ctx, `SELECT sandbox_provider, sandbox_handle, resume_token FROM sessions WHERE id = ?`, sessionID).
		Scan(&rt.Provider, &rt.Sandbox, &rt.Resume)
	if err != nil {
		return hangar.SessionRuntime{}, wrap(notFound(err, "session", sessionID), "get runtime of session %s", sessionID)
	}
	return rt, nil
}

// SetSessionRuntime replaces the runtime state of a session.
func (db *DB) SetSessionRuntime(ctx context.Context, sessionID string, rt hangar.SessionRuntime) error {
	err := db.inTx(ctx, func(tx conn) error {
		var handle any
		if rt.Sandbox != nil {
			handle = rt.Sandbox
		}
		res, err := tx.exec(ctx, `UPDATE sessions SET sandbox_provider = ?, sandbox_handle = ?, resume_token = ? WHERE id = ?`,
			rt.Provider, handle, rt.Resume, sessionID)
		if err != nil {
			return err
		}
		return mustAffect(res, "session", sessionID)
	})
	return wrap(err, "set runtime of session %s", sessionID)
}

// AcquireLease takes, renews or takes over the session's lease in one conditional upsert.
// On SQLite the write transaction is serialized, which also orders it with every append.
func (db *DB) AcquireLease(ctx context.Context, sessionID, owner string, now, until time.Time) (bool, error) {
	var ok bool
	err := db.inTx(ctx, func(tx conn) error {
		if err := sessionExists(ctx, tx, sessionID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `INSERT INTO session_leases (session_id, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE session_leases.owner = excluded.owner OR session_leases.expires_at <= ?`,
			sessionID, owner, nanos(until), nanos(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n > 0
		return err
	})
	if err != nil {
		return false, wrap(err, "acquire lease of session %s", sessionID)
	}
	return ok, nil
}

// RenewLeases extends every lease owner holds.
func (db *DB) RenewLeases(ctx context.Context, owner string, until time.Time) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, func(tx conn) error {
		rows, err := tx.query(ctx, `UPDATE session_leases SET expires_at = ? WHERE owner = ? RETURNING session_id`, nanos(until), owner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "renew leases of %s", owner)
	}
	return ids, nil
}

// ReleaseLease deletes the session's lease if owner holds it.
func (db *DB) ReleaseLease(ctx context.Context, sessionID, owner string) error {
	err := db.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `DELETE FROM session_leases WHERE session_id = ? AND owner = ?`, sessionID, owner)
		return err
	})
	return wrap(err, "release lease of session %s", sessionID)
}

// ListOrphanedSessions lists sessions with work and no live lease.
func (db *DB) ListOrphanedSessions(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := db.reader().query(ctx, `SELECT s.id FROM sessions s
		LEFT JOIN session_leases l ON l.session_id = s.id
		WHERE (l.session_id IS NULL OR l.expires_at <= ?)
		AND (s.status IN (?, ?) OR EXISTS (
			SELECT 1 FROM events e WHERE e.session_id = s.id AND e.type = ? AND e.processed_at IS NULL))
		ORDER BY s.pos LIMIT ?`,
		nanos(now), hangar.StatusRunning, hangar.StatusRescheduling, hangar.EventUserMessage, limit)
	if err != nil {
		return nil, wrap(err, "list orphaned sessions")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(err, "list orphaned sessions")
		}
		ids = append(ids, id)
	}
	return ids, wrap(rows.Err(), "list orphaned sessions")
}

// checkLease returns a conflict_error unless owner holds the session's lease.
func checkLease(ctx context.Context, tx conn, sessionID, owner string) error {
	var got string
	err := tx.queryRow(ctx, `SELECT owner FROM session_leases WHERE session_id = ?`, sessionID).Scan(&got)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if got != owner {
		return hangar.Errorf(hangar.KindConflict, "session %s is not leased by %s", sessionID, owner)
	}
	return nil
}

func sessionExists(ctx context.Context, tx conn, id string) error {
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return hangar.NotFound("session", id)
	}
	return nil
}
