package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// newRunnableSession stores an agent, an environment and an idle session, and returns the
// session's ID.
func newRunnableSession(t *testing.T, st hangar.Store, clk *clock, name string) string {
	t.Helper()
	ctx := context.Background()
	a := newAgent(name+"-agent", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	env := newEnvironment(name+"-env", clk.Now())
	must(t, st.CreateEnvironment(ctx, env))
	s := newSession(a, env.ID, clk.Now())
	must(t, st.CreateSession(ctx, s))
	return s.ID
}

func testRuntime(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	id := newRunnableSession(t, st, clk, "rt")
	before, err := st.GetSession(ctx, id)
	must(t, err)

	got, err := st.GetSessionRuntime(ctx, id)
	must(t, err)
	if d := diff(hangar.SessionRuntime{}, got); d != "" {
		t.Errorf("runtime of a new session (-want +got):\n%s", d)
	}
	want := hangar.SessionRuntime{Provider: "local", Sandbox: []byte(`{"dir":"/x"}` + "\x00\xff"), Resume: "turn-3"}
	must(t, st.SetSessionRuntime(ctx, id, want))
	got, err = st.GetSessionRuntime(ctx, id)
	must(t, err)
	if d := diff(want, got); d != "" {
		t.Errorf("runtime after set (-want +got):\n%s", d)
	}
	// The runtime is not part of the session and survives session updates.
	after, err := st.GetSession(ctx, id)
	must(t, err)
	if d := diff(before, after); d != "" {
		t.Errorf("SetSessionRuntime changed the session (-want +got):\n%s", d)
	}
	_, err = st.UpdateSession(ctx, id, func(s *hangar.Session) error { s.Status = hangar.StatusRunning; return nil })
	must(t, err)
	if got, err = st.GetSessionRuntime(ctx, id); err != nil || !slices.Equal(got.Sandbox, want.Sandbox) || got.Resume != want.Resume {
		t.Errorf("runtime after UpdateSession = %+v, %v", got, err)
	}
	// Clearing.
	must(t, st.SetSessionRuntime(ctx, id, hangar.SessionRuntime{}))
	if got, err = st.GetSessionRuntime(ctx, id); err != nil || got.Provider != "" || len(got.Sandbox) != 0 || got.Resume != "" {
		t.Errorf("runtime after clearing = %+v, %v", got, err)
	}

	_, err = st.GetSessionRuntime(ctx, "sesn_missing")
	wantKind(t, "GetSessionRuntime", err, hangar.KindNotFound)
	wantKind(t, "SetSessionRuntime", st.SetSessionRuntime(ctx, "sesn_missing", want), hangar.KindNotFound)
}

func testLeases(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	id := newRunnableSession(t, st, clk, "lease")
	other := newRunnableSession(t, st, clk, "lease2")
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	acquire := func(sessionID, owner string, now, until time.Time, want bool) {
		t.Helper()
		got, err := st.AcquireLease(ctx, sessionID, owner, now, until)
		must(t, err)
		if got != want {
			t.Errorf("AcquireLease(%s, now %v) = %t, want %t", owner, now.Sub(t0), got, want)
		}
	}
	acquire(id, "a", at(0), at(10), true)
	acquire(id, "b", at(5), at(15), false) // held by a
	acquire(id, "a", at(5), at(20), true)  // renewal
	acquire(id, "b", at(19), at(30), false)
	acquire(id, "b", at(20), at(30), true) // expired at 20: taken over
	acquire(id, "a", at(21), at(40), false)
	acquire(other, "a", at(21), at(40), true)

	// Renewal: a holds other only; b holds id, expired or not.
	held, err := st.RenewLeases(ctx, "a", at(50))
	must(t, err)
	if !slices.Equal(held, []string{other}) {
		t.Errorf("RenewLeases(a) = %v, want [%s]", held, other)
	}
	held, err = st.RenewLeases(ctx, "b", at(60))
	must(t, err)
	if !slices.Equal(held, []string{id}) {
		t.Errorf("RenewLeases(b) = %v, want [%s]", held, id)
	}
	acquire(id, "a", at(55), at(70), false) // renewed to 60
	held, err = st.RenewLeases(ctx, "nobody", at(60))
	must(t, err)
	if len(held) != 0 {
		t.Errorf("RenewLeases(nobody) = %v", held)
	}

	// Release: only by the holder.
	must(t, st.ReleaseLease(ctx, id, "a"))
	acquire(id, "a", at(56), at(70), false)
	must(t, st.ReleaseLease(ctx, id, "b"))
	acquire(id, "a", at(56), at(70), true)
	must(t, st.ReleaseLease(ctx, "sesn_missing", "a"))
	must(t, st.ReleaseLease(ctx, other, "b"))

	_, err = st.AcquireLease(ctx, "sesn_missing", "a", at(0), at(1))
	wantKind(t, "AcquireLease", err, hangar.KindNotFound)

	// Deleting a session drops its lease.
	must(t, st.DeleteSession(ctx, id))
	held, err = st.RenewLeases(ctx, "a", at(80))
	must(t, err)
	if !slices.Equal(held, []string{other}) {
		t.Errorf("RenewLeases after delete = %v, want [%s]", held, other)
	}
}

// testLeaseRace has many owners race for one free session: exactly one wins.
func testLeaseRace(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	id := newRunnableSession(t, st, newClock(), "race")
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	const n = 8
	var wg sync.WaitGroup
	won := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			won[i], errs[i] = st.AcquireLease(ctx, id, string(rune('a'+i)), now, now.Add(time.Minute))
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		must(t, errs[i])
		if won[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d owners acquired one free lease, want 1", winners)
	}
}

func testLeaseFence(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	id := newRunnableSession(t, st, clk, "fence")
	now := clk.Now()
	ev := func() hangar.Event {
		return hangar.Event{ID: hangar.NewID(hangar.PrefixEvent), Type: hangar.EventAgentMessage, ProcessedAt: &now}
	}
	appendAs := func(owner string) error {
		_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: id, Events: []hangar.Event{ev()}, LeaseOwner: owner})
		return err
	}
	wantKind(t, "append fenced by a missing lease", appendAs("a"), hangar.KindConflict)
	ok, err := st.AcquireLease(ctx, id, "a", now, now.Add(time.Second))
	must(t, err)
	if !ok {
		t.Fatal("AcquireLease failed")
	}
	must(t, appendAs("a"))
	// Expired but not taken over: still a's.
	must(t, appendAs("a"))
	wantKind(t, "append fenced by another owner's lease", appendAs("b"), hangar.KindConflict)
	later := now.Add(2 * time.Second)
	if ok, err = st.AcquireLease(ctx, id, "b", later, later.Add(time.Second)); err != nil || !ok {
		t.Fatalf("takeover = %t, %v", ok, err)
	}
	wantKind(t, "append by the previous owner after a takeover", appendAs("a"), hangar.KindConflict)
	must(t, appendAs("b"))
	// Unfenced appends (client events) are not affected.
	_, _, err = st.AppendEvents(ctx, hangar.AppendRequest{SessionID: id, Events: []hangar.Event{ev()}})
	must(t, err)
	evs, _, err := st.ListEvents(ctx, id, hangar.EventFilter{})
	must(t, err)
	if len(evs) != 4 {
		t.Errorf("%d events stored, want 4 (the fenced appends store nothing)", len(evs))
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Errorf("event %d has seq %d", i, e.Seq)
		}
	}
}

