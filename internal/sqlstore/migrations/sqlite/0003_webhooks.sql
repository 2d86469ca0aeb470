-- Webhook endpoints (hangar.WebhookEndpoint; data holds the JSON, sealed the signing secret)
-- and the delivery outbox that AppendEvents fills in the same transaction as the events.

CREATE TABLE webhook_endpoints (
	pos            INTEGER PRIMARY KEY AUTOINCREMENT,
	id             TEXT    NOT NULL UNIQUE,
	state          TEXT    NOT NULL,
	enabled_events TEXT    NOT NULL, -- JSON array of webhook event types
	sealed         BLOB,
	key_id         TEXT    NOT NULL DEFAULT '',
	data           TEXT    NOT NULL
);

CREATE TABLE webhook_deliveries (
	pos             INTEGER PRIMARY KEY AUTOINCREMENT,
	endpoint_id     TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	event_id        TEXT    NOT NULL,
	event_type      TEXT    NOT NULL,
	payload         TEXT    NOT NULL,
	state           TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	next_attempt_at INTEGER,          -- null once delivered or given up
	claimed_by      TEXT    NOT NULL DEFAULT '',
	claimed_until   INTEGER NOT NULL DEFAULT 0,
	attempts        TEXT    NOT NULL DEFAULT '[]', -- JSON array of hangar.WebhookAttempt
	UNIQUE (endpoint_id, event_id)
);
-- The dispatchers' poll: due pending deliveries only.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
