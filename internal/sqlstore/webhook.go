package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hangar-dev/hangar"
)

// CreateWebhookEndpoint stores an endpoint. Conflict when hangar.MaxWebhookEndpoints exist.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, w *hangar.WebhookEndpoint) error {
	err := db.inTx(ctx, func(tx conn) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE agent_id = ''`).Scan(&n); err != nil {
			return err
		}
		if w.AgentID == "" && n >= hangar.MaxWebhookEndpoints {
			return hangar.Errorf(hangar.KindConflict, "an organization has at most %d webhook endpoints", hangar.MaxWebhookEndpoints)
		}
		return insertWebhook(ctx, tx, w, db.d.isUnique)
	})
	return wrap(err, "create webhook endpoint %s", w.ID)
}

func insertWebhook(ctx context.Context, tx conn, w *hangar.WebhookEndpoint, isUnique func(error) bool) error {
	data, events, err := encodeWebhook(w)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO webhook_endpoints (id, state, enabled_events, sealed, key_id, data, agent_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.State, events, w.Sealed, w.KeyID, data, w.AgentID)
	if isUnique(err) {
		return hangar.Errorf(hangar.KindConflict, "webhook endpoint %s already exists", w.ID)
	}
	return err
}

func encodeWebhook(w *hangar.WebhookEndpoint) (data, events string, err error) {
	if data, err = encode(w); err != nil {
		return "", "", err
	}
	if w.EnabledEvents == nil {
		w.EnabledEvents = []string{}
	}
	events, err = encode(w.EnabledEvents)
	return data, events, err
}

const webhookSelect = `SELECT data, sealed, key_id, agent_id FROM webhook_endpoints`

func scanWebhook(row scanner) (*hangar.WebhookEndpoint, error) {
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

func getWebhook(ctx context.Context, c conn, id string) (*hangar.WebhookEndpoint, error) {
	w, err := scanWebhook(c.queryRow(ctx, webhookSelect+` WHERE id = ?`, id))
	return w, notFound(err, "webhook endpoint", id)
}

// GetWebhookEndpoint returns endpoint id.
func (db *DB) GetWebhookEndpoint(ctx context.Context, id string) (*hangar.WebhookEndpoint, error) {
	w, err := getWebhook(ctx, db.reader(), id)
	return w, wrap(err, "get webhook endpoint %s", id)
}

// ListWebhookEndpoints lists every endpoint, oldest first.
func (db *DB) ListWebhookEndpoints(ctx context.Context) ([]*hangar.WebhookEndpoint, error) {
	rows, err := db.reader().query(ctx, webhookSelect+` WHERE agent_id = '' ORDER BY pos`)
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

// UpdateWebhookEndpoint calls fn with the endpoint in a transaction and saves it. Errors from
// fn are returned as they are.
func (db *DB) UpdateWebhookEndpoint(ctx context.Context, id string, fn func(w *hangar.WebhookEndpoint) error) (*hangar.WebhookEndpoint, error) {
	var out *hangar.WebhookEndpoint
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		w, err := getWebhook(ctx, tx, id)
		if err != nil {
			return err
		}
		if fnErr = fn(w); fnErr != nil {
			return fnErr
		}
		w.ID = id
		data, events, err := encodeWebhook(w)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE webhook_endpoints SET state = ?, enabled_events = ?, sealed = ?, key_id = ?, data = ? WHERE id = ?`,
			w.State, events, w.Sealed, w.KeyID, data, id); err != nil {
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

// DeleteWebhookEndpoint deletes an endpoint and its deliveries.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "webhook endpoint", id)
	})
	return wrap(err, "delete webhook endpoint %s", id)
}

// insertOutbox writes, inside AppendEvents' transaction, one pending delivery per webhook
// event and enabled endpoint subscribed to its type.
func insertOutbox(ctx context.Context, tx conn, out []hangar.WebhookOutbox, now time.Time) error {
	for _, o := range out {
		if _, err := tx.exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at)
			SELECT id, ?, ?, ?, 'pending', ?, ? FROM webhook_endpoints
			WHERE state = 'enabled' AND agent_id = '' AND EXISTS (SELECT 1 FROM json_each(enabled_events) WHERE value = ?)`,
			o.EventID, o.Type, string(o.Payload), nanos(now), nanos(now), o.Type); err != nil {
			return err
		}
	}
	return nil
}

// insertAgentOutbox writes, inside AppendEvents' transaction, the agent-level deliveries
// (docs/webhooks.md) of agent version a: to the agent's endpoint row, with a's URL.
func insertAgentOutbox(ctx context.Context, tx conn, a *hangar.Agent, out []hangar.WebhookOutbox, now time.Time) error {
	for _, o := range out {
		if _, err := tx.exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at, url)
			SELECT id, ?, ?, ?, 'pending', ?, ?, ? FROM webhook_endpoints WHERE id = ? AND agent_id = id AND state = 'enabled'`,
			o.EventID, o.Type, string(o.Payload), nanos(now), nanos(now), a.WebhookURL, a.ID); err != nil {
			return err
		}
	}
	return nil
}

