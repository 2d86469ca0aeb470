package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// nativeServer starts Hangar with the fake model as its model upstream, which the native
// engine calls from the server.
func nativeServer(t *testing.T) (*testServer, *fakemodel.Server) {
	t.Helper()
	fake := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { t.Errorf("unexpected model request %s %s", r.Method, r.Path) }}
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	srv := startServer(t, func(c *Config) { c.UpstreamURL, c.UpstreamKey = upstream.URL, "sk-upstream" })
	return srv, fake
}

// nativeAgent creates an agent on engine with the agent toolset.
func nativeAgent(t *testing.T, c anthropic.Client, engine string) *anthropic.BetaManagedAgentsAgent {
	t.Helper()
	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:  "native",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("engine", engine), option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}}))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	return a
}

// The native engine on a sandboxed environment runs the toolset itself: a write in one
// turn, and a bash call reading the file back in the next, which continues the same
// conversation.
func TestE2ENativeSandbox(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (run scripts/install-test-deps)")
	}
	srv, fake := nativeServer(t)
	c := srv.Client
	a := nativeAgent(t, c, "native")
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, a.ID, env.ID)
	ctx := testContext(t)
	stream := openStream(t, ctx, c, sess.ID)

	send(t, c, sess.ID, userMessage(`CUSTOM:write {"file_path":"note.txt","content":"native was here"}`))
	turn1 := readUntil(t, stream, isIdle)
	if got := eventTypes(turn1); !slices.Equal(got, []string{"user.message", "session.status_running", "span.model_request_start", "span.model_request_end",
		"agent.tool_use", "agent.tool_result", "span.model_request_start", "agent.message", "span.model_request_end", "session.status_idle"}) &&
		!slices.Equal(eventTypes(withoutUsage(turn1)), []string{"user.message", "session.status_running", "span.model_request_start", "span.model_request_end",
			"agent.tool_use", "agent.tool_result", "span.model_request_start", "agent.message", "span.model_request_end", "session.status_idle"}) {
		logEvents(t, turn1)
		t.Fatalf("turn 1 events = %v", got)
	}
	if idle := turn1[len(turn1)-1]; idle.StopReason.Type != "end_turn" {
		t.Fatalf("turn 1 ended with %s", idle.RawJSON())
	}
	checkUsage(t, c, sess.ID, turn1)
	out, err := os.ReadFile(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "note.txt"))
	if err != nil || string(out) != "native was here" {
		t.Fatalf("workspace note.txt = %q, %v", out, err)
	}

	send(t, c, sess.ID, userMessage("TOOL:bash cat note.txt"))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "native was here") {
		t.Errorf("turn 2 tool_result = %s", result)
	}
	reqs := fake.MessageRequests()
	last := reqs[len(reqs)-1]
	if len(last.Messages) != 7 || !strings.Contains(string(last.Body), "native was here") || last.Header.Get("x-api-key") != "sk-upstream" {
		t.Errorf("turn 2's last request does not continue turn 1 (%d messages) or lacks the upstream key", len(last.Messages))
	}
}

// withoutUsage drops session.usage events (emitted after model requests when the server
// reports usage snapshots).
func withoutUsage(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	return slices.DeleteFunc(slices.Clone(evs), func(ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return ev.Type == "session.usage" })
}

