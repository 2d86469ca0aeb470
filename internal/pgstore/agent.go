package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateAgent stores version 1 of a new agent. Conflict when a non-archived agent has the
// same name.
func (db *DB) CreateAgent(ctx context.Context, a *hangar.Agent) error {
	a.Version = 1
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agents (id, name, version, created_at, archived_at) VALUES ($1, $2, $3, $4, $5)`,
			a.ID, a.Name, a.Version, nanos(a.CreatedAt), nanosPtr(a.ArchivedAt)); err != nil {
			return err
		}
		return insertAgentVersion(ctx, tx, a)
	})
	if isUnique(err) {
		err = db.agentConflict(ctx, a)
	}
	return wrap(err, "create agent %s", a.ID)
}

func insertAgentVersion(ctx context.Context, tx pgx.Tx, a *hangar.Agent) error {
	data, err := encode(a)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO agent_versions (agent_id, version, data) VALUES ($1, $2, $3)`, a.ID, a.Version, data)
	return err
}

// agentConflict builds the conflict_error for a unique violation on agents, naming the
// agent that holds the name (or the ID). A violation aborts the PostgreSQL transaction, so
// this looks on the pool, after the rollback.
func (db *DB) agentConflict(ctx context.Context, a *hangar.Agent) error {
	var other string
	err := db.pool.QueryRow(ctx, `SELECT id FROM agents WHERE name = $1 AND archived_at IS NULL AND id <> $2`, a.Name, a.ID).Scan(&other)
	switch {
	case err == nil:
		return hangar.Errorf(hangar.KindConflict, "an agent named %q already exists (%s)", a.Name, other)
	case errors.Is(err, pgx.ErrNoRows):
		return hangar.Errorf(hangar.KindConflict, "agent %s already exists", a.ID)
	default:
		return err
	}
}

const agentSelect = `SELECT a.pos, v.data, a.archived_at FROM agents a JOIN agent_versions v ON v.agent_id = a.id`

func scanAgent(row pgx.Row) (*hangar.Agent, int64, error) {
	var (
		pos      int64
		data     string
		archived *int64
	)
	if err := row.Scan(&pos, &data, &archived); err != nil {
		return nil, 0, err
	}
	a := new(hangar.Agent)
	if err := decode(data, a); err != nil {
		return nil, 0, err
	}
	a.ArchivedAt = timePtr(archived)
	return a, pos, nil
}

// getAgent loads version (0 = latest) of agent id.
func getAgent(ctx context.Context, c querier, id string, version int) (*hangar.Agent, error) {
	var row pgx.Row
	if version == 0 {
		row = c.QueryRow(ctx, agentSelect+` AND v.version = a.version WHERE a.id = $1`, id)
	} else {
		row = c.QueryRow(ctx, agentSelect+` AND v.version = $1 WHERE a.id = $2`, version, id)
	}
	a, _, err := scanAgent(row)
	if errors.Is(err, pgx.ErrNoRows) {
		if version == 0 {
			return nil, hangar.NotFound("agent", id)
		}
		if err := agentExists(ctx, c, id); err != nil {
			return nil, err
		}
		return nil, hangar.Errorf(hangar.KindNotFound, "agent %s has no version %d", id, version)
	}
	return a, err
}

func agentExists(ctx context.Context, c querier, id string) error {
	var ok bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1)`, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return hangar.NotFound("agent", id)
	}
	return nil
}

// GetAgent returns version (0 = latest) of agent id.
func (db *DB) GetAgent(ctx context.Context, id string, version int) (*hangar.Agent, error) {
	a, err := getAgent(ctx, db.pool, id, version)
	return a, wrap(err, "get agent %s", id)
}

// ListAgents lists the latest version of each agent.
func (db *DB) ListAgents(ctx context.Context, f hangar.AgentFilter) ([]*hangar.Agent, hangar.PageResult, error) {
	q := listQuery{selectFrom: agentSelect + ` AND v.version = a.version`, posCol: "a.pos"}
	if !f.IncludeArchived {
		q.add("a.archived_at IS NULL")
	}
	if f.CreatedAfter != nil {
		q.add("a.created_at >= ?", nanos(*f.CreatedAfter))
	}
	if f.CreatedBefore != nil {
		q.add("a.created_at <= ?", nanos(*f.CreatedBefore))
	}
	out, res, err := list(ctx, db.pool, q, f.Page, scanAgent)
	return out, res, wrap(err, "list agents")
}

// UpdateAgent loads the latest version and calls fn with a copy. A changed config is
// stored as version latest+1 with UpdatedAt = now; otherwise the latest version is returned
// unchanged. Errors from fn are returned as they are. The agent's row is locked for the
// transaction, so concurrent updates each build on the one before.
func (db *DB) UpdateAgent(ctx context.Context, id string, now time.Time, fn func(a *hangar.Agent) error) (*hangar.Agent, error) {
	var out, next *hangar.Agent
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var locked int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM agents WHERE id = $1 FOR UPDATE`, id).Scan(&locked); err != nil {
			return notFound(err, "agent", id)
		}
		latest, err := getAgent(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		// A deep copy: fn may change maps and slices in place.
		if next, err = getAgent(ctx, tx, id, 0); err != nil {
			return err
		}
		if fnErr = fn(next); fnErr != nil {
			return fnErr
		}
		next.ID, next.Version = latest.ID, latest.Version
		next.CreatedAt, next.UpdatedAt, next.ArchivedAt = latest.CreatedAt, latest.UpdatedAt, latest.ArchivedAt
		if next.SameConfig(latest) {
			out = latest
			return nil
		}
		next.Version, next.UpdatedAt = latest.Version+1, now
		if _, err := tx.Exec(ctx, `UPDATE agents SET name = $1, version = $2 WHERE id = $3`, next.Name, next.Version, id); err != nil {
			return err
		}
		if err := insertAgentVersion(ctx, tx, next); err != nil {
			return err
		}
		out = next
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if isUnique(err) {
		err = db.agentConflict(ctx, next)
	}
	return out, wrap(err, "update agent %s", id)
}

// ArchiveAgent sets archived_at on the agent (all versions). Archiving twice is a no-op.
func (db *DB) ArchiveAgent(ctx context.Context, id string, now time.Time) (*hangar.Agent, error) {
	var out *hangar.Agent
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE agents SET archived_at = $1 WHERE id = $2 AND archived_at IS NULL`, nanos(now), id); err != nil {
			return err
		}
		var err error
		out, err = getAgent(ctx, tx, id, 0)
		return err
	})
	return out, wrap(err, "archive agent %s", id)
}

// ListAgentVersions lists the versions of an agent, oldest first.
func (db *DB) ListAgentVersions(ctx context.Context, id string, p hangar.Page) ([]*hangar.Agent, hangar.PageResult, error) {
	if err := agentExists(ctx, db.pool, id); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list agent versions %s", id)
	}
	q := listQuery{selectFrom: `SELECT v.pos, v.data, a.archived_at FROM agent_versions v JOIN agents a ON a.id = v.agent_id`, posCol: "v.pos"}
	q.add("v.agent_id = ?", id)
	out, res, err := list(ctx, db.pool, q, p, scanAgent)
	return out, res, wrap(err, "list agent versions %s", id)
}
