package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// Hub is the in-process fan-out a Listener feeds (internal/pubsub.Hub).
type Hub interface {
	Publish(ev hangar.Event)
	Subscribe(sessionID string) (<-chan *hangar.Event, func())
}

// Listener carries live session events between Hangar instances sharing one database. Each
// instance runs one, on a dedicated connection that LISTENs to the store's notifications,
// and wires it between the runner and the local hub:
//
//   - As the runner's publisher (Publish), it drops stored events (their commit already
//     NOTIFYs every instance, this one included) and sends the unstored ones
//     (session.deleted) whole to every instance, this one included, with NOTIFY.
//   - As the API's hub (Subscribe), it records which sessions have local subscribers and
//     the last sequence number delivered for each.
//   - Run loads the events a notification announces for a watched session from the store,
//     after the last one delivered, and publishes them to the hub in sequence order.
//
// So with PostgreSQL every stored event reaches every stream, the local ones included,
// from the store in sequence order: the hub never sees one twice, nor out of order. A
// runner publishing straight to its hub could not promise that: an event appended by this
// instance's runner could overtake one appended just before by another instance, still in
// flight as a notification. The price is the NOTIFY round trip and one query per
// notification on each instance with subscribers to that session (docs/benchmarks.md).
//
// When the connection drops, Run reconnects with backoff and, once listening again,
// catches every watched session up from the store, so nothing committed meanwhile is
// missed.
type Listener struct {
	db  *DB
	hub Hub
	log *slog.Logger

	mu      sync.Mutex
	watched map[string]*watch

	// connect opens the listening connection (a seam for tests to hold a reconnect).
	connect func(ctx context.Context) (*pgx.Conn, error)
	// pid is called with the backend PID each time a connection starts listening (for
	// tests).
	pid func(uint32)
}

// watch is a session with local subscribers.
type watch struct {
	refs int
	// seq is the last sequence number published to the hub (or, before the first, the
	// session's last_seq when it was first subscribed); -1 when that lookup failed.
	seq int64
}

// NewListener returns a Listener feeding hub from db's notifications; call Run.
func (db *DB) NewListener(hub Hub, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{db: db, hub: hub, log: log, watched: map[string]*watch{}, pid: func(uint32) {}}
	l.connect = func(ctx context.Context) (*pgx.Conn, error) {
		cfg := db.cfg.ConnConfig.Copy()
		cfg.RuntimeParams["application_name"] = "hangar-listener"
		return pgx.ConnectConfig(ctx, cfg)
	}
	return l
}

// Subscribe subscribes to the hub's events of a session and watches the session while the
// subscription lasts. Call cancel when done (it is idempotent).
func (l *Listener) Subscribe(sessionID string) (<-chan *hangar.Event, func()) {
	return l.watchWhile(sessionID, func() (<-chan *hangar.Event, func()) { return l.hub.Subscribe(sessionID) })
}

// watchWhile watches sessionID while the hub subscription that subscribe opens lasts.
func (l *Listener) watchWhile(sessionID string, subscribe func() (<-chan *hangar.Event, func())) (<-chan *hangar.Event, func()) {
	l.mu.Lock()
	w := l.watched[sessionID]
	if w == nil {
		l.mu.Unlock()
		// Outside the lock: a query. Taken before subscribing to the hub, so events
		// committed after it are delivered (their notifications find the watch), and
		// those before are the stream's backlog, which it reads from the store itself.
		base := l.lastSeq(sessionID)
		l.mu.Lock()
		if w = l.watched[sessionID]; w == nil {
			w = &watch{seq: base}
			l.watched[sessionID] = w
		}
	}
	w.refs++
	l.mu.Unlock()
	ch, cancel := subscribe()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			cancel()
			l.mu.Lock()
			if w.refs--; w.refs == 0 && l.watched[sessionID] == w {
				delete(l.watched, sessionID)
			}
			l.mu.Unlock()
		})
	}
}

// lastSeq returns the session's last sequence number, or -1 when it cannot be read (a
// missing session, whose stream ends at once, or a database error).
func (l *Listener) lastSeq(sessionID string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	var seq int64
	if err := l.db.pool.QueryRow(ctx, `SELECT last_seq FROM sessions WHERE id = $1`, sessionID).Scan(&seq); err != nil {
		return -1
	}
	return seq
}

// Publish is the runner's publisher. Stored events (Seq > 0) are dropped: the store
// announced them at commit and Run delivers them. Others are sent to every instance,
// this one included; if that fails they are published locally only, so at least this
// instance's streams see them.
func (l *Listener) Publish(ev hangar.Event) {
	if ev.Seq > 0 {
		return
	}
	payload, err := encodeLive(ev)
	if err == nil {
		err = l.db.send(context.Background(), payload)
	}
	if err != nil {
		l.log.Warn("notify event; publishing it on this instance only", "session_id", ev.SessionID, "type", ev.Type, "err", err)
		l.hub.Publish(ev)
	}
}

// Reconnect backoff bounds.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Run listens until ctx ends, reconnecting after connection loss. It returns nil when ctx
// ends.
func (l *Listener) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		listening, err := l.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if listening {
			backoff = minBackoff
		}
		l.log.Warn("event listener disconnected; reconnecting", "in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen runs one connection: LISTEN, catch up, then deliver notifications until an error.
// listening reports whether it got as far as LISTEN.
func (l *Listener) listen(ctx context.Context) (listening bool, err error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	l.pid(conn.PgConn().PID())
	// Only now: events committed from here on are notified; the catch-up covers those
	// committed while no connection was listening (and since each watch began).
	if err := l.catchUp(ctx); err != nil {
		return true, err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		nt, err := parseNotice(n.Payload)
		if err != nil {
			l.log.Warn("ignoring notification", "err", err)
			continue
		}
		if nt.event != nil {
			l.hub.Publish(*nt.event)
			continue
		}
		// A failed load ends the connection: the reconnect's catch-up retries it.
		if err := l.deliver(ctx, nt.sessionID, nt.first, nt.last); err != nil {
			return true, err
		}
	}
}

// catchUp delivers, for every watched session, what was committed after its last delivered
// event.
func (l *Listener) catchUp(ctx context.Context) error {
	l.mu.Lock()
	ids := make([]string, 0, len(l.watched))
	for id, w := range l.watched {
		if w.seq >= 0 {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	for _, id := range ids {
		if err := l.deliver(ctx, id, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// deliverPage is how many events one query loads.
const deliverPage = 500

// deliver publishes the events of a watched session after the last one delivered. first
// and last are what a notification announced (0 for a catch-up): the range starts the
// watch when its start is unknown, and a notification that brings nothing new costs no
// query. Only Run's goroutine calls it, so publishes are in order.
func (l *Listener) deliver(ctx context.Context, sessionID string, first, last int64) error {
	l.mu.Lock()
	w := l.watched[sessionID]
	if w == nil {
		l.mu.Unlock()
		return nil
	}
	after := w.seq
	l.mu.Unlock()
	if after < 0 {
		if first == 0 {
			return nil
		}
		after = first - 1
	}
	if last > 0 && last <= after {
		return nil // already delivered with an earlier notification's load
	}
	for {
		evs, err := l.db.eventsAfter(ctx, sessionID, after, deliverPage)
		if err != nil {
			return fmt.Errorf("load events of session %s: %w", sessionID, err)
		}
		for _, ev := range evs {
			l.hub.Publish(ev)
			after = ev.Seq
		}
		l.mu.Lock()
		w.seq = max(w.seq, after)
		l.mu.Unlock()
		if len(evs) < deliverPage {
			return nil
		}
	}
}
