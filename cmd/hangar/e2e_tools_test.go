package main

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// newToolAgent creates a scripted agent with the agent toolset (bash on always_ask) and a
// custom get_weather tool.
func newToolAgent(t *testing.T, c anthropic.Client, name string, meta map[string]string) *anthropic.BetaManagedAgentsAgent {
	t.Helper()
	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:     name,
		Model:    anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		Metadata: meta,
		Tools: []anthropic.BetaAgentNewParamsToolUnion{
			{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{
				DefaultConfig: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParams{
					PermissionPolicy: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParamsPermissionPolicyUnion{
						OfAlwaysAsk: &anthropic.BetaManagedAgentsAlwaysAskPolicyParam{},
					},
				},
			}},
			{OfCustom: &anthropic.BetaManagedAgentsCustomToolParams{
				Name:        "get_weather",
				Description: "Current weather for a city",
				InputSchema: anthropic.BetaManagedAgentsCustomToolInputSchemaParam{
					Properties: map[string]any{"city": map[string]any{"type": "string"}},
				},
			}},
		},
	}, scriptedEngine())
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	return a
}

func TestE2EAgentToolsResolved(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	a := newToolAgent(t, srv.Client, "tools", nil)
	checkShape(t, "agent with tools", a)
	if len(a.Tools) != 2 {
		t.Fatalf("tools = %s", a.JSON.Tools.Raw())
	}
	ts := a.Tools[0]
	if ts.Type != "agent_toolset_20260401" || ts.DefaultConfig.PermissionPolicy.Type != "always_ask" || !ts.DefaultConfig.Enabled {
		t.Errorf("toolset not resolved (default_config.enabled true, policy always_ask): %s", ts.RawJSON())
	}
	if ts.JSON.Configs.Raw() == "" {
		t.Errorf("toolset configs missing (want [] at least): %s", ts.RawJSON())
	}
	if ct := a.Tools[1]; ct.Type != "custom" || ct.Name != "get_weather" || ct.InputSchema.Type != "object" {
		t.Errorf("custom tool = %s", ct.RawJSON())
	}
}

func TestE2EToolConfirmation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		result     anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResult
		wantTypes  []string
		wantResult string
	}{
		{"allow", anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResultAllow,
			[]string{"user.tool_confirmation", "session.status_running", "agent.tool_result", "agent.message", "session.status_idle"}, "file.txt"},
		{"deny", anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResultDeny,
			[]string{"user.tool_confirmation", "session.status_running", "agent.message", "agent.message", "session.status_idle"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			c := srv.Client
			ctx := testContext(t)
			meta := scriptMetadata(t, []scriptStep{
				{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, "result": "file.txt"},
				{"message": "listed"},
			})
			a := newToolAgent(t, c, "asker", meta)
			s := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
			stream := openStream(t, ctx, c, s.ID)

			send(t, c, s.ID, userMessage("list files"))
			first := withoutSpans(readUntil(t, stream, isIdle))
			want := []string{"user.message", "session.status_running", "agent.tool_use", "session.status_idle"}
			if !slices.Equal(eventTypes(first), want) {
				t.Fatalf("first turn %v, want %v", eventTypes(first), want)
			}
			use := first[2].AsAgentToolUse()
			checkShape(t, "agent.tool_use", use)
			if use.Name != "bash" || use.Input["command"] != "ls" || use.EvaluatedPermission != "ask" {
				t.Errorf("agent.tool_use = %s", first[2].RawJSON())
			}
			if sr := first[3].AsSessionStatusIdle().StopReason; sr.Type != "requires_action" || !slices.Equal(sr.EventIDs, []string{use.ID}) {
				t.Fatalf("stop_reason = %s, want requires_action [%s]", first[3].JSON.StopReason.Raw(), use.ID)
			}

			send(t, c, s.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{
				ToolUseID: use.ID,
				Result:    tt.result,
			}})
			second := withoutSpans(readUntil(t, stream, isIdle))
			if !slices.Equal(eventTypes(second), tt.wantTypes) {
				t.Fatalf("after confirmation %v, want %v", eventTypes(second), tt.wantTypes)
			}
			if tt.wantResult != "" {
				res := second[2].AsAgentToolResult()
				checkShape(t, "agent.tool_result", res)
				if res.ToolUseID != use.ID || len(res.Content) != 1 || res.Content[0].Text != tt.wantResult {
					t.Errorf("agent.tool_result = %s", second[2].RawJSON())
				}
			}
			if sr := second[len(second)-1].AsSessionStatusIdle().StopReason; sr.Type != "end_turn" {
				t.Errorf("stop_reason = %q, want end_turn", sr.Type)
			}
		})
	}
}

// weatherTool is a client-side tool for the SDK's SessionToolRunner.
type weatherTool struct{ calls chan json.RawMessage }

func (weatherTool) Name() string        { return "get_weather" }
func (weatherTool) Description() string { return "Current weather for a city" }
func (weatherTool) InputSchema() anthropic.BetaToolInputSchemaParam {
	return anthropic.BetaToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}
}
func (w weatherTool) Execute(ctx context.Context, input json.RawMessage) ([]anthropic.BetaToolResultBlockParamContentUnion, error) {
	select {
	case w.calls <- input:
	default:
	}
	return []anthropic.BetaToolResultBlockParamContentUnion{{OfText: &anthropic.BetaTextBlockParam{Text: "sunny"}}}, nil
}

// TestE2ESDKSessionToolRunner drives a custom tool with the SDK's own SessionToolRunner,
// which streams, reconciles with the event list and posts user.custom_tool_result.
func TestE2ESDKSessionToolRunner(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	meta := scriptMetadata(t,
		[]scriptStep{{"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Paris"}}}},
		[]scriptStep{{"message": "It is sunny in Paris."}},
	)
	a := newToolAgent(t, c, "weather", meta)
	s := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	watch := openStream(t, ctx, c, s.ID)

	noIdle := time.Duration(0)
	runner := c.Beta.Sessions.Events.NewToolRunner(ctx, s.ID, anthropic.SessionToolRunnerOptions{
		Tools:   []anthropic.BetaTool{weatherTool{calls: make(chan json.RawMessage, 1)}},
		MaxIdle: &noIdle,
	})
	defer runner.Close()

	send(t, c, s.ID, userMessage("weather in Paris?"))
	if !runner.Next() {
		t.Fatalf("tool runner stopped: %v", runner.Err())
	}
	call := runner.Current()
	if !call.Custom || call.Name != "get_weather" || !call.Posted || call.IsError {
		t.Fatalf("dispatched call = %+v", call)
	}
	if call.CustomToolUse.Input["city"] != "Paris" {
		t.Errorf("tool input = %v", call.CustomToolUse.Input)
	}

	var evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for {
		evs = append(evs, withoutSpans(readUntil(t, watch, isIdle))...)
		if sr := evs[len(evs)-1].AsSessionStatusIdle().StopReason; sr.Type == "end_turn" {
			break
		}
	}
	var result, reply string
	for _, ev := range evs {
		switch ev.Type {
		case "user.custom_tool_result":
			result = ev.AsUserCustomToolResult().CustomToolUseID
		case "agent.message":
			reply = agentText(ev)
		}
	}
	if result != call.ToolUseID {
		t.Errorf("custom tool result answered %q, want %q (events %v)", result, call.ToolUseID, eventTypes(evs))
	}
	if reply != "It is sunny in Paris." {
		t.Errorf("agent replied %q", reply)
	}
	if err := runner.Close(); err != nil {
		t.Errorf("close runner: %v", err)
	}
}
