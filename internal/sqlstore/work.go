package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"time"

	"github.com/hangar-dev/hangar"
)

// The self-hosted work queue (hangar.WorkStore). Items keep their filtered columns (state,
// claimed_at, lease_expires_at, token_hash) next to the JSON of the whole hangar.Work.
// Writes go through the single writer connection, so ClaimWork's select-then-update is
// atomic in process; BEGIN IMMEDIATE makes it atomic against other processes too.

const workSelect = `SELECT pos, data FROM work_items`

func scanWork(row scanner) (*hangar.Work, int64, error) {
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

func tokenCol(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// saveWork writes every column of an existing item.
func saveWork(ctx context.Context, tx conn, w *hangar.Work) error {
	data, err := encode(w)
	if err != nil {
		return err
	}
	res, err := tx.exec(ctx, `UPDATE work_items SET state = ?, claimed_at = ?, lease_expires_at = ?, token_hash = ?, data = ? WHERE id = ?`,
		w.State, nanosPtr(w.ClaimedAt), nanosPtr(w.LeaseExpiresAt), tokenCol(w.TokenHash), data, w.ID)
	if err != nil {
		return err
	}
	return mustAffect(res, "work", w.ID)
}

// insertWork inserts a new item.
func insertWork(ctx context.Context, tx conn, w *hangar.Work) error {
	data, err := encode(w)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO work_items (id, environment_id, data_type, data_id, state, created_at, claimed_at, lease_expires_at, token_hash, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.EnvironmentID, w.Data.Type, w.Data.ID, w.State, nanos(w.CreatedAt), nanosPtr(w.ClaimedAt), nanosPtr(w.LeaseExpiresAt), tokenCol(w.TokenHash), data)
	return err
}

// EnqueueWork stores w unless the same data has a live item.
func (db *DB) EnqueueWork(ctx context.Context, w *hangar.Work) (*hangar.Work, bool, error) {
	var out *hangar.Work
	created := false
	err := db.inTx(ctx, func(tx conn) error {
		cur, _, err := scanWork(tx.queryRow(ctx, workSelect+` WHERE data_type = ? AND data_id = ? AND state <> ?`, w.Data.Type, w.Data.ID, hangar.WorkStopped))
		if err == nil {
			out = cur
			return nil
		}
		if err != sql.ErrNoRows {
			return err
		}
		err = insertWork(ctx, tx, w)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "work %s already exists", w.ID)
		}
		out, created = w, err == nil
		return err
	})
	if err != nil {
		return nil, false, wrap(err, "enqueue work %s", w.ID)
	}
	return out, created, nil
}

// claimable selects the oldest claimable item of a WorkClaim's environment.
const claimable = workSelect + ` WHERE environment_id = ? AND (
	((state = ? OR (state = ? AND lease_expires_at IS NULL)) AND (claimed_at IS NULL OR claimed_at <= ?))
	OR (state IN (?, ?) AND lease_expires_at <= ?)) ORDER BY pos LIMIT 1`

func claimableArgs(c hangar.WorkClaim) []any {
	return []any{c.EnvironmentID, hangar.WorkQueued, hangar.WorkStarting, nanos(c.ReclaimBefore),
		hangar.WorkStarting, hangar.WorkActive, nanos(c.Now)}
}

// ClaimWork hands out the oldest claimable item of an environment. An empty queue is seen
// on the read pool first, so idle polls do not take the write lock.
func (db *DB) ClaimWork(ctx context.Context, c hangar.WorkClaim) (*hangar.Work, error) {
	if _, _, err := scanWork(db.reader().queryRow(ctx, claimable, claimableArgs(c)...)); err == sql.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, wrap(err, "claim work in %s", c.EnvironmentID)
	}
	var out *hangar.Work
	err := db.inTx(ctx, func(tx conn) error {
		w, _, err := scanWork(tx.queryRow(ctx, claimable, claimableArgs(c)...))
		if err == sql.ErrNoRows {
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
		out = next
		return insertWork(ctx, tx, next)
	})
	if err != nil {
		return nil, wrap(err, "claim work in %s", c.EnvironmentID)
	}
	return out, nil
}

func getWork(ctx context.Context, c conn, envID, id string) (*hangar.Work, error) {
	q, args := workSelect+` WHERE id = ?`, []any{id}
	if envID != "" {
		q, args = q+` AND environment_id = ?`, append(args, envID)
	}
	w, _, err := scanWork(c.queryRow(ctx, q, args...))
	return w, notFound(err, "work", id)
}

// GetWork returns an item.
func (db *DB) GetWork(ctx context.Context, envID, id string) (*hangar.Work, error) {
	w, err := getWork(ctx, db.reader(), envID, id)
	return w, wrap(err, "get work %s", id)
}