// A self_hosted session: the agent loop runs in Hangar (whatever engine the agent names),
// and the test is the worker, with the SDK's own session tool runner and agent toolset
// bound to a temporary directory: the write lands there, its result goes back to the
// model, and the session ends its turn.
func TestE2ENativeSelfHosted(t *testing.T) {
	t.Parallel()
	srv, fake := nativeServer(t)
	c := srv.Client
	a := nativeAgent(t, c, "claude")
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{
		Name:   "workers",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	sess := newSession(t, c, a.ID, env.ID)
	ctx := testContext(t)
	stream := openStream(t, ctx, c, sess.ID)

	dir := t.TempDir()
	tools := agenttoolset.BetaAgentToolset20260401(&agenttoolset.AgentToolContext{Workdir: dir})
	defer agenttoolset.CloseAll(tools)
	idle := 200 * time.Millisecond
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	worker := c.Beta.Sessions.Events.NewToolRunner(wctx, sess.ID, anthropic.SessionToolRunnerOptions{Tools: tools, MaxIdle: &idle})
	defer worker.Close()
	calls := make(chan anthropic.DispatchedToolCall, 8)
	ended := make(chan error, 1)
	go func() {
		for worker.Next() {
			calls <- worker.Current()
		}
		ended <- worker.Err()
	}()

	send(t, c, sess.ID, userMessage(`CUSTOM:write {"file_path":"hello.txt","content":"from the worker"}`))
	evs := readUntil(t, stream, isIdle)
	want := []string{"user.message", "session.status_running", "span.model_request_start", "span.model_request_end",
		"agent.tool_use", "user.tool_result", "span.model_request_start", "agent.message", "span.model_request_end", "session.status_idle"}
	if got := eventTypes(withoutUsage(evs)); !slices.Equal(got, want) {
		logEvents(t, evs)
		t.Fatalf("events = %v, want %v", got, want)
	}
	if last := evs[len(evs)-1]; last.StopReason.Type != "end_turn" {
		t.Errorf("idle = %s", last.RawJSON())
	}
	got, err := os.ReadFile(filepath.Join(dir, "hello.txt"))
	if err != nil || string(got) != "from the worker" {
		t.Fatalf("worker dir hello.txt = %q, %v", got, err)
	}
	select {
	case call := <-calls:
		if call.Name != "write" || !call.Posted || call.IsError {
			t.Errorf("worker call %s posted=%v is_error=%v", call.Name, call.Posted, call.IsError)
		}
	case <-ctx.Done():
		t.Fatal("the worker reported no call")
	}
	for _, ev := range evs {
		if ev.Type == "agent.message" && !strings.HasPrefix(agentText(ev), "done: wrote 15 bytes") {
			t.Errorf("agent said %q", agentText(ev))
		}
	}
	// The worker stops on its own once the session has been idle (end_turn) for MaxIdle.
	select {
	case err := <-ended:
		if !errors.Is(err, anthropic.ErrIdleTimeout) {
			t.Errorf("worker ended with %v, want ErrIdleTimeout", err)
		}
	case <-ctx.Done():
		t.Fatal("the worker did not stop after the turn")
	}
	for _, r := range fake.MessageRequests() {
		if r.HasTool("Bash") || !r.HasTool("bash") {
			t.Error("the self_hosted session's model requests do not offer the agent toolset")
		}
	}

	// user.tool_result is refused where there is no worker, and for calls not pending.
	_, err = c.Beta.Sessions.Events.Send(testContext(t), sess.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{toolResult("sevt_nope")}})
	wantStatus(t, err, 400, "invalid_request_error")
	cloud := newEnvironment(t, c, "cloud")
	other := newSession(t, c, newAgent(t, c, "scripted", nil).ID, cloud.ID)
	_, err = c.Beta.Sessions.Events.Send(testContext(t), other.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{toolResult("sevt_nope")}})
	if apiErr := wantStatus(t, err, 400, "invalid_request_error"); !strings.Contains(apiErr.Error(), "self_hosted") {
		t.Errorf("error = %v", apiErr)
	}
}

func toolResult(toolUseID string) anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolResult: &anthropic.BetaManagedAgentsUserToolResultEventParams{ToolUseID: toolUseID}}
}

// The conversation survives a crash: a second turn after a SIGKILL and a restart on the
// same data dir sends the model the first turn too.
func TestE2ENativeConversationSurvivesRestart(t *testing.T) {
	t.Parallel()
	fake := &fakemodel.Server{}
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	dir := t.TempDir()
	env := []string{"ANTHROPIC_BASE_URL=" + upstream.URL, "ANTHROPIC_API_KEY=sk-upstream"}
	ctx := testContext(t)

	a := startProc(t, "first", dir, env...)
	agent := nativeAgent(t, a.Client, "native")
	workers, err := a.Client.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name:   "workers",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, a.Client, agent.ID, workers.ID)
	stream := openStream(t, ctx, a.Client, sess.ID)
	send(t, a.Client, sess.ID, userMessage("remember the word kumquat"))
	readUntil(t, stream, isIdle)
	a.kill()

	b := startProc(t, "second", dir, env...)
	stream = openStream(t, ctx, b.Client, sess.ID)
	send(t, b.Client, sess.ID, userMessage("which word?"))
	evs := readUntil(t, stream, isIdle)
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
		logEvents(t, evs)
		t.Fatalf("turn after restart ended with %s", idle.RawJSON())
	}
	reqs := fake.MessageRequests()
	last := reqs[len(reqs)-1]
	if len(last.Messages) != 3 || last.Messages[0].Content[0].Text != "remember the word kumquat" || last.Messages[1].Role != "assistant" {
		t.Errorf("the request after the restart has %d messages: %+v", len(last.Messages), last.Messages)
	}
}
