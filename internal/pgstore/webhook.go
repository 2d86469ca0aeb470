package pgstore

import (
	"context"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateWebhookEndpoint stores an endpoint. Conflict when hangar.MaxWebhookEndpoints exist.
// The count and the insert are serialized by a transaction-scoped advisory lock, so two
// concurrent creates cannot both pass the limit.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, w *hangar.WebhookEndpoint) error {
	data, err := encodeWebhook(w)
	if err != nil {
		return err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('hangar.webhook_endpoints'))`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE agent_id = ''`).Scan(&n); err != nil {
			return err
		}
		if w.AgentID == "" && n >= hangar.MaxWebhookEndpoints {
			return hangar.Errorf(hangar.KindConflict, "an organization has at most %d webhook endpoints", hangar.MaxWebhookEndpoints)
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, state, enabled_events, sealed, key_id, data, agent_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			w.ID, w.State, w.EnabledEvents, w.Sealed, w.KeyID, data, w.AgentID)
		if isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "webhook endpoint %s already exists", w.ID)
		}
		return err
	})
	return wrap(err, "create webhook endpoint %s", w.ID)
}

func encodeWebhook(w *hangar.WebhookEndpoint) (string, error) {
	if w.EnabledEvents == nil {
		w.EnabledEvents = []string{}
	}
	return encode(w)
}

const webhookSelect = `SELECT data, sealed, key_id, agent_id FROM webhook_endpoints`

func scanWebhook(row pgx.Row) (*hangar.WebhookEndpoint, error) {
	var (
		data   string
		sealed []byte
		keyID  string
		agent  string
	)
	if err := row.Scan(&data, &sealed, &keyID, &agent); err != nil {
		return nil, err
	}
	w := new(hangar.WebhookEndpoint)
	if err := decode(data, w); err != nil {
		return nil, err
	}
	w.Sealed, w.KeyID, w.AgentID = sealed, keyID, agent
	return w, nil
}

// GetWebhookEndpoint returns endpoint id.
func (db *DB) GetWebhookEndpoint(ctx context.Context, id string) (*hangar.WebhookEndpoint, error) {
	w, err := scanWebhook(db.pool.QueryRow(ctx, webhookSelect+` WHERE id = $1`, id))
	return w, wrap(notFound(err, "webhook endpoint", id), "get webhook endpoint %s", id)
}

// ListWebhookEndpoints lists every endpoint, oldest first.
func (db *DB) ListWebhookEndpoints(ctx context.Context) ([]*hangar.WebhookEndpoint, error) {
	rows, err := db.pool.Query(ctx, webhookSelect+` WHERE agent_id = '' ORDER BY pos`)
	if err != nil {
		return nil, wrap(err, "list webhook endpoints")
	}
	defer rows.Close()
	out := []*hangar.WebhookEndpoint{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, wrap(err, "list webhook endpoints")
		}
		out = append(out, w)
	}
	return out, wrap(rows.Err(), "list webhook endpoints")
}

// UpdateWebhookEndpoint calls fn with the endpoint (locked) and saves it. Errors from fn are
// returned as they are.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, id string, fn func(w *hangar.WebhookEndpoint) error) (*hangar.WebhookEndpoint, error) {
	var out *hangar.WebhookEndpoint
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		w, err := scanWebhook(tx.QueryRow(ctx, webhookSelect+` WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return notFound(err, "webhook endpoint", id)
		}
		if fnErr = fn(w); fnErr != nil {
			return fnErr
		}
		w.ID = id
		data, err := encodeWebhook(w)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET state = $1, enabled_events = $2, sealed = $3, key_id = $4, data = $5 WHERE id = $6`,
			w.State, w.EnabledEvents, w.Sealed, w.KeyID, data, id); err != nil {
			return err
		}
		out = w
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update webhook endpoint %s", id)
}

// DeleteWebhookEndpoint deletes an endpoint and (ON DELETE CASCADE) its deliveries.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err == nil {
		err = mustAffect(tag, "webhook endpoint", id)
	}
	return wrap(err, "delete webhook endpoint %s", id)
}

// queueOutbox adds to AppendEvents' batch (inside its transaction) one pending delivery per
// webhook event and enabled endpoint subscribed to its type: a single statement.
func queueOutbox(b *pgx.Batch, out []hangar.WebhookOutbox, now time.Time) {
	if len(out) == 0 {
		return
	}
	ids, types, payloads := make([]string, len(out)), make([]string, len(out)), make([]string, len(out))
	for i, o := range out {
		ids[i], types[i], payloads[i] = o.EventID, o.Type, string(o.Payload)
	}
	b.Queue(`INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at)
		SELECT w.id, e.id, e.type, e.payload, 'pending', $4, $4
		FROM unnest($1::text[], $2::text[], $3::text[]) AS e(id, type, payload)
		JOIN webhook_endpoints w ON w.state = 'enabled' AND w.agent_id = '' AND e.type = ANY(w.enabled_events)`,
		ids, types, payloads, nanos(now))
}

