package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
)

// userMessages returns n user.message events with fresh IDs.
func userMessages(n int) []hangar.Event {
	out := make([]hangar.Event, n)
	for i := range out {
		out[i] = hangar.NewEvent(hangar.EventUserMessage, map[string]any{
			"content": []map[string]string{{"type": "text", "text": fmt.Sprintf("message %d", i)}},
		})
		out[i].ID = hangar.NewID(hangar.PrefixEvent)
	}
	return out
}

func eventIDs(evs []hangar.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func testEvents(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	a := newAgent("ev-agent", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	newSess := func(t *testing.T) *hangar.Session {
		t.Helper()
		s := newSession(a, "env_x", clk.Now())
		must(t, st.CreateSession(ctx, s))
		return s
	}

	t.Run("append", func(t *testing.T) {
		s := newSess(t)
		in := userMessages(3)
		in[1] = hangar.NewEvent(hangar.EventStatusRunning, nil) // no body
		in[1].ID = hangar.NewID(hangar.PrefixEvent)
		in[2].ProcessedAt = ptr(clk.Now())
		now := clk.Now()
		got, sess, err := st.AppendEvents(ctx, hangar.AppendRequest{
			SessionID: s.ID,
			Events:    in,
			Mutate: func(x *hangar.Session) error {
				x.Status, x.UpdatedAt = hangar.StatusRunning, now
				return nil
			},
		})
		must(t, err)
		want := make([]hangar.Event, len(in))
		for i, e := range in {
			e.SessionID, e.Seq = s.ID, int64(i+1)
			want[i] = e
		}
		if d := diff(want, got); d != "" {
			t.Errorf("AppendEvents events (-want +got):\n%s", d)
		}
		wantSess := *s
		wantSess.Status, wantSess.UpdatedAt = hangar.StatusRunning, now
		if d := diff(&wantSess, sess); d != "" {
			t.Errorf("AppendEvents session (-want +got):\n%s", d)
		}
		stored, err := st.GetSession(ctx, s.ID)
		must(t, err)
		if d := diff(&wantSess, stored); d != "" {
			t.Errorf("GetSession after append (-want +got):\n%s", d)
		}
		listed, res, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{})
		must(t, err)
		if d := diff(want, listed); d != "" {
			t.Errorf("ListEvents (-want +got):\n%s", d)
		}
		if res != (hangar.PageResult{}) {
			t.Errorf("ListEvents cursors = %+v, want none", res)
		}

		more, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: userMessages(2)})
		must(t, err)
		if more[0].Seq != 4 || more[1].Seq != 5 {
			t.Errorf("second append seqs = %d, %d; want 4, 5", more[0].Seq, more[1].Seq)
		}
		// Sequence numbers are per session.
		other := newSess(t)
		first, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: other.ID, Events: userMessages(1)})
		must(t, err)
		if first[0].Seq != 1 {
			t.Errorf("first event of another session has seq %d, want 1", first[0].Seq)
		}
		// Event IDs are unique.
		_, _, err = st.AppendEvents(ctx, hangar.AppendRequest{SessionID: other.ID, Events: more[:1]})
		wantKind(t, "AppendEvents(duplicate event ID)", err, hangar.KindConflict)
	})

	t.Run("not found", func(t *testing.T) {
		_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: "sesn_missing", Events: userMessages(1)})
		wantKind(t, "AppendEvents", err, hangar.KindNotFound)
		_, _, err = st.ListEvents(ctx, "sesn_missing", hangar.EventFilter{})
		wantKind(t, "ListEvents", err, hangar.KindNotFound)
		wantKind(t, "MarkProcessed", st.MarkProcessed(ctx, "sesn_missing", []string{"sevt_x"}, clk.Now()), hangar.KindNotFound)
	})

	t.Run("mutate error aborts", func(t *testing.T) {
		s := newSess(t)
		_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{
			SessionID:      s.ID,
			Events:         userMessages(2),
			IdempotencyKey: "key",
			Mutate: func(x *hangar.Session) error {
				x.Status = hangar.StatusTerminated
				return errSentinel
			},
		})
		if !errors.Is(err, errSentinel) {
			t.Fatalf("AppendEvents err = %v, want the Mutate error", err)
		}
		evs, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{})
		must(t, err)
		if len(evs) != 0 {
			t.Errorf("aborted append stored %d events", len(evs))
		}
		stored, err := st.GetSession(ctx, s.ID)
		must(t, err)
		if d := diff(s, stored); d != "" {
			t.Errorf("aborted append changed the session (-want +got):\n%s", d)
		}
		// The key was not recorded: a retry stores the events, starting at seq 1.
		got, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: userMessages(1), IdempotencyKey: "key"})
		must(t, err)
		if len(got) != 1 || got[0].Seq != 1 {
			t.Errorf("retry after abort = %+v, want one event with seq 1", got)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		s := newSess(t)
		_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: userMessages(1)})
		must(t, err)
		calls := 0
		req := hangar.AppendRequest{
			SessionID:      s.ID,
			Events:         userMessages(2),
			IdempotencyKey: "idem-1",
			Mutate: func(x *hangar.Session) error {
				calls++
				x.Usage.OutputTokens++
				return nil
			},
		}
		first, sess1, err := st.AppendEvents(ctx, req)
		must(t, err)
		// The replay carries new event IDs (as a client retry would get from the server):
		// they must not be stored.
		req.Events = userMessages(2)
		again, sess2, err := st.AppendEvents(ctx, req)
		must(t, err)
		if d := diff(first, again); d != "" {
			t.Errorf("replayed events (-first +replay):\n%s", d)
		}
		if d := diff(sess1, sess2); d != "" {
			t.Errorf("replay changed the session (-first +replay):\n%s", d)
		}
		if calls != 1 {
			t.Errorf("Mutate called %d times, want 1 (not on replay)", calls)
		}
		all, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{})
		must(t, err)
		if len(all) != 3 {
			t.Errorf("session has %d events after a replay, want 3", len(all))
		}
		// Keys are per session.
		other := newSess(t)
		req.SessionID = other.ID
		fresh, _, err := st.AppendEvents(ctx, req)
		must(t, err)
		if d := diff(req.Events, eventsWithoutStoreFields(fresh)); d != "" {
			t.Errorf("same key on another session (-want +got):\n%s", d)
		}
	})

	t.Run("list filters", func(t *testing.T) {
		s := newSess(t)
		var in []hangar.Event
		for i := range 45 {
			typ := hangar.EventAgentMessage
			if i%3 == 0 {
				typ = hangar.EventUserMessage
			}
			e := hangar.NewEvent(typ, map[string]int{"i": i})
			e.ID = hangar.NewID(hangar.PrefixEvent)
			in = append(in, e)
		}
		evs, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: in})
		must(t, err)
		// Mark user messages processed at increasing times.
		var marks []hangar.Event
		for i, e := range evs {
			if i%3 == 0 {
				at := clk.Now()
				must(t, st.MarkProcessed(ctx, s.ID, []string{e.ID}, at))
				evs[i].ProcessedAt = &at
				marks = append(marks, evs[i])
			}
		}
		ids := func(keep func(e hangar.Event) bool) []string {
			var out []string
			for _, e := range evs {
				if keep(e) {
					out = append(out, e.ID)
				}
			}
			return out
		}
		p0, p1 := *marks[2].ProcessedAt, *marks[8].ProcessedAt
		for _, tc := range []struct {
			name string
			f    hangar.EventFilter
			keep func(e hangar.Event) bool
		}{
			{"all", hangar.EventFilter{}, func(hangar.Event) bool { return true }},
			{"types", hangar.EventFilter{Types: []string{hangar.EventAgentMessage}}, func(e hangar.Event) bool { return e.Type == hangar.EventAgentMessage }},
			{"after seq", hangar.EventFilter{AfterSeq: 17}, func(e hangar.Event) bool { return e.Seq > 17 }},
			{"types after seq", hangar.EventFilter{Types: []string{hangar.EventUserMessage}, AfterSeq: 30}, func(e hangar.Event) bool {
				return e.Type == hangar.EventUserMessage && e.Seq > 30
			}},
			{"processed range", hangar.EventFilter{ProcessedAt: hangar.TimeRange{GTE: &p0, LT: &p1}}, func(e hangar.Event) bool {
				return e.ProcessedAt != nil && !e.ProcessedAt.Before(p0) && e.ProcessedAt.Before(p1)
			}},
			{"processed gt lte", hangar.EventFilter{ProcessedAt: hangar.TimeRange{GT: &p0, LTE: &p1}}, func(e hangar.Event) bool {
				return e.ProcessedAt != nil && e.ProcessedAt.After(p0) && !e.ProcessedAt.After(p1)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := ids(tc.keep)
				if len(want) == 0 {
					t.Fatal("test case selects nothing")
				}
				pg := pager[hangar.Event]{
					list: func(p hangar.Page) ([]hangar.Event, hangar.PageResult, error) {
						f := tc.f
						f.Page = p
						return st.ListEvents(ctx, s.ID, f)
					},
					id: func(e hangar.Event) string { return e.ID },
				}
				checkPaging(t, pg, want, 20, false)
				checkPaging(t, pg, reversed(want), 20, true)
				checkPaging(t, pg, want, 3, false)
			})
		}
		got, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{Page: hangar.Page{Limit: 100}})
		must(t, err)
		if d := diff(evs, got); d != "" {
			t.Errorf("ListEvents after MarkProcessed (-want +got):\n%s", d)
		}
	})

	t.Run("mark processed", func(t *testing.T) {
		s := newSess(t)
		evs, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: userMessages(3)})
		must(t, err)
		t1 := clk.Now()
		must(t, st.MarkProcessed(ctx, s.ID, []string{evs[0].ID, evs[1].ID, "sevt_unknown"}, t1))
		t2 := clk.Now()
		// Already processed events keep their first time.
		must(t, st.MarkProcessed(ctx, s.ID, []string{evs[1].ID, evs[2].ID}, t2))
		must(t, st.MarkProcessed(ctx, s.ID, nil, t2))
		// Events of another session are not touched.
		other := newSess(t)
		must(t, st.MarkProcessed(ctx, other.ID, []string{evs[0].ID}, clk.Now()))

		got, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{})
		must(t, err)
		evs[0].ProcessedAt, evs[1].ProcessedAt, evs[2].ProcessedAt = &t1, &t1, &t2
		if d := diff(evs, got); d != "" {
			t.Errorf("ListEvents (-want +got):\n%s", d)
		}
	})
}

