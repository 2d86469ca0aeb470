package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func TestE2EAgentCreate(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	tests := []struct {
		name      string
		params    anthropic.BetaAgentNewParams
		opts      []option.RequestOption
		wantModel string
		wantSpeed string
	}{
		{
			name:      "model as bare string",
			params:    anthropic.BetaAgentNewParams{Name: "bare"},
			opts:      []option.RequestOption{option.WithJSONSet("model", "claude-sonnet-4-6")},
			wantModel: "claude-sonnet-4-6",
			wantSpeed: "standard",
		},
		{
			name:      "model object without speed",
			params:    anthropic.BetaAgentNewParams{Name: "object", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-opus-4-8"}},
			wantModel: "claude-opus-4-8",
			wantSpeed: "standard",
		},
		{
			name: "model object with speed fast",
			params: anthropic.BetaAgentNewParams{Name: "fast", Model: anthropic.BetaManagedAgentsModelConfigParams{
				ID: "claude-opus-4-8", Speed: anthropic.BetaManagedAgentsModelConfigParamsSpeedFast,
			}},
			wantModel: "claude-opus-4-8",
			wantSpeed: "fast",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := c.Beta.Agents.New(ctx, tt.params, append([]option.RequestOption{scriptedEngine()}, tt.opts...)...)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if a.Type != "agent" || a.Version != 1 || a.Name != tt.params.Name {
				t.Errorf("got type %q version %d name %q, want agent/1/%q", a.Type, a.Version, a.Name, tt.params.Name)
			}
			if a.Model.ID != tt.wantModel || string(a.Model.Speed) != tt.wantSpeed {
				t.Errorf("model = {%q, %q}, want {%q, %q}; raw %s", a.Model.ID, a.Model.Speed, tt.wantModel, tt.wantSpeed, a.Model.RawJSON())
			}
			if len(a.ID) < len("agent_") || a.ID[:6] != "agent_" {
				t.Errorf("id %q lacks the agent_ prefix", a.ID)
			}
			if a.CreatedAt.IsZero() || a.UpdatedAt.IsZero() || !a.ArchivedAt.IsZero() {
				t.Errorf("timestamps created %v updated %v archived %v", a.CreatedAt, a.UpdatedAt, a.ArchivedAt)
			}
			// Every documented field is present (the SDK marks them required).
			for field, raw := range map[string]string{
				"tools": a.JSON.Tools.Raw(), "mcp_servers": a.JSON.MCPServers.Raw(), "skills": a.JSON.Skills.Raw(),
				"metadata": a.JSON.Metadata.Raw(), "archived_at": a.JSON.ArchivedAt.Raw(), "description": a.JSON.Description.Raw(),
				"system": a.JSON.System.Raw(), "multiagent": a.JSON.Multiagent.Raw(), "created_at": a.JSON.CreatedAt.Raw(),
			} {
				if raw == "" {
					t.Errorf("field %s missing from %s", field, a.RawJSON())
				}
			}
		})
	}

	t.Run("duplicate name is 409", func(t *testing.T) {
		newAgent(t, c, "dup", nil)
		_, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
			Name: "dup", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		}, scriptedEngine())
		apiErr := wantStatus(t, err, http.StatusConflict, "")
		if got := apiErr.Response.Header.Get("x-should-retry"); got != "false" {
			t.Errorf("x-should-retry = %q, want false on a deterministic 409", got)
		}
	})

	t.Run("missing name is 400", func(t *testing.T) {
		_, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
			Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		}, scriptedEngine())
		wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	})

	t.Run("unknown agent is 404", func(t *testing.T) {
		_, err := c.Beta.Agents.Get(ctx, "agent_011CnotThere00000000000", anthropic.BetaAgentGetParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})
}

