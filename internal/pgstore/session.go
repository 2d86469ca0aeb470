package pgstore

import (
	"context"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateSession stores a new session. Conflict when the ID is taken.
func (db *DB) CreateSession(ctx context.Context, s *hangar.Session) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO sessions (id, agent_id, agent_version, environment_id, status, created_at, archived_at, data, deployment_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		s.ID, s.Agent.ID, s.Agent.Version, s.EnvironmentID, s.Status, nanos(s.CreatedAt), nanosPtr(s.ArchivedAt), data, s.DeploymentID)
	if isUnique(err) {
		return hangar.Errorf(hangar.KindConflict, "session %s already exists", s.ID)
	}
	return wrap(err, "create session %s", s.ID)
}

func scanSession(row pgx.Row) (*hangar.Session, int64, error) {
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

// getSession loads session id; with lock, FOR UPDATE.
func getSession(ctx context.Context, c querier, id string, lock bool) (*hangar.Session, error) {
	q := `SELECT pos, data FROM sessions WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	s, _, err := scanSession(c.QueryRow(ctx, q, id))
	return s, notFound(err, "session", id)
}

// sessionExists returns a not_found_error unless session id exists.
func sessionExists(ctx context.Context, c querier, id string) error {
	var ok bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return hangar.NotFound("session", id)
	}
	return nil
}

// GetSession returns session id.
func (db *DB) GetSession(ctx context.Context, id string) (*hangar.Session, error) {
	s, err := getSession(ctx, db.pool, id, false)
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
	out, res, err := list(ctx, db.pool, q, f.Page, scanSession)
	return out, res, wrap(err, "list sessions")
}

// UpdateSession calls fn with the current session in a transaction and saves it. Errors
// from fn are returned as they are. The session's row is locked for the transaction, which
// also orders the update with appends to the session.
func (db *DB) UpdateSession(ctx context.Context, id string, fn func(s *hangar.Session) error) (*hangar.Session, error) {
	var out *hangar.Session
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		s, err := getSession(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if fnErr = fn(s); fnErr != nil {
			return fnErr
		}
		s.ID = id
		data, err := encode(s)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET status = $1, archived_at = $2, data = $3 WHERE id = $4`,
			s.Status, nanosPtr(s.ArchivedAt), data, id); err != nil {
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

// DeleteSession deletes a session; its events, idempotency keys and lease go with it
// (ON DELETE CASCADE).
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	if err == nil {
		err = mustAffect(tag, "session", id)
	}
	return wrap(err, "delete session %s", id)
}
