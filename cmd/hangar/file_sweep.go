package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hangar-dev/hangar/internal/httpapi"
)

// fileSweepInterval is how often expired files (expires_in_seconds) are deleted. Until
// then they already answer 404 (docs/resources.md "File expiry").
const fileSweepInterval = time.Minute

// sweepExpiredFiles deletes expired files and their content every fileSweepInterval until
// ctx ends. Instances sharing a database may sweep at once: deleting a file twice is a
// no-op.
func sweepExpiredFiles(ctx context.Context, api *httpapi.Server, log *slog.Logger) {
	t := time.NewTicker(fileSweepInterval)
	defer t.Stop()
	for {
		if n, err := api.SweepExpiredFiles(ctx); err != nil && ctx.Err() == nil {
			log.Warn("sweep expired files", "err", err)
		} else if n > 0 {
			log.Info("deleted expired files", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
