package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// AppendEvents appends events to a session's log in one transaction: it locks the session's
// row, checks the lease fence (req.LeaseOwner), replays a known IdempotencyKey (storing
// nothing, without calling Mutate), else calls req.Mutate (its error aborts everything and
// is returned as it is), numbers the events after the session's last Seq, inserts them and
// saves the session.
//
// The row lock (SELECT ... FOR UPDATE) is held until commit, so appends to one session from
// any number of connections and instances get contiguous, gap-free sequence numbers and
// commit in sequence order. After the commit, the append is announced to every instance's
// Listener (notifyAppend).
//
// Every event the runner emits goes through here, so it takes three round trips, not six:
// BEGIN rides with the locking read (which also reads the lease and the idempotency key),
// and COMMIT with the writes; then the NOTIFY.
func (db *DB) AppendEvents(ctx context.Context, req hangar.AppendRequest) ([]hangar.Event, *hangar.Session, error) {
	var fnErr error
	out, sess, replayed, err := db.appendTx(ctx, req, &fnErr)
	if fnErr != nil {
		return nil, nil, fnErr
	}
	if isUnique(err) {
		err = db.eventConflict(ctx, req.Events)
	}
	if err != nil {
		return nil, nil, wrap(err, "append events to session %s", req.SessionID)
	}
	if !replayed && len(out) > 0 {
		db.notifyAppend(ctx, req.SessionID, out[0].Seq, out[len(out)-1].Seq)
	}
	return out, sess, nil
}

// appendTx runs AppendEvents' transaction on one pooled connection. An error of Mutate is
// stored in *fnErr.
func (db *DB) appendTx(ctx context.Context, req hangar.AppendRequest, fnErr *error) (out []hangar.Event, sess *hangar.Session, replayed bool, err error) {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	// A connection still in a transaction is closed rather than pooled (pgxpool checks),
	// which the server takes as a rollback; an explicit one keeps the connection.
	defer c.Release()
	defer func() {
		if (err != nil || *fnErr != nil) && c.Conn().PgConn().TxStatus() != 'I' {
			_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()

	var (
		lastSeq int64
		data    string
		owner   *string
		seen    bool
		seenIDs []string
		// agentData is the session's agent version, read only when that agent has a
		// webhook endpoint row (agent-level webhooks, docs/webhooks.md).
		agentData *string
	)
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(`SELECT s.last_seq, s.data, l.owner, k.key IS NOT NULL, k.event_ids, v.data
		FROM sessions s
		LEFT JOIN session_leases l ON l.session_id = s.id
		LEFT JOIN idempotency_keys k ON k.session_id = s.id AND k.key = $2
		LEFT JOIN webhook_endpoints w ON w.agent_id = s.agent_id AND w.agent_id <> ''
		LEFT JOIN agent_versions v ON w.id IS NOT NULL AND v.agent_id = s.agent_id AND v.version = s.agent_version
		WHERE s.id = $1 FOR UPDATE OF s`, req.SessionID, req.IdempotencyKey)
	br := c.SendBatch(ctx, &b)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&lastSeq, &data, &owner, &seen, &seenIDs, &agentData)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, false, notFound(err, "session", req.SessionID)
	}
	s := new(hangar.Session)
	if err := decode(data, s); err != nil {
		return nil, nil, false, err
	}
	if req.LeaseOwner != "" && (owner == nil || *owner != req.LeaseOwner) {
		return nil, nil, false, hangar.Errorf(hangar.KindConflict, "session %s is not leased by %s", req.SessionID, req.LeaseOwner)
	}
	if req.IdempotencyKey != "" && seen {
		if out, err = eventsByID(ctx, c, req.SessionID, seenIDs); err != nil {
			return nil, nil, false, err
		}
		if _, err = c.Exec(ctx, "COMMIT"); err != nil {
			return nil, nil, false, err
		}
		return out, s, true, nil
	}
	if req.Mutate != nil {
		if *fnErr = req.Mutate(s); *fnErr != nil {
			return nil, nil, false, nil
		}
		s.ID = req.SessionID
	}

	n := len(req.Events)
	out = make([]hangar.Event, n)
	var (
		seqs      = make([]int64, n)
		ids       = make([]string, n)
		types     = make([]string, n)
		processed = make([]*int64, n)
		bodies    = make([]*string, n)
		threads   = make([]*string, n)
		crossed   = make([]bool, n)
	)
	for i, e := range req.Events {
		lastSeq++
		e.SessionID, e.Seq, e.Wire = req.SessionID, lastSeq, nil
		seqs[i], ids[i], types[i], processed[i] = e.Seq, e.ID, e.Type, nanosPtr(e.ProcessedAt)
		if e.Body != nil {
			body := string(e.Body)
			bodies[i] = &body
		}
		if e.ThreadID != "" {
			thread := e.ThreadID
			threads[i] = &thread
		}
		crossed[i] = e.CrossPosted
		out[i] = e
	}
	if data, err = encode(s); err != nil {
		return nil, nil, false, err
	}
	b = pgx.Batch{}
	if n > 0 {
		b.Queue(`INSERT INTO events (session_id, seq, id, type, processed_at, body, thread_id, cross_posted)
			SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::boolean[])`,
			req.SessionID, seqs, ids, types, processed, bodies, threads, crossed)
	}
	// Webhooks (docs/webhooks.md): the outbox rows commit or roll back with the events.
	queueOutbox(&b, hangar.WebhookOutboxFor(req.SessionID, out, hangar.Now()), hangar.Now())
	if agentData != nil {
		a := new(hangar.Agent)
		if err := decode(*agentData, a); err != nil {
			return nil, nil, false, err
		}
		queueAgentOutbox(&b, a, hangar.AgentWebhookOutboxFor(a, req.SessionID, out, hangar.Now()), hangar.Now())
	}
	if req.IdempotencyKey != "" {
		b.Queue(`INSERT INTO idempotency_keys (session_id, key, event_ids) VALUES ($1, $2, $3)`,
			req.SessionID, req.IdempotencyKey, ids)
	}
	b.Queue(`UPDATE sessions SET status = $1, archived_at = $2, data = $3, last_seq = $4 WHERE id = $5`,
		s.Status, nanosPtr(s.ArchivedAt), data, lastSeq, req.SessionID)
	b.Queue("COMMIT")
	if err := c.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, false, err
	}
	return out, s, false, nil
}

