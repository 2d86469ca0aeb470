package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// coordinatorOption makes an agent a coordinator of roster (agent IDs).
func coordinatorOption(roster ...string) option.RequestOption {
	return option.WithJSONSet("multiagent", map[string]any{"type": "coordinator", "agents": roster})
}

func delegateStep(tool, message string) scriptStep {
	return scriptStep{"custom_tool_use": map[string]any{"name": tool, "input": map[string]string{"message": message}}}
}

// TestE2EThreads drives a multiagent session (scripted coordinator and helper) through the
// SDK: the session stream shows the delegation, client.Beta.Sessions.Threads lists, gets,
// archives threads and lists and streams a child thread's events.
func TestE2EThreads(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	helper := newAgent(t, c, "Helper", scriptMetadata(t,
		[]scriptStep{{"message": "first answer"}},
		[]scriptStep{{"message": "second answer"}},
	))
	lead := newAgent(t, c, "Lead", scriptMetadata(t,
		[]scriptStep{delegateStep("delegate_to_helper", "do part one"), {"message": "lead done"}},
		[]scriptStep{delegateStep("delegate_to_helper", "do part two"), {"message": "lead done again"}},
	), coordinatorOption(helper.ID))
	env := newEnvironment(t, c, "threads")
	sess := newSession(t, c, lead.ID, env.ID)

	threads, err := c.Beta.Sessions.Threads.List(ctx, sess.ID, anthropic.BetaSessionThreadListParams{})
	if err != nil {
		t.Fatalf("list threads: %v", err)
	}
	if len(threads.Data) != 1 || threads.Data[0].ParentThreadID != "" || threads.Data[0].Agent.Name != "Lead" {
		t.Fatalf("threads of a new session: %s", threads.RawJSON())
	}
	primary := threads.Data[0].ID

	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("go"))
	evs := withoutSpans(readUntil(t, stream, isIdle))
	var got []string
	var childID string
	for _, ev := range evs {
		if ev.Type == "session.usage" {
			continue
		}
		got = append(got, ev.Type)
		switch ev.Type {
		case "session.thread_created":
			childID = ev.SessionThreadID
			if ev.AgentName != "Helper" {
				t.Errorf("thread_created agent_name %q", ev.AgentName)
			}
		case "agent.thread_message_received":
			if ev.FromSessionThreadID != childID || ev.FromAgentName != "Helper" || !strings.Contains(ev.RawJSON(), `"text":"first answer"`) {
				t.Errorf("thread_message_received %s", ev.RawJSON())
			}
		}
	}
	want := []string{
		"user.message", "session.status_running", "session.thread_status_running",
		"session.thread_created", "agent.thread_message_sent", "session.thread_status_running", "session.thread_status_idle",
		"agent.thread_message_received", "agent.message", "session.thread_status_idle", "session.status_idle",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("session stream:\n got %v\nwant %v", got, want)
	}

	threads, err = c.Beta.Sessions.Threads.List(ctx, sess.ID, anthropic.BetaSessionThreadListParams{})
	if err != nil || len(threads.Data) != 2 || threads.Data[1].ID != childID || threads.Data[1].ParentThreadID != primary {
		t.Fatalf("threads after delegating: %v %s", err, threads.RawJSON())
	}
	child, err := c.Beta.Sessions.Threads.Get(ctx, childID, anthropic.BetaSessionThreadGetParams{SessionID: sess.ID})
	if err != nil {
		t.Fatalf("get thread: %v", err)
	}
	if child.Agent.Name != "Helper" || child.Status != "idle" || child.Type != "session_thread" {
		t.Errorf("child thread %s", child.RawJSON())
	}

	page, err := c.Beta.Sessions.Threads.Events.List(ctx, childID, anthropic.BetaSessionThreadEventListParams{SessionID: sess.ID})
	if err != nil {
		t.Fatalf("list thread events: %v", err)
	}
	var childTypes []string
	for _, ev := range page.Data {
		if ev.Type != "session.usage" && ev.Type[:5] != "span." {
			childTypes = append(childTypes, ev.Type)
		}
	}
	wantChild := []string{"session.thread_status_running", "agent.thread_message_received", "agent.message", "agent.thread_message_sent", "session.thread_status_idle"}
	if !slices.Equal(childTypes, wantChild) {
		t.Errorf("child thread events %v, want %v", childTypes, wantChild)
	}

	// The child thread's stream carries that thread's events only.
	ts := c.Beta.Sessions.Threads.Events.StreamEvents(ctx, childID, anthropic.BetaSessionThreadEventStreamParams{SessionID: sess.ID})
	if err := ts.Err(); err != nil {
		t.Fatalf("open thread stream: %v", err)
	}
	t.Cleanup(func() { ts.Close() })
	send(t, c, sess.ID, userMessage("again"))
	var streamed []string
	for ts.Next() {
		ev := ts.Current()
		if ev.Type == "session.usage" || ev.Type[:5] == "span." {
			continue
		}
		streamed = append(streamed, ev.Type)
		if ev.Type == "agent.message" && !strings.Contains(ev.RawJSON(), `"text":"second answer"`) {
			t.Errorf("thread stream carried another thread's message %s", ev.RawJSON())
		}
		if ev.Type == "session.thread_status_idle" {
			break
		}
	}
	if !slices.Equal(streamed, wantChild) {
		t.Errorf("thread stream %v, want %v", streamed, wantChild)
	}
	readUntil(t, stream, isIdle)

	archived, err := c.Beta.Sessions.Threads.Archive(ctx, childID, anthropic.BetaSessionThreadArchiveParams{SessionID: sess.ID})
	if err != nil || archived.ArchivedAt.IsZero() {
		t.Fatalf("archive thread: %v %v", err, archived)
	}
	_, err = c.Beta.Sessions.Threads.Archive(ctx, primary, anthropic.BetaSessionThreadArchiveParams{SessionID: sess.ID})
	wantStatus(t, err, 400, "invalid_request_error")
}

