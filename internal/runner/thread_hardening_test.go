package runner_test

import (
	"bytes"
	"encoding/json"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/blob"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/runner"
)

// Child threads get the primary thread's treatment: the watchdog, the session budget,
// recovery after a crash, skills. The watchdog tests run in a synctest bubble (see
// watchdog_test.go); the coordinator and its child both run on the "fake" engine, whose
// Runs script the coordinator's run first, then the child's runs in order.

// fakeAgentIn stores an agent named name on the fake engine.
func (e *env) fakeAgentIn(name string) *hangar.Agent {
	e.t.Helper()
	now := hangar.Now()
	a := &hangar.Agent{
		Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: name, Engine: "fake",
		Model: hangar.Model{ID: "claude-haiku-4-5", Speed: "standard"}, Tools: json.RawMessage(`[]`),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateAgent(e.ctx, a); err != nil {
		e.t.Fatalf("create agent: %v", err)
	}
	return a
}

// delegateEvent is the coordinator's call of its delegation tool for the "Helper" agent.
func delegateEvent(id, message string) engine.Event {
	return engine.Event{Type: hangar.EventAgentCustomToolUse, ID: id, RequiresAction: true,
		Body: map[string]any{"name": "delegate_to_helper", "input": map[string]any{"message": message}}}
}

// onThread returns the events of evs on thread id (as stored: child-only and cross-posted).
func onThread(evs []hangar.Event, id string) []hangar.Event {
	var out []hangar.Event
	for _, ev := range evs {
		if ev.ThreadID == id {
			out = append(out, ev)
		}
	}
	return out
}

// threadStop is the stop_reason of a session.thread_status_idle.
func threadStop(t *testing.T, ev hangar.Event) hangar.StopReason {
	t.Helper()
	if ev.Type != hangar.EventThreadStatusIdle {
		t.Fatalf("event %s is not session.thread_status_idle", ev.Type)
	}
	return field[hangar.StopReason](t, ev, "stop_reason")
}

// inputText is the text of a tool result handed to a run.
func inputText(t *testing.T, in engine.Input) string {
	t.Helper()
	return engine.Text(in.Content)
}

func TestThreadWatchdogRetriesHungChild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &enginetest.Scripted{Runs: []enginetest.Script{
			{Events: []engine.Event{delegateEvent("tu_1", "work"), message("after")}},
			{Events: []engine.Event{message("thinking...")}, Block: make(chan struct{})}, // the child hangs
			{Events: []engine.Event{message("child done")}},
		}}
		e := bubbleEnv(t, fake, nil) // default window: 10 minutes
		helper := e.fakeAgentIn("Helper")
		id := e.coordinatorSessionOn("fake", nil, helper)
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		s.upTo(hangar.EventStatusIdle)
		all := e.list(id)
		last := all[len(all)-1]
		if sr := stopReason(t, last); last.Type != hangar.EventStatusIdle || sr.Type != "end_turn" {
			t.Fatalf("session ended with %s %s", last.Type, last.Body)
		}
		child := e.threads(id)[1]
		got := quiet(e.threadEvents(id, child.ID))
		want := []string{
			"session.thread_status_running", "agent.thread_message_received", "agent.message",
			"session.error", "session.thread_status_rescheduled", "session.thread_status_running",
			"agent.message", "agent.thread_message_sent", "session.thread_status_idle",
		}
		if !slices.Equal(types(got), want) {
			t.Fatalf("child thread:\n got %v\nwant %v", types(got), want)
		}
		se := sessionError(t, got[3])
		if want := (hangar.SessionError{Type: "unknown_error", Message: "the agent produced no output for 10m0s; retrying", RetryStatus: hangar.RetryStatus{Type: "retrying"}}); se != want {
			t.Errorf("error %+v, want %+v", se, want)
		}
		if silent := got[3].ProcessedAt.Sub(*got[2].ProcessedAt); silent != runner.DefaultWatchdog {
			t.Errorf("hung child stopped after %v of silence, want %v", silent, runner.DefaultWatchdog)
		}
		if !got[3].CrossPosted || !got[4].CrossPosted || field[string](t, got[4], "session_thread_id") != child.ID || field[string](t, got[4], "agent_name") != "Helper" {
			t.Errorf("rescheduling not cross-posted: %s / %s", got[3].Body, got[4].Body)
		}
		if sr := threadStop(t, got[8]); sr.Type != "end_turn" {
			t.Errorf("child stop_reason %+v", sr)
		}
		specs := fake.Specs()
		if len(specs) != 3 || specs[2].HomeDir != specs[1].HomeDir || specs[2].Resume != specs[1].Resume || specs[2].Message.ID != specs[1].Message.ID {
			t.Fatalf("runs %d, want the child's run started again in its HOME from the same task", len(specs))
		}
		ins := fake.Inputs()
		if len(ins) != 1 || ins[0].ToolUseID != "tu_1" || ins[0].IsError || inputText(t, ins[0]) != "child done" {
			t.Errorf("coordinator got %+v, want the retried child's reply", ins)
		}
		// The coordinator was not rescheduled: its watchdog waits while it delegates.
		for _, ev := range e.list(id) {
			if ev.Type == hangar.EventStatusRescheduled {
				t.Error("the coordinator's turn was rescheduled")
			}
		}
		if st := e.threads(id)[1].Status; st != hangar.StatusIdle {
			t.Errorf("child status %q", st)
		}
	})
}

