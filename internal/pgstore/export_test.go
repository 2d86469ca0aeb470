package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SetConnectHook wraps the listener's connect: hook is called for every (re)connect with
// the real connect func.
func SetConnectHook(l *Listener, hook func(ctx context.Context, connect func(context.Context) (*pgx.Conn, error)) (*pgx.Conn, error)) {
	real := l.connect
	l.connect = func(ctx context.Context) (*pgx.Conn, error) { return hook(ctx, real) }
}

// OnListen sets a func called with the backend PID each time the listener starts listening.
func OnListen(l *Listener, fn func(pid uint32)) { l.pid = fn }

// Pool exposes the store's pool to tests.
func (db *DB) Pool() interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
} {
	return db.pool
}
