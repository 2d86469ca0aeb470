package pgstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateMemoryStore stores a memory store.
func (db *DB) CreateMemoryStore(ctx context.Context, m *hangar.MemoryStore) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		data, err := encode(m)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO memory_stores (id, created_at, archived_at, data) VALUES ($1, $2, $3, $4)`,
			m.ID, nanos(m.CreatedAt), nanosPtr(m.ArchivedAt), data)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "memory store %s already exists", m.ID)
		}
		return err
	})
	return wrap(err, "create memory store %s", m.ID)
}

func scanMemoryStore(row pgx.Row) (*hangar.MemoryStore, int64, error) {
	var (
		pos  int64
		m    hangar.MemoryStore
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &m, pos, decode(data, &m)
}

func getMemoryStore(ctx context.Context, c querier, id string) (*hangar.MemoryStore, error) {
	m, _, err := scanMemoryStore(c.QueryRow(ctx, `SELECT pos, data FROM memory_stores WHERE id = $1`, id))
	return m, notFound(err, "memory store", id)
}

// GetMemoryStore returns memory store id.
func (db *DB) GetMemoryStore(ctx context.Context, id string) (*hangar.MemoryStore, error) {
	m, err := getMemoryStore(ctx, db.pool, id)
	return m, wrap(err, "get memory store %s", id)
}

// ListMemoryStores lists memory stores.
func (db *DB) ListMemoryStores(ctx context.Context, f hangar.MemoryStoreFilter) ([]*hangar.MemoryStore, hangar.PageResult, error) {
	q := listQuery{selectFrom: `SELECT pos, data FROM memory_stores`, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	addTimeRange(&q, "created_at", f.Created)
	out, res, err := list(ctx, db.pool, q, f.Page, scanMemoryStore)
	return out, res, wrap(err, "list memory stores")
}

// UpdateMemoryStore calls fn with the current store and saves it.
func (db *DB) UpdateMemoryStore(ctx context.Context, id string, fn func(m *hangar.MemoryStore) error) (*hangar.MemoryStore, error) {
	var out *hangar.MemoryStore
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		m, err := getMemoryStore(ctx, tx, id)
		if err != nil {
			return err
		}
		if fnErr = fn(m); fnErr != nil {
			return fnErr
		}
		m.ID = id
		data, err := encode(m)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE memory_stores SET archived_at = $1, data = $2 WHERE id = $3`, nanosPtr(m.ArchivedAt), data, id); err != nil {
			return err
		}
		out = m
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update memory store %s", id)
}

// DeleteMemoryStore deletes a store, its memories and versions (ON DELETE CASCADE).
func (db *DB) DeleteMemoryStore(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM memory_stores WHERE id = $1`, id)
		if err != nil {
			return err
		}
		return mustAffect(tag, "memory store", id)
	})
	return wrap(err, "delete memory store %s", id)
}

const memorySelect = `SELECT pos, data FROM memories`

func scanMemory(row pgx.Row) (*hangar.Memory, int64, error) {
	var (
		pos  int64
		m    hangar.Memory
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &m, pos, decode(data, &m)
}

func getMemory(ctx context.Context, c querier, storeID, id string) (*hangar.Memory, error) {
	m, _, err := scanMemory(c.QueryRow(ctx, memorySelect+` WHERE store_id = $1 AND id = $2`, storeID, id))
	return m, notFound(err, "memory", id)
}

// pathTaken returns a conflict when path, an ancestor or a descendant of it is a memory
// of the store other than self.
func pathTaken(ctx context.Context, c querier, storeID, path, self string) error {
	var id, other string
	err := c.QueryRow(ctx, `SELECT id, path FROM memories WHERE store_id = $1 AND id <> $2 AND (path = $3
		OR substr(path, 1, length($4::text) + 1) = $5::text || '/' OR substr($6::text, 1, length(path) + 1) = path || '/') LIMIT 1`,
		storeID, self, path, path, path, path).Scan(&id, &other)
	if err == nil {
		return hangar.Errorf(hangar.KindMemoryPathConflict, "path %s conflicts with memory %s at %s", path, id, other)
	}
	return notFound(err, "", "")
}

// WriteMemory applies one change and records its version.
func (db *DB) WriteMemory(ctx context.Context, w hangar.MemoryWrite) (*hangar.Memory, *hangar.MemoryVersion, error) {
	var (
		outM *hangar.Memory
		outV *hangar.MemoryVersion
	)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// Locking the store serializes its writes, so the ancestor/descendant path checks
		// cannot race.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM memory_stores WHERE id = $1 FOR UPDATE`, w.StoreID); err != nil {
			return err
		}
		if _, err := getMemoryStore(ctx, tx, w.StoreID); err != nil {
			return err
		}
		var m *hangar.Memory
		if w.Operation == hangar.MemoryCreated {
			mm := w.Memory
			m = &mm
			m.MemoryStoreID = w.StoreID
			if err := pathTaken(ctx, tx, w.StoreID, m.Path, ""); !hangar.IsKind(err, hangar.KindNotFound) {
				return err
			}
		} else {
			var err error
			if m, err = getMemory(ctx, tx, w.StoreID, w.MemoryID); err != nil {
				return err
			}
			if w.IfSHA256 != "" && w.IfSHA256 != m.ContentSHA256 {
				return hangar.Errorf(hangar.KindMemoryPrecondition, "memory %s: content_sha256 is %s, not %s", m.ID, m.ContentSHA256, w.IfSHA256)
			}
		}
		if w.Operation == hangar.MemoryModified {
			if w.Memory.Path != "" && w.Memory.Path != m.Path {
				if err := pathTaken(ctx, tx, w.StoreID, w.Memory.Path, m.ID); !hangar.IsKind(err, hangar.KindNotFound) {
					return err
				}
				m.Path = w.Memory.Path
			}
			if w.Memory.Content != nil {
				m.Content, m.ContentSHA256, m.ContentSizeBytes = w.Memory.Content, w.Memory.ContentSHA256, w.Memory.ContentSizeBytes
			}
			m.UpdatedAt = w.Memory.UpdatedAt
		}
		v := hangar.MemoryVersionFor(w.Version, w.Operation, m)
		m.MemoryVersionID = v.ID
		data, err := encode(m)
		if err != nil {
			return err
		}
		switch w.Operation {
		case hangar.MemoryCreated:
			_, err = tx.Exec(ctx, `INSERT INTO memories (id, store_id, path, data) VALUES ($1, $2, $3, $4)`, m.ID, w.StoreID, m.Path, data)
		case hangar.MemoryModified:
			_, err = tx.Exec(ctx, `UPDATE memories SET path = $1, data = $2 WHERE id = $3`, m.Path, data, m.ID)
		default:
			_, err = tx.Exec(ctx, `DELETE FROM memories WHERE id = $1`, m.ID)
		}
		if err != nil {
			return err
		}
		if err := insertMemoryVersion(ctx, tx, v); err != nil {
			return err
		}
		if w.Operation != hangar.MemoryDeleted {
			outM = m
		}
		outV = v
		return nil
	})
	return outM, outV, wrap(err, "write memory in %s", w.StoreID)
}