// TestE2EClaudeDelegation proves delegation changes what the agent does, with the real
// Claude Code CLI for both agents: the coordinator's model calls its delegation tool, the
// child agent (its own system prompt and CLI conversation, in a HOME of its own) writes a
// file in the shared workspace, and the coordinator's final message reports the child's
// answer, which it got as the tool's result.
func TestE2EClaudeDelegation(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	const childMarker, leadMarker = "You are the file writer.", "You coordinate the work."
	delegation := func(req fakemodel.Request) (string, bool) {
		for _, tool := range req.Tools {
			if strings.HasSuffix(tool.Name, "delegate_to_file_writer") {
				return tool.Name, true
			}
		}
		return "", false
	}
	fake.Script = func(req fakemodel.Request) fakemodel.Response {
		sys := string(req.System)
		switch {
		case strings.Contains(sys, childMarker):
			if _, ok := delegation(req); ok {
				return fakemodel.Text("the child was offered a delegation tool")
			}
			if _, ok := req.LastToolResult(); ok {
				return fakemodel.Text("wrote report.txt")
			}
			return fakemodel.ToolUse("Bash", map[string]string{"command": "echo delegated-content > report.txt"})
		case strings.Contains(sys, leadMarker):
			if res, ok := req.LastToolResult(); ok {
				return fakemodel.Text("coordinator saw: " + res.ResultText())
			}
			if tool, ok := delegation(req); ok {
				return fakemodel.ToolUse(tool, map[string]string{"message": "Write report.txt"})
			}
			return fakemodel.Text("no delegation tool offered")
		}
		return fakemodel.Default(req)
	}
	newClaude := func(name, system string, opts ...option.RequestOption) *anthropic.BetaManagedAgentsAgent {
		a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
			Name:   name,
			Model:  anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
			System: anthropic.String(system),
		}, append([]option.RequestOption{option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}})}, opts...)...)
		if err != nil {
			t.Fatalf("create agent %s: %v", name, err)
		}
		return a
	}
	writer := newClaude("File Writer", childMarker)
	lead := newClaude("Lead", leadMarker, coordinatorOption(writer.ID))
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, lead.ID, env.ID)
	stream := openStream(t, ctx, c, sess.ID)

	send(t, c, sess.ID, userMessage("Get report.txt written."))
	evs := readUntil(t, stream, isIdle)
	var final, childID string
	for _, ev := range evs {
		switch ev.Type {
		case "agent.message":
			final = agentText(ev)
		case "session.thread_created":
			childID = ev.SessionThreadID
		case "agent.custom_tool_use":
			t.Errorf("the delegation reached the client as a custom tool use: %s", ev.RawJSON())
		}
	}
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
		t.Fatalf("turn ended %s; events %v", idle.RawJSON(), eventTypes(evs))
	}
	if childID == "" {
		t.Fatalf("no session.thread_created; events %v", eventTypes(evs))
	}
	if !strings.Contains(final, "coordinator saw: wrote report.txt") {
		t.Errorf("coordinator's final message %q does not report the child's answer", final)
	}
	out, err := os.ReadFile(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "report.txt"))
	if err != nil || strings.TrimSpace(string(out)) != "delegated-content" {
		t.Errorf("shared workspace report.txt = %q, %v; want the child's write", out, err)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "home", ".threads", childID)); err != nil {
		t.Errorf("the child thread has no HOME of its own: %v", err)
	}
	page, err := c.Beta.Sessions.Threads.Events.List(ctx, childID, anthropic.BetaSessionThreadEventListParams{SessionID: sess.ID})
	if err != nil {
		t.Fatalf("list child events: %v", err)
	}
	var childTypes []string
	for _, ev := range page.Data {
		childTypes = append(childTypes, ev.Type)
	}
	for _, want := range []string{"agent.thread_message_received", "agent.tool_use", "agent.tool_result", "agent.message", "agent.thread_message_sent"} {
		if !slices.Contains(childTypes, want) {
			t.Errorf("child thread events %v lack %s", childTypes, want)
		}
	}
	th, err := c.Beta.Sessions.Threads.Get(ctx, childID, anthropic.BetaSessionThreadGetParams{SessionID: sess.ID})
	if err != nil || th.Usage.InputTokens == 0 {
		t.Errorf("child thread usage: %v %s", err, th.RawJSON())
	}
}