func TestThreadWatchdogExhaustedFailsDelegation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &enginetest.Scripted{Runs: []enginetest.Script{
			{Events: []engine.Event{delegateEvent("tu_1", "work"), message("after")}},
			{Block: make(chan struct{}), IgnoreInterrupt: true}, // wedged: only cancelling ends it
		}}
		e := bubbleEnv(t, fake, func(c *runner.Config) {
			c.Watchdog, c.InterruptGrace, c.MaxRetries = 50*time.Millisecond, 10*time.Second, -1
		})
		helper := e.fakeAgentIn("Helper")
		id := e.coordinatorSessionOn("fake", nil, helper)
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		s.upTo(hangar.EventStatusIdle)

		child := e.threads(id)[1]
		got := quiet(e.threadEvents(id, child.ID))
		want := []string{"session.thread_status_running", "agent.thread_message_received", "session.error", "session.thread_status_idle"}
		if !slices.Equal(types(got), want) {
			t.Fatalf("child thread:\n got %v\nwant %v", types(got), want)
		}
		if se := sessionError(t, got[2]); se.RetryStatus.Type != "exhausted" || se.Message != "the agent produced no output for 50ms" {
			t.Errorf("error %+v", se)
		}
		if sr := threadStop(t, got[3]); sr.Type != "retries_exhausted" {
			t.Errorf("child stop_reason %+v", sr)
		}
		ins := fake.Inputs()
		if len(ins) != 1 || !ins[0].IsError || !strings.Contains(inputText(t, ins[0]), "produced no output") {
			t.Fatalf("coordinator got %+v, want an error result", ins)
		}
		if n := len(fake.Specs()); n != 2 {
			t.Errorf("%d runs, want the coordinator's and one child run", n)
		}
		main := e.list(id)
		if last := main[len(main)-1]; stopReason(t, last).Type != "end_turn" || text(t, main[len(main)-3]) != "after" {
			t.Errorf("the coordinator did not go on after the failed delegation: %v", types(main))
		}
	})
}

func TestThreadWatchdogIgnoresChildAwaitingClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &enginetest.Scripted{Runs: []enginetest.Script{
			{Events: []engine.Event{delegateEvent("tu_1", "list"), message("after")}},
			{Events: []engine.Event{
				{Type: hangar.EventAgentToolUse, ID: "tu_c", Body: map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, RequiresAction: true},
				message("listed"),
			}},
		}}
		e := bubbleEnv(t, fake, func(c *runner.Config) { c.Watchdog = time.Minute })
		helper := e.fakeAgentIn("Helper")
		id := e.coordinatorSessionOn("fake", nil, helper)
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		first := s.upTo(hangar.EventStatusIdle)
		if sr := stopReason(t, first[len(first)-1]); sr.Type != "requires_action" {
			t.Fatalf("stop_reason %+v, want requires_action", sr)
		}
		n := len(e.list(id))
		advance(24 * time.Hour) // the client takes a day to answer the child
		if evs := e.list(id); len(evs) != n {
			t.Fatalf("events while the child awaited the client: %v", types(evs[n:]))
		}
		use := first[slices.IndexFunc(first, func(ev hangar.Event) bool { return ev.Type == hangar.EventAgentToolUse })]
		e.send(id, clientEvent(hangar.EventUserToolConfirmation, map[string]any{"tool_use_id": use.ID, "result": "allow"}))
		rest := s.upTo(hangar.EventStatusIdle)
		if sr := stopReason(t, rest[len(rest)-1]); sr.Type != "end_turn" {
			t.Errorf("stop_reason %+v", sr)
		}
		if n := len(fake.Specs()); n != 2 {
			t.Errorf("%d runs, want 2 (no retry)", n)
		}
	})
}

