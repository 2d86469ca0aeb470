package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Live events cross instances on one NOTIFY channel, with two kinds of payload:
//
//	a:<session_id>:<first>:<last>   events first..last of a session were committed
//	e:<event JSON>                  an event that is never stored (session.deleted), whole
//
// Stored events are referenced, not carried: a payload is limited to 8000 bytes, and the
// Listener loads them from the store anyway, by sequence number, which is what makes
// delivery ordered and gap-free.
const channel = "hangar_events"

// maxPayload is the largest event JSON sent whole: PostgreSQL limits a NOTIFY payload to
// 8000 bytes (in the default build), and the prefix needs a little room.
const maxPayload = 7900

// notifyTimeout bounds one NOTIFY, which runs after the caller's work is committed and
// must not hang it.
const notifyTimeout = 5 * time.Second

// notifyAppend announces committed events first..last of a session to every Listener.
//
// It runs after the append's commit, in a transaction of its own with synchronous_commit
// off (the notify pool), not inside the append: a transaction that NOTIFYs holds
// PostgreSQL's database-wide notify lock from pre-commit until its commit is done, and an
// append's commit waits for its WAL flush, so in-transaction NOTIFY would serialize the
// commits (and flushes) of every append of every instance. Commit order no longer equals
// notification order this way, which the Listener does not need: it loads everything after
// the last sequence number it delivered. The cost is a crash window between commit and
// NOTIFY, which the session's next append (or a Listener reconnect) closes.
func (db *DB) notifyAppend(ctx context.Context, sessionID string, first, last int64) {
	payload := "a:" + sessionID + ":" + strconv.FormatInt(first, 10) + ":" + strconv.FormatInt(last, 10)
	if err := db.send(ctx, payload); err != nil {
		db.log.Warn("notify appended events; other instances' streams get them with the session's next append",
			"session_id", sessionID, "err", err)
	}
}

// send NOTIFYs payload on the channel.
func (db *DB) send(ctx context.Context, payload string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	_, err := db.notify.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return err
}

// liveEvent is the NOTIFY form of an event that is not stored.
type liveEvent struct {
	ID          string          `json:"id"`
	SessionID   string          `json:"session_id"`
	Type        string          `json:"type"`
	ProcessedAt *time.Time      `json:"processed_at,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
}

func encodeLive(ev hangar.Event) (string, error) {
	b, err := json.Marshal(liveEvent{ID: ev.ID, SessionID: ev.SessionID, Type: ev.Type, ProcessedAt: ev.ProcessedAt, Body: ev.Body})
	if err != nil {
		return "", err
	}
	if len(b) > maxPayload {
		return "", fmt.Errorf("event %s is %d bytes, over the %d-byte NOTIFY limit", ev.ID, len(b), maxPayload)
	}
	return "e:" + string(b), nil
}

// notice is a parsed payload.
type notice struct {
	sessionID   string
	first, last int64
	event       *hangar.Event // the e: kind
}

func parseNotice(payload string) (notice, error) {
	kind, rest, _ := strings.Cut(payload, ":")
	switch kind {
	case "a":
		parts := strings.Split(rest, ":")
		if len(parts) == 3 {
			first, err1 := strconv.ParseInt(parts[1], 10, 64)
			last, err2 := strconv.ParseInt(parts[2], 10, 64)
			if err1 == nil && err2 == nil && parts[0] != "" && first >= 1 && last >= first {
				return notice{sessionID: parts[0], first: first, last: last}, nil
			}
		}
	case "e":
		var le liveEvent
		if err := json.Unmarshal([]byte(rest), &le); err == nil && le.SessionID != "" && le.Type != "" {
			ev := hangar.Event{ID: le.ID, SessionID: le.SessionID, Type: le.Type, ProcessedAt: le.ProcessedAt, Body: le.Body}
			return notice{sessionID: le.SessionID, event: &ev}, nil
		}
	}
	return notice{}, fmt.Errorf("malformed notification %q", payload)
}
