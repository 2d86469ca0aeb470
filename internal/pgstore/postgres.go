// Package pgstore implements hangar.Store on PostgreSQL with pgx (github.com/jackc/pgx/v5),
// and carries live session events between Hangar instances that share the database
// (Listener, with LISTEN/NOTIFY).
//
// The schema mirrors internal/sqlstore's: every table keeps the columns it filters, orders
// or enforces uniqueness on, plus a data column holding the domain struct as JSON text
// (TEXT, not JSONB: JSONB reorders keys and rewrites numbers, and the raw JSON fields of
// the domain types must come back byte for byte). Time columns are BIGINT unix nanoseconds,
// so range filters compare exactly the times the JSON holds (timestamptz keeps only
// microseconds) whatever the session time zone. Lists are ordered by an identity column
// (pos); events by their per-session seq.
//
// Read-modify-write methods lock the row they change (SELECT ... FOR UPDATE) at the
// default READ COMMITTED isolation, so they serialize per resource across every instance:
// concurrent AppendEvents of one session get contiguous sequence numbers, and a Mutate or
// an Update callback never works on a stale copy.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is a hangar.Store backed by PostgreSQL. It is safe for concurrent use, also by several
// processes on one database.
//
// Update callbacks (fn, AppendRequest.Mutate) run inside the transaction, holding a pooled
// connection and a row lock: they must be quick and must not call back into the store.
type DB struct {
	pool *pgxpool.Pool
	// notify sends the NOTIFYs of AppendEvents after its commit, on connections with
	// synchronous_commit off (see notifyAppend).
	notify *pgxpool.Pool
	cfg    *pgxpool.Config
	log    *slog.Logger
}

// Option configures Open.
type Option func(*DB)

// WithLogger sets where the store logs what it cannot return, such as a failed NOTIFY
// after a committed append (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(db *DB) {
		if l != nil {
			db.log = l
		}
	}
}

var _ hangar.Store = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or a keyword/value DSN, as
// libpq takes; pool settings such as pool_max_conns are honoured) and applies pending
// migrations. Several processes may Open one database at once: migrations run under an
// advisory lock.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	ncfg := cfg.Copy()
	ncfg.MaxConns, ncfg.MinConns = 2, 0
	// A NOTIFY's own transaction holds PostgreSQL's global notify lock until it commits;
	// not waiting for its WAL flush keeps that short (see notifyAppend).
	ncfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	notify, err := pgxpool.NewWithConfig(ctx, ncfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	db := &DB{pool: pool, notify: notify, cfg: cfg, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(db)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connection pools.
func (db *DB) Close() error {
	db.notify.Close()
	db.pool.Close()
	return nil
}

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in a transaction, committing when fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, fn)
}

// Error codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const (
	codeUniqueViolation = "23505"
	codeForeignKey      = "23503"
)

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool { return hasCode(err, codeUniqueViolation) }

func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// wrap prefixes err unless it is already a classified hangar error, which passes through
// unchanged so its client-visible message stays intact.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*hangar.Error); ok {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// notFound maps pgx.ErrNoRows to a not_found_error for what/id.
func notFound(err error, what, id string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return hangar.NotFound(what, id)
	}
	return err
}

// mustAffect returns a not_found_error when tag reports no affected rows.
func mustAffect(tag pgconn.CommandTag, what, id string) error {
	if tag.RowsAffected() == 0 {
		return hangar.NotFound(what, id)
	}
	return nil
}
