package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestE2EEngineFeatures checks that the server refuses, at agent creation, a custom tool on
// an engine whose Capabilities lack it (codex), and accepts it on one that has it
// (scripted): the features come from the registered engines, not from a list in httpapi.
func TestE2EEngineFeatures(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	tools := option.WithJSONSet("tools", []map[string]any{{
		"type": "custom", "name": "lookup", "description": "Look a thing up",
		"input_schema": map[string]any{"type": "object"},
	}})
	params := anthropic.BetaAgentNewParams{
		Name:  "custom",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "gpt-5.1-codex"},
	}

	_, err := c.Beta.Agents.New(ctx, params, option.WithJSONSet("engine", "codex"), tools)
	apiErr := wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	if want := `tools[0]: engine \"codex\" does not support custom tools; engines that do: claude, scripted`; !strings.Contains(apiErr.RawJSON(), want) {
		t.Errorf("error = %s, want message %s", apiErr.RawJSON(), want)
	}
	page, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Errorf("after the refusal: %d agents, %v; want none", len(page.Data), err)
	}

	if _, err := c.Beta.Agents.New(ctx, params, option.WithJSONSet("engine", "scripted"), tools); err != nil {
		t.Errorf("custom tool on scripted: %v", err)
	}
}
