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
	// The list names every engine with custom tools (claude, scripted, and others as
	// engines gain them), never codex.
	const want = `tools[0]: engine \"codex\" does not support custom tools; engines that do: `
	_, list, ok := strings.Cut(apiErr.RawJSON(), want)
	list, _, _ = strings.Cut(list, `"`)
	if !ok || !strings.Contains(list, "claude") || !strings.Contains(list, "scripted") || strings.Contains(list, "codex") {
		t.Errorf("error = %s, want message %s... listing claude and scripted", apiErr.RawJSON(), want)
	}
	page, err := c.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil || len(page.Data) != 0 {
		t.Errorf("after the refusal: %d agents, %v; want none", len(page.Data), err)
	}

	if _, err := c.Beta.Agents.New(ctx, params, option.WithJSONSet("engine", "scripted"), tools); err != nil {
		t.Errorf("custom tool on scripted: %v", err)
	}
}
