package sqlstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
)

// EnqueueWebhookEvents inserts the deliveries of resource lifecycle webhook events
// (hangar.WebhookEventStore), in one transaction.
func (db *DB) EnqueueWebhookEvents(ctx context.Context, out []hangar.WebhookOutbox, now time.Time) error {
	if len(out) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx conn) error { return insertOutbox(ctx, tx, out, now) })
	return wrap(err, "enqueue webhook events")
}
