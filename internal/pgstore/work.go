package pgstore

import (
	"cmp"
	"context"
	"errors"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// The self-hosted work queue (hangar.WorkStore), the twin of internal/sqlstore's. Claims
// lock the chosen row FOR UPDATE SKIP LOCKED, so concurrent polls on any instance take
// different items without waiting on each other; the partial unique index work_items_live
// keeps one live item per session even when two instances enqueue at once.

const workSelect = `SELECT pos, data FROM work_items`

func scanWork(row pgx.Row) (*hangar.Work, int64, error) {
	var (
		pos  int64
		data string
		w    hangar.Work
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	if err := decode(data, &w); err != nil {
		return nil, 0, err
	}
	return &w, pos, nil
}

func tokenCol(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// saveWork writes every column of an existing item.
func saveWork(ctx context.Context, tx pgx.Tx, w *hangar.Work) error {
	data, err := encode(w)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE work_items SET state = $1, claimed_at = $2, lease_expires_at = $3, token_hash = $4, data = $5 WHERE id = $6`,
		w.State, nanosPtr(w.ClaimedAt), nanosPtr(w.LeaseExpiresAt), tokenCol(w.TokenHash), data, w.ID)
	if err != nil {
		return err
	}
	return mustAffect(tag, "work", w.ID)
}

// EnqueueWork stores w unless the same data has a live item.
func (db *DB) EnqueueWork(ctx context.Context, w *hangar.Work) (*hangar.Work, bool, error) {
	data, err := encode(w)
	if err != nil {
		return nil, false, wrap(err, "enqueue work %s", w.ID)
	}
	var out *hangar.Work
	created := false
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO work_items (id, environment_id, data_type, data_id, state, created_at, claimed_at, lease_expires_at, token_hash, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (data_type, data_id) WHERE state <> 'stopped' DO NOTHING`,
			w.ID, w.EnvironmentID, w.Data.Type, w.Data.ID, w.State, nanos(w.CreatedAt), nanosPtr(w.ClaimedAt), nanosPtr(w.LeaseExpiresAt), tokenCol(w.TokenHash), data)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "work %s already exists", w.ID)
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			out, created = w, true
			return nil
		}
		out, _, err = scanWork(tx.QueryRow(ctx, workSelect+` WHERE data_type = $1 AND data_id = $2 AND state <> $3`, w.Data.Type, w.Data.ID, hangar.WorkStopped))
		return err
	})
	if err != nil {
		return nil, false, wrap(err, "enqueue work %s", w.ID)
	}
	return out, created, nil
}

// ClaimWork hands out the oldest claimable item of an environment.
func (db *DB) ClaimWork(ctx context.Context, c hangar.WorkClaim) (*hangar.Work, error) {
	var out *hangar.Work
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		w, _, err := scanWork(tx.QueryRow(ctx, workSelect+` WHERE environment_id = $1 AND (
			((state = $2 OR (state = $3 AND lease_expires_at IS NULL)) AND (claimed_at IS NULL OR claimed_at <= $4))
			OR (state IN ($3, $5) AND lease_expires_at <= $6)) ORDER BY pos LIMIT 1 FOR UPDATE SKIP LOCKED`,
			c.EnvironmentID, hangar.WorkQueued, hangar.WorkStarting, nanos(c.ReclaimBefore), hangar.WorkActive, nanos(c.Now)))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if w.ClaimedAt == nil {
			w.Claim(c)
			out = w
			return saveWork(ctx, tx, w)
		}
		// A reclaim: the earlier claim's item stops, a copy carries the new claim.
		next := w.Retire(c, cmp.Or(c.NewID, hangar.NewID(hangar.PrefixWork)))
		if err := saveWork(ctx, tx, w); err != nil {
			return err
		}
		data, err := encode(next)
		if err != nil {
			return err
		}
		out = next
		_, err = tx.Exec(ctx, `INSERT INTO work_items (id, environment_id, data_type, data_id, state, created_at, claimed_at, lease_expires_at, token_hash, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			next.ID, next.EnvironmentID, next.Data.Type, next.Data.ID, next.State, nanos(next.CreatedAt), nanosPtr(next.ClaimedAt), nanosPtr(next.LeaseExpiresAt), tokenCol(next.TokenHash), data)
		return err
	})
	if err != nil {
		return nil, wrap(err, "claim work in %s", c.EnvironmentID)
	}
	return out, nil
}

func getWork(ctx context.Context, c querier, envID, id string, lock bool) (*hangar.Work, error) {
	q, args := workSelect+` WHERE id = $1`, []any{id}
	if envID != "" {
		q, args = q+` AND environment_id = $2`, append(args, envID)
	}
	if lock {
		q += ` FOR UPDATE`
	}
	w, _, err := scanWork(c.QueryRow(ctx, q, args...))
	return w, notFound(err, "work", id)
}

// GetWork returns an item.
func (db *DB) GetWork(ctx context.Context, envID, id string) (*hangar.Work, error) {
	w, err := getWork(ctx, db.pool, envID, id, false)
	return w, wrap(err, "get work %s", id)
}

// ListWork lists an environment's items.
func (db *DB) ListWork(ctx context.Context, f hangar.WorkFilter) ([]*hangar.Work, hangar.PageResult, error) {
	q := listQuery{selectFrom: workSelect, posCol: "pos"}
	q.add("environment_id = ?", f.EnvironmentID)
	out, res, err := list(ctx, db.pool, q, f.Page, scanWork)
	return out, res, wrap(err, "list work of %s", f.EnvironmentID)
}

// UpdateWork calls fn with the locked item and saves it.
func (db *DB) UpdateWork(ctx context.Context, envID, id string, fn func(w *hangar.Work) error) (*hangar.Work, error) {
	var out *hangar.Work
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		w, err := getWork(ctx, tx, envID, id, true)
		if err != nil {
			return err
		}
		if fnErr = fn(w); fnErr != nil {
			return fnErr
		}
		w.ID = id
		if err := saveWork(ctx, tx, w); err != nil {
			return err
		}
		out = w
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update work %s", id)
}

// SessionWork returns the newest item of a session.
func (db *DB) SessionWork(ctx context.Context, sessionID string) (*hangar.Work, error) {
	w, _, err := scanWork(db.pool.QueryRow(ctx, workSelect+` WHERE data_id = $1 AND data_type = $2 ORDER BY pos DESC LIMIT 1`, sessionID, hangar.WorkDataSession))
	return w, wrap(notFound(err, "work of session", sessionID), "get work of session %s", sessionID)
}

// WorkForToken returns the live item holding a sessions token.
func (db *DB) WorkForToken(ctx context.Context, tokenHash string) (*hangar.Work, error) {
	if tokenHash == "" {
		return nil, hangar.NotFound("work", "for token")
	}
	w, _, err := scanWork(db.pool.QueryRow(ctx, workSelect+` WHERE token_hash = $1 AND state <> $2`, tokenHash, hangar.WorkStopped))
	return w, wrap(notFound(err, "work", "for token"), "get work for token")
}

// RecordWorkerPoll notes a poll.
func (db *DB) RecordWorkerPoll(ctx context.Context, envID, workerID string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO work_workers (environment_id, worker_id, last_poll_at) VALUES ($1, $2, $3)
		ON CONFLICT (environment_id, worker_id) DO UPDATE SET last_poll_at = GREATEST(work_workers.last_poll_at, excluded.last_poll_at)`, envID, workerID, nanos(at))
	return wrap(err, "record poll of %s", envID)
}

