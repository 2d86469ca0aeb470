package runner_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar"
)

// agentIn stores a scripted agent named name and returns it.
func (e *env) agentIn(name string, metadata map[string]string, tools string) *hangar.Agent {
	e.t.Helper()
	if tools == "" {
		tools = "[]"
	}
	now := hangar.Now()
	a := &hangar.Agent{
		Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: name, Engine: "scripted",
		Model: hangar.Model{ID: "claude-sonnet-4-6", Speed: "standard"}, Tools: json.RawMessage(tools), Metadata: metadata,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateAgent(e.ctx, a); err != nil {
		e.t.Fatalf("create agent: %v", err)
	}
	return a
}

// coordinatorSession creates a session of a scripted coordinator whose roster is children.
func (e *env) coordinatorSession(coordScript map[string]string, children ...*hangar.Agent) string {
	e.t.Helper()
	return e.coordinatorSessionOn("scripted", coordScript, children...)
}

// coordinatorSessionOn creates a session of a coordinator on engine eng whose roster is
// children.
func (e *env) coordinatorSessionOn(eng string, coordScript map[string]string, children ...*hangar.Agent) string {
	e.t.Helper()
	var roster []map[string]any
	for _, c := range children {
		roster = append(roster, map[string]any{"type": "agent", "id": c.ID, "version": c.Version})
	}
	id := e.session(eng, coordScript, "")
	if _, err := e.store.UpdateSession(e.ctx, id, func(s *hangar.Session) error {
		s.Agent.Name = "lead"
		s.Agent.Multiagent, _ = json.Marshal(map[string]any{"type": "coordinator", "agents": roster})
		return nil
	}); err != nil {
		e.t.Fatalf("update session: %v", err)
	}
	return id
}

func (e *env) threadEvents(sessionID, threadID string) []hangar.Event {
	e.t.Helper()
	evs, _, err := e.store.ListEvents(e.ctx, sessionID, hangar.EventFilter{Thread: threadID, Page: hangar.Page{Limit: 1000}})
	if err != nil {
		e.t.Fatalf("list thread events: %v", err)
	}
	return evs
}

func (e *env) threads(sessionID string) []*hangar.Thread {
	e.t.Helper()
	ts, _, err := e.store.ListThreads(e.ctx, sessionID, hangar.ThreadFilter{})
	if err != nil {
		e.t.Fatalf("list threads: %v", err)
	}
	return ts
}

func delegateStep(tool, message string) map[string]any {
	return map[string]any{"custom_tool_use": map[string]any{"name": tool, "input": map[string]string{"message": message}}}
}

func TestThreadDelegation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	helper := e.agentIn("Helper", script(
		[]map[string]any{{"message": "wrote notes.txt"}},
		[]map[string]any{{"message": "second answer"}},
	), "")
	id := e.coordinatorSession(script([]map[string]any{
		delegateStep("delegate_to_helper", "write notes.txt"),
		delegateStep("delegate_to_helper", "and again"),
		{"message": "all done"},
	}), helper)
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	for {
		if ev := s.next(); ev.Type == hangar.EventStatusIdle {
			break
		}
	}

	ts := e.threads(id)
	if len(ts) != 2 || ts[0].ParentThreadID != nil || ts[1].ParentThreadID == nil || *ts[1].ParentThreadID != ts[0].ID {
		t.Fatalf("threads = %+v, want primary then one child (reused)", ts)
	}
	primary, child := ts[0], ts[1]
	if child.Agent.Name != "Helper" || child.Status != hangar.StatusIdle || child.Turns != 2 || child.Usage == nil {
		t.Errorf("child thread = %+v", child)
	}
	if primary.Status != hangar.StatusIdle || primary.Agent.Name != "lead" {
		t.Errorf("primary thread = %+v", primary)
	}

	main := quiet(e.list(id))
	want := []string{
		"user.message", "session.status_running", "session.thread_status_running",
		"session.thread_created", "agent.thread_message_sent", "session.thread_status_running", "session.thread_status_idle", "agent.thread_message_received",
		"agent.thread_message_sent", "session.thread_status_running", "session.thread_status_idle", "agent.thread_message_received",
		"agent.message", "session.thread_status_idle", "session.status_idle",
	}
	if !slices.Equal(types(main), want) {
		t.Fatalf("primary view:\n got %v\nwant %v", types(main), want)
	}
	if got := field[string](t, main[2], "session_thread_id"); got != primary.ID {
		t.Errorf("first thread status names %s, want the primary thread %s", got, primary.ID)
	}
	if got := field[string](t, main[3], "session_thread_id"); got != child.ID || field[string](t, main[3], "agent_name") != "Helper" {
		t.Errorf("thread_created %s", main[3].Body)
	}
	if got := field[string](t, main[4], "to_session_thread_id"); got != child.ID || text(t, main[4]) != "write notes.txt" {
		t.Errorf("thread_message_sent %s", main[4].Body)
	}
	if field[string](t, main[7], "from_session_thread_id") != child.ID || text(t, main[7]) != "wrote notes.txt" {
		t.Errorf("thread_message_received %s", main[7].Body)
	}
	if text(t, main[11]) != "second answer" {
		t.Errorf("second reply %s: the child thread did not continue its conversation", main[11].Body)
	}

	got := quiet(e.threadEvents(id, child.ID))
	wantChild := []string{
		"session.thread_status_running", "agent.thread_message_received", "agent.message", "agent.thread_message_sent", "session.thread_status_idle",
		"session.thread_status_running", "agent.thread_message_received", "agent.message", "agent.thread_message_sent", "session.thread_status_idle",
	}
	if !slices.Equal(types(got), wantChild) {
		t.Fatalf("child thread:\n got %v\nwant %v", types(got), wantChild)
	}
	if field[string](t, got[1], "from_session_thread_id") != primary.ID || text(t, got[1]) != "write notes.txt" {
		t.Errorf("child received %s", got[1].Body)
	}
	if st := e.get(id).Status; st != hangar.StatusIdle {
		t.Errorf("session status %q", st)
	}
}