// eventConflict names an event whose ID is already stored (after the rollback, as
// agentConflict).
func (db *DB) eventConflict(ctx context.Context, evs []hangar.Event) error {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	var id string
	err := db.pool.QueryRow(ctx, `SELECT id FROM events WHERE id = ANY($1) LIMIT 1`, ids).Scan(&id)
	switch {
	case err == nil:
		return hangar.Errorf(hangar.KindConflict, "event %s already exists", id)
	case errors.Is(err, pgx.ErrNoRows):
		return hangar.Errorf(hangar.KindConflict, "an event of this request already exists")
	default:
		return err
	}
}

// eventsByID returns the given events of a session in Seq order.
func eventsByID(ctx context.Context, c querier, sessionID string, ids []string) ([]hangar.Event, error) {
	out := []hangar.Event{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := c.Query(ctx, eventSelect+` WHERE session_id = $1 AND id = ANY($2) ORDER BY seq`, sessionID, ids)
	if err != nil {
		return nil, err
	}
	return collectEvents(rows, out)
}

// eventsAfter returns up to limit events of a session with Seq > after, in Seq order.
func (db *DB) eventsAfter(ctx context.Context, sessionID string, after int64, limit int) ([]hangar.Event, error) {
	rows, err := db.pool.Query(ctx, eventSelect+` WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, sessionID, after, limit)
	if err != nil {
		return nil, err
	}
	return collectEvents(rows, nil)
}

func collectEvents(rows pgx.Rows, out []hangar.Event) ([]hangar.Event, error) {
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

func scanEvent(row pgx.Row) (hangar.Event, int64, error) {
	var (
		e         hangar.Event
		processed *int64
		body      *string
		thread    *string
	)
	if err := row.Scan(&e.Seq, &e.ID, &e.SessionID, &e.Type, &processed, &body, &thread, &e.CrossPosted); err != nil {
		return e, 0, err
	}
	if thread != nil {
		e.ThreadID = *thread
	}
	e.ProcessedAt = timePtr(processed)
	if body != nil {
		e.Body = []byte(*body)
	}
	return e, e.Seq, nil
}

// ListEvents lists a session's events in Seq order (Page.Desc reverses). Cursor positions
// are sequence numbers.
func (db *DB) ListEvents(ctx context.Context, sessionID string, f hangar.EventFilter) ([]hangar.Event, hangar.PageResult, error) {
	if err := sessionExists(ctx, db.pool, sessionID); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list events of session %s", sessionID)
	}
	q := listQuery{selectFrom: eventSelect, posCol: "seq"}
	q.add("session_id = ?", sessionID)
	addIn(&q, "type", f.Types)
	if f.AfterSeq > 0 {
		q.add("seq > ?", f.AfterSeq)
	}
	addTimeRange(&q, "processed_at", f.ProcessedAt)
	if f.Thread == "" {
		q.add("(thread_id IS NULL OR cross_posted)")
	} else {
		q.add("thread_id = ?", f.Thread)
	}
	out, res, err := list(ctx, db.pool, q, f.Page, scanEvent)
	return out, res, wrap(err, "list events of session %s", sessionID)
}

// MarkProcessed sets processed_at on the given events of a session where it is null.
// Unknown event IDs are ignored; not_found_error when the session does not exist.
func (db *DB) MarkProcessed(ctx context.Context, sessionID string, eventIDs []string, at time.Time) error {
	if len(eventIDs) > 0 {
		tag, err := db.pool.Exec(ctx, `UPDATE events SET processed_at = $1 WHERE session_id = $2 AND processed_at IS NULL AND id = ANY($3)`,
			nanos(at), sessionID, eventIDs)
		if err != nil {
			return wrap(err, "mark events of session %s processed", sessionID)
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
	}
	return wrap(sessionExists(ctx, db.pool, sessionID), "mark events of session %s processed", sessionID)
}
