package pgstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// EnqueueWebhookEvents inserts the deliveries of resource lifecycle webhook events
// (hangar.WebhookEventStore): one statement.
func (db *DB) EnqueueWebhookEvents(ctx context.Context, out []hangar.WebhookOutbox, now time.Time) error {
	if len(out) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	queueOutbox(b, out, now)
	err := db.pool.SendBatch(ctx, b).Close()
	return wrap(err, "enqueue webhook events")
}
