package main

import (
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func TestE2ESessionCreate(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	env := newEnvironment(t, c, "env")
	a := newAgent(t, c, "pinned", nil)
	if _, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("v2 prompt")}); err != nil {
		t.Fatalf("update agent: %v", err)
	}

	tests := []struct {
		name        string
		agent       anthropic.BetaSessionNewParamsAgentUnion
		wantVersion int64
		wantSystem  string
		wantStatus  int
	}{
		{"agent id string takes the latest version", anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, 2, "v2 prompt", 0},
		{"agent object without version", anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgents: &anthropic.BetaManagedAgentsAgentParams{ID: a.ID}}, 2, "v2 prompt", 0},
		{"agent object pinned to version 1", anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgents: &anthropic.BetaManagedAgentsAgentParams{ID: a.ID, Version: anthropic.Int(1)}}, 1, "", 0},
		{"unknown version is 404", anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgents: &anthropic.BetaManagedAgentsAgentParams{ID: a.ID, Version: anthropic.Int(7)}}, 0, "", http.StatusNotFound},
		{"unknown agent is 404", anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String("agent_011Cmissing00000000000")}, 0, "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
				Agent:         tt.agent,
				EnvironmentID: env.ID,
				Title:         anthropic.String(tt.name),
				Metadata:      map[string]string{"case": "x"},
			})
			if tt.wantStatus != 0 {
				wantStatus(t, err, tt.wantStatus, "")
				return
			}
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if s.Type != "session" || s.Status != "idle" || s.EnvironmentID != env.ID || s.Title != tt.name || s.Metadata["case"] != "x" {
				t.Errorf("created %s", s.RawJSON())
			}
			if s.Agent.ID != a.ID || s.Agent.Version != tt.wantVersion || s.Agent.System != tt.wantSystem {
				t.Errorf("agent snapshot id %s version %d system %q, want %s %d %q", s.Agent.ID, s.Agent.Version, s.Agent.System, a.ID, tt.wantVersion, tt.wantSystem)
			}
			if s.Agent.Model.ID != "claude-sonnet-4-6" || s.Agent.Name != "pinned" {
				t.Errorf("agent snapshot model %q name %q", s.Agent.Model.ID, s.Agent.Name)
			}
			if s.JSON.VaultIDs.Raw() != "[]" {
				t.Errorf("vault_ids = %s, want []", s.JSON.VaultIDs.Raw())
			}
			if !s.JSON.Usage.Valid() || !s.JSON.Stats.Valid() {
				t.Errorf("usage/stats missing: %s", s.RawJSON())
			}
		})
	}

	t.Run("snapshot does not follow agent updates", func(t *testing.T) {
		s := newSession(t, c, a.ID, env.ID)
		if _, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("v3 prompt")}); err != nil {
			t.Fatalf("update agent: %v", err)
		}
		got, err := c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.Agent.Version != s.Agent.Version || got.Agent.System != s.Agent.System {
			t.Errorf("session agent moved from v%d %q to v%d %q", s.Agent.Version, s.Agent.System, got.Agent.Version, got.Agent.System)
		}
	})

	t.Run("archived agent cannot start sessions", func(t *testing.T) {
		b := newAgent(t, c, "retired", nil)
		if _, err := c.Beta.Agents.Archive(ctx, b.ID, anthropic.BetaAgentArchiveParams{}); err != nil {
			t.Fatalf("archive: %v", err)
		}
		_, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(b.ID)},
			EnvironmentID: env.ID,
		})
		if err == nil {
			t.Errorf("session created from an archived agent")
		}
	})

	t.Run("unknown environment", func(t *testing.T) {
		_, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
			EnvironmentID: "env_011Cmissing00000000000000",
		})
		apiErr := asAPIError(t, err)
		if apiErr.StatusCode != http.StatusNotFound && apiErr.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 404 or 400", apiErr.StatusCode)
		}
	})
}

