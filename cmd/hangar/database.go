package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/httpapi"
	"github.com/hangar-dev/hangar/internal/pgstore"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// openStore opens PostgreSQL when cfg.DatabaseURL is set (pg is then non-nil), else SQLite
// in the data dir.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store hangar.Store, pg *pgstore.DB, err error) {
	if cfg.DatabaseURL == "" {
		db, err := sqlstore.Open(ctx, cfg.dataPath("hangar.db"))
		if err != nil {
			return nil, nil, err
		}
		return db, nil, nil
	}
	pg, err = pgstore.Open(ctx, string(cfg.DatabaseURL), pgstore.WithLogger(log))
	if err != nil {
		// pgx errors name the host and database, never the password.
		return nil, nil, fmt.Errorf("HANGAR_DATABASE_URL: %w", err)
	}
	return pg, pg, nil
}

// eventHub is where the runner publishes live events and the API subscribes to them.
type eventHub interface {
	runner.Publisher
	httpapi.Hub
}

// startEvents wires live events. On SQLite the runner publishes straight to the in-process
// hub. On PostgreSQL a pgstore.Listener stands between them, so that events cross instances
// (docs/deployment.md); it runs until ctx ends, and wait returns once it has stopped.
func startEvents(ctx context.Context, hub *pubsub.Hub, pg *pgstore.DB, log *slog.Logger) (events eventHub, wait func()) {
	if pg == nil {
		return hub, func() {}
	}
	l := pg.NewListener(hub, log.With("component", "listener"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx) // returns nil when ctx ends
	}()
	return l, func() { <-done }
}
