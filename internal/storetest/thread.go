package storetest

import (
	"context"
	"testing"

	"github.com/hangar-dev/hangar"
)

// testThreads pins hangar.ThreadStore and the thread columns of events: a child thread's
// events are listed by thread, and the primary view (EventFilter.Thread "") shows the
// primary thread's events plus the cross-posted ones.
func testThreads(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	a := newAgent("thread-agent", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	s := newSession(a, "env_x", clk.Now())
	must(t, st.CreateSession(ctx, s))

	primary := &hangar.Thread{ID: hangar.NewID(hangar.PrefixThread), SessionID: s.ID, Status: hangar.StatusIdle,
		Agent: *a, Roster: -1, CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
	must(t, st.CreateThread(ctx, primary))
	parent := primary.ID
	child := &hangar.Thread{ID: hangar.NewID(hangar.PrefixThread), SessionID: s.ID, Status: hangar.StatusRunning,
		Agent: *a, ParentThreadID: &parent, Roster: 2, Resume: "tok", CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
	must(t, st.CreateThread(ctx, child))

	if err := st.CreateThread(ctx, child); !hangar.IsKind(err, hangar.KindConflict) {
		t.Errorf("CreateThread twice: err = %v, want conflict", err)
	}
	orphan := *child
	orphan.ID, orphan.SessionID = hangar.NewID(hangar.PrefixThread), "sesn_missing"
	if err := st.CreateThread(ctx, &orphan); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("CreateThread for a missing session: err = %v, want not found", err)
	}

	got, err := st.GetThread(ctx, s.ID, child.ID)
	must(t, err)
	if got.Roster != 2 || got.Resume != "tok" || got.ParentThreadID == nil || *got.ParentThreadID != parent || got.Agent.ID != a.ID {
		t.Errorf("GetThread = %+v", got)
	}
	if _, err := st.GetThread(ctx, "sesn_other", child.ID); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("GetThread of another session: err = %v, want not found", err)
	}

	list, _, err := st.ListThreads(ctx, s.ID, hangar.ThreadFilter{})
	must(t, err)
	if len(list) != 2 || list[0].ID != primary.ID || list[1].ID != child.ID {
		t.Fatalf("ListThreads = %v, want primary then child", threadIDs(list))
	}
	list, _, err = st.ListThreads(ctx, s.ID, hangar.ThreadFilter{Statuses: []string{hangar.StatusRunning}})
	must(t, err)
	if len(list) != 1 || list[0].ID != child.ID {
		t.Errorf("ListThreads(running) = %v", threadIDs(list))
	}
	list, page, err := st.ListThreads(ctx, s.ID, hangar.ThreadFilter{Page: hangar.Page{Limit: 1}})
	must(t, err)
	if len(list) != 1 || page.Next == "" {
		t.Errorf("ListThreads(limit 1) = %v, next %q", threadIDs(list), page.Next)
	}
	if _, _, err := st.ListThreads(ctx, "sesn_missing", hangar.ThreadFilter{}); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("ListThreads of a missing session: err = %v", err)
	}

	now := clk.Now()
	up, err := st.UpdateThread(ctx, s.ID, child.ID, func(x *hangar.Thread) error {
		x.Status, x.ArchivedAt = hangar.StatusIdle, &now
		x.Usage = &hangar.Usage{InputTokens: 7}
		return nil
	})
	must(t, err)
	if up.Status != hangar.StatusIdle || up.ArchivedAt == nil || up.Usage.InputTokens != 7 {
		t.Errorf("UpdateThread = %+v", up)
	}
	if _, err := st.UpdateThread(ctx, s.ID, child.ID, func(*hangar.Thread) error { return errSentinel }); err != errSentinel {
		t.Errorf("UpdateThread callback error = %v", err)
	}
	list, _, err = st.ListThreads(ctx, s.ID, hangar.ThreadFilter{Statuses: []string{hangar.StatusRunning}})
	must(t, err)
	if len(list) != 0 {
		t.Errorf("ListThreads(running) after update = %v", threadIDs(list))
	}

	// Events: primary, child-only, child cross-posted.
	evs := userMessages(3)
	evs[1].ThreadID = child.ID
	evs[2].ThreadID, evs[2].CrossPosted = child.ID, true
	_, _, err = st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: evs})
	must(t, err)
	primaryView, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{})
	must(t, err)
	if ids := eventIDs(primaryView); len(ids) != 2 || ids[0] != evs[0].ID || ids[1] != evs[2].ID {
		t.Errorf("primary view = %v, want %v and %v", ids, evs[0].ID, evs[2].ID)
	}
	if primaryView[1].ThreadID != child.ID || !primaryView[1].CrossPosted || primaryView[0].ThreadID != "" {
		t.Errorf("thread columns not read back: %+v", primaryView)
	}
	childView, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{Thread: child.ID})
	must(t, err)
	if ids := eventIDs(childView); len(ids) != 2 || ids[0] != evs[1].ID || ids[1] != evs[2].ID {
		t.Errorf("child view = %v", ids)
	}

	must(t, st.DeleteSession(ctx, s.ID))
	if _, err := st.GetThread(ctx, s.ID, child.ID); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("GetThread after DeleteSession: err = %v, want not found", err)
	}
}

func threadIDs(ts []*hangar.Thread) []string {
	out := make([]string, len(ts))
	for i, x := range ts {
		out[i] = x.ID
	}
	return out
}