func TestE2EAgentVersions(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	a := newAgent(t, c, "versioned", map[string]string{"team": "a"})

	// A real change publishes version 2.
	v2, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{
		Version: anthropic.Int(1),
		System:  anthropic.String("be brief"),
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if v2.Version != 2 || v2.System != "be brief" || v2.ID != a.ID {
		t.Fatalf("after update: version %d system %q id %q", v2.Version, v2.System, v2.ID)
	}
	if v2.Metadata["team"] != "a" {
		t.Errorf("metadata not preserved by update: %v", v2.Metadata)
	}

	// Updating with the same values publishes nothing.
	same, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{
		Version: anthropic.Int(2),
		System:  anthropic.String("be brief"),
	})
	if err != nil {
		t.Fatalf("no-op update: %v", err)
	}
	if same.Version != 2 {
		t.Errorf("no-op update made version %d, want 2", same.Version)
	}

	// A stale version is a conflict.
	_, err = c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{
		Version: anthropic.Int(1),
		System:  anthropic.String("stale"),
	})
	wantStatus(t, err, http.StatusConflict, "")

	// Metadata is a patch: null deletes, a string upserts.
	v3, err := c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{},
		option.WithJSONSet("metadata", map[string]any{"team": nil, "owner": "ops"}))
	if err != nil {
		t.Fatalf("metadata patch: %v", err)
	}
	if _, ok := v3.Metadata["team"]; ok || v3.Metadata["owner"] != "ops" || v3.Version != 3 {
		t.Errorf("after metadata patch: version %d metadata %v", v3.Version, v3.Metadata)
	}

	tests := []struct {
		name       string
		version    int64
		wantSystem string
		wantStatus int
	}{
		{"latest", 0, "be brief", 0},
		{"version 1", 1, "", 0},
		{"version 2", 2, "be brief", 0},
		{"version 99 is 404", 99, "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run("get "+tt.name, func(t *testing.T) {
			var p anthropic.BetaAgentGetParams
			if tt.version > 0 {
				p.Version = anthropic.Int(tt.version)
			}
			got, err := c.Beta.Agents.Get(ctx, a.ID, p)
			if tt.wantStatus != 0 {
				wantStatus(t, err, tt.wantStatus, "not_found_error")
				return
			}
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			want := tt.version
			if want == 0 {
				want = 3
			}
			if got.Version != want || got.System != tt.wantSystem {
				t.Errorf("got version %d system %q, want %d %q", got.Version, got.System, want, tt.wantSystem)
			}
		})
	}

	t.Run("versions list", func(t *testing.T) {
		var versions []int64
		iter := c.Beta.Agents.Versions.ListAutoPaging(ctx, a.ID, anthropic.BetaAgentVersionListParams{Limit: anthropic.Int(2)})
		for iter.Next() {
			versions = append(versions, iter.Current().Version)
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("list versions: %v", err)
		}
		if len(versions) != 3 {
			t.Fatalf("versions = %v, want 3 of them", versions)
		}
		seen := map[int64]bool{}
		for _, v := range versions {
			seen[v] = true
		}
		if !seen[1] || !seen[2] || !seen[3] {
			t.Errorf("versions = %v, want 1, 2 and 3", versions)
		}
	})

	t.Run("archive", func(t *testing.T) {
		archived, err := c.Beta.Agents.Archive(ctx, a.ID, anthropic.BetaAgentArchiveParams{})
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		if archived.ArchivedAt.IsZero() {
			t.Errorf("archived_at not set: %s", archived.RawJSON())
		}
		got, err := c.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{})
		if err != nil {
			t.Fatalf("get archived: %v", err)
		}
		if got.ArchivedAt.IsZero() {
			t.Errorf("archived agent reads back with archived_at null")
		}
		// Archived agents are read-only.
		_, err = c.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{System: anthropic.String("x")})
		if err == nil {
			t.Errorf("update of an archived agent succeeded")
		}
	})
}

func TestE2EAgentList(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	const n = 25
	want := map[string]bool{}
	for i := range n {
		want[newAgent(t, c, fmt.Sprintf("agent-%02d", i), nil).ID] = true
	}
	archived := newAgent(t, c, "archived", nil)
	if _, err := c.Beta.Agents.Archive(ctx, archived.ID, anthropic.BetaAgentArchiveParams{}); err != nil {
		t.Fatalf("archive: %v", err)
	}

	tests := []struct {
		name            string
		limit           int64
		includeArchived bool
		wantCount       int
		wantPages       int
	}{
		{"default limit", 0, false, n, 2},
		{"limit 10", 10, false, n, 3},
		{"limit 100", 100, false, n, 1},
		{"include archived", 7, true, n + 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p anthropic.BetaAgentListParams
			if tt.limit > 0 {
				p.Limit = anthropic.Int(tt.limit)
			}
			if tt.includeArchived {
				p.IncludeArchived = anthropic.Bool(true)
			}
			// Auto-paging follows next_page until it is null.
			seen := map[string]bool{}
			iter := c.Beta.Agents.ListAutoPaging(ctx, p)
			for iter.Next() {
				id := iter.Current().ID
				if seen[id] {
					t.Errorf("agent %s listed twice", id)
				}
				seen[id] = true
			}
			if err := iter.Err(); err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(seen) != tt.wantCount {
				t.Errorf("listed %d agents, want %d", len(seen), tt.wantCount)
			}
			for id := range want {
				if !seen[id] {
					t.Errorf("agent %s missing from the list", id)
				}
			}
			if seen[archived.ID] != tt.includeArchived {
				t.Errorf("archived agent listed = %v, want %v", seen[archived.ID], tt.includeArchived)
			}

			// Manual paging: count pages and check the last one ends with next_page null.
			pages := 0
			page, err := c.Beta.Agents.List(ctx, p)
			for err == nil && page != nil {
				pages++
				if len(page.Data) == 0 && page.NextPage != "" {
					t.Errorf("empty page with a next_page")
				}
				page, err = page.GetNextPage()
			}
			if err != nil {
				t.Fatalf("page %d: %v", pages+1, err)
			}
			if pages != tt.wantPages {
				t.Errorf("got %d pages, want %d", pages, tt.wantPages)
			}
		})
	}
}
