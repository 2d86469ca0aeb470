-- Webhook endpoints and the delivery outbox; the twin of internal/sqlstore's SQLite
-- 0003_webhooks.sql.

CREATE TABLE webhook_endpoints (
	pos            BIGSERIAL PRIMARY KEY,
	id             TEXT      NOT NULL UNIQUE,
	state          TEXT      NOT NULL,
	enabled_events TEXT[]    NOT NULL,
	sealed         BYTEA,
	key_id         TEXT      NOT NULL DEFAULT '',
	data           TEXT      NOT NULL
);

CREATE TABLE webhook_deliveries (
	pos             BIGSERIAL PRIMARY KEY,
	endpoint_id     TEXT      NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
	event_id        TEXT      NOT NULL,
	event_type      TEXT      NOT NULL,
	payload         TEXT      NOT NULL,
	state           TEXT      NOT NULL,
	created_at      BIGINT    NOT NULL,
	next_attempt_at BIGINT,
	claimed_by      TEXT      NOT NULL DEFAULT '',
	claimed_until   BIGINT    NOT NULL DEFAULT 0,
	attempts        TEXT      NOT NULL DEFAULT '[]',
	UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
