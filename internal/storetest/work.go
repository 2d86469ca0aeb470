package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// Work pins hangar.WorkStore: one live item per session, claims in queue order with
// reclaim of stale claims and expired leases, updates, lookups by session and by token,
// stats, environment keys; WorkClaimRace checks that concurrent claims never share an item.

func newWork(envID, sessionID string, at time.Time) *hangar.Work {
	return &hangar.Work{
		ID: hangar.NewID(hangar.PrefixWork), EnvironmentID: envID,
		Data:  hangar.WorkData{Type: hangar.WorkDataSession, ID: sessionID},
		State: hangar.WorkQueued, Metadata: map[string]string{}, CreatedAt: at,
	}
}

func testWork(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	// Enqueue: a second item for a session with a live one is refused.
	w1 := newWork("env_a", "sesn_1", clk.Now())
	got, created, err := st.EnqueueWork(ctx, w1)
	must(t, err)
	if !created || got.ID != w1.ID {
		t.Fatalf("EnqueueWork = %s, %v; want the new item", got.ID, created)
	}
	dup := newWork("env_a", "sesn_1", clk.Now())
	got, created, err = st.EnqueueWork(ctx, dup)
	must(t, err)
	if created || got.ID != w1.ID {
		t.Fatalf("EnqueueWork(same session) = %s, %v; want the live item %s", got.ID, created, w1.ID)
	}
	w2 := newWork("env_a", "sesn_2", clk.Now())
	w3 := newWork("env_b", "sesn_3", clk.Now())
	for _, w := range []*hangar.Work{w2, w3} {
		if _, _, err := st.EnqueueWork(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if d := diff(w1, mustGetWork(t, st, "env_a", w1.ID)); d != "" {
		t.Errorf("GetWork (-want +got):\n%s", d)
	}
	_, err = st.GetWork(ctx, "env_b", w1.ID)
	wantKind(t, "GetWork(other environment)", err, hangar.KindNotFound)
	if _, err := st.GetWork(ctx, "", w1.ID); err != nil {
		t.Errorf("GetWork(any environment): %v", err)
	}

	// Claims go in queue order and skip claimed items until their claim is stale.
	t0 := clk.Now()
	claim := func(worker, token string, now, reclaimBefore time.Time) *hangar.Work {
		t.Helper()
		w, err := st.ClaimWork(ctx, hangar.WorkClaim{EnvironmentID: "env_a", WorkerID: worker, Now: now, ReclaimBefore: reclaimBefore, TokenHash: token})
		must(t, err)
		return w
	}
	c1 := claim("wk1", "h1", t0, t0.Add(-5*time.Second))
	if c1 == nil || c1.ID != w1.ID || c1.State != hangar.WorkQueued || c1.WorkerID != "wk1" || c1.TokenHash != "h1" || !c1.ClaimedAt.Equal(t0) {
		t.Fatalf("first claim = %+v, want %s claimed by wk1", c1, w1.ID)
	}
	c2 := claim("wk2", "h2", t0, t0.Add(-5*time.Second))
	if c2 == nil || c2.ID != w2.ID {
		t.Fatalf("second claim = %+v, want %s", c2, w2.ID)
	}
	if c := claim("wk3", "h3", t0, t0.Add(-5*time.Second)); c != nil {
		t.Fatalf("third claim = %s, want none", c.ID)
	}
	st1, err := st.WorkStats(ctx, "env_a", t0)
	must(t, err)
	if st1.Depth != 0 || st1.Pending != 2 || st1.OldestQueuedAt == nil || !st1.OldestQueuedAt.Equal(w1.CreatedAt) {
		t.Errorf("stats after claims = %+v", st1)
	}

	// Token lookup finds the live item; ack and heartbeat through UpdateWork.
	if w, err := st.WorkForToken(ctx, "h1"); err != nil || w.ID != w1.ID {
		t.Fatalf("WorkForToken(h1) = %v, %v", w, err)
	}
	_, err = st.WorkForToken(ctx, "nope")
	wantKind(t, "WorkForToken(unknown)", err, hangar.KindNotFound)
	t1 := t0.Add(time.Second)
	acked, err := st.UpdateWork(ctx, "env_a", w1.ID, func(w *hangar.Work) error { return w.Ack(t1) })
	must(t, err)
	if acked.State != hangar.WorkStarting {
		t.Fatalf("acked state = %s", acked.State)
	}
	_, err = st.UpdateWork(ctx, "env_a", w1.ID, func(w *hangar.Work) error { return errSentinel })
	if err != errSentinel {
		t.Errorf("UpdateWork passes fn's error on: got %v", err)
	}
	_, err = st.UpdateWork(ctx, "env_a", "work_missing", func(w *hangar.Work) error { return nil })
	wantKind(t, "UpdateWork(missing)", err, hangar.KindNotFound)
	var hb hangar.HeartbeatResult
	beat, err := st.UpdateWork(ctx, "env_a", w1.ID, func(w *hangar.Work) error {
		var err error
		hb, err = w.Heartbeat(hangar.NoHeartbeat, 10*time.Second, t1)
		return err
	})
	must(t, err)
	if beat.State != hangar.WorkActive || !hb.LeaseExtended || beat.LeaseExpiresAt == nil {
		t.Fatalf("after heartbeat: %+v, %+v", beat, hb)
	}

	// An active item with a live lease is not claimable; once the lease expires it is, and
	// the new claim has a new token, no lease and state queued.
	if c := claim("wk3", "h3", t1.Add(9*time.Second), t0.Add(-time.Second)); c != nil {
		t.Fatalf("claimed %s while its lease is live and no claim is stale", c.ID)
	}
	late := t1.Add(11 * time.Second)
	// w2's unacknowledged claim is stale now too; w1 comes first in queue order. A reclaim
	// retires the earlier claim's item (stopped) and hands out a copy under a new ID.
	re, err := st.ClaimWork(ctx, hangar.WorkClaim{EnvironmentID: "env_a", WorkerID: "wk3", Now: late,
		ReclaimBefore: late.Add(-5 * time.Second), TokenHash: "h4", NewID: "work_re1"})
	must(t, err)
	if re == nil || re.ID != "work_re1" || re.Data != w1.Data || !re.CreatedAt.Equal(w1.CreatedAt) || re.State != hangar.WorkQueued ||
		re.LeaseExpiresAt != nil || re.LastHeartbeat != "" || re.StartedAt != nil || re.TokenHash != "h4" || re.WorkerID != "wk3" {
		t.Fatalf("reclaim after lease expiry = %+v", re)
	}
	if old := mustGetWork(t, st, "env_a", w1.ID); old.State != hangar.WorkStopped || old.TokenHash != "" || old.StoppedAt == nil {
		t.Fatalf("the retired claim's item = %+v, want stopped", old)
	}
	if _, err := st.WorkForToken(ctx, "h1"); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("the old claim's token still finds the item: %v", err)
	}
	// The retired item's late ack is a conflict; the new claim is untouched by it.
	_, err = st.UpdateWork(ctx, "env_a", w1.ID, func(w *hangar.Work) error { return w.Ack(late) })
	wantKind(t, "Ack(retired claim)", err, hangar.KindConflict)
	if sw, err := st.SessionWork(ctx, "sesn_1"); err != nil || sw.ID != re.ID || sw.State != hangar.WorkQueued {
		t.Fatalf("SessionWork after reclaim = %+v, %v; want %s queued", sw, err, re.ID)
	}
	re2 := claim("wk4", "h5", late, late.Add(-5*time.Second))
	if re2 == nil || re2.ID == w2.ID || re2.Data != w2.Data || re2.WorkerID != "wk4" {
		t.Fatalf("reclaim of a stale unacknowledged claim = %+v", re2)
	}

	// Stop: the token is revoked and a new item may be enqueued for the session.
	stopped, err := st.UpdateWork(ctx, "env_a", re.ID, func(w *hangar.Work) error { return w.Stop(true, late) })
	must(t, err)
	if stopped.State != hangar.WorkStopped || stopped.TokenHash != "" {
		t.Fatalf("stopped = %+v", stopped)
	}
	if _, err := st.WorkForToken(ctx, "h4"); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("a stopped item's token still finds it: %v", err)
	}
	w4 := newWork("env_a", "sesn_1", clk.Now())
	if _, created, err := st.EnqueueWork(ctx, w4); err != nil || !created {
		t.Fatalf("EnqueueWork after stop: created=%v err=%v", created, err)
	}
	if sw, err := st.SessionWork(ctx, "sesn_1"); err != nil || sw.ID != w4.ID {
		t.Errorf("SessionWork = %v, %v; want the newest item %s", sw, err, w4.ID)
	}
	_, err = st.SessionWork(ctx, "sesn_none")
	wantKind(t, "SessionWork(none)", err, hangar.KindNotFound)

	// List: the environment's items only, paged.
	checkPaging(t, pager[*hangar.Work]{
		list: func(p hangar.Page) ([]*hangar.Work, hangar.PageResult, error) {
			return st.ListWork(ctx, hangar.WorkFilter{EnvironmentID: "env_a", Page: p})
		},
		id: func(w *hangar.Work) string { return w.ID },
	}, []string{w4.ID, re2.ID, re.ID, w2.ID, w1.ID}, 2, true)

	// Stats: depth counts unclaimed items, workers count polls in the window.
	must(t, st.RecordWorkerPoll(ctx, "env_a", "wk1", t0))
	must(t, st.RecordWorkerPoll(ctx, "env_a", "wk2", late))
	must(t, st.RecordWorkerPoll(ctx, "env_a", "wk2", t0)) // an older poll does not move it back
	must(t, st.RecordWorkerPoll(ctx, "env_b", "wk9", late))
	stats, err := st.WorkStats(ctx, "env_a", late)
	must(t, err)
	if stats.Depth != 1 || stats.Pending != 1 || stats.WorkersPolling != 1 || stats.OldestQueuedAt == nil || !stats.OldestQueuedAt.Equal(w2.CreatedAt) {
		t.Errorf("stats = %+v (oldest %v), want depth 1, pending 1, 1 worker, oldest %v", stats, stats.OldestQueuedAt, w2.CreatedAt)
	}
	empty, err := st.WorkStats(ctx, "env_none", late)
	must(t, err)
	if empty != (hangar.WorkStats{}) {
		t.Errorf("stats of an empty queue = %+v", empty)
	}

	// Environment keys: set, look up, rotate.
	must(t, st.SetEnvironmentKey(ctx, "env_a", "k1", t0))
	if id, err := st.EnvironmentForKey(ctx, "k1"); err != nil || id != "env_a" {
		t.Errorf("EnvironmentForKey(k1) = %q, %v", id, err)
	}
	must(t, st.SetEnvironmentKey(ctx, "env_a", "k2", late))
	_, err = st.EnvironmentForKey(ctx, "k1")
	wantKind(t, "EnvironmentForKey(rotated key)", err, hangar.KindNotFound)
	if id, err := st.EnvironmentForKey(ctx, "k2"); err != nil || id != "env_a" {
		t.Errorf("EnvironmentForKey(k2) = %q, %v", id, err)
	}
}