// TestThreadCrossPostedConfirmation: a child's tool confirmation appears on the primary
// stream with session_thread_id, puts the session idle (requires_action), and the client's
// answer reaches the child.
func TestThreadCrossPostedConfirmation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	tools := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_ask"}},"configs":[]}]`
	helper := e.agentIn("Helper", script([]map[string]any{
		{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, "result": "a.txt"},
		{"message": "listed"},
	}), tools)
	id := e.coordinatorSession(script([]map[string]any{delegateStep("delegate_to_helper", "list"), {"message": "done"}}), helper)
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	var use hangar.Event
	for {
		ev := s.next()
		if ev.Type == hangar.EventAgentToolUse {
			use = ev
		}
		if ev.Type == hangar.EventStatusIdle {
			if sr := stopReason(t, ev); sr.Type != "requires_action" || !slices.Equal(sr.EventIDs, []string{use.ID}) {
				t.Fatalf("stop_reason %+v, want requires_action for %s", sr, use.ID)
			}
			break
		}
	}
	child := e.threads(id)[1]
	if field[string](t, use, "session_thread_id") != child.ID || !use.CrossPosted {
		t.Errorf("tool use %s not cross-posted from %s", use.Body, child.ID)
	}
	if st := e.get(id).Status; st != hangar.StatusIdle {
		t.Errorf("session status while the child awaits the client = %q", st)
	}
	if !slices.ContainsFunc(e.list(id), func(ev hangar.Event) bool { return ev.ID == use.ID }) {
		t.Error("the child's tool use is not on the primary view")
	}
	e.send(id, clientEvent(hangar.EventUserToolConfirmation, map[string]any{"tool_use_id": use.ID, "result": "allow", "session_thread_id": child.ID}))
	var last hangar.Event
	for {
		ev := s.next()
		if ev.Type == hangar.EventAgentMessage {
			last = ev
		}
		if ev.Type == hangar.EventStatusIdle {
			if sr := stopReason(t, ev); sr.Type != "end_turn" {
				t.Fatalf("stop_reason %+v", sr)
			}
			break
		}
	}
	if text(t, last) != "done" {
		t.Errorf("coordinator's last message %q", text(t, last))
	}
	childEvs := types(withoutSpans(e.threadEvents(id, child.ID)))
	if !slices.Contains(childEvs, hangar.EventAgentToolResult) || !slices.Contains(childEvs, hangar.EventAgentMessage) {
		t.Errorf("child thread events %v: the allowed tool did not run", childEvs)
	}
}

// TestThreadInterruptAll: user.interrupt without session_thread_id stops the coordinator and
// every child thread; one naming a child stops only that child, whose failure the
// coordinator gets as its tool result.
func TestThreadInterrupt(t *testing.T) {
	t.Parallel()
	for _, targeted := range []bool{false, true} {
		t.Run(fmt.Sprintf("targeted=%v", targeted), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.start()
			helper := e.agentIn("Helper", script([]map[string]any{{"message": "starting"}, {"sleep_ms": 600000}, {"message": "never"}}), "")
			id := e.coordinatorSession(script([]map[string]any{delegateStep("delegate_to_helper", "work"), {"message": "after"}}), helper)
			s := e.subscribe(id)
			e.send(id, userMessage("go"))
			for ev := s.next(); ev.Type != hangar.EventAgentMessage; ev = s.next() {
			}
			child := e.threads(id)[1]
			body := map[string]any{}
			if targeted {
				body["session_thread_id"] = child.ID
			}
			e.send(id, clientEvent(hangar.EventUserInterrupt, body))
			var msgs []string
			for {
				ev := s.next()
				if ev.Type == hangar.EventAgentMessage && ev.ThreadID == "" {
					msgs = append(msgs, text(t, ev))
				}
				if ev.Type == hangar.EventStatusIdle {
					break
				}
			}
			wantMsgs := []string{}
			if targeted {
				wantMsgs = []string{"after"} // the coordinator went on
			}
			if !slices.Equal(msgs, wantMsgs) && !(len(msgs) == 0 && len(wantMsgs) == 0) {
				t.Errorf("coordinator messages after the interrupt %q, want %q", msgs, wantMsgs)
			}
			if c := e.threads(id)[1]; c.Status != hangar.StatusIdle {
				t.Errorf("child status %q", c.Status)
			}
			for _, ev := range e.threadEvents(id, child.ID) {
				if ev.Type == hangar.EventAgentMessage && text(t, ev) == "never" {
					t.Error("the child kept working")
				}
			}
		})
	}
}

// quiet drops span and session.usage events.
func quiet(evs []hangar.Event) []hangar.Event {
	var out []hangar.Event
	for _, ev := range withoutSpans(evs) {
		if ev.Type != "session.usage" {
			out = append(out, ev)
		}
	}
	return out
}
