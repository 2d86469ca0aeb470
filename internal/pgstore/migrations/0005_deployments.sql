-- Deployments and their runs (hangar.DeploymentStore); the twin of
-- internal/sqlstore's SQLite 0005_deployments.sql. next_run_at is the next scheduled
-- fire (null: none); schedulers claim a fire with a conditional update of it.

CREATE TABLE deployments (
	pos         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT    NOT NULL UNIQUE,
	agent_id    TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	archived    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at  BIGINT  NOT NULL,
	next_run_at BIGINT,
	data        TEXT    NOT NULL
);
-- The schedulers' poll: due deployments only.
CREATE INDEX deployments_due ON deployments (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE deployment_runs (
	pos           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id            TEXT    NOT NULL UNIQUE,
	deployment_id TEXT    NOT NULL,
	trigger_type  TEXT    NOT NULL,
	has_error     BOOLEAN NOT NULL,
	created_at    BIGINT  NOT NULL,
	data          TEXT    NOT NULL
);
CREATE INDEX deployment_runs_deployment ON deployment_runs (deployment_id, pos);