func testOrphanedSessions(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	now := clk.Now()
	idle := newRunnableSession(t, st, clk, "idle")
	running := newRunnableSession(t, st, clk, "running")
	queued := newRunnableSession(t, st, clk, "queued")
	leased := newRunnableSession(t, st, clk, "leased")
	expired := newRunnableSession(t, st, clk, "expired")
	answered := newRunnableSession(t, st, clk, "answered")

	setStatus := func(id, status string) {
		t.Helper()
		_, err := st.UpdateSession(ctx, id, func(s *hangar.Session) error { s.Status = status; return nil })
		must(t, err)
	}
	appendMsg := func(id string, processed *time.Time) string {
		t.Helper()
		ev := hangar.Event{ID: hangar.NewID(hangar.PrefixEvent), Type: hangar.EventUserMessage, ProcessedAt: processed}
		_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: id, Events: []hangar.Event{ev}})
		must(t, err)
		return ev.ID
	}
	setStatus(running, hangar.StatusRunning)
	appendMsg(queued, nil)
	appendMsg(idle, &now)
	setStatus(leased, hangar.StatusRescheduling)
	setStatus(expired, hangar.StatusRescheduling)
	mustAcquire := func(id string, until time.Time) {
		t.Helper()
		if ok, err := st.AcquireLease(ctx, id, "x", now, until); err != nil || !ok {
			t.Fatalf("AcquireLease = %t, %v", ok, err)
		}
	}
	mustAcquire(leased, now.Add(time.Hour))
	mustAcquire(expired, now.Add(time.Second))
	answeredMsg := appendMsg(answered, nil)
	must(t, st.MarkProcessed(ctx, answered, []string{answeredMsg}, now))

	got, err := st.ListOrphanedSessions(ctx, now.Add(time.Second), 100)
	must(t, err)
	if want := []string{running, queued, expired}; !slices.Equal(got, want) {
		t.Errorf("ListOrphanedSessions = %v, want %v (running, queued, expired)", got, want)
	}
	got, err = st.ListOrphanedSessions(ctx, now.Add(time.Second), 2)
	must(t, err)
	if want := []string{running, queued}; !slices.Equal(got, want) {
		t.Errorf("ListOrphanedSessions(limit 2) = %v, want %v", got, want)
	}
	got, err = st.ListOrphanedSessions(ctx, now, 100)
	must(t, err)
	if want := []string{running, queued}; !slices.Equal(got, want) {
		t.Errorf("ListOrphanedSessions before expiry = %v, want %v", got, want)
	}
}