const deliverySelect = `SELECT endpoint_id, event_id, event_type, payload, state, created_at, next_attempt_at, attempts, url FROM webhook_deliveries`

func scanDelivery(row scanner) (hangar.WebhookDelivery, error) {
	var (
		d                 hangar.WebhookDelivery
		payload, attempts string
		created           int64
		next              sql.NullInt64
	)
	if err := row.Scan(&d.EndpointID, &d.EventID, &d.EventType, &payload, &d.State, &created, &next, &attempts, &d.URL); err != nil {
		return d, err
	}
	d.Payload = []byte(payload)
	d.CreatedAt = time.Unix(0, created).UTC()
	d.NextAttemptAt = timePtr(next)
	return d, decode(attempts, &d.Attempts)
}

func collectDeliveries(rows *sql.Rows) ([]hangar.WebhookDelivery, error) {
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

// ClaimWebhookDeliveries claims due deliveries. The write transaction is serialized (one
// writer connection), so the select and the update are atomic together.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, owner string, now, until time.Time, limit int) ([]hangar.WebhookDelivery, error) {
	// Dispatchers poll often; most polls find nothing, and must not take the single write
	// connection from event appends to learn that.
	var one int
	switch err := db.reader().queryRow(ctx, `SELECT 1 FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? AND claimed_until <= ? LIMIT 1`,
		nanos(now), nanos(now)).Scan(&one); err {
	case nil:
	case sql.ErrNoRows:
		return []hangar.WebhookDelivery{}, nil
	default:
		return nil, wrap(err, "claim webhook deliveries")
	}
	var out []hangar.WebhookDelivery
	err := db.inTx(ctx, func(tx conn) error {
		rows, err := tx.query(ctx, deliverySelect+` WHERE state = 'pending' AND next_attempt_at <= ? AND claimed_until <= ? ORDER BY pos LIMIT ?`,
			nanos(now), nanos(now), limit)
		if err != nil {
			return err
		}
		if out, err = collectDeliveries(rows); err != nil {
			return err
		}
		for _, d := range out {
			if _, err := tx.exec(ctx, `UPDATE webhook_deliveries SET claimed_by = ?, claimed_until = ? WHERE endpoint_id = ? AND event_id = ?`,
				owner, nanos(until), d.EndpointID, d.EventID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, wrap(err, "claim webhook deliveries")
}

// FinishWebhookAttempt records an attempt if owner still holds the delivery's claim.
func (db *DB) FinishWebhookAttempt(ctx context.Context, owner, endpointID, eventID string, r hangar.WebhookResult) error {
	err := db.inTx(ctx, func(tx conn) error {
		var attempts, claimedBy string
		err := tx.queryRow(ctx, `SELECT attempts, claimed_by FROM webhook_deliveries WHERE endpoint_id = ? AND event_id = ?`,
			endpointID, eventID).Scan(&attempts, &claimedBy)
		if err != nil {
			return notFound(err, "webhook delivery", eventID)
		}
		if claimedBy != owner {
			return hangar.Errorf(hangar.KindConflict, "webhook delivery %s is claimed by another dispatcher", eventID)
		}
		state, next, log, err := finishedDelivery(attempts, r)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, attempts = ?, claimed_by = '', claimed_until = 0
			WHERE endpoint_id = ? AND event_id = ?`, state, next, log, endpointID, eventID)
		return err
	})
	return wrap(err, "finish webhook delivery %s", eventID)
}

// finishedDelivery returns a delivery's new state, next attempt time and attempt log.
func finishedDelivery(attempts string, r hangar.WebhookResult) (state string, next any, log string, err error) {
	var all []hangar.WebhookAttempt
	if err := decode(attempts, &all); err != nil {
		return "", nil, "", err
	}
	if log, err = encode(append(all, r.Attempt)); err != nil {
		return "", nil, "", err
	}
	switch {
	case r.Done && r.Delivered:
		return hangar.DeliveryDelivered, nil, log, nil
	case r.Done:
		return hangar.DeliveryFailed, nil, log, nil
	default:
		return hangar.DeliveryPending, nanos(r.Next), log, nil
	}
}

// ListWebhookDeliveries lists an endpoint's deliveries, newest first.
func (db *DB) ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]hangar.WebhookDelivery, error) {
	rows, err := db.reader().query(ctx, deliverySelect+` WHERE endpoint_id = ? ORDER BY pos DESC LIMIT ?`, endpointID, limit)
	if err != nil {
		return nil, wrap(err, "list webhook deliveries")
	}
	out, err := collectDeliveries(rows)
	return out, wrap(err, "list webhook deliveries")
}