func insertMemoryVersion(ctx context.Context, tx pgx.Tx, v *hangar.MemoryVersion) error {
	data, err := encode(v)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO memory_versions (id, store_id, memory_id, session_id, operation, created_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		v.ID, v.MemoryStoreID, v.MemoryID, v.CreatedBy.SessionID, v.Operation, nanos(v.CreatedAt), data)
	return err
}

// GetMemory returns a memory of a store.
func (db *DB) GetMemory(ctx context.Context, storeID, id string) (*hangar.Memory, error) {
	m, err := getMemory(ctx, db.pool, storeID, id)
	return m, wrap(err, "get memory %s", id)
}

// ListMemories lists a store's memories whose path starts with f.PathPrefix.
func (db *DB) ListMemories(ctx context.Context, storeID string, f hangar.MemoryFilter) ([]*hangar.Memory, hangar.PageResult, error) {
	if _, err := getMemoryStore(ctx, db.pool, storeID); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list memories")
	}
	q := listQuery{selectFrom: memorySelect, posCol: "pos"}
	q.add("store_id = ?", storeID)
	if f.PathPrefix != "" {
		q.add("substr(path, 1, length(?::text)) = ?::text", f.PathPrefix, f.PathPrefix)
	}
	out, res, err := list(ctx, db.pool, q, f.Page, scanMemory)
	return out, res, wrap(err, "list memories")
}

const memoryVersionSelect = `SELECT pos, data FROM memory_versions`

func scanMemoryVersion(row pgx.Row) (*hangar.MemoryVersion, int64, error) {
	var (
		pos  int64
		v    hangar.MemoryVersion
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &v, pos, decode(data, &v)
}

func getMemoryVersion(ctx context.Context, c querier, storeID, id string) (*hangar.MemoryVersion, error) {
	v, _, err := scanMemoryVersion(c.QueryRow(ctx, memoryVersionSelect+` WHERE store_id = $1 AND id = $2`, storeID, id))
	return v, notFound(err, "memory version", id)
}

// GetMemoryVersion returns a version of a store.
func (db *DB) GetMemoryVersion(ctx context.Context, storeID, id string) (*hangar.MemoryVersion, error) {
	v, err := getMemoryVersion(ctx, db.pool, storeID, id)
	return v, wrap(err, "get memory version %s", id)
}

// ListMemoryVersions lists a store's versions.
func (db *DB) ListMemoryVersions(ctx context.Context, storeID string, f hangar.MemoryVersionFilter) ([]*hangar.MemoryVersion, hangar.PageResult, error) {
	if _, err := getMemoryStore(ctx, db.pool, storeID); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list memory versions")
	}
	q := listQuery{selectFrom: memoryVersionSelect, posCol: "pos"}
	q.add("store_id = ?", storeID)
	if f.MemoryID != "" {
		q.add("memory_id = ?", f.MemoryID)
	}
	if f.SessionID != "" {
		q.add("session_id = ?", f.SessionID)
	}
	if f.Operation != "" {
		q.add("operation = ?", f.Operation)
	}
	addTimeRange(&q, "created_at", f.Created)
	out, res, err := list(ctx, db.pool, q, f.Page, scanMemoryVersion)
	return out, res, wrap(err, "list memory versions")
}

// RedactMemoryVersion clears a version's path and content.
func (db *DB) RedactMemoryVersion(ctx context.Context, storeID, id string, by hangar.Actor, at time.Time) (*hangar.MemoryVersion, error) {
	var out *hangar.MemoryVersion
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		v, err := getMemoryVersion(ctx, tx, storeID, id)
		if err != nil {
			return err
		}
		v.Redact(by, at)
		data, err := encode(v)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE memory_versions SET data = $1 WHERE id = $2`, data, id); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, wrap(err, "redact memory version %s", id)
}
