package pgstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateDeployment stores a deployment.
func (db *DB) CreateDeployment(ctx context.Context, d *hangar.Deployment) error {
	data, err := encode(d)
	if err != nil {
		return wrap(err, "create deployment %s", d.ID)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO deployments (id, agent_id, status, archived, created_at, next_run_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			d.ID, d.Agent.ID, d.Status, d.ArchivedAt != nil, nanos(d.CreatedAt), nanosPtr(d.NextRunAt), data)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "deployment %s already exists", d.ID)
		}
		return err
	})
	return wrap(err, "create deployment %s", d.ID)
}

const deploymentSelect = `SELECT pos, next_run_at, data FROM deployments`

func scanDeployment(row pgx.Row) (*hangar.Deployment, int64, error) {
	var (
		pos  int64
		next *int64
		data string
		d    hangar.Deployment
	)
	if err := row.Scan(&pos, &next, &data); err != nil {
		return nil, 0, err
	}
	if err := decode(data, &d); err != nil {
		return nil, 0, err
	}
	d.NextRunAt = timePtr(next)
	return &d, pos, nil
}

func getDeployment(ctx context.Context, c querier, id string, lock bool) (*hangar.Deployment, error) {
	q := deploymentSelect + ` WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	d, _, err := scanDeployment(c.QueryRow(ctx, q, id))
	return d, notFound(err, "deployment", id)
}

// GetDeployment returns deployment id.
func (db *DB) GetDeployment(ctx context.Context, id string) (*hangar.Deployment, error) {
	d, err := getDeployment(ctx, db.pool, id, false)
	return d, wrap(err, "get deployment %s", id)
}

// ListDeployments lists deployments.
func (db *DB) ListDeployments(ctx context.Context, f hangar.DeploymentFilter) ([]*hangar.Deployment, hangar.PageResult, error) {
	q := listQuery{selectFrom: deploymentSelect, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived = ?", false)
	}
	if f.AgentID != "" {
		q.add("agent_id = ?", f.AgentID)
	}
	if f.Status != "" {
		q.add("status = ?", f.Status)
	}
	addTimeRange(&q, "created_at", f.CreatedAt)
	out, res, err := list(ctx, db.pool, q, f.Page, scanDeployment)
	return out, res, wrap(err, "list deployments")
}

// UpdateDeployment calls fn with the deployment in a transaction and saves it.
func (db *DB) UpdateDeployment(ctx context.Context, id string, fn func(d *hangar.Deployment) error) (*hangar.Deployment, error) {
	var out *hangar.Deployment
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		d, err := getDeployment(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if fnErr = fn(d); fnErr != nil {
			return fnErr
		}
		d.ID = id
		data, err := encode(d)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE deployments SET agent_id = $1, status = $2, archived = $3, next_run_at = $4, data = $5 WHERE id = $6`,
			d.Agent.ID, d.Status, d.ArchivedAt != nil, nanosPtr(d.NextRunAt), data, id); err != nil {
			return err
		}
		out = d
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update deployment %s", id)
}

// DueDeployments lists active deployments whose next fire is due.
func (db *DB) DueDeployments(ctx context.Context, now time.Time, limit int) ([]*hangar.Deployment, error) {
	rows, err := db.pool.Query(ctx, deploymentSelect+` WHERE next_run_at IS NOT NULL AND next_run_at <= $1 AND status = $2 AND archived = $3 ORDER BY next_run_at LIMIT $4`,
		nanos(now), hangar.DeploymentActive, false, limit)
	if err != nil {
		return nil, wrap(err, "due deployments")
	}
	defer rows.Close()
	out := []*hangar.Deployment{}
	for rows.Next() {
		d, _, err := scanDeployment(rows)
		if err != nil {
			return nil, wrap(err, "due deployments")
		}
		out = append(out, d)
	}
	return out, wrap(rows.Err(), "due deployments")
}

// ClaimDeploymentFire moves next_run_at forward if it still equals from. The
// conditional UPDATE takes the row lock, so of concurrent claims exactly one affects a row.
func (db *DB) ClaimDeploymentFire(ctx context.Context, id string, from time.Time, to *time.Time, lastRun time.Time) (bool, error) {
	claimed := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deployments SET next_run_at = $1 WHERE id = $2 AND next_run_at = $3`, nanosPtr(to), id, nanos(from))
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		claimed = true
		d, err := getDeployment(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if d.Schedule != nil {
			t := lastRun.UTC()
			d.Schedule.LastRunAt = &t
		}
		data, err := encode(d)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE deployments SET data = $1 WHERE id = $2`, data, id)
		return err
	})
	if err != nil {
		return false, wrap(err, "claim deployment fire %s", id)
	}
	return claimed, nil
}

// CreateDeploymentRun stores a run.
func (db *DB) CreateDeploymentRun(ctx context.Context, r *hangar.DeploymentRun) error {
	data, err := encode(r)
	if err != nil {
		return wrap(err, "create deployment run %s", r.ID)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO deployment_runs (id, deployment_id, trigger_type, has_error, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.DeploymentID, r.Trigger.Type, r.Error != nil, nanos(r.CreatedAt), data)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "deployment run %s already exists", r.ID)
		}
		return err
	})
	return wrap(err, "create deployment run %s", r.ID)
}

const runSelect = `SELECT pos, data FROM deployment_runs`

func scanRun(row pgx.Row) (*hangar.DeploymentRun, int64, error) {
	var (
		pos  int64
		data string
		r    hangar.DeploymentRun
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &r, pos, decode(data, &r)
}

// GetDeploymentRun returns run id.
func (db *DB) GetDeploymentRun(ctx context.Context, id string) (*hangar.DeploymentRun, error) {
	r, _, err := scanRun(db.pool.QueryRow(ctx, runSelect+` WHERE id = $1`, id))
	return r, wrap(notFound(err, "deployment run", id), "get deployment run %s", id)
}

// ListDeploymentRuns lists runs.
func (db *DB) ListDeploymentRuns(ctx context.Context, f hangar.DeploymentRunFilter) ([]*hangar.DeploymentRun, hangar.PageResult, error) {
	q := listQuery{selectFrom: runSelect, posCol: "pos"}
	if f.DeploymentID != "" {
		q.add("deployment_id = ?", f.DeploymentID)
	}
	if f.TriggerType != "" {
		q.add("trigger_type = ?", f.TriggerType)
	}
	if f.HasError != nil {
		q.add("has_error = ?", *f.HasError)
	}
	addTimeRange(&q, "created_at", f.CreatedAt)
	out, res, err := list(ctx, db.pool, q, f.Page, scanRun)
	return out, res, wrap(err, "list deployment runs")
}