// ListWork lists an environment's items.
func (db *DB) ListWork(ctx context.Context, f hangar.WorkFilter) ([]*hangar.Work, hangar.PageResult, error) {
	q := listQuery{selectFrom: workSelect, posCol: "pos"}
	q.add("environment_id = ?", f.EnvironmentID)
	out, res, err := list(ctx, db.reader(), q, f.Page, scanWork)
	return out, res, wrap(err, "list work of %s", f.EnvironmentID)
}

// UpdateWork calls fn with the item in a write transaction and saves it.
func (db *DB) UpdateWork(ctx context.Context, envID, id string, fn func(w *hangar.Work) error) (*hangar.Work, error) {
	var out *hangar.Work
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		w, err := getWork(ctx, tx, envID, id)
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
	w, _, err := scanWork(db.reader().queryRow(ctx, workSelect+` WHERE data_id = ? AND data_type = ? ORDER BY pos DESC LIMIT 1`, sessionID, hangar.WorkDataSession))
	return w, wrap(notFound(err, "work of session", sessionID), "get work of session %s", sessionID)
}

// WorkForToken returns the live item holding a sessions token.
func (db *DB) WorkForToken(ctx context.Context, tokenHash string) (*hangar.Work, error) {
	if tokenHash == "" {
		return nil, hangar.NotFound("work", "for token")
	}
	w, _, err := scanWork(db.reader().queryRow(ctx, workSelect+` WHERE token_hash = ? AND state <> ?`, tokenHash, hangar.WorkStopped))
	return w, wrap(notFound(err, "work", "for token"), "get work for token")
}

// RecordWorkerPoll notes a poll.
func (db *DB) RecordWorkerPoll(ctx context.Context, envID, workerID string, at time.Time) error {
	err := db.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `INSERT INTO work_workers (environment_id, worker_id, last_poll_at) VALUES (?, ?, ?)
			ON CONFLICT (environment_id, worker_id) DO UPDATE SET last_poll_at = MAX(work_workers.last_poll_at, excluded.last_poll_at)`, envID, workerID, nanos(at))
		return err
	})
	return wrap(err, "record poll of %s", envID)
}

// WorkStats counts an environment's queue.
func (db *DB) WorkStats(ctx context.Context, envID string, pollSince time.Time) (hangar.WorkStats, error) {
	var (
		st     hangar.WorkStats
		oldest sql.NullInt64
	)
	c := db.reader()
	err := c.queryRow(ctx, `SELECT
			COALESCE(SUM(CASE WHEN claimed_at IS NULL THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN claimed_at IS NOT NULL THEN 1 ELSE 0 END), 0),
			MIN(created_at)
		FROM work_items WHERE environment_id = ? AND state = ?`, envID, hangar.WorkQueued).Scan(&st.Depth, &st.Pending, &oldest)
	if err == nil {
		st.OldestQueuedAt = timePtr(oldest)
		err = c.queryRow(ctx, `SELECT COUNT(*) FROM work_workers WHERE environment_id = ? AND last_poll_at >= ?`, envID, nanos(pollSince)).Scan(&st.WorkersPolling)
	}
	return st, wrap(err, "work stats of %s", envID)
}

// SetEnvironmentKey replaces an environment's key.
func (db *DB) SetEnvironmentKey(ctx context.Context, envID, keyHash string, at time.Time) error {
	err := db.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `INSERT INTO environment_keys (environment_id, key_hash, created_at) VALUES (?, ?, ?)
			ON CONFLICT (environment_id) DO UPDATE SET key_hash = excluded.key_hash, created_at = excluded.created_at`, envID, keyHash, nanos(at))
		return err
	})
	return wrap(err, "set key of %s", envID)
}

// EnvironmentForKey returns the environment of a key.
func (db *DB) EnvironmentForKey(ctx context.Context, keyHash string) (string, error) {
	var id string
	err := db.reader().queryRow(ctx, `SELECT environment_id FROM environment_keys WHERE key_hash = ?`, keyHash).Scan(&id)
	return id, wrap(notFound(err, "environment", "for key"), "get environment for key")
}

// EndEnvironmentWork ends an archived or deleted environment's queue.
func (db *DB) EndEnvironmentWork(ctx context.Context, envID string, purge bool, now time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx conn) error {
		for _, q := range []string{`DELETE FROM environment_keys WHERE environment_id = ?`, `DELETE FROM work_workers WHERE environment_id = ?`} {
			if _, err := tx.exec(ctx, q, envID); err != nil {
				return err
			}
		}
		if purge {
			res, err := tx.exec(ctx, `DELETE FROM work_items WHERE environment_id = ?`, envID)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		}
		rows, err := tx.query(ctx, workSelect+` WHERE environment_id = ? AND state <> ?`, envID, hangar.WorkStopped)
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
