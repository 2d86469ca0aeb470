-- The twin of internal/sqlstore's SQLite 0008_threads.sql. Session threads of multiagent
-- sessions (hangar.ThreadStore, docs/threads.md), and the thread each event belongs to:
-- thread_id is NULL for the primary thread; cross_posted marks a child thread's event that
-- the primary (session-level) stream shows too.
CREATE TABLE threads (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT   NOT NULL UNIQUE,
	session_id  TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	status      TEXT   NOT NULL,
	archived_at BIGINT,
	data        TEXT   NOT NULL
);
CREATE INDEX threads_session ON threads (session_id, pos);

ALTER TABLE events ADD COLUMN thread_id TEXT;
ALTER TABLE events ADD COLUMN cross_posted BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX events_thread ON events (thread_id, seq) WHERE thread_id IS NOT NULL;
