package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hangar-dev/hangar"
)

// AppendEvents appends events to a session's log in one transaction: it loads the session,
// replays a known IdempotencyKey (storing nothing, without calling Mutate), else calls
// req.Mutate (its error aborts everything and is returned as it is), numbers the events
// after the session's last Seq, inserts them and saves the session.
//
// The write transaction is serialized (one writer connection, BEGIN IMMEDIATE), so
// concurrent appends to one session get contiguous, gap-free sequence numbers.
func (db *DB) AppendEvents(ctx context.Context, req hangar.AppendRequest) ([]hangar.Event, *hangar.Session, error) {
	var (
		out   []hangar.Event
		sess  *hangar.Session
		fnErr error
	)
	err := db.inTx(ctx, func(tx conn) error {
		var lastSeq int64
		var data string
		// agentData is the session's agent version, read only when that agent has a webhook
		// endpoint row (agent-level webhooks, docs/webhooks.md).
		var agentData sql.NullString
		err := tx.queryRow(ctx, `SELECT s.last_seq, s.data, v.data FROM sessions s
			LEFT JOIN webhook_endpoints w ON w.agent_id = s.agent_id AND w.agent_id <> ''
			LEFT JOIN agent_versions v ON w.id IS NOT NULL AND v.agent_id = s.agent_id AND v.version = s.agent_version
			WHERE s.id = ?`, req.SessionID).Scan(&lastSeq, &data, &agentData)
		if err != nil {
			return notFound(err, "session", req.SessionID)
		}
		s := new(hangar.Session)
		if err := decode(data, s); err != nil {
			return err
		}
		if req.LeaseOwner != "" {
			if err := checkLease(ctx, tx, req.SessionID, req.LeaseOwner); err != nil {
				return err
			}
		}
		if req.IdempotencyKey != "" {
			var ids string
			switch err := tx.queryRow(ctx, `SELECT event_ids FROM idempotency_keys WHERE session_id = ? AND key = ?`,
				req.SessionID, req.IdempotencyKey).Scan(&ids); err {
			case nil:
				var eventIDs []string
				if err := decode(ids, &eventIDs); err != nil {
					return err
				}
				if out, err = eventsByID(ctx, tx, req.SessionID, eventIDs); err != nil {
					return err
				}
				sess = s
				return nil
			case sql.ErrNoRows:
			default:
				return err
			}
		}
		if req.Mutate != nil {
			if fnErr = req.Mutate(s); fnErr != nil {
				return fnErr
			}
			s.ID = req.SessionID
		}
		out = make([]hangar.Event, len(req.Events))
		ids := make([]string, len(req.Events))
		for i, e := range req.Events {
			lastSeq++
			e.SessionID, e.Seq = req.SessionID, lastSeq
			var body any
			if e.Body != nil {
				body = string(e.Body)
			}
			if _, err := tx.exec(ctx, `INSERT INTO events (session_id, seq, id, type, processed_at, body, thread_id, cross_posted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				e.SessionID, e.Seq, e.ID, e.Type, nanosPtr(e.ProcessedAt), body, nullString(e.ThreadID), e.CrossPosted); err != nil {
				if db.d.isUnique(err) {
					return hangar.Errorf(hangar.KindConflict, "event %s already exists", e.ID)
				}
				return err
			}
			out[i], ids[i] = e, e.ID
		}
		// Webhooks (docs/webhooks.md): the outbox rows commit or roll back with the events.
		if err := insertOutbox(ctx, tx, hangar.WebhookOutboxFor(req.SessionID, out, hangar.Now()), hangar.Now()); err != nil {
			return err
		}
		if agentData.Valid {
			a := new(hangar.Agent)
			if err := decode(agentData.String, a); err != nil {
				return err
			}
			if err := insertAgentOutbox(ctx, tx, a, hangar.AgentWebhookOutboxFor(a, req.SessionID, out, hangar.Now()), hangar.Now()); err != nil {
				return err
			}
		}
		if req.IdempotencyKey != "" {
			enc, err := encode(ids)
			if err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `INSERT INTO idempotency_keys (session_id, key, event_ids) VALUES (?, ?, ?)`,
				req.SessionID, req.IdempotencyKey, enc); err != nil {
				return err
			}
		}
		if err := saveSession(ctx, tx, s); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET last_seq = ? WHERE id = ?`, lastSeq, req.SessionID); err != nil {
			return err
		}
		sess = s
		return nil
	})
	if fnErr != nil {
		return nil, nil, fnErr
	}
	if err != nil {
		return nil, nil, wrap(err, "append events to session %s", req.SessionID)
	}
	return out, sess, nil
}

// eventsByID returns the given events of a session in Seq order.
func eventsByID(ctx context.Context, c conn, sessionID string, ids []string) ([]hangar.Event, error) {
	out := []hangar.Event{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{sessionID}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := c.query(ctx, eventSelect+` WHERE session_id = ? AND id IN (`+placeholders(len(ids))+`) ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		e, _, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

const eventSelect = `SELECT seq, id, session_id, type, processed_at, body, thread_id, cross_posted FROM events`

func scanEvent(row scanner) (hangar.Event, int64, error) {
	var (
		e         hangar.Event
		processed sql.NullInt64
		body      sql.NullString
		thread    sql.NullString
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.SessionID, &e.Type, &processed, &body, &thread, &e.CrossPosted); err != nil {
		return e, 0, err
	}
	e.ThreadID = thread.String
	e.ProcessedAt = timePtr(processed)
	if body.Valid {
		e.Body = []byte(body.String)
	}
	return e, e.Seq, nil
}

// ListEvents lists a session's events in Seq order (Page.Desc reverses). Cursor positions
// are sequence numbers.
func (db *DB) ListEvents(ctx context.Context, sessionID string, f hangar.EventFilter) ([]hangar.Event, hangar.PageResult, error) {
	c := db.reader()
	var n int
	if err := c.queryRow(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, sessionID).Scan(&n); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list events of session %s", sessionID)
	}
	if n == 0 {
		return nil, hangar.PageResult{}, hangar.NotFound("session", sessionID)
	}
	q := listQuery{selectFrom: eventSelect, posCol: "seq"}
	q.add("session_id = ?", sessionID)
	addIn(&q, "type", f.Types)
	if f.AfterSeq > 0 {
		q.add("seq > ?", f.AfterSeq)
	}
	addTimeRange(&q, "processed_at", f.ProcessedAt)
	if f.Thread == "" {
		q.add("(thread_id IS NULL OR cross_posted = ?)", true)
	} else {
		q.add("thread_id = ?", f.Thread)
	}
	out, res, err := list(ctx, c, q, f.Page, scanEvent)
	return out, res, wrap(err, "list events of session %s", sessionID)
}

// MarkProcessed sets processed_at on the given events of a session where it is null.
// Unknown event IDs are ignored; not_found_error when the session does not exist.
func (db *DB) MarkProcessed(ctx context.Context, sessionID string, eventIDs []string, at time.Time) error {
	err := db.inTx(ctx, func(tx conn) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM sessions WHERE id = ?`, sessionID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return hangar.NotFound("session", sessionID)
		}
		if len(eventIDs) == 0 {
			return nil
		}
		args := []any{nanos(at), sessionID}
		for _, id := range eventIDs {
			args = append(args, id)
		}
		_, err := tx.exec(ctx, `UPDATE events SET processed_at = ? WHERE session_id = ? AND processed_at IS NULL AND id IN (`+
			placeholders(len(eventIDs))+`)`, args...)
		return err
	})
	return wrap(err, "mark events of session %s processed", sessionID)
}
