// Package sqlstore implements hangar.Store on database/sql: SQLite through modernc.org/sqlite
// (no cgo) today, PostgreSQL later through the same code and a different dialect value.
//
// Every table keeps the columns it filters, orders or enforces uniqueness on, plus a data
// column holding the domain struct as JSON. Every table has an autoincrement pos column: the
// insertion order lists are sorted by and page cursors point at.
//
// On SQLite the store holds two pools over one file in WAL mode: a single writer connection
// (so write transactions are serialized in process and never hit SQLITE_BUSY against each
// other) and a pool of read-only connections that never wait for a writer.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is a hangar.Store backed by a SQL database. It is safe for concurrent use.
//
// Update callbacks (fn, AppendRequest.Mutate) run inside the write transaction: they must
// be quick and must not call back into the store, whose single writer connection they hold.
type DB struct {
	w *sql.DB // writes and read-modify-write transactions; one connection on SQLite
	r *sql.DB // plain reads
	d *dialect
}

var _ hangar.Store = (*DB)(nil)

type options struct {
	readers     int
	busyTimeout int // milliseconds
}

// Option configures Open.
type Option func(*options)

// WithReaders sets the size of the read connection pool (default: GOMAXPROCS, at least 4).
func WithReaders(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readers = n
		}
	}
}

// WithBusyTimeout sets SQLite's busy_timeout in milliseconds (default 10000): how long a
// connection waits for a lock held by another process before failing.
func WithBusyTimeout(ms int) Option {
	return func(o *options) {
		if ms >= 0 {
			o.busyTimeout = ms
		}
	}
}

// Open opens (creating if needed) the SQLite database at path and applies pending
// migrations. path ":memory:" gives a private in-memory database (one connection, for
// throwaway use).
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{readers: max(4, runtime.GOMAXPROCS(0)), busyTimeout: 10000}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("sqlstore: empty database path")
	}
	common := []string{
		"busy_timeout(" + strconv.Itoa(o.busyTimeout) + ")",
		"foreign_keys(1)",
		"synchronous(NORMAL)",
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append(common, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + uriPath.Replace(path) + "?" + q.Encode()
	}

	db := &DB{d: sqliteDialect}
	var err error
	if path == ":memory:" {
		if db.w, err = sql.Open("sqlite", dsn()); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.w.SetMaxOpenConns(1)
		db.w.SetConnMaxLifetime(0)
		db.w.SetConnMaxIdleTime(0)
		db.r = db.w
	} else {
		// BEGIN IMMEDIATE takes the write lock up front, so a read-modify-write transaction
		// never fails half-way with SQLITE_BUSY when another process holds the lock.
		if db.w, err = sql.Open("sqlite", dsn("journal_mode(WAL)")+"&_txlock=immediate"); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.w.SetMaxOpenConns(1)
		// Open the writer first: it switches the file to WAL before any reader connects.
		if err := db.w.PingContext(ctx); err != nil {
			db.w.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		if db.r, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
			db.w.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.r.SetMaxOpenConns(o.readers)
		db.r.SetMaxIdleConns(o.readers)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// uriPath escapes what SQLite's URI file names treat specially.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with ? placeholders in the store's dialect.
type conn struct {
	q queryer
	d *dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// reader returns a conn on the read pool.
func (db *DB) reader() conn { return conn{q: db.r, d: db.d} }

// inTx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx conn) error) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(conn{q: tx, d: db.d}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// dialect holds what differs between SQL engines.
type dialect struct {
	name       string // "sqlite" or "postgres"; also the migrations directory
	dollarVars bool   // $1, $2... instead of ?
	isUnique   func(error) bool
}

var sqliteDialect = &dialect{name: "sqlite", isUnique: sqliteIsUnique}

// rebind rewrites ? placeholders for dialects that number them. Queries never contain ?
// inside string literals.
func (d *dialect) rebind(q string) string {
	if !d.dollarVars || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqliteIsUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation.
func sqliteIsUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}
