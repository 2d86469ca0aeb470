package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

func newEnvironment(name string, at time.Time) *hangar.Environment {
	return &hangar.Environment{
		Type:        "environment",
		ID:          hangar.NewID(hangar.PrefixEnvironment),
		Name:        name,
		Description: ptr("test environment"),
		Config: hangar.EnvironmentConfig{
			Type:       "cloud",
			Networking: &hangar.Networking{Type: "limited", AllowedHosts: []string{"example.com"}, AllowMCPServers: ptr(true)},
			Packages:   &hangar.Packages{Type: "packages", Apt: []string{"git"}, Pip: []string{"requests"}},
			Provider:   "local",
			Sandbox:    json.RawMessage(`{"memory_mb":512}`),
		},
		Metadata:  map[string]string{"k": "v"},
		CreatedAt: at,
		UpdatedAt: at,
	}
}

func testEnvironments(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	e := newEnvironment("default", clk.Now())
	must(t, st.CreateEnvironment(ctx, e))

	t.Run("get", func(t *testing.T) {
		got, err := st.GetEnvironment(ctx, e.ID)
		must(t, err)
		if d := diff(e, got); d != "" {
			t.Errorf("GetEnvironment (-want +got):\n%s", d)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := st.GetEnvironment(ctx, "env_missing")
		wantKind(t, "GetEnvironment", err, hangar.KindNotFound)
		_, err = st.UpdateEnvironment(ctx, "env_missing", func(*hangar.Environment) error { return nil })
		wantKind(t, "UpdateEnvironment", err, hangar.KindNotFound)
		_, err = st.ArchiveEnvironment(ctx, "env_missing", clk.Now())
		wantKind(t, "ArchiveEnvironment", err, hangar.KindNotFound)
		wantKind(t, "DeleteEnvironment", st.DeleteEnvironment(ctx, "env_missing"), hangar.KindNotFound)
	})
	t.Run("name conflict", func(t *testing.T) {
		wantKind(t, "CreateEnvironment(same name)", st.CreateEnvironment(ctx, newEnvironment("default", clk.Now())), hangar.KindConflict)
		other := newEnvironment("other", clk.Now())
		must(t, st.CreateEnvironment(ctx, other))
		_, err := st.UpdateEnvironment(ctx, other.ID, func(x *hangar.Environment) error {
			x.Name = "default"
			return nil
		})
		wantKind(t, "UpdateEnvironment(taken name)", err, hangar.KindConflict)
	})
	t.Run("update", func(t *testing.T) {
		now := clk.Now()
		got, err := st.UpdateEnvironment(ctx, e.ID, func(x *hangar.Environment) error {
			x.Description = nil
			x.Config.Networking = &hangar.Networking{Type: "unrestricted"}
			x.UpdatedAt = now
			return nil
		})
		must(t, err)
		want := *e
		want.Description, want.UpdatedAt = nil, now
		want.Config.Networking = &hangar.Networking{Type: "unrestricted"}
		if d := diff(&want, got); d != "" {
			t.Errorf("UpdateEnvironment (-want +got):\n%s", d)
		}
		stored, err := st.GetEnvironment(ctx, e.ID)
		must(t, err)
		if d := diff(&want, stored); d != "" {
			t.Errorf("GetEnvironment after update (-want +got):\n%s", d)
		}
		_, err = st.UpdateEnvironment(ctx, e.ID, func(x *hangar.Environment) error {
			x.Name = "renamed"
			return errSentinel
		})
		if !errors.Is(err, errSentinel) {
			t.Errorf("UpdateEnvironment(fn error) err = %v, want the callback's error", err)
		}
		stored, err = st.GetEnvironment(ctx, e.ID)
		must(t, err)
		if stored.Name != "default" {
			t.Errorf("a failed update was stored: name %q", stored.Name)
		}
	})

	t.Run("archive and delete with sessions", func(t *testing.T) {
		a := newAgent("env-agent", clk.Now())
		must(t, st.CreateAgent(ctx, a))
		env := newEnvironment("busy", clk.Now())
		must(t, st.CreateEnvironment(ctx, env))
		s1 := newSession(a, env.ID, clk.Now())
		s2 := newSession(a, env.ID, clk.Now())
		must(t, st.CreateSession(ctx, s1))
		must(t, st.CreateSession(ctx, s2))

		_, err := st.ArchiveEnvironment(ctx, env.ID, clk.Now())
		wantKind(t, "ArchiveEnvironment(active sessions)", err, hangar.KindConflict)
		wantKind(t, "DeleteEnvironment(sessions)", st.DeleteEnvironment(ctx, env.ID), hangar.KindConflict)

		// A terminated session and an archived one no longer block archiving.
		_, err = st.UpdateSession(ctx, s1.ID, func(s *hangar.Session) error {
			s.Status = hangar.StatusTerminated
			return nil
		})
		must(t, err)
		_, err = st.UpdateSession(ctx, s2.ID, func(s *hangar.Session) error {
			s.ArchivedAt = ptr(clk.Now())
			return nil
		})
		must(t, err)
		now := clk.Now()
		got, err := st.ArchiveEnvironment(ctx, env.ID, now)
		must(t, err)
		if got.ArchivedAt == nil || !got.ArchivedAt.Equal(now) {
			t.Errorf("ArchiveEnvironment archived_at = %v, want %v", got.ArchivedAt, now)
		}
		again, err := st.ArchiveEnvironment(ctx, env.ID, clk.Now())
		must(t, err)
		if d := diff(got, again); d != "" {
			t.Errorf("second ArchiveEnvironment changed it (-first +second):\n%s", d)
		}
		// Its name is free again.
		must(t, st.CreateEnvironment(ctx, newEnvironment("busy", clk.Now())))

		list, _, err := st.ListEnvironments(ctx, hangar.EnvironmentFilter{})
		must(t, err)
		for _, x := range list {
			if x.ID == env.ID {
				t.Errorf("ListEnvironments lists an archived environment")
			}
		}
		list, _, err = st.ListEnvironments(ctx, hangar.EnvironmentFilter{IncludeArchived: true, Page: hangar.Page{Limit: 100}})
		must(t, err)
		found := false
		for _, x := range list {
			found = found || x.ID == env.ID
		}
		if !found {
			t.Errorf("ListEnvironments(IncludeArchived) misses the archived environment")
		}

		// Deleting still needs the sessions gone.
		wantKind(t, "DeleteEnvironment(archived sessions)", st.DeleteEnvironment(ctx, env.ID), hangar.KindConflict)
		must(t, st.DeleteSession(ctx, s1.ID))
		must(t, st.DeleteSession(ctx, s2.ID))
		must(t, st.DeleteEnvironment(ctx, env.ID))
		_, err = st.GetEnvironment(ctx, env.ID)
		wantKind(t, "GetEnvironment(deleted)", err, hangar.KindNotFound)
	})

	t.Run("paging", func(t *testing.T) {
		st := open(t)
		var ids []string
		for i := range 45 {
			e := newEnvironment(fmt.Sprintf("env-%02d", i), clk.Now())
			must(t, st.CreateEnvironment(ctx, e))
			ids = append(ids, e.ID)
		}
		pg := pager[*hangar.Environment]{
			list: func(p hangar.Page) ([]*hangar.Environment, hangar.PageResult, error) {
				return st.ListEnvironments(ctx, hangar.EnvironmentFilter{Page: p})
			},
			id: func(e *hangar.Environment) string { return e.ID },
		}
		checkPaging(t, pg, ids, 20, false)
		checkPaging(t, pg, reversed(ids), 20, true)
	})
}
