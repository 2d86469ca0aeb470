package sqlstore

import (
	"context"
	"database/sql"

	"github.com/hangar-dev/hangar"
)

// CreateThread stores a session thread (hangar.ThreadStore).
func (db *DB) CreateThread(ctx context.Context, t *hangar.Thread) error {
	data, err := encode(t)
	if err != nil {
		return wrap(err, "create thread %s", t.ID)
	}
	err = db.inTx(ctx, func(tx conn) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, t.SessionID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return hangar.NotFound("session", t.SessionID)
		}
		_, err := tx.exec(ctx, `INSERT INTO threads (id, session_id, status, archived_at, data) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.SessionID, t.Status, nanosPtr(t.ArchivedAt), data)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "thread %s already exists", t.ID)
		}
		return err
	})
	return wrap(err, "create thread %s", t.ID)
}

const threadSelect = `SELECT pos, data FROM threads`

func scanThread(row scanner) (*hangar.Thread, int64, error) {
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

func getThread(ctx context.Context, c conn, sessionID, id string) (*hangar.Thread, error) {
	t, _, err := scanThread(c.queryRow(ctx, threadSelect+` WHERE session_id = ? AND id = ?`, sessionID, id))
	return t, notFound(err, "thread", id)
}

// GetThread returns thread id of a session.
func (db *DB) GetThread(ctx context.Context, sessionID, id string) (*hangar.Thread, error) {
	t, err := getThread(ctx, db.reader(), sessionID, id)
	return t, wrap(err, "get thread %s", id)
}

// ListThreads lists a session's threads in creation order; not_found_error when the session
// does not exist.
func (db *DB) ListThreads(ctx context.Context, sessionID string, f hangar.ThreadFilter) ([]*hangar.Thread, hangar.PageResult, error) {
	c := db.reader()
	var n int
	if err := c.queryRow(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, sessionID).Scan(&n); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list threads of session %s", sessionID)
	}
	if n == 0 {
		return nil, hangar.PageResult{}, hangar.NotFound("session", sessionID)
	}
	q := listQuery{selectFrom: threadSelect, posCol: "pos"}
	q.add("session_id = ?", sessionID)
	addIn(&q, "status", f.Statuses)
	out, res, err := list(ctx, c, q, f.Page, scanThread)
	return out, res, wrap(err, "list threads of session %s", sessionID)
}

// UpdateThread calls fn with the thread in a transaction and saves it.
func (db *DB) UpdateThread(ctx context.Context, sessionID, id string, fn func(t *hangar.Thread) error) (*hangar.Thread, error) {
	var out *hangar.Thread
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		t, err := getThread(ctx, tx, sessionID, id)
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
		if _, err := tx.exec(ctx, `UPDATE threads SET status = ?, archived_at = ?, data = ? WHERE session_id = ? AND id = ?`,
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

// nullString stores "" as NULL.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
