package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pgstore"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/jackc/pgx/v5"
)

// instance is one Hangar instance's share of the scale-out wiring: a store, a hub and the
// listener between them.
type instance struct {
	db  *pgstore.DB
	hub *pubsub.Hub
	l   *pgstore.Listener
}

// newInstance opens a store on url and wires a listener; setup (optional) configures the
// listener before it runs. Everything stops when t ends.
func newInstance(t testing.TB, url string, setup func(l *pgstore.Listener)) *instance {
	t.Helper()
	db := open(t, url)
	hub := pubsub.New(1024)
	l := db.NewListener(hub, nil)
	if setup != nil {
		setup(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener Run: %v", err)
		}
		hub.Close()
	})
	return &instance{db: db, hub: hub, l: l}
}

func newSession(t testing.TB, st hangar.Store) *hangar.Session {
	t.Helper()
	now := hangar.Now()
	s := &hangar.Session{
		Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle,
		Agent: hangar.Agent{ID: "agent_x", Version: 1}, EnvironmentID: "env_x",
		Resources: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func messages(n int, tag string) []hangar.Event {
	out := make([]hangar.Event, n)
	for i := range out {
		out[i] = hangar.NewEvent(hangar.EventAgentMessage, map[string]string{"text": fmt.Sprintf("%s-%d", tag, i)})
		out[i].ID = hangar.NewID(hangar.PrefixEvent)
	}
	return out
}

// appendEvents appends n events on inst and, as the runner does, publishes what was stored
// through the listener.
func appendEvents(t *testing.T, inst *instance, sessionID string, n int) []hangar.Event {
	t.Helper()
	stored, _, err := inst.db.AppendEvents(context.Background(), hangar.AppendRequest{SessionID: sessionID, Events: messages(n, "m")})
	if err != nil {
		t.Error(err)
		return nil
	}
	for _, ev := range stored {
		inst.l.Publish(ev)
	}
	return stored
}

// recv returns the next event of ch, failing after a generous deadline.
func recv(t *testing.T, what string, ch <-chan *hangar.Event) *hangar.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("%s: subscription closed", what)
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: timed out waiting for an event", what)
		return nil
	}
}

// expectSeqs reads events from..to from ch, in order.
func expectSeqs(t *testing.T, what string, ch <-chan *hangar.Event, from, to int64) {
	t.Helper()
	for want := from; want <= to; want++ {
		ev := recv(t, what, ch)
		if ev.Seq != want {
			t.Fatalf("%s: got seq %d (%s), want %d", what, ev.Seq, ev.Type, want)
		}
	}
}

// TestListenerAcrossInstances appends to one session from both instances at once: the
// subscribers on each instance get every event once, in sequence order, then the unstored
// session.deleted that one instance publishes.
func TestListenerAcrossInstances(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := newInstance(t, url, nil)
	b := newInstance(t, url, nil)
	s := newSession(t, a.db)
	onA, cancelA := a.l.Subscribe(s.ID)
	defer cancelA()
	onB, cancelB := b.l.Subscribe(s.ID)
	defer cancelB()
	// A second subscriber on one instance shares the watch.
	onB2, cancelB2 := b.l.Subscribe(s.ID)
	defer cancelB2()

	const workers, appends, per = 4, 10, 3
	var wg sync.WaitGroup
	for w := range workers {
		inst := []*instance{a, b}[w%2]
		wg.Go(func() {
			for range appends {
				appendEvents(t, inst, s.ID, 1+w%per)
			}
		})
	}
	wg.Wait()
	var total int64
	for w := range workers {
		total += int64(appends * (1 + w%per))
	}
	expectSeqs(t, "instance A", onA, 1, total)
	expectSeqs(t, "instance B", onB, 1, total)
	expectSeqs(t, "instance B, second subscriber", onB2, 1, total)

	// Unstored events cross too; arriving right after the last append shows that no
	// event was delivered twice.
	now := hangar.Now()
	a.l.Publish(hangar.Event{ID: hangar.NewID(hangar.PrefixEvent), SessionID: s.ID, Type: hangar.EventSessionDeleted, ProcessedAt: &now})
	for _, c := range []struct {
		what string
		ch   <-chan *hangar.Event
	}{{"instance A", onA}, {"instance B", onB}, {"instance B, second subscriber", onB2}} {
		if ev := recv(t, c.what, c.ch); ev.Type != hangar.EventSessionDeleted || ev.Seq != 0 || !ev.ProcessedAt.Equal(now) {
			t.Errorf("%s: got %+v after the appends, want session.deleted", c.what, ev)
		}
	}
}

// TestListenerCatchesUpAfterReconnect kills the listening connection of instance B, appends
// while B is reconnecting, and expects B's subscriber to get those events from the
// catch-up, in order, and live events after it.
func TestListenerCatchesUpAfterReconnect(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := newInstance(t, url, nil)
	pids := make(chan uint32, 4)
	var (
		mu       sync.Mutex
		hold     bool
		released = make(chan struct{})
		waiting  = make(chan struct{}, 1)
	)
	b := newInstance(t, url, func(l *pgstore.Listener) {
		pgstore.OnListen(l, func(pid uint32) { pids <- pid })
		pgstore.SetConnectHook(l, func(ctx context.Context, connect func(context.Context) (*pgx.Conn, error)) (*pgx.Conn, error) {
			mu.Lock()
			h := hold
			mu.Unlock()
			if h {
				waiting <- struct{}{}
				select {
				case <-released:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return connect(ctx)
		})
	})
	s := newSession(t, a.db)
	onB, cancel := b.l.Subscribe(s.ID)
	defer cancel()

	pid := <-pids
	appendEvents(t, a, s.ID, 3)
	expectSeqs(t, "before the disconnect", onB, 1, 3)

	mu.Lock()
	hold = true
	mu.Unlock()
	var ok bool
	if err := a.db.Pool().QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %t, %v", pid, ok, err)
	}
	select {
	case <-waiting:
	case <-time.After(20 * time.Second):
		t.Fatal("the listener did not notice its connection was terminated")
	}
	appendEvents(t, a, s.ID, 2)
	appendEvents(t, a, s.ID, 3)
	close(released)
	if newPID := <-pids; newPID == pid {
		t.Fatalf("listening on the terminated backend %d again", pid)
	}
	expectSeqs(t, "caught up after the reconnect", onB, 4, 8)
	appendEvents(t, a, s.ID, 1)
	expectSeqs(t, "live after the reconnect", onB, 9, 9)
}