// eventsWithoutStoreFields clears what the store assigns.
func eventsWithoutStoreFields(evs []hangar.Event) []hangar.Event {
	out := make([]hangar.Event, len(evs))
	for i, e := range evs {
		e.SessionID, e.Seq = "", 0
		out[i] = e
	}
	return out
}

// testEventsConcurrent appends from 8 goroutines to one session: every event is stored
// once, seqs are 1..N without gaps, each append's events are contiguous, and every Mutate
// ran on the session as the previous append left it.
func testEventsConcurrent(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	a := newAgent("conc", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	s := newSession(a, "env_x", clk.Now())
	s.Usage = hangar.Usage{}
	must(t, st.CreateSession(ctx, s))

	const workers, appends, per = 8, 20, 3
	var wg sync.WaitGroup
	errs := make(chan error, workers*appends)
	batches := make(chan []hangar.Event, workers*appends)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appends {
				req := hangar.AppendRequest{
					SessionID: s.ID,
					Events:    userMessages(per),
					Mutate: func(x *hangar.Session) error {
						x.Usage.InputTokens++
						return nil
					},
				}
				if i%4 == 0 {
					req.IdempotencyKey = fmt.Sprintf("w%d-%d", w, i)
				}
				evs, _, err := st.AppendEvents(ctx, req)
				if err != nil {
					errs <- err
					return
				}
				batches <- evs
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(batches)
	for err := range errs {
		t.Fatal(err)
	}
	for b := range batches {
		for i := 1; i < len(b); i++ {
			if b[i].Seq != b[0].Seq+int64(i) {
				t.Errorf("one append got non-contiguous seqs %d and %d", b[0].Seq, b[i].Seq)
			}
		}
	}
	all, res, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{Page: hangar.Page{Limit: 1000}})
	must(t, err)
	if res.Next != "" {
		t.Errorf("unexpected next page")
	}
	if len(all) != workers*appends*per {
		t.Fatalf("stored %d events, want %d", len(all), workers*appends*per)
	}
	seen := map[string]bool{}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, e.Seq, i+1)
		}
		if seen[e.ID] {
			t.Fatalf("event %s stored twice", e.ID)
		}
		seen[e.ID] = true
	}
	got, err := st.GetSession(ctx, s.ID)
	must(t, err)
	if got.Usage.InputTokens != workers*appends {
		t.Errorf("session input_tokens = %d, want %d (a Mutate was lost)", got.Usage.InputTokens, workers*appends)
	}
}
