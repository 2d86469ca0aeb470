-- Deployments and their runs (hangar.DeploymentStore). next_run_at is the next scheduled
-- fire (null: none); schedulers claim a fire with a conditional update of it.

CREATE TABLE deployments (
	pos         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT    NOT NULL UNIQUE,
	agent_id    TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	archived    INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	next_run_at INTEGER,
	data        TEXT    NOT NULL
);
-- The schedulers' poll: due deployments only.
CREATE INDEX deployments_due ON deployments (next_run_at) WHERE next_run_at IS NOT NULL;

CREATE TABLE deployment_runs (
	pos           INTEGER PRIMARY KEY AUTOINCREMENT,
	id            TEXT    NOT NULL UNIQUE,
	deployment_id TEXT    NOT NULL,
	trigger_type  TEXT    NOT NULL,
	has_error     INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	data          TEXT    NOT NULL
);
CREATE INDEX deployment_runs_deployment ON deployment_runs (deployment_id, pos);
