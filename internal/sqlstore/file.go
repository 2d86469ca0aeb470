package sqlstore

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// CreateFile stores a file's metadata. Conflict when the ID is taken.
func (db *DB) CreateFile(ctx context.Context, f *hangar.File) error {
	err := db.inTx(ctx, func(tx conn) error {
		data, err := encode(f)
		if err != nil {
			return err
		}
		var scope any
		if f.Scope != nil {
			scope = f.Scope.ID
		}
		_, err = tx.exec(ctx, `INSERT INTO files (id, scope_id, created_at, sha256, data, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			f.ID, scope, nanos(f.CreatedAt), f.SHA256, data, nanosPtr(f.ExpiresAt))
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "file %s already exists", f.ID)
		}
		return err
	})
	return wrap(err, "create file %s", f.ID)
}

const fileSelect = `SELECT pos, sha256, data FROM files`

func scanFile(row scanner) (*hangar.File, int64, error) {
	var (
		pos  int64
		f    hangar.File
		sum  string
		data string
	)
	if err := row.Scan(&pos, &sum, &data); err != nil {
		return nil, 0, err
	}
	if err := decode(data, &f); err != nil {
		return nil, 0, err
	}
	f.SHA256 = sum
	return &f, pos, nil
}

// GetFile returns the metadata of file id.
func (db *DB) GetFile(ctx context.Context, id string) (*hangar.File, error) {
	f, _, err := scanFile(db.reader().queryRow(ctx, fileSelect+` WHERE id = ?`, id))
	return f, wrap(notFound(err, "file", id), "get file %s", id)
}

// ListFiles lists files in creation order, filtered by scope and IDs.
func (db *DB) ListFiles(ctx context.Context, f hangar.FileFilter) ([]*hangar.File, hangar.PageResult, error) {
	q := listQuery{selectFrom: fileSelect, posCol: "pos"}
	if f.ScopeID != "" {
		q.add("scope_id = ?", f.ScopeID)
	}
	addIn(&q, "id", f.IDs)
	if f.LiveAt != nil {
		q.add("(expires_at IS NULL OR expires_at > ?)", nanos(*f.LiveAt))
	}
	if f.ExpiredAt != nil {
		q.add("expires_at <= ?", nanos(*f.ExpiredAt))
	}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanFile)
	return out, res, wrap(err, "list files")
}

// DeleteFile deletes the metadata of file id.
func (db *DB) DeleteFile(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `DELETE FROM files WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "file", id)
	})
	return wrap(err, "delete file %s", id)
}
