-- The self-hosted work queue (hangar.WorkStore, docs/self-hosted.md); the twin of
-- internal/sqlstore's SQLite 0007_work_queue.sql: work items, the workers that polled each
-- environment, and environment keys (hashed).
--
-- A session has at most one live (not stopped) item: the partial unique index makes a
-- second enqueue a no-op. claimed_at and lease_expires_at decide what a poll may claim.

CREATE TABLE work_items (
	pos              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id               TEXT    NOT NULL UNIQUE,
	environment_id   TEXT    NOT NULL,
	data_type        TEXT    NOT NULL,
	data_id          TEXT    NOT NULL,
	state            TEXT    NOT NULL,
	created_at       BIGINT  NOT NULL,
	claimed_at       BIGINT,
	lease_expires_at BIGINT,
	token_hash       TEXT,
	data             TEXT    NOT NULL
);
CREATE UNIQUE INDEX work_items_live ON work_items (data_type, data_id) WHERE state <> 'stopped';
CREATE INDEX work_items_queue ON work_items (environment_id, state, pos);
CREATE INDEX work_items_data ON work_items (data_id, pos);
CREATE UNIQUE INDEX work_items_token ON work_items (token_hash) WHERE token_hash IS NOT NULL;

CREATE TABLE work_workers (
	environment_id TEXT    NOT NULL,
	worker_id      TEXT    NOT NULL,
	last_poll_at   BIGINT  NOT NULL,
	PRIMARY KEY (environment_id, worker_id)
);

CREATE TABLE environment_keys (
	environment_id TEXT    PRIMARY KEY,
	key_hash       TEXT    NOT NULL UNIQUE,
	created_at     BIGINT  NOT NULL
);
