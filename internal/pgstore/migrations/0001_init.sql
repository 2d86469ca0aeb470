-- Hangar schema, PostgreSQL dialect (the twin of internal/sqlstore's SQLite 0001_init.sql).
-- Times are BIGINT unix nanoseconds (UTC); data columns hold the domain struct as JSON text.
-- pos is the insertion order that lists and cursors use.

CREATE TABLE agents (
	pos         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	name        TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	created_at  BIGINT  NOT NULL,
	archived_at BIGINT
);
CREATE UNIQUE INDEX agents_active_name ON agents (name) WHERE archived_at IS NULL;
CREATE INDEX agents_created_at ON agents (created_at);

CREATE TABLE agent_versions (
	pos      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent_id TEXT    NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	version  INTEGER NOT NULL,
	data     TEXT    NOT NULL,
	UNIQUE (agent_id, version)
);

CREATE TABLE environments (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT   NOT NULL UNIQUE,
	name        TEXT   NOT NULL,
	created_at  BIGINT NOT NULL,
	archived_at BIGINT,
	data        TEXT   NOT NULL
);
CREATE UNIQUE INDEX environments_active_name ON environments (name) WHERE archived_at IS NULL;

CREATE TABLE sessions (
	pos            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id             TEXT    NOT NULL UNIQUE,
	agent_id       TEXT    NOT NULL,
	agent_version  INTEGER NOT NULL,
	environment_id TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	created_at     BIGINT  NOT NULL,
	archived_at    BIGINT,
	last_seq       BIGINT  NOT NULL DEFAULT 0,
	data           TEXT    NOT NULL
);
CREATE INDEX sessions_agent ON sessions (agent_id, agent_version);
CREATE INDEX sessions_environment ON sessions (environment_id);
CREATE INDEX sessions_created_at ON sessions (created_at);

-- Events are ordered and paged by seq within their session: no pos column.
CREATE TABLE events (
	session_id   TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	seq          BIGINT NOT NULL,
	id           TEXT   NOT NULL UNIQUE,
	type         TEXT   NOT NULL,
	processed_at BIGINT,
	body         TEXT,
	PRIMARY KEY (session_id, seq)
);

CREATE TABLE idempotency_keys (
	session_id TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	key        TEXT   NOT NULL,
	event_ids  TEXT[] NOT NULL,
	PRIMARY KEY (session_id, key)
);

CREATE TABLE vaults (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT   NOT NULL UNIQUE,
	created_at  BIGINT NOT NULL,
	archived_at BIGINT,
	data        TEXT   NOT NULL
);

CREATE TABLE credentials (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT   NOT NULL UNIQUE,
	vault_id    TEXT   NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
	auth_type   TEXT   NOT NULL,
	key         TEXT   NOT NULL,
	sealed      BYTEA,
	key_id      TEXT   NOT NULL,
	created_at  BIGINT NOT NULL,
	archived_at BIGINT,
	data        TEXT   NOT NULL
);
CREATE INDEX credentials_vault ON credentials (vault_id);
CREATE UNIQUE INDEX credentials_active_key ON credentials (vault_id, key)
	WHERE archived_at IS NULL AND key <> '';

CREATE TABLE files (
	pos        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id         TEXT   NOT NULL UNIQUE,
	scope_id   TEXT,
	created_at BIGINT NOT NULL,
	sha256     TEXT   NOT NULL,
	data       TEXT   NOT NULL
);
CREATE INDEX files_scope ON files (scope_id);
