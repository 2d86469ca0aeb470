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

func newAgent(name string, at time.Time) *hangar.Agent {
	return &hangar.Agent{
		Type:        "agent",
		ID:          hangar.NewID(hangar.PrefixAgent),
		Version:     1,
		Name:        name,
		Description: ptr("a test agent"),
		Model:       hangar.Model{ID: "claude-sonnet-4-5", Speed: "standard", Effort: json.RawMessage(`"high"`)},
		System:      ptr("Be brief."),
		Tools:       json.RawMessage(`[{"type":"agent_toolset_20260401","default_config":{"enabled":true}}]`),
		MCPServers:  json.RawMessage(`[]`),
		Skills:      json.RawMessage(`[]`),
		Metadata:    map[string]string{"team": "infra"},
		Engine:      hangar.EngineClaude,
		CreatedAt:   at,
		UpdatedAt:   at,
	}
}

func testAgents(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	a := newAgent("writer", clk.Now())
	must(t, st.CreateAgent(ctx, a))

	t.Run("get", func(t *testing.T) {
		for _, v := range []int{0, 1} {
			got, err := st.GetAgent(ctx, a.ID, v)
			must(t, err)
			if d := diff(a, got); d != "" {
				t.Errorf("GetAgent(%d) (-want +got):\n%s", v, d)
			}
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := st.GetAgent(ctx, "agent_missing", 0)
		wantKind(t, "GetAgent(missing)", err, hangar.KindNotFound)
		_, err = st.GetAgent(ctx, a.ID, 7)
		wantKind(t, "GetAgent(missing version)", err, hangar.KindNotFound)
		_, err = st.UpdateAgent(ctx, "agent_missing", clk.Now(), func(*hangar.Agent) error { return nil })
		wantKind(t, "UpdateAgent(missing)", err, hangar.KindNotFound)
		_, err = st.ArchiveAgent(ctx, "agent_missing", clk.Now())
		wantKind(t, "ArchiveAgent(missing)", err, hangar.KindNotFound)
		_, _, err = st.ListAgentVersions(ctx, "agent_missing", hangar.Page{})
		wantKind(t, "ListAgentVersions(missing)", err, hangar.KindNotFound)
	})
	t.Run("name conflict", func(t *testing.T) {
		err := st.CreateAgent(ctx, newAgent("writer", clk.Now()))
		wantKind(t, "CreateAgent(same name)", err, hangar.KindConflict)
		err = st.CreateAgent(ctx, a)
		wantKind(t, "CreateAgent(same ID)", err, hangar.KindConflict)
	})

	t.Run("versions", func(t *testing.T) {
		b := newAgent("versioned", clk.Now())
		must(t, st.CreateAgent(ctx, b))

		// No change: no new version, the latest comes back unchanged.
		got, err := st.UpdateAgent(ctx, b.ID, clk.Now(), func(x *hangar.Agent) error {
			x.Metadata = map[string]string{"team": "infra"}
			return nil
		})
		must(t, err)
		if d := diff(b, got); d != "" {
			t.Errorf("no-op UpdateAgent (-want +got):\n%s", d)
		}

		// A change made in place to a map must still be seen as a change.
		now := clk.Now()
		got, err = st.UpdateAgent(ctx, b.ID, now, func(x *hangar.Agent) error {
			x.Metadata["team"] = "platform"
			return nil
		})
		must(t, err)
		want := *b
		want.Version, want.UpdatedAt = 2, now
		want.Metadata = map[string]string{"team": "platform"}
		if d := diff(&want, got); d != "" {
			t.Errorf("UpdateAgent (-want +got):\n%s", d)
		}
		for _, tc := range []struct {
			version int
			want    *hangar.Agent
		}{{0, &want}, {1, b}, {2, &want}} {
			got, err := st.GetAgent(ctx, b.ID, tc.version)
			must(t, err)
			if d := diff(tc.want, got); d != "" {
				t.Errorf("GetAgent(%d) (-want +got):\n%s", tc.version, d)
			}
		}

		// fn errors come back as they are and store nothing.
		_, err = st.UpdateAgent(ctx, b.ID, clk.Now(), func(x *hangar.Agent) error {
			x.Name = "changed"
			return errSentinel
		})
		if !errors.Is(err, errSentinel) {
			t.Errorf("UpdateAgent(fn error) err = %v, want the callback's error", err)
		}
		// Renaming onto a taken name conflicts.
		_, err = st.UpdateAgent(ctx, b.ID, clk.Now(), func(x *hangar.Agent) error {
			x.Name = "writer"
			return nil
		})
		wantKind(t, "UpdateAgent(taken name)", err, hangar.KindConflict)

		versions, res, err := st.ListAgentVersions(ctx, b.ID, hangar.Page{})
		must(t, err)
		if d := diff([]*hangar.Agent{b, &want}, versions); d != "" {
			t.Errorf("ListAgentVersions (-want +got):\n%s", d)
		}
		if res != (hangar.PageResult{}) {
			t.Errorf("ListAgentVersions cursors = %+v, want none", res)
		}
	})

	t.Run("archive", func(t *testing.T) {
		c := newAgent("archived", clk.Now())
		must(t, st.CreateAgent(ctx, c))
		_, err := st.UpdateAgent(ctx, c.ID, clk.Now(), func(x *hangar.Agent) error {
			x.Description = nil
			return nil
		})
		must(t, err)
		now := clk.Now()
		got, err := st.ArchiveAgent(ctx, c.ID, now)
		must(t, err)
		if got.ArchivedAt == nil || !got.ArchivedAt.Equal(now) || got.Version != 2 {
			t.Errorf("ArchiveAgent = version %d archived %v, want version 2 archived %v", got.Version, got.ArchivedAt, now)
		}
		again, err := st.ArchiveAgent(ctx, c.ID, clk.Now())
		must(t, err)
		if d := diff(got, again); d != "" {
			t.Errorf("second ArchiveAgent changed the agent (-first +second):\n%s", d)
		}
		for _, v := range []int{1, 2} {
			old, err := st.GetAgent(ctx, c.ID, v)
			must(t, err)
			if old.ArchivedAt == nil || !old.ArchivedAt.Equal(now) {
				t.Errorf("version %d archived_at = %v, want %v", v, old.ArchivedAt, now)
			}
		}
		// The name is free again.
		must(t, st.CreateAgent(ctx, newAgent("archived", clk.Now())))

		ids := func(f hangar.AgentFilter) []string {
			agents, _, err := st.ListAgents(ctx, f)
			must(t, err)
			var out []string
			for _, a := range agents {
				out = append(out, a.ID)
			}
			return out
		}
		if got := ids(hangar.AgentFilter{}); contains(got, c.ID) {
			t.Errorf("ListAgents lists an archived agent")
		}
		if got := ids(hangar.AgentFilter{IncludeArchived: true}); !contains(got, c.ID) {
			t.Errorf("ListAgents(IncludeArchived) misses the archived agent")
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func testAgentPaging(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	var ids []string
	var created []time.Time
	for i := range 45 {
		a := newAgent(fmt.Sprintf("agent-%02d", i), clk.Now())
		must(t, st.CreateAgent(ctx, a))
		ids, created = append(ids, a.ID), append(created, a.CreatedAt)
	}
	pg := pager[*hangar.Agent]{
		list: func(p hangar.Page) ([]*hangar.Agent, hangar.PageResult, error) {
			return st.ListAgents(ctx, hangar.AgentFilter{Page: p})
		},
		id: func(a *hangar.Agent) string { return a.ID },
	}
	t.Run("asc", func(t *testing.T) { checkPaging(t, pg, ids, 20, false) })
	t.Run("desc", func(t *testing.T) { checkPaging(t, pg, reversed(ids), 20, true) })
	t.Run("default limit", func(t *testing.T) {
		got, res, err := st.ListAgents(ctx, hangar.AgentFilter{})
		must(t, err)
		if len(got) != 20 || res.Next == "" {
			t.Errorf("ListAgents() = %d items, next %q; want 20 and a next cursor", len(got), res.Next)
		}
	})
	t.Run("created range", func(t *testing.T) {
		got, _, err := st.ListAgents(ctx, hangar.AgentFilter{CreatedAfter: &created[10], CreatedBefore: &created[14], Page: hangar.Page{Limit: 100}})
		must(t, err)
		var gotIDs []string
		for _, a := range got {
			gotIDs = append(gotIDs, a.ID)
		}
		if d := diff(ids[10:15], gotIDs); d != "" {
			t.Errorf("ListAgents(created range) (-want +got):\n%s", d)
		}
	})
	t.Run("versions", func(t *testing.T) {
		a := newAgent("many-versions", clk.Now())
		must(t, st.CreateAgent(ctx, a))
		want := []string{"1"}
		for i := 2; i <= 45; i++ {
			_, err := st.UpdateAgent(ctx, a.ID, clk.Now(), func(x *hangar.Agent) error {
				x.Metadata = map[string]string{"n": fmt.Sprint(i)}
				return nil
			})
			must(t, err)
			want = append(want, fmt.Sprint(i))
		}
		pg := pager[*hangar.Agent]{
			list: func(p hangar.Page) ([]*hangar.Agent, hangar.PageResult, error) {
				return st.ListAgentVersions(ctx, a.ID, p)
			},
			id: func(a *hangar.Agent) string { return fmt.Sprint(a.Version) },
		}
		checkPaging(t, pg, want, 20, false)
	})
}