// TestThreadBudgetCountsChildren: a child's model requests count toward the session's usage
// and budget (priced at the child's model); reaching it stops the child and the coordinator
// with budget_reached.
func TestThreadBudgetCountsChildren(t *testing.T) {
	t.Parallel()
	fake := &enginetest.Scripted{Runs: []enginetest.Script{
		{Events: []engine.Event{delegateEvent("tu_1", "work"), message("after")}},
		{Events: []engine.Event{
			{Type: hangar.EventModelRequestEnd, Usage: &hangar.Usage{InputTokens: 1_000_000}, Body: map[string]any{"is_error": false}},
		}, Block: make(chan struct{})}, // would work on forever
	}}
	e := newEnv(t, withFake(fake))
	e.start()
	helper := e.fakeAgentIn("Helper") // claude-haiku-4-5: $1 per million input tokens
	id := e.coordinatorSessionOn("fake", nil, helper)
	if _, err := e.store.UpdateSession(e.ctx, id, func(s *hangar.Session) error {
		s.Budget = &hangar.Budget{Type: "budget_limit", MaxListCost: hangar.MonetaryAmount{Amount: "100", Currency: "USD"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	got := s.until(hangar.EventStatusIdle)
	if sr := stopReason(t, got[len(got)-1]); sr.Type != "budget_reached" {
		t.Fatalf("stop_reason %+v, want budget_reached", sr)
	}
	for _, ev := range e.list(id) {
		if ev.Type == hangar.EventAgentMessage && text(t, ev) == "after" {
			t.Error("the coordinator went on past the budget")
		}
	}
	sess := e.get(id)
	if sess.Usage.InputTokens != 1_000_000 || sess.CostCents != 100 {
		t.Errorf("session usage %+v, cost %v cents: want the child's request at the child's price (100)", sess.Usage, sess.CostCents)
	}
	child := e.threads(id)[1]
	evs := e.threadEvents(id, child.ID)
	if last := evs[len(evs)-1]; threadStop(t, last).Type != "budget_reached" {
		t.Errorf("child ended with %s %s", last.Type, last.Body)
	}
	if !slices.ContainsFunc(e.list(id), func(ev hangar.Event) bool { return ev.Type == hangar.EventSessionUsage }) {
		t.Error("no session.usage on the primary view after the child's request")
	}
}

// TestThreadOrphansTerminatedOnRecovery: a child thread whose run died with its instance
// is terminated when the session is recovered; the retried coordinator turn delegates
// again to a new thread.
func TestThreadOrphansTerminatedOnRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, noStart)
	helper := e.agentIn("Helper", script([]map[string]any{{"message": "redone"}}), "")
	id := e.coordinatorSession(script([]map[string]any{delegateStep("delegate_to_helper", "again"), {"message": "all done"}}), helper)
	sess := e.get(id)
	primary := hangar.NewPrimaryThread(sess)
	primary.Status = hangar.StatusRunning
	now := hangar.Now()
	orphan := &hangar.Thread{
		ID: hangar.NewID(hangar.PrefixThread), SessionID: id, Status: hangar.StatusRunning, Agent: *helper,
		ParentThreadID: &primary.ID, Roster: 0, CreatedAt: now, UpdatedAt: now,
	}
	for _, th := range []*hangar.Thread{primary, orphan} {
		if err := e.store.CreateThread(e.ctx, th); err != nil {
			t.Fatal(err)
		}
	}
	processed := func(ev hangar.Event) hangar.Event { ev.ProcessedAt = &now; return ev }
	running := processed(clientEvent(hangar.EventThreadStatusRunning, map[string]string{"session_thread_id": orphan.ID, "agent_name": "Helper"}))
	running.ThreadID, running.CrossPosted = orphan.ID, true
	if _, _, err := e.store.AppendEvents(e.ctx, hangar.AppendRequest{SessionID: id, Events: []hangar.Event{
		processed(userMessage("go")), processed(clientEvent(hangar.EventStatusRunning, nil)), running,
	}, Mutate: func(s *hangar.Session) error { s.Status = hangar.StatusRunning; return nil }}); err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(id)
	e.start()
	var got []hangar.Event
	for _, ev := range quiet(s.until(hangar.EventStatusIdle)) {
		if ev.OnPrimary() {
			got = append(got, ev)
		}
	}
	if len(got) < 3 || got[0].Type != hangar.EventThreadStatusTerminated || got[1].Type != hangar.EventSessionError || got[2].Type != hangar.EventStatusRescheduled {
		t.Fatalf("recovery events %v, want the orphan terminated before the turn is rescheduled", types(got))
	}
	if field[string](t, got[0], "session_thread_id") != orphan.ID || !got[0].CrossPosted {
		t.Errorf("terminated event %s", got[0].Body)
	}
	if sr := stopReason(t, got[len(got)-1]); sr.Type != "end_turn" {
		t.Errorf("stop_reason %+v", sr)
	}
	ts := e.threads(id)
	if len(ts) != 3 || ts[1].ID != orphan.ID || ts[1].Status != hangar.StatusTerminated || ts[2].Status != hangar.StatusIdle || ts[2].Roster != 0 {
		t.Fatalf("threads %+v, want the orphan terminated and a new child thread", ts)
	}
	old := e.threadEvents(id, orphan.ID)
	if tail := types(old[len(old)-2:]); !slices.Equal(tail, []string{"session.error", "session.thread_status_terminated"}) {
		t.Errorf("orphan thread ends with %v", tail)
	}
	if se := sessionError(t, old[len(old)-2]); se.RetryStatus.Type != "terminal" {
		t.Errorf("orphan error %+v", se)
	}
	created := slices.IndexFunc(got, func(ev hangar.Event) bool { return ev.Type == hangar.EventThreadCreated })
	if created < 0 || field[string](t, got[created], "session_thread_id") != ts[2].ID {
		t.Errorf("the retried turn did not delegate to a new thread: %v", types(got))
	}
}

// TestThreadChildSkills: a child agent's custom skills are installed into its own HOME.
func TestThreadChildSkills(t *testing.T) {
	t.Parallel()
	fake := &enginetest.Scripted{Runs: []enginetest.Script{
		{Events: []engine.Event{delegateEvent("tu_1", "greet"), message("done")}},
		{Events: []engine.Event{message("hi")}},
	}}
	e := newEnv(t, withFake(fake))
	blobs, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.tune = func(c *runner.Config) { c.Blobs = blobs }
	e.start()
	const skillMD = "---\nname: greet\ndescription: Greets people.\n---\n# Greet\n"
	data, meta, err := hangar.PackSkill([]hangar.SkillFile{{Path: "greet/SKILL.md", Data: []byte(skillMD)}})
	if err != nil {
		t.Fatal(err)
	}
	now := hangar.Now()
	sk := &hangar.Skill{Type: "skill", ID: hangar.NewID(hangar.PrefixSkill), DisplayName: "Greeter", Source: hangar.SkillSource{Type: "custom"}, CreatedAt: now, UpdatedAt: now}
	v := &hangar.SkillVersion{Type: "skill_version", ID: hangar.NewID(hangar.PrefixSkillVersion), SkillID: sk.ID, Version: "1", Name: meta.Name, Description: meta.Description, Directory: meta.Directory, CreatedAt: now}
	if err := e.store.CreateSkill(e.ctx, sk, v); err != nil {
		t.Fatal(err)
	}
	if _, _, err := blobs.Put(e.ctx, v.ID, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	helper := &hangar.Agent{
		Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "Helper", Engine: "fake",
		Model: hangar.Model{ID: "claude-sonnet-4-6", Speed: "standard"}, Tools: json.RawMessage(`[]`),
		Skills:    json.RawMessage(`[{"type":"custom","skill_id":"` + sk.ID + `","version":"1"}]`),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateAgent(e.ctx, helper); err != nil {
		t.Fatal(err)
	}
	id := e.coordinatorSessionOn("fake", nil, helper)
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	s.until(hangar.EventStatusIdle)

	rt, err := e.store.GetSessionRuntime(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := e.mem.Recover(e.ctx, rt.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	child := e.threads(id)[1]
	got, err := sb.GetFile(e.ctx, path.Join("/home/agent/.threads", child.ID, ".agents/skills/greet/SKILL.md"))
	if err != nil || string(got) != skillMD {
		t.Errorf("child skill = %q, %v; want it in the child's HOME", got, err)
	}
	if _, err := sb.GetFile(e.ctx, "/home/agent/.agents/skills/greet/SKILL.md"); err == nil {
		t.Error("the child's skill was installed in the coordinator's HOME")
	}
}

// TestThreadChildMCPServers: the egress proxy serves the roster agents' MCP servers too,
// with the session's vault credentials; a name the coordinator uses for another URL stays
// the coordinator's.
func TestThreadChildMCPServers(t *testing.T) {
	t.Parallel()
	const docs, gh, other = "https://docs.example.com/mcp", "https://gh.example.com/mcp", "https://other.example.com/mcp"
	e := newEnv(t)
	eg := &fakeEgress{}
	e.startWithEgress(eg, e.mem)
	now := hangar.Now()
	helper := &hangar.Agent{
		Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "Helper", Engine: "fake",
		Model: hangar.Model{ID: "claude-haiku-4-5", Speed: "standard"}, Tools: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now,
		MCPServers: json.RawMessage(`[{"type":"url","name":"gh","url":"` + gh + `"},{"type":"url","name":"docs","url":"` + other + `"}]`),
	}
	if err := e.store.CreateAgent(e.ctx, helper); err != nil {
		t.Fatal(err)
	}
	vault := e.mcpVault(mcpCred{authType: hangar.AuthStaticBearer, url: gh, secrets: hangar.CredentialSecrets{Token: "gh-token"}})
	id := e.coordinatorSessionOn("fake", nil, helper)
	if _, err := e.store.UpdateSession(e.ctx, id, func(s *hangar.Session) error {
		s.VaultIDs = []string{vault}
		s.Agent.MCPServers = json.RawMessage(`[{"type":"url","name":"docs","url":"` + docs + `"}]`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.turn(id, "hi")
	calls := eg.calls()
	if len(calls) != 1 {
		t.Fatalf("%d Attach calls, want 1", len(calls))
	}
	var got []string
	for _, s := range calls[0].Opts.MCPServers {
		got = append(got, s.Name+" "+s.URL+" "+string(s.Token))
	}
	if want := []string{"docs " + docs + " ", "gh " + gh + " gh-token"}; !slices.Equal(got, want) {
		t.Errorf("MCP servers %q, want %q", got, want)
	}
}

// TestThreadHostEngineChildGetsEgress: a child agent on an engine that runs in the server
// (HostModel: native) gets the session's egress attachment as its HostEgress, as the
// coordinator does, so its MCP calls go through the proxy that injects vault credentials.
func TestThreadHostEngineChildGetsEgress(t *testing.T) {
	t.Parallel()
	fake := &enginetest.Scripted{Caps: engine.Capabilities{CustomTools: true, HostModel: true}, Runs: []enginetest.Script{
		{Events: []engine.Event{delegateEvent("tu_1", "work"), message("after")}},
		{Events: []engine.Event{message("child done")}},
	}}
	e := newEnv(t, withFake(fake))
	e.startWithEgress(&fakeEgress{}, e.mem)
	helper := e.fakeAgentIn("Helper")
	id := e.coordinatorSessionOn("fake", nil, helper)
	e.turn(id, "go")
	specs := fake.Specs()
	if len(specs) != 2 {
		t.Fatalf("%d runs, want the coordinator's and the child's", len(specs))
	}
	want := "http://127.0.0.1:5555"
	for i, who := range []string{"coordinator", "child"} {
		if got := specs[i].HostEgress.ModelBaseURL; got != want || specs[i].HostEgress.Token == "" {
			t.Errorf("%s HostEgress = %+v, want %s with the session token", who, specs[i].HostEgress, want)
		}
	}
}
