package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hangar-dev/hangar"
)

// CreateAgent stores version 1 of a new agent. Conflict when a non-archived agent has the
// same name.
func (db *DB) CreateAgent(ctx context.Context, a *hangar.Agent) error {
	a.Version = 1
	err := db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `INSERT INTO agents (id, name, version, created_at, archived_at) VALUES (?, ?, ?, ?, ?)`,
			a.ID, a.Name, a.Version, nanos(a.CreatedAt), nanosPtr(a.ArchivedAt)); err != nil {
			return db.agentConflict(ctx, tx, err, a)
		}
		return insertAgentVersion(ctx, tx, a)
	})
	return wrap(err, "create agent %s", a.ID)
}

func insertAgentVersion(ctx context.Context, tx conn, a *hangar.Agent) error {
	data, err := encode(a)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO agent_versions (agent_id, version, data) VALUES (?, ?, ?)`, a.ID, a.Version, data)
	return err
}

// agentConflict turns a unique violation on agents into a conflict_error naming the agent
// that holds the name (or the ID); other errors pass through.
func (db *DB) agentConflict(ctx context.Context, tx conn, err error, a *hangar.Agent) error {
	if !db.d.isUnique(err) {
		return err
	}
	var other string
	switch qerr := tx.queryRow(ctx, `SELECT id FROM agents WHERE name = ? AND archived_at IS NULL AND id <> ?`, a.Name, a.ID).Scan(&other); qerr {
	case nil:
		return hangar.Errorf(hangar.KindConflict, "an agent named %q already exists (%s)", a.Name, other)
	case sql.ErrNoRows:
		return hangar.Errorf(hangar.KindConflict, "agent %s already exists", a.ID)
	default:
		return qerr
	}
}

const agentSelect = `SELECT a.pos, v.data, a.archived_at FROM agents a JOIN agent_versions v ON v.agent_id = a.id`

func scanAgent(row scanner) (*hangar.Agent, int64, error) {
	var (
		pos      int64
		data     string
		archived sql.NullInt64
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
func getAgent(ctx context.Context, c conn, id string, version int) (*hangar.Agent, error) {
	var row *sql.Row
	if version == 0 {
		row = c.queryRow(ctx, agentSelect+` AND v.version = a.version WHERE a.id = ?`, id)
	} else {
		row = c.queryRow(ctx, agentSelect+` AND v.version = ? WHERE a.id = ?`, version, id)
	}
	a, _, err := scanAgent(row)
	if err == sql.ErrNoRows {
		if version == 0 {
			return nil, hangar.NotFound("agent", id)
		}
		var n int
		if err := c.queryRow(ctx, `SELECT count(*) FROM agents WHERE id = ?`, id).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, hangar.NotFound("agent", id)
		}
		return nil, hangar.Errorf(hangar.KindNotFound, "agent %s has no version %d", id, version)
	}
	return a, err
}

// GetAgent returns version (0 = latest) of agent id.
func (db *DB) GetAgent(ctx context.Context, id string, version int) (*hangar.Agent, error) {
	a, err := getAgent(ctx, db.reader(), id, version)
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
	out, res, err := list(ctx, db.reader(), q, f.Page, scanAgent)
	return out, res, wrap(err, "list agents")
}

// UpdateAgent loads the latest version and calls fn with a copy. A changed config is
// stored as version latest+1 with UpdatedAt = now; otherwise the latest version is returned
// unchanged. Errors from fn are returned as they are.
func (db *DB) UpdateAgent(ctx context.Context, id string, now time.Time, fn func(a *hangar.Agent) error) (*hangar.Agent, error) {
	var out *hangar.Agent
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		latest, err := getAgent(ctx, tx, id, 0)
		if err != nil {
			return err
		}
		// A deep copy: fn may change maps and slices in place.
		next, err := getAgent(ctx, tx, id, 0)
		if err != nil {
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
		if _, err := tx.exec(ctx, `UPDATE agents SET name = ?, version = ? WHERE id = ?`, next.Name, next.Version, id); err != nil {
			return db.agentConflict(ctx, tx, err, next)
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
	return out, wrap(err, "update agent %s", id)
}

// ArchiveAgent sets archived_at on the agent (all versions). Archiving twice is a no-op.
func (db *DB) ArchiveAgent(ctx context.Context, id string, now time.Time) (*hangar.Agent, error) {
	var out *hangar.Agent
	err := db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `UPDATE agents SET archived_at = ? WHERE id = ? AND archived_at IS NULL`, nanos(now), id); err != nil {
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
	c := db.reader()
	var n int
	if err := c.queryRow(ctx, `SELECT count(*) FROM agents WHERE id = ?`, id).Scan(&n); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list agent versions %s", id)
	}
	if n == 0 {
		return nil, hangar.PageResult{}, hangar.NotFound("agent", id)
	}
	q := listQuery{selectFrom: `SELECT v.pos, v.data, a.archived_at FROM agent_versions v JOIN agents a ON a.id = v.agent_id`, posCol: "v.pos"}
	q.add("v.agent_id = ?", id)
	out, res, err := list(ctx, c, q, p, scanAgent)
	return out, res, wrap(err, "list agent versions %s", id)
}
