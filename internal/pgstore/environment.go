package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateEnvironment stores a new environment. Conflict when a non-archived environment has
// the same name.
func (db *DB) CreateEnvironment(ctx context.Context, e *hangar.Environment) error {
	data, err := encode(e)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO environments (id, name, created_at, archived_at, data) VALUES ($1, $2, $3, $4, $5)`,
		e.ID, e.Name, nanos(e.CreatedAt), nanosPtr(e.ArchivedAt), data)
	if isUnique(err) {
		err = db.environmentConflict(ctx, e)
	}
	return wrap(err, "create environment %s", e.ID)
}

// environmentConflict builds the conflict_error for a unique violation on environments
// (after the rollback, as agentConflict).
func (db *DB) environmentConflict(ctx context.Context, e *hangar.Environment) error {
	var other string
	err := db.pool.QueryRow(ctx, `SELECT id FROM environments WHERE name = $1 AND archived_at IS NULL AND id <> $2`, e.Name, e.ID).Scan(&other)
	switch {
	case err == nil:
		return hangar.Errorf(hangar.KindConflict, "an environment named %q already exists (%s)", e.Name, other)
	case errors.Is(err, pgx.ErrNoRows):
		return hangar.Errorf(hangar.KindConflict, "environment %s already exists", e.ID)
	default:
		return err
	}
}

func scanEnvironment(row pgx.Row) (*hangar.Environment, int64, error) {
	var (
		pos  int64
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	e := new(hangar.Environment)
	if err := decode(data, e); err != nil {
		return nil, 0, err
	}
	return e, pos, nil
}

// getEnvironment loads environment id; with lock, FOR UPDATE.
func getEnvironment(ctx context.Context, c querier, id string, lock bool) (*hangar.Environment, error) {
	q := `SELECT pos, data FROM environments WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	e, _, err := scanEnvironment(c.QueryRow(ctx, q, id))
	return e, notFound(err, "environment", id)
}

// GetEnvironment returns environment id.
func (db *DB) GetEnvironment(ctx context.Context, id string) (*hangar.Environment, error) {
	e, err := getEnvironment(ctx, db.pool, id, false)
	return e, wrap(err, "get environment %s", id)
}

// ListEnvironments lists environments in creation order.
func (db *DB) ListEnvironments(ctx context.Context, f hangar.EnvironmentFilter) ([]*hangar.Environment, hangar.PageResult, error) {
	q := listQuery{selectFrom: `SELECT pos, data FROM environments`, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	out, res, err := list(ctx, db.pool, q, f.Page, scanEnvironment)
	return out, res, wrap(err, "list environments")
}

// UpdateEnvironment calls fn with the current environment in a transaction and saves it.
// Errors from fn are returned as they are; conflict when the new name is taken.
func (db *DB) UpdateEnvironment(ctx context.Context, id string, fn func(e *hangar.Environment) error) (*hangar.Environment, error) {
	var out, tried *hangar.Environment
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		e, err := getEnvironment(ctx, tx, id, true)
		if err != nil {
			return err
		}
		tried = e
		if fnErr = fn(e); fnErr != nil {
			return fnErr
		}
		e.ID = id
		if err := saveEnvironment(ctx, tx, e); err != nil {
			return err
		}
		out = e
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if isUnique(err) {
		err = db.environmentConflict(ctx, tried)
	}
	return out, wrap(err, "update environment %s", id)
}

func saveEnvironment(ctx context.Context, tx pgx.Tx, e *hangar.Environment) error {
	data, err := encode(e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE environments SET name = $1, archived_at = $2, data = $3 WHERE id = $4`,
		e.Name, nanosPtr(e.ArchivedAt), data, e.ID)
	return err
}

// ArchiveEnvironment archives an environment: conflict while a non-archived session that is
// not terminated uses it. Archiving twice is a no-op.
func (db *DB) ArchiveEnvironment(ctx context.Context, id string, now time.Time) (*hangar.Environment, error) {
	var out *hangar.Environment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		e, err := getEnvironment(ctx, tx, id, true)
		if err != nil {
			return err
		}
		out = e
		if e.ArchivedAt != nil {
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE environment_id = $1 AND archived_at IS NULL AND status <> $2`,
			id, hangar.StatusTerminated).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return hangar.Errorf(hangar.KindConflict, "environment %s is used by %d active %s; archive or delete them first", id, n, plural(n, "session"))
		}
		e.ArchivedAt = &now
		return saveEnvironment(ctx, tx, e)
	})
	if err != nil {
		return nil, wrap(err, "archive environment %s", id)
	}
	return out, nil
}

// DeleteEnvironment deletes an environment: conflict while any session references it.
func (db *DB) DeleteEnvironment(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getEnvironment(ctx, tx, id, true); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE environment_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return hangar.Errorf(hangar.KindConflict, "environment %s is used by %d %s; delete its sessions first", id, n, plural(n, "session"))
		}
		_, err := tx.Exec(ctx, `DELETE FROM environments WHERE id = $1`, id)
		return err
	})
	return wrap(err, "delete environment %s", id)
}
