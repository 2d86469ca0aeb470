package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

func newSession(a *hangar.Agent, envID string, at time.Time) *hangar.Session {
	return &hangar.Session{
		Type:               "session",
		ID:                 hangar.NewID(hangar.PrefixSession),
		Status:             hangar.StatusIdle,
		Agent:              *a,
		EnvironmentID:      envID,
		Title:              ptr("a session"),
		Metadata:           map[string]string{"ticket": "42"},
		Resources:          json.RawMessage(`[]`),
		VaultIDs:           []string{"vlt_x"},
		OutcomeEvaluations: json.RawMessage(`[]`),
		Usage:              hangar.Usage{InputTokens: 10, OutputTokens: 5},
		Stats:              hangar.Stats{DurationSeconds: 1.5},
		CreatedAt:          at,
		UpdatedAt:          at,
	}
}

func testSessions(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	a := newAgent("sess-agent", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	env := newEnvironment("sess-env", clk.Now())
	must(t, st.CreateEnvironment(ctx, env))

	s := newSession(a, env.ID, clk.Now())
	must(t, st.CreateSession(ctx, s))

	t.Run("get", func(t *testing.T) {
		got, err := st.GetSession(ctx, s.ID)
		must(t, err)
		if d := diff(s, got); d != "" {
			t.Errorf("GetSession (-want +got):\n%s", d)
		}
		wantKind(t, "CreateSession(same ID)", st.CreateSession(ctx, s), hangar.KindConflict)
	})
	t.Run("not found", func(t *testing.T) {
		_, err := st.GetSession(ctx, "sesn_missing")
		wantKind(t, "GetSession", err, hangar.KindNotFound)
		_, err = st.UpdateSession(ctx, "sesn_missing", func(*hangar.Session) error { return nil })
		wantKind(t, "UpdateSession", err, hangar.KindNotFound)
		wantKind(t, "DeleteSession", st.DeleteSession(ctx, "sesn_missing"), hangar.KindNotFound)
	})
	t.Run("update", func(t *testing.T) {
		now := clk.Now()
		got, err := st.UpdateSession(ctx, s.ID, func(x *hangar.Session) error {
			x.Status = hangar.StatusRunning
			x.Title = nil
			x.Usage.Add(hangar.Usage{InputTokens: 1})
			x.UpdatedAt = now
			return nil
		})
		must(t, err)
		want := *s
		want.Status, want.Title, want.UpdatedAt = hangar.StatusRunning, nil, now
		want.Usage.InputTokens = 11
		if d := diff(&want, got); d != "" {
			t.Errorf("UpdateSession (-want +got):\n%s", d)
		}
		stored, err := st.GetSession(ctx, s.ID)
		must(t, err)
		if d := diff(&want, stored); d != "" {
			t.Errorf("GetSession after update (-want +got):\n%s", d)
		}
		_, err = st.UpdateSession(ctx, s.ID, func(x *hangar.Session) error {
			x.Status = hangar.StatusTerminated
			return errSentinel
		})
		if !errors.Is(err, errSentinel) {
			t.Errorf("UpdateSession(fn error) err = %v, want the callback's error", err)
		}
		stored, err = st.GetSession(ctx, s.ID)
		must(t, err)
		if stored.Status != hangar.StatusRunning {
			t.Errorf("a failed update was stored: status %q", stored.Status)
		}
	})
	t.Run("delete removes events", func(t *testing.T) {
		d := newSession(a, env.ID, clk.Now())
		must(t, st.CreateSession(ctx, d))
		_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: d.ID, Events: userMessages(3), IdempotencyKey: "k"})
		must(t, err)
		must(t, st.DeleteSession(ctx, d.ID))
		_, err = st.GetSession(ctx, d.ID)
		wantKind(t, "GetSession(deleted)", err, hangar.KindNotFound)
		_, _, err = st.ListEvents(ctx, d.ID, hangar.EventFilter{})
		wantKind(t, "ListEvents(deleted session)", err, hangar.KindNotFound)
		// Re-creating a session with the same ID starts from an empty log.
		must(t, st.CreateSession(ctx, d))
		evs, _, err := st.ListEvents(ctx, d.ID, hangar.EventFilter{})
		must(t, err)
		if len(evs) != 0 {
			t.Errorf("recreated session has %d events, want 0", len(evs))
		}
		got, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: d.ID, Events: userMessages(1), IdempotencyKey: "k"})
		must(t, err)
		if len(got) != 1 || got[0].Seq != 1 {
			t.Errorf("append after recreate = %+v, want one event with seq 1", got)
		}
	})
}

