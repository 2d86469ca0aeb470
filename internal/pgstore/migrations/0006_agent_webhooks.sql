-- The twin of internal/sqlstore's SQLite 0006_agent_webhooks.sql. Agent-level webhooks (docs/webhooks.md): an agent's signing secret lives in a hidden
-- webhook_endpoints row (agent_id = id = the agent's ID), and its deliveries carry the
-- webhook_url of the session's agent version.
ALTER TABLE webhook_endpoints ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_deliveries ADD COLUMN url TEXT NOT NULL DEFAULT '';
CREATE INDEX webhook_endpoints_agent ON webhook_endpoints (agent_id) WHERE agent_id <> '';