func mustGetWork(t *testing.T, st hangar.Store, envID, id string) *hangar.Work {
	t.Helper()
	w, err := st.GetWork(context.Background(), envID, id)
	must(t, err)
	return w
}

// testWorkClaimRace: many concurrent claims of a queue of n items hand out each item
// exactly once.
func testWorkClaimRace(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	const n, claimers = 6, 12
	for i := range n {
		_, _, err := st.EnqueueWork(ctx, newWork("env_r", "sesn_r"+string(rune('a'+i)), clk.Now()))
		must(t, err)
	}
	now := clk.Now()
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for i := range claimers {
		wg.Go(func() {
			w, err := st.ClaimWork(ctx, hangar.WorkClaim{EnvironmentID: "env_r", WorkerID: "w", Now: now,
				ReclaimBefore: now.Add(-time.Hour), TokenHash: hangar.HashToken(string(rune('A' + i)))})
			if err != nil {
				t.Error(err)
				return
			}
			if w != nil {
				mu.Lock()
				seen[w.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct items, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("item %s claimed %d times", id, c)
		}
	}
}

// testWorkEnd: archiving an environment force-stops its live items and drops its key and
// poll records; deleting it deletes its items too. Other environments are untouched.
func testWorkEnd(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	now := clk.Now()
	live := newWork("env_end", "sesn_e1", now)
	done := newWork("env_end", "sesn_e2", now)
	other := newWork("env_keep", "sesn_k1", now)
	for _, w := range []*hangar.Work{live, done, other} {
		_, _, err := st.EnqueueWork(ctx, w)
		must(t, err)
	}
	claimed, err := st.ClaimWork(ctx, hangar.WorkClaim{EnvironmentID: "env_end", WorkerID: "wk", Now: now, ReclaimBefore: now.Add(-time.Hour), TokenHash: "tok_end"})
	must(t, err)
	if claimed == nil || claimed.ID != live.ID {
		t.Fatalf("claim = %+v", claimed)
	}
	_, err = st.UpdateWork(ctx, "env_end", done.ID, func(w *hangar.Work) error { return w.Stop(true, now) })
	must(t, err)
	must(t, st.SetEnvironmentKey(ctx, "env_end", "key_end", now))
	must(t, st.SetEnvironmentKey(ctx, "env_keep", "key_keep", now))
	must(t, st.RecordWorkerPoll(ctx, "env_end", "wk", now))
	must(t, st.RecordWorkerPoll(ctx, "env_keep", "wk", now))

	// Archive: live items stop (token revoked), key and poll records go.
	later := clk.Now()
	n, err := st.EndEnvironmentWork(ctx, "env_end", false, later)
	must(t, err)
	if n != 1 {
		t.Errorf("EndEnvironmentWork(archive) = %d, want 1 item stopped", n)
	}
	if w := mustGetWork(t, st, "env_end", live.ID); w.State != hangar.WorkStopped || w.TokenHash != "" || w.StoppedAt == nil || !w.StoppedAt.Equal(later) {
		t.Errorf("live item after archive = %+v", w)
	}
	_, err = st.WorkForToken(ctx, "tok_end")
	wantKind(t, "WorkForToken(after archive)", err, hangar.KindNotFound)
	_, err = st.EnvironmentForKey(ctx, "key_end")
	wantKind(t, "EnvironmentForKey(after archive)", err, hangar.KindNotFound)
	stats, err := st.WorkStats(ctx, "env_end", now)
	must(t, err)
	if stats != (hangar.WorkStats{}) {
		t.Errorf("stats after archive = %+v, want none", stats)
	}
	if c, err := st.ClaimWork(ctx, hangar.WorkClaim{EnvironmentID: "env_end", WorkerID: "wk", Now: later, ReclaimBefore: later, TokenHash: "tok_x"}); err != nil || c != nil {
		t.Errorf("claim after archive = %+v, %v; want none", c, err)
	}

	// Delete: the items go too.
	n, err = st.EndEnvironmentWork(ctx, "env_end", true, later)
	must(t, err)
	if n != 2 {
		t.Errorf("EndEnvironmentWork(delete) = %d, want 2 items deleted", n)
	}
	items, _, err := st.ListWork(ctx, hangar.WorkFilter{EnvironmentID: "env_end", Page: hangar.Page{Limit: 10}})
	must(t, err)
	if len(items) != 0 {
		t.Errorf("items after delete = %d, want 0", len(items))
	}
	_, err = st.GetWork(ctx, "", live.ID)
	wantKind(t, "GetWork(after delete)", err, hangar.KindNotFound)

	// The other environment keeps everything.
	if w := mustGetWork(t, st, "env_keep", other.ID); w.State != hangar.WorkQueued {
		t.Errorf("other environment's item = %s", w.State)
	}
	if id, err := st.EnvironmentForKey(ctx, "key_keep"); err != nil || id != "env_keep" {
		t.Errorf("other environment's key: %q, %v", id, err)
	}
	if s, err := st.WorkStats(ctx, "env_keep", now); err != nil || s.WorkersPolling != 1 || s.Depth != 1 {
		t.Errorf("other environment's stats = %+v, %v", s, err)
	}
}