// WorkStats counts an environment's queue.
func (db *DB) WorkStats(ctx context.Context, envID string, pollSince time.Time) (hangar.WorkStats, error) {
	var (
		st     hangar.WorkStats
		oldest *int64
	)
	err := db.pool.QueryRow(ctx, `SELECT
			COUNT(*) FILTER (WHERE claimed_at IS NULL),
			COUNT(*) FILTER (WHERE claimed_at IS NOT NULL),
			MIN(created_at)
		FROM work_items WHERE environment_id = $1 AND state = $2`, envID, hangar.WorkQueued).Scan(&st.Depth, &st.Pending, &oldest)
	if err == nil {
		st.OldestQueuedAt = timePtr(oldest)
		err = db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM work_workers WHERE environment_id = $1 AND last_poll_at >= $2`, envID, nanos(pollSince)).Scan(&st.WorkersPolling)
	}
	return st, wrap(err, "work stats of %s", envID)
}

// SetEnvironmentKey replaces an environment's key.
func (db *DB) SetEnvironmentKey(ctx context.Context, envID, keyHash string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO environment_keys (environment_id, key_hash, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (environment_id) DO UPDATE SET key_hash = excluded.key_hash, created_at = excluded.created_at`, envID, keyHash, nanos(at))
	return wrap(err, "set key of %s", envID)
}

// EnvironmentForKey returns the environment of a key.
func (db *DB) EnvironmentForKey(ctx context.Context, keyHash string) (string, error) {
	var id string
	err := db.pool.QueryRow(ctx, `SELECT environment_id FROM environment_keys WHERE key_hash = $1`, keyHash).Scan(&id)
	return id, wrap(notFound(err, "environment", "for key"), "get environment for key")
}

// EndEnvironmentWork ends an archived or deleted environment's queue.
func (db *DB) EndEnvironmentWork(ctx context.Context, envID string, purge bool, now time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range []string{`DELETE FROM environment_keys WHERE environment_id = $1`, `DELETE FROM work_workers WHERE environment_id = $1`} {
			if _, err := tx.Exec(ctx, q, envID); err != nil {
				return err
			}
		}
		if purge {
			tag, err := tx.Exec(ctx, `DELETE FROM work_items WHERE environment_id = $1`, envID)
			n = tag.RowsAffected()
			return err
		}
		rows, err := tx.Query(ctx, workSelect+` WHERE environment_id = $1 AND state <> $2 FOR UPDATE`, envID, hangar.WorkStopped)
		if err != nil {
			return err
		}
		var live []*hangar.Work
		for rows.Next() {
			w, _, err := scanWork(rows)
			if err != nil {
				rows.Close()
				return err
			}
			live = append(live, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, w := range live {
			if err := w.Stop(true, now); err != nil {
				return err
			}
			if err := saveWork(ctx, tx, w); err != nil {
				return err
			}
		}
		n = int64(len(live))
		return nil
	})
	return n, wrap(err, "end work of %s", envID)
}