func TestE2ESessionLifecycle(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	env := newEnvironment(t, c, "env")
	a := newAgent(t, c, "agent", nil)
	b := newAgent(t, c, "other", nil)
	s1 := newSession(t, c, a.ID, env.ID)
	s2 := newSession(t, c, a.ID, env.ID)
	s3 := newSession(t, c, b.ID, env.ID)

	t.Run("update title and metadata", func(t *testing.T) {
		got, err := c.Beta.Sessions.Update(ctx, s1.ID, anthropic.BetaSessionUpdateParams{
			Title:    anthropic.String("renamed"),
			Metadata: map[string]string{"k": "v", "drop": "me"},
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if got.Title != "renamed" || got.Metadata["k"] != "v" {
			t.Errorf("after update: %s", got.RawJSON())
		}
		got, err = c.Beta.Sessions.Update(ctx, s1.ID, anthropic.BetaSessionUpdateParams{},
			option.WithJSONSet("metadata", map[string]any{"drop": nil}))
		if err != nil {
			t.Fatalf("metadata patch: %v", err)
		}
		if _, ok := got.Metadata["drop"]; ok || got.Metadata["k"] != "v" || got.Title != "renamed" {
			t.Errorf("after patch: title %q metadata %v", got.Title, got.Metadata)
		}
	})

	t.Run("update vault_ids is rejected", func(t *testing.T) {
		_, err := c.Beta.Sessions.Update(ctx, s1.ID, anthropic.BetaSessionUpdateParams{VaultIDs: []string{"vlt_x"}})
		wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	})

	list := func(t *testing.T, p anthropic.BetaSessionListParams) []string {
		t.Helper()
		var ids []string
		iter := c.Beta.Sessions.ListAutoPaging(ctx, p)
		for iter.Next() {
			ids = append(ids, iter.Current().ID)
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("list: %v", err)
		}
		return ids
	}

	tests := []struct {
		name string
		p    anthropic.BetaSessionListParams
		want []string
	}{
		{"default order is newest first", anthropic.BetaSessionListParams{}, []string{s3.ID, s2.ID, s1.ID}},
		{"asc", anthropic.BetaSessionListParams{Order: anthropic.BetaSessionListParamsOrderAsc}, []string{s1.ID, s2.ID, s3.ID}},
		{"desc paged", anthropic.BetaSessionListParams{Order: anthropic.BetaSessionListParamsOrderDesc, Limit: anthropic.Int(1)}, []string{s3.ID, s2.ID, s1.ID}},
		{"statuses idle", anthropic.BetaSessionListParams{Statuses: []string{"idle"}, Order: anthropic.BetaSessionListParamsOrderAsc}, []string{s1.ID, s2.ID, s3.ID}},
		{"statuses running", anthropic.BetaSessionListParams{Statuses: []string{"running", "terminated"}}, nil},
		{"agent_id", anthropic.BetaSessionListParams{AgentID: anthropic.String(b.ID)}, []string{s3.ID}},
	}
	for _, tt := range tests {
		t.Run("list "+tt.name, func(t *testing.T) {
			got := list(t, tt.p)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}

	t.Run("prev_page is null on the first page", func(t *testing.T) {
		page, err := c.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{Limit: anthropic.Int(1)})
		if err != nil {
			t.Fatal(err)
		}
		if raw := page.JSON.PrevPage.Raw(); raw != "null" {
			t.Errorf("prev_page = %q, want null", raw)
		}
	})

	t.Run("archive", func(t *testing.T) {
		got, err := c.Beta.Sessions.Archive(ctx, s2.ID, anthropic.BetaSessionArchiveParams{})
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		if got.ArchivedAt.IsZero() {
			t.Errorf("archived_at not set: %s", got.RawJSON())
		}
		if ids := list(t, anthropic.BetaSessionListParams{Order: anthropic.BetaSessionListParamsOrderAsc}); len(ids) != 2 {
			t.Errorf("archived session still listed: %v", ids)
		}
		if ids := list(t, anthropic.BetaSessionListParams{IncludeArchived: anthropic.Bool(true)}); len(ids) != 3 {
			t.Errorf("include_archived lists %v", ids)
		}
		// Archived sessions are read-only.
		_, err = c.Beta.Sessions.Events.Send(ctx, s2.ID, anthropic.BetaSessionEventSendParams{
			Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("hello")},
		})
		wantStatus(t, err, http.StatusConflict, "")
	})

	t.Run("delete", func(t *testing.T) {
		got, err := c.Beta.Sessions.Delete(ctx, s3.ID, anthropic.BetaSessionDeleteParams{})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		checkShape(t, "session delete", got)
		if got.ID != s3.ID || got.Type != "session_deleted" {
			t.Errorf("delete = %s", got.RawJSON())
		}
		_, err = c.Beta.Sessions.Get(ctx, s3.ID, anthropic.BetaSessionGetParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
		_, err = c.Beta.Sessions.Events.List(ctx, s3.ID, anthropic.BetaSessionEventListParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})
}