// queueAgentOutbox queues, inside AppendEvents' transaction, the agent-level deliveries
// (docs/webhooks.md) of agent version a: to the agent's endpoint row, with a's URL.
func queueAgentOutbox(b *pgx.Batch, a *hangar.Agent, out []hangar.WebhookOutbox, now time.Time) {
	if len(out) == 0 {
		return
	}
	ids, types, payloads := make([]string, len(out)), make([]string, len(out)), make([]string, len(out))
	for i, o := range out {
		ids[i], types[i], payloads[i] = o.EventID, o.Type, string(o.Payload)
	}
	b.Queue(`INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at, url)
		SELECT w.id, e.id, e.type, e.payload, 'pending', $4, $4, $5
		FROM unnest($1::text[], $2::text[], $3::text[]) AS e(id, type, payload)
		JOIN webhook_endpoints w ON w.id = $6 AND w.agent_id = w.id AND w.state = 'enabled'`,
		ids, types, payloads, nanos(now), a.WebhookURL, a.ID)
}

const deliverySelect = `SELECT endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at, attempts, url FROM webhook_deliveries`

func scanDelivery(row pgx.Row) (hangar.WebhookDelivery, error) {
	var (
		d                 hangar.WebhookDelivery
		payload, attempts string
		created           int64
		next              *int64
	)
	if err := row.Scan(&d.EndpointID, &d.EventID, &d.EventType, &payload, &d.State, &created, &next, &attempts, &d.URL); err != nil {
		return d, err
	}
	d.Payload = []byte(payload)
	d.CreatedAt = time.Unix(0, created).UTC()
	d.NextAttemptAt = timePtr(next)
	return d, decode(attempts, &d.Attempts)
}

func collectDeliveries(rows pgx.Rows) ([]hangar.WebhookDelivery, error) {
	defer rows.Close()
	out := []hangar.WebhookDelivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimWebhookDeliveries claims due deliveries in one statement; FOR UPDATE SKIP LOCKED
// keeps concurrent dispatchers off each other's rows.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]hangar.WebhookDelivery, error) {
	rows, err := db.pool.Query(ctx, `UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2
		WHERE pos IN (SELECT pos FROM webhook_deliveries
			WHERE state = 'pending' AND next_attempt_at <= $3 AND claimed_until <= $3
			ORDER BY pos LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at, attempts, url`,
		owner, nanos(until), nanos(now), limit)
	if err != nil {
		return nil, wrap(err, "claim webhook deliveries")
	}
	out, err := collectDeliveries(rows)
	return out, wrap(err, "claim webhook deliveries")
}

// FinishWebhookAttempt records an attempt if owner still holds the delivery's claim.
func (db *DB) FinishWebhookAttempt(ctx context.Context, owner, endpointID, eventID string, r hangar.WebhookResult) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var attempts, claimedBy string
		err := tx.QueryRow(ctx, `SELECT attempts, claimed_by FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2 FOR UPDATE`,
			endpointID, eventID).Scan(&attempts, &claimedBy)
		if err != nil {
			return notFound(err, "webhook delivery", eventID)
		}
		if claimedBy != owner {
			return hangar.Errorf(hangar.KindConflict, "webhook delivery %s is claimed by another dispatcher", eventID)
		}
		var all []hangar.WebhookAttempt
		if err := decode(attempts, &all); err != nil {
			return err
		}
		log, err := encode(append(all, r.Attempt))
		if err != nil {
			return err
		}
		state, next := hangar.DeliveryPending, &r.Next
		if r.Done {
			state, next = hangar.DeliveryFailed, nil
			if r.Delivered {
				state = hangar.DeliveryDelivered
			}
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET state = $1, next_attempt_at = $2, attempts = $3, claimed_by = '', claimed_until = 0
			WHERE endpoint_id = $4 AND event_id = $5`, state, nanosPtr(next), log, endpointID, eventID)
		return err
	})
	return wrap(err, "finish webhook delivery %s", eventID)
}

// ListWebhookDeliveries lists an endpoint's deliveries, newest first.
func (db *DB) ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]hangar.WebhookDelivery, error) {
	rows, err := db.pool.Query(ctx, deliverySelect+` WHERE endpoint_id = $1 ORDER BY pos DESC LIMIT $2`, endpointID, limit)
	if err != nil {
		return nil, wrap(err, "list webhook deliveries")
	}
	out, err := collectDeliveries(rows)
	return out, wrap(err, "list webhook deliveries")
}
