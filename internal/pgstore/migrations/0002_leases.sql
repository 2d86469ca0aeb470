-- Session runtime state (hangar.SessionRuntime: never part of the API's JSON) and runner
-- leases; the twin of internal/sqlstore's SQLite 0002_leases.sql.

ALTER TABLE sessions ADD COLUMN sandbox_provider TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN sandbox_handle BYTEA;
ALTER TABLE sessions ADD COLUMN resume_token TEXT NOT NULL DEFAULT '';

CREATE TABLE session_leases (
	session_id TEXT   PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	owner      TEXT   NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX session_leases_owner ON session_leases (owner);

-- Finds queued user.messages (ListOrphanedSessions) without scanning whole logs.
CREATE INDEX events_unprocessed ON events (session_id, type) WHERE processed_at IS NULL;

-- The sessions that may need a runner by status (ListOrphanedSessions): a small set.
CREATE INDEX sessions_busy ON sessions (id) WHERE status IN ('running', 'rescheduling');
