-- Session runtime state (hangar.SessionRuntime: never part of the API's JSON) and runner
-- leases.

ALTER TABLE sessions ADD COLUMN sandbox_provider TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN sandbox_handle BLOB;
ALTER TABLE sessions ADD COLUMN resume_token TEXT NOT NULL DEFAULT '';

CREATE TABLE session_leases (
	session_id TEXT    PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	owner      TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX session_leases_owner ON session_leases (owner);

-- Finds queued user.messages (ListOrphanedSessions) without scanning whole logs.
CREATE INDEX events_unprocessed ON events (session_id, type) WHERE processed_at IS NULL;
