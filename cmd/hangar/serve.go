package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/hangar-dev/hangar/internal/pgstore"
	"github.com/hangar-dev/hangar/internal/runner"
)

// serve runs `hangar serve` until ctx is cancelled.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hangar serve: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	app, err := newApp(ctx, cfg, log, stdout)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Addr, "err", err)
		return 1
	}
	log.Info("hangar listening", "url", "http://"+ln.Addr().String(), "data_dir", cfg.DataDir)
	if err := app.Serve(ctx, ln); err != nil {
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Serve answers HTTP on ln until ctx is cancelled (SIGTERM or SIGINT), then shuts down
// gracefully:
//
//  1. the runner stops starting turns (messages that arrive are stored, queued for the
//     instance that takes their session over) and the listener closes; open event streams
//     end (clients reconnect elsewhere and resume with Last-Event-ID) and in-flight
//     requests get a few seconds to finish;
//  2. running turns may finish until the grace period (--shutdown-grace) ends; those still
//     running then are stopped and left in flight, to be retried once by the instance that
//     takes their session over (on one node: the next start);
//  3. every lease is released, so other instances take the sessions over at once.
//
// It returns nil: a turn handed over is not an error.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	httpCtx, stopStreams := context.WithCancel(a.ctx)
	defer stopStreams()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return httpCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	grace := a.grace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	a.log.Info("shutting down", "grace", grace)
	graceCtx, cancelGrace := context.WithTimeout(context.Background(), grace)
	defer cancelGrace()
	httpDone := make(chan error, 1)
	go func() {
		stopStreams() // ends SSE streams
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		httpDone <- srv.Shutdown(shutdownCtx)
	}()
	if a.runner.Shutdown(graceCtx) {
		a.log.Info("running turns finished")
	} else {
		a.log.Info("running turns stopped and handed over")
	}
	a.cancel()
	if err := <-httpDone; err != nil {
		a.log.Warn("http shutdown", "err", err)
	}
	return nil
}

// singleNode makes this process the only runner of a SQLite database, through a lock
// file next to it that the kernel releases when the process ends, however it ends. The
// runner can then take over the sessions a crashed predecessor left at once, instead of
// waiting for their leases to expire (runner.Config.Exclusive). On PostgreSQL, or when
// another process holds the lock, takeovers wait for expiry.
func singleNode(cfg Config, log *slog.Logger) (exclusive bool, unlock func()) {
	noop := func() {}
	if cfg.DatabaseURL != "" {
		return false, noop
	}
	unlock, ok, err := lockFile(cfg.dataPath("hangar.db.lock"))
	switch {
	case err != nil:
		log.Warn("cannot lock the database; sessions of a crashed process resume when their leases expire", "err", err)
		return false, noop
	case !ok:
		log.Warn("another hangar process uses this data dir; sessions of a crashed process resume when their leases expire")
		return false, noop
	}
	return true, unlock
}

// dataPath returns a path inside the data dir.
func (c Config) dataPath(name string) string { return filepath.Join(c.DataDir, name) }

// runnerEvents is what the runner follows to see client events (interrupts, tool answers,
// messages) that other instances stored for the sessions it runs: the PostgreSQL
// listener. On SQLite there is one instance and nothing to follow.
func runnerEvents(pg *pgstore.DB, events eventHub) runner.Subscriber {
	if pg == nil {
		return nil
	}
	return events
}
