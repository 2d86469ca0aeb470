package sqlstore

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// CreateSession stores a new session. Conflict when the ID is taken.
func (db *DB) CreateSession(ctx context.Context, s *hangar.Session) error {
	err := db.inTx(ctx, func(tx conn) error {
		data, err := encode(s)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO sessions (id, agent_id, agent_version, environment_id, status, created_at, archived_at, data, deployment_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.Agent.ID, s.Agent.Version, s.EnvironmentID, s.Status, nanos(s.CreatedAt), nanosPtr(s.ArchivedAt), data, s.DeploymentID)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "session %s already exists", s.ID)
		}
		return err
	})
	return wrap(err, "create session %s", s.ID)
}

func scanSession(row scanner) (*hangar.Session, int64, error) {
	var (
		pos  int64
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	s := new(hangar.Session)
	if err := decode(data, s); err != nil {
		return nil, 0, err
	}
	return s, pos, nil
}

func getSession(ctx context.Context, c conn, id string) (*hangar.Session, error) {
	s, _, err := scanSession(c.queryRow(ctx, `SELECT pos, data FROM sessions WHERE id = ?`, id))
	return s, notFound(err, "session", id)
}

// saveSession writes s (its data and the indexed columns) over the stored row.
func saveSession(ctx context.Context, tx conn, s *hangar.Session) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE sessions SET status = ?, archived_at = ?, data = ? WHERE id = ?`,
		s.Status, nanosPtr(s.ArchivedAt), data, s.ID)
	return err
}

// GetSession returns session id.
func (db *DB) GetSession(ctx context.Context, id string) (*hangar.Session, error) {
	s, err := getSession(ctx, db.reader(), id)
	return s, wrap(err, "get session %s", id)
}

// ListSessions lists sessions in creation order (Page.Desc: newest first).
func (db *DB) ListSessions(ctx context.Context, f hangar.SessionFilter) ([]*hangar.Session, hangar.PageResult, error) {
	q := listQuery{selectFrom: `SELECT pos, data FROM sessions`, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	if f.AgentID != "" {
		q.add("agent_id = ?", f.AgentID)
	}
	if f.AgentVersion != 0 {
		q.add("agent_version = ?", f.AgentVersion)
	}
	if f.DeploymentID != "" {
		q.add("deployment_id = ?", f.DeploymentID)
	}
	addIn(&q, "status", f.Statuses)
	addTimeRange(&q, "created_at", f.CreatedAt)
	out, res, err := list(ctx, db.reader(), q, f.Page, scanSession)
	return out, res, wrap(err, "list sessions")
}

// UpdateSession calls fn with the current session in a transaction and saves it. Errors
// from fn are returned as they are.
func (db *DB) UpdateSession(ctx context.Context, id string, fn func(s *hangar.Session) error) (*hangar.Session, error) {
	var out *hangar.Session
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		s, err := getSession(ctx, tx, id)
		if err != nil {
			return err
		}
		if fnErr = fn(s); fnErr != nil {
			return fnErr
		}
		s.ID = id
		if err := saveSession(ctx, tx, s); err != nil {
			return err
		}
		out = s
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update session %s", id)
}

// DeleteSession deletes a session, its events and its idempotency keys.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM events WHERE session_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM idempotency_keys WHERE session_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM session_leases WHERE session_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "session", id)
	})
	return wrap(err, "delete session %s", id)
}
