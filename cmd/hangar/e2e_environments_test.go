package main

import (
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

func TestE2EEnvironments(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name:        "python",
		Description: anthropic.String("python tools"),
		Metadata:    map[string]string{"tier": "dev"},
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Packages: anthropic.BetaPackagesParams{Pip: []string{"pandas==2.2.0"}},
		}},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if env.Type != "environment" || env.Name != "python" || env.Description != "python tools" || env.Metadata["tier"] != "dev" {
		t.Errorf("created %s", env.RawJSON())
	}
	if env.Config.Type != "cloud" {
		t.Errorf("config.type = %q, want cloud: %s", env.Config.Type, env.Config.RawJSON())
	}
	if got := env.Config.Packages.Pip; len(got) != 1 || got[0] != "pandas==2.2.0" {
		t.Errorf("config.packages.pip = %v: %s", got, env.Config.RawJSON())
	}
	if env.Config.Networking.Type != "unrestricted" {
		t.Errorf("config.networking.type = %q, want unrestricted (the default)", env.Config.Networking.Type)
	}
	if env.ArchivedAt != "" {
		t.Errorf("archived_at = %q, want null", env.ArchivedAt)
	}

	t.Run("get", func(t *testing.T) {
		got, err := c.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if got.ID != env.ID || got.Name != env.Name {
			t.Errorf("get = %s", got.RawJSON())
		}
	})

	t.Run("duplicate name is 409", func(t *testing.T) {
		_, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "python"})
		wantStatus(t, err, http.StatusConflict, "")
	})

	t.Run("update", func(t *testing.T) {
		got, err := c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{
			Name:     anthropic.String("python-3"),
			Metadata: map[string]string{"owner": "ml"},
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if got.Name != "python-3" || got.Description != "python tools" {
			t.Errorf("after update: %s", got.RawJSON())
		}
		if got.Metadata["tier"] != "dev" || got.Metadata["owner"] != "ml" {
			t.Errorf("metadata is a patch; got %v", got.Metadata)
		}
		if pip := got.Config.Packages.Pip; len(pip) != 1 {
			t.Errorf("omitted config must be kept; got %s", got.Config.RawJSON())
		}
		// Environments delete a metadata key with null or "".
		got, err = c.Beta.Environments.Update(ctx, env.ID, anthropic.BetaEnvironmentUpdateParams{},
			option.WithJSONSet("metadata", map[string]any{"tier": nil, "owner": ""}))
		if err != nil {
			t.Fatalf("metadata delete: %v", err)
		}
		if len(got.Metadata) != 0 {
			t.Errorf("metadata after deleting both keys = %v", got.Metadata)
		}
	})

	t.Run("list", func(t *testing.T) {
		other := newEnvironment(t, c, "node")
		archived := newEnvironment(t, c, "old")
		if _, err := c.Beta.Environments.Archive(ctx, archived.ID, anthropic.BetaEnvironmentArchiveParams{}); err != nil {
			t.Fatalf("archive: %v", err)
		}
		tests := []struct {
			name            string
			includeArchived bool
			want            []string
		}{
			{"active only", false, []string{env.ID, other.ID}},
			{"include archived", true, []string{env.ID, other.ID, archived.ID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := anthropic.BetaEnvironmentListParams{Limit: anthropic.Int(1)}
				if tt.includeArchived {
					p.IncludeArchived = anthropic.Bool(true)
				}
				seen := map[string]bool{}
				iter := c.Beta.Environments.ListAutoPaging(ctx, p)
				for iter.Next() {
					seen[iter.Current().ID] = true
				}
				if err := iter.Err(); err != nil {
					t.Fatalf("list: %v", err)
				}
				if len(seen) != len(tt.want) {
					t.Errorf("listed %v, want %v", seen, tt.want)
				}
				for _, id := range tt.want {
					if !seen[id] {
						t.Errorf("%s missing from the list", id)
					}
				}
			})
		}
	})

	t.Run("archive", func(t *testing.T) {
		e := newEnvironment(t, c, "to-archive")
		got, err := c.Beta.Environments.Archive(ctx, e.ID, anthropic.BetaEnvironmentArchiveParams{})
		if err != nil {
			t.Fatalf("archive: %v", err)
		}
		if got.ArchivedAt == "" {
			t.Errorf("archived_at not set: %s", got.RawJSON())
		}
		// Archived environments cannot start sessions.
		a := newAgent(t, c, "archive-env-agent", nil)
		_, err = c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
			EnvironmentID: e.ID,
		})
		if err == nil {
			t.Errorf("session created in an archived environment")
		}
	})

	t.Run("delete", func(t *testing.T) {
		e := newEnvironment(t, c, "to-delete")
		got, err := c.Beta.Environments.Delete(ctx, e.ID, anthropic.BetaEnvironmentDeleteParams{})
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		checkShape(t, "environment delete", got)
		if got.ID != e.ID || got.Type != "environment_deleted" {
			t.Errorf("delete = %s", got.RawJSON())
		}
		_, err = c.Beta.Environments.Get(ctx, e.ID, anthropic.BetaEnvironmentGetParams{})
		wantStatus(t, err, http.StatusNotFound, "not_found_error")
	})

	t.Run("delete with a session is 409", func(t *testing.T) {
		e := newEnvironment(t, c, "busy")
		a := newAgent(t, c, "busy-agent", nil)
		newSession(t, c, a.ID, e.ID)
		_, err := c.Beta.Environments.Delete(ctx, e.ID, anthropic.BetaEnvironmentDeleteParams{})
		apiErr := wantStatus(t, err, http.StatusConflict, "invalid_request_error")
		if apiErr.Message == "" {
			t.Errorf("409 without a message: %s", apiErr.RawJSON())
		}
		if _, err := c.Beta.Environments.Get(ctx, e.ID, anthropic.BetaEnvironmentGetParams{}); err != nil {
			t.Errorf("environment gone after a refused delete: %v", err)
		}
	})
}
