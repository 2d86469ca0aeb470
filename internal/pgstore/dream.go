package pgstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateDream stores a new, unclaimed dream.
func (db *DB) CreateDream(ctx context.Context, d *hangar.Dream) error {
	data, err := encode(d)
	if err != nil {
		return wrap(err, "create dream %s", d.ID)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, number(`INSERT INTO dreams (id, status, archived, created_at, data) VALUES (?, ?, ?, ?, ?)`),
			d.ID, d.Status, d.ArchivedAt != nil, nanos(d.CreatedAt), data)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "dream %s already exists", d.ID)
		}
		return err
	})
	return wrap(err, "create dream %s", d.ID)
}

const dreamSelect = `SELECT pos, data FROM dreams`

func scanDream(row pgx.Row) (*hangar.Dream, int64, error) {
	var (
		pos  int64
		data string
		d    hangar.Dream
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &d, pos, decode(data, &d)
}

func getDream(ctx context.Context, c querier, id string) (*hangar.Dream, error) {
	d, _, err := scanDream(c.QueryRow(ctx, number(dreamSelect+` WHERE id = ? FOR UPDATE`), id))
	return d, notFound(err, "dream", id)
}

// GetDream returns dream id.
func (db *DB) GetDream(ctx context.Context, id string) (*hangar.Dream, error) {
	d, err := getDream(ctx, db.pool, id)
	return d, wrap(err, "get dream %s", id)
}

// ListDreams lists dreams.
func (db *DB) ListDreams(ctx context.Context, f hangar.DreamFilter) ([]*hangar.Dream, hangar.PageResult, error) {
	q := listQuery{selectFrom: dreamSelect, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived = ?", false)
	}
	addIn(&q, "status", f.Statuses)
	addTimeRange(&q, "created_at", f.Created)
	out, res, err := list(ctx, db.pool, q, f.Page, scanDream)
	return out, res, wrap(err, "list dreams")
}

// UpdateDream calls fn with the dream in a transaction and saves it.
func (db *DB) UpdateDream(ctx context.Context, id string, fn func(d *hangar.Dream) error) (*hangar.Dream, error) {
	var out *hangar.Dream
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		d, err := getDream(ctx, tx, id)
		if err != nil {
			return err
		}
		if fnErr = fn(d); fnErr != nil {
			return fnErr
		}
		d.ID = id
		data, err := encode(d)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, number(`UPDATE dreams SET status = ?, archived = ?, data = ? WHERE id = ?`),
			d.Status, d.ArchivedAt != nil, data, id); err != nil {
			return err
		}
		out = d
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update dream %s", id)
}

// ClaimDream makes owner the dream's runner until `until` with one conditional update.
func (db *DB) ClaimDream(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	claimed := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		res, err := tx.Exec(ctx, number(`UPDATE dreams SET owner = ?, claim_until = ? WHERE id = ? AND status IN (?, ?)
			AND (owner IS NULL OR owner = ? OR claim_until <= ?)`),
			owner, nanos(until), id, hangar.DreamPending, hangar.DreamRunning, owner, nanos(now))
		if err != nil {
			return err
		}
		claimed = res.RowsAffected() == 1
		return nil
	})
	return claimed, wrap(err, "claim dream %s", id)
}

// ReleaseDream drops owner's claim.
func (db *DB) ReleaseDream(ctx context.Context, id, owner string) error {
	_, err := db.pool.Exec(ctx, `UPDATE dreams SET owner = NULL, claim_until = NULL WHERE id = $1 AND owner = $2`, id, owner)
	return wrap(err, "release dream %s", id)
}

// RunnableDreams lists pending or running dreams that no live claim holds.
func (db *DB) RunnableDreams(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := db.pool.Query(ctx, number(`SELECT id FROM dreams WHERE status IN (?, ?) AND (owner IS NULL OR claim_until <= ?) ORDER BY pos LIMIT ?`),
		hangar.DreamPending, hangar.DreamRunning, nanos(now), limit)
	if err != nil {
		return nil, wrap(err, "runnable dreams")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(err, "runnable dreams")
		}
		out = append(out, id)
	}
	return out, wrap(rows.Err(), "runnable dreams")
}
