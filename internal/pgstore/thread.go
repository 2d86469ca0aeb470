package pgstore

import (
	"context"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateThread stores a session thread (hangar.ThreadStore).
func (db *DB) CreateThread(ctx context.Context, t *hangar.Thread) error {
	data, err := encode(t)
	if err != nil {
		return wrap(err, "create thread %s", t.ID)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := sessionExists(ctx, tx, t.SessionID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO threads (id, session_id, status, archived_at, data) VALUES ($1, $2, $3, $4, $5)`,
			t.ID, t.SessionID, t.Status, nanosPtr(t.ArchivedAt), data)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "thread %s already exists", t.ID)
		}
		return err
	})
	return wrap(err, "create thread %s", t.ID)
}

const threadSelect = `SELECT pos, data FROM threads`

func scanThread(row pgx.Row) (*hangar.Thread, int64, error) {
	var (
		pos  int64
		data string
		t    hangar.Thread
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	if err := decode(data, &t); err != nil {
		return nil, 0, err
	}
	return &t, pos, nil
}

func getThread(ctx context.Context, c querier, sessionID, id string, lock bool) (*hangar.Thread, error) {
	q := threadSelect + ` WHERE session_id = $1 AND id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	t, _, err := scanThread(c.QueryRow(ctx, q, sessionID, id))
	return t, notFound(err, "thread", id)
}

// GetThread returns thread id of a session.
func (db *DB) GetThread(ctx context.Context, sessionID, id string) (*hangar.Thread, error) {
	t, err := getThread(ctx, db.pool, sessionID, id, false)
	return t, wrap(err, "get thread %s", id)
}

// ListThreads lists a session's threads in creation order; not_found_error when the session
// does not exist.
func (db *DB) ListThreads(ctx context.Context, sessionID string, f hangar.ThreadFilter) ([]*hangar.Thread, hangar.PageResult, error) {
	if err := sessionExists(ctx, db.pool, sessionID); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list threads of session %s", sessionID)
	}
	q := listQuery{selectFrom: threadSelect, posCol: "pos"}
	q.add("session_id = ?", sessionID)
	addIn(&q, "status", f.Statuses)
	out, res, err := list(ctx, db.pool, q, f.Page, scanThread)
	return out, res, wrap(err, "list threads of session %s", sessionID)
}

// UpdateThread calls fn with the thread (locked) in a transaction and saves it.
func (db *DB) UpdateThread(ctx context.Context, sessionID, id string, fn func(t *hangar.Thread) error) (*hangar.Thread, error) {
	var out *hangar.Thread
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		t, err := getThread(ctx, tx, sessionID, id, true)
		if err != nil {
			return err
		}
		if fnErr = fn(t); fnErr != nil {
			return fnErr
		}
		t.ID, t.SessionID = id, sessionID
		data, err := encode(t)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE threads SET status = $1, archived_at = $2, data = $3 WHERE session_id = $4 AND id = $5`,
			t.Status, nanosPtr(t.ArchivedAt), data, sessionID, id); err != nil {
			return err
		}
		out = t
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update thread %s", id)
}