func testSessionPaging(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	a := newAgent("a", clk.Now())
	must(t, st.CreateAgent(ctx, a))
	a2, err := st.UpdateAgent(ctx, a.ID, clk.Now(), func(x *hangar.Agent) error {
		x.System = ptr("v2")
		return nil
	})
	must(t, err)
	b := newAgent("b", clk.Now())
	must(t, st.CreateAgent(ctx, b))

	// 45 sessions: agent a v1, a v2 and b in turn; every 5th running, every 7th archived.
	var all, created []*hangar.Session
	for i := range 45 {
		ag := []*hangar.Agent{a, a2, b}[i%3]
		s := newSession(ag, "env_x", clk.Now())
		if i%5 == 0 {
			s.Status = hangar.StatusRunning
		}
		if i%7 == 0 {
			s.ArchivedAt = ptr(clk.Now())
		}
		must(t, st.CreateSession(ctx, s))
		all = append(all, s)
		created = append(created, s)
	}
	ids := func(ss []*hangar.Session, keep func(i int, s *hangar.Session) bool) []string {
		var out []string
		for i, s := range ss {
			if keep(i, s) {
				out = append(out, s.ID)
			}
		}
		return out
	}
	every := func(int, *hangar.Session) bool { return true }

	t.Run("paging", func(t *testing.T) {
		pg := pager[*hangar.Session]{
			list: func(p hangar.Page) ([]*hangar.Session, hangar.PageResult, error) {
				return st.ListSessions(ctx, hangar.SessionFilter{IncludeArchived: true, Page: p})
			},
			id: func(s *hangar.Session) string { return s.ID },
		}
		want := ids(all, every)
		checkPaging(t, pg, want, 20, false)
		checkPaging(t, pg, reversed(want), 20, true)
		checkPaging(t, pg, reversed(want), 7, true)
		checkPaging(t, pg, want, 45, false)
		checkPaging(t, pg, want, 100, false)
	})

	t0 := created[10].CreatedAt
	t1 := created[20].CreatedAt
	for _, tc := range []struct {
		name string
		f    hangar.SessionFilter
		keep func(i int, s *hangar.Session) bool
	}{
		{"non-archived", hangar.SessionFilter{}, func(i int, s *hangar.Session) bool { return i%7 != 0 }},
		{"agent", hangar.SessionFilter{IncludeArchived: true, AgentID: a.ID}, func(i int, s *hangar.Session) bool { return i%3 != 2 }},
		{"agent version", hangar.SessionFilter{IncludeArchived: true, AgentID: a.ID, AgentVersion: 2}, func(i int, s *hangar.Session) bool { return i%3 == 1 }},
		{"statuses", hangar.SessionFilter{IncludeArchived: true, Statuses: []string{hangar.StatusRunning, hangar.StatusTerminated}}, func(i int, s *hangar.Session) bool { return i%5 == 0 }},
		{"statuses non-archived", hangar.SessionFilter{Statuses: []string{hangar.StatusIdle}}, func(i int, s *hangar.Session) bool { return i%5 != 0 && i%7 != 0 }},
		{"created gte lte", hangar.SessionFilter{IncludeArchived: true, CreatedAt: hangar.TimeRange{GTE: &t0, LTE: &t1}}, func(i int, s *hangar.Session) bool { return i >= 10 && i <= 20 }},
		{"created gt lt", hangar.SessionFilter{IncludeArchived: true, CreatedAt: hangar.TimeRange{GT: &t0, LT: &t1}}, func(i int, s *hangar.Session) bool { return i > 10 && i < 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := ids(all, tc.keep)
			pg := pager[*hangar.Session]{
				list: func(p hangar.Page) ([]*hangar.Session, hangar.PageResult, error) {
					f := tc.f
					f.Page = p
					return st.ListSessions(ctx, f)
				},
				id: func(s *hangar.Session) string { return s.ID },
			}
			checkPaging(t, pg, want, 4, false)
			checkPaging(t, pg, reversed(want), 4, true)
		})
	}
	t.Run("returns full sessions", func(t *testing.T) {
		got, _, err := st.ListSessions(ctx, hangar.SessionFilter{IncludeArchived: true, Page: hangar.Page{Limit: 1}})
		must(t, err)
		if d := diff([]*hangar.Session{all[0]}, got); d != "" {
			t.Errorf("ListSessions (-want +got):\n%s", d)
		}
	})
}
