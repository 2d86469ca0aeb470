-- The twin of internal/sqlstore's SQLite 0009_session_extras.sql. Session extras
-- (docs/resources.md): the deployment that started a session, for the deployment_id filter
-- of GET /v1/sessions.
ALTER TABLE sessions ADD COLUMN deployment_id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_deployment ON sessions (deployment_id) WHERE deployment_id <> '';
-- File expiry (docs/resources.md "File expiry"): expires_at in Unix nanoseconds, NULL for
-- files that never expire; the sweeper finds expired files through the index.
ALTER TABLE files ADD COLUMN expires_at BIGINT;
CREATE INDEX files_expires ON files (expires_at) WHERE expires_at IS NOT NULL;
