package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hangar-dev/hangar"
)

// CreateEnvironment stores a new environment. Conflict when a non-archived environment has
// the same name.
func (db *DB) CreateEnvironment(ctx context.Context, e *hangar.Environment) error {
	err := db.inTx(ctx, func(tx conn) error {
		data, err := encode(e)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO environments (id, name, created_at, archived_at, data) VALUES (?, ?, ?, ?, ?)`,
			e.ID, e.Name, nanos(e.CreatedAt), nanosPtr(e.ArchivedAt), data); err != nil {
			return db.environmentConflict(ctx, tx, err, e)
		}
		return nil
	})
	return wrap(err, "create environment %s", e.ID)
}

func (db *DB) environmentConflict(ctx context.Context, tx conn, err error, e *hangar.Environment) error {
	if !db.d.isUnique(err) {
		return err
	}
	var other string
	switch qerr := tx.queryRow(ctx, `SELECT id FROM environments WHERE name = ? AND archived_at IS NULL AND id <> ?`, e.Name, e.ID).Scan(&other); qerr {
	case nil:
		return hangar.Errorf(hangar.KindConflict, "an environment named %q already exists (%s)", e.Name, other)
	case sql.ErrNoRows:
		return hangar.Errorf(hangar.KindConflict, "environment %s already exists", e.ID)
	default:
		return qerr
	}
}

func scanEnvironment(row scanner) (*hangar.Environment, int64, error) {
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

func getEnvironment(ctx context.Context, c conn, id string) (*hangar.Environment, error) {
	e, _, err := scanEnvironment(c.queryRow(ctx, `SELECT pos, data FROM environments WHERE id = ?`, id))
	return e, notFound(err, "environment", id)
}

// GetEnvironment returns environment id.
func (db *DB) GetEnvironment(ctx context.Context, id string) (*hangar.Environment, error) {
	e, err := getEnvironment(ctx, db.reader(), id)
	return e, wrap(err, "get environment %s", id)
}

// ListEnvironments lists environments in creation order.
func (db *DB) ListEnvironments(ctx context.Context, f hangar.EnvironmentFilter) ([]*hangar.Environment, hangar.PageResult, error) {
	q := listQuery{selectFrom: `SELECT pos, data FROM environments`, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanEnvironment)
	return out, res, wrap(err, "list environments")
}

// UpdateEnvironment calls fn with the current environment in a transaction and saves it.
// Errors from fn are returned as they are; conflict when the new name is taken.
func (db *DB) UpdateEnvironment(ctx context.Context, id string, fn func(e *hangar.Environment) error) (*hangar.Environment, error) {
	var out *hangar.Environment
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		e, err := getEnvironment(ctx, tx, id)
		if err != nil {
			return err
		}
		if fnErr = fn(e); fnErr != nil {
			return fnErr
		}
		e.ID = id
		if err := db.saveEnvironment(ctx, tx, e); err != nil {
			return err
		}
		out = e
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update environment %s", id)
}

func (db *DB) saveEnvironment(ctx context.Context, tx conn, e *hangar.Environment) error {
	data, err := encode(e)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `UPDATE environments SET name = ?, archived_at = ?, data = ? WHERE id = ?`,
		e.Name, nanosPtr(e.ArchivedAt), data, e.ID); err != nil {
		return db.environmentConflict(ctx, tx, err, e)
	}
	return nil
}

// ArchiveEnvironment archives an environment: conflict while a non-archived session that is
// not terminated uses it. Archiving twice is a no-op.
func (db *DB) ArchiveEnvironment(ctx context.Context, id string, now time.Time) (*hangar.Environment, error) {
	var out *hangar.Environment
	err := db.inTx(ctx, func(tx conn) error {
		e, err := getEnvironment(ctx, tx, id)
		if err != nil {
			return err
		}
		out = e
		if e.ArchivedAt != nil {
			return nil
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM sessions WHERE environment_id = ? AND archived_at IS NULL AND status <> ?`,
			id, hangar.StatusTerminated).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return hangar.Errorf(hangar.KindConflict, "environment %s is used by %d active %s; archive or delete them first", id, n, plural(n, "session"))
		}
		e.ArchivedAt = &now
		return db.saveEnvironment(ctx, tx, e)
	})
	if err != nil {
		return nil, wrap(err, "archive environment %s", id)
	}
	return out, nil
}

// DeleteEnvironment deletes an environment: conflict while any session references it.
func (db *DB) DeleteEnvironment(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM sessions WHERE environment_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM environments WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, "environment", id); err != nil {
			return err
		}
		if n > 0 {
			return hangar.Errorf(hangar.KindConflict, "environment %s is used by %d %s; delete its sessions first", id, n, plural(n, "session"))
		}
		return nil
	})
	return wrap(err, "delete environment %s", id)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
