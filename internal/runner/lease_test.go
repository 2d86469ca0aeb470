package runner_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/runner"
)

// fastLeases gives runners short leases, so takeovers happen within a test.
func fastLeases(e *env) {
	e.tune = func(c *runner.Config) {
		c.LeaseTTL = 300 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(tWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

var said = engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent("hi")}}

// A session whose lease another live instance holds is left alone, and a message sent to
// this runner for it waits in the store; once the lease is released, this runner takes
// the session over: the cut turn is retried once, then the queued message runs.
func TestLeaseHeldElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, fastLeases)
	id := e.session("scripted", nil, "")
	now := hangar.Now()
	msg := userMessage("cut")
	msg.ProcessedAt = &now
	running := clientEvent(hangar.EventStatusRunning, nil)
	running.ProcessedAt = &now
	if _, _, err := e.store.AppendEvents(e.ctx, hangar.AppendRequest{SessionID: id, Events: []hangar.Event{msg, running},
		Mutate: func(s *hangar.Session) error { s.Status = hangar.StatusRunning; return nil }}); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.store.AcquireLease(e.ctx, id, "other", now, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("AcquireLease = %t, %v", ok, err)
	}
	s := e.subscribe(id)
	r := e.start()

	sent, err := r.Send(e.ctx, id, []hangar.Event{userMessage("later")}, "")
	if err != nil {
		t.Fatal(err)
	}
	if sent[0].ProcessedAt != nil {
		t.Errorf("message for a session leased elsewhere processed_at %v, want null (queued)", sent[0].ProcessedAt)
	}
	if got := s.next(); got.Type != hangar.EventUserMessage {
		t.Fatalf("first live event %s, want the user.message", got.Type)
	}
	if evs := e.list(id); len(evs) != 3 || e.get(id).Status != hangar.StatusRunning {
		t.Fatalf("runner touched a session leased elsewhere: %v", types(evs))
	}

	if err := e.store.ReleaseLease(e.ctx, id, "other"); err != nil {
		t.Fatal(err)
	}
	got := withoutSpans(s.until(hangar.EventStatusIdle))
	if want := []string{"session.error", "session.status_rescheduled", "session.status_running", "agent.message", "session.status_idle"}; !slices.Equal(types(got), want) {
		t.Fatalf("takeover events %v, want %v", types(got), want)
	}
	if txt := text(t, got[3]); txt != "echo: cut" {
		t.Errorf("retried turn said %q", txt)
	}
	got = withoutSpans(s.until(hangar.EventStatusIdle))
	if len(got) != 3 || text(t, got[1]) != "echo: later" {
		t.Fatalf("queued turn %v", types(got))
	}
	checkContiguous(t, e.list(id))
}

// Two runners on one store: a message sent to the runner that does not hold the lease is
// run by one of them after the running turn, never concurrently with it.
func TestTwoRunnersOneSession(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	started := make(chan engine.Spec, 8)
	e := newEnv(t, fastLeases, withFake(&enginetest.Scripted{Runs: []enginetest.Script{
		{Events: []engine.Event{said}, Block: block},
		{Events: []engine.Event{said}},
	}, Started: started}))
	a := e.start()
	b := e.startAnother()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)

	if _, err := a.Send(e.ctx, id, []hangar.Event{userMessage("one")}, ""); err != nil {
		t.Fatal(err)
	}
	s.until(hangar.EventAgentMessage)
	sent, err := b.Send(e.ctx, id, []hangar.Event{userMessage("two")}, "")
	if err != nil {
		t.Fatal(err)
	}
	if sent[0].ProcessedAt != nil {
		t.Errorf("second message processed_at %v, want null (queued behind the running turn)", sent[0].ProcessedAt)
	}
	<-started
	select {
	case <-started:
		t.Fatal("a second run started while the first one runs")
	default:
	}
	close(block)
	s.until(hangar.EventStatusIdle)
	got := s.until(hangar.EventStatusIdle)
	if want := []string{"user.message", "session.status_running", "agent.message", "session.status_idle"}[1:]; !slices.Equal(types(got), want) {
		t.Fatalf("second turn %v, want %v", types(got), want)
	}
	for _, ev := range e.list(id) {
		if ev.Type == hangar.EventUserMessage && ev.ProcessedAt == nil {
			t.Errorf("user.message %s unprocessed", ev.ID)
		}
	}
	checkContiguous(t, e.list(id))
}

// The resume token and the sandbox handle are stored with the session: a new runner
// reattaches the sandbox and resumes the conversation.
func TestRuntimePersisted(t *testing.T) {
	t.Parallel()
	started := make(chan engine.Spec, 8)
	e := newEnv(t, withFake(&enginetest.Scripted{
		Events:  []engine.Event{said, {Type: engine.EventResume, Resume: "conv-1"}},
		Started: started,
	}))
	r := e.start()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)
	e.send(id, userMessage("one"))
	s.until(hangar.EventStatusIdle)
	if spec := <-started; spec.Resume != "" {
		t.Errorf("first run resumed %q", spec.Resume)
	}
	rt, err := e.store.GetSessionRuntime(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Resume != "conv-1" || rt.Provider != "memory" || len(rt.Sandbox) == 0 {
		t.Fatalf("stored runtime %+v, want resume conv-1 and a memory sandbox handle", rt)
	}
	r.Close()

	e.runner = e.startAnother()
	if _, err := e.runner.Send(e.ctx, id, []hangar.Event{userMessage("two")}, ""); err != nil {
		t.Fatal(err)
	}
	s.until(hangar.EventStatusIdle)
	if spec := <-started; spec.Resume != "conv-1" {
		t.Errorf("run after restart resumed %q, want conv-1", spec.Resume)
	}
	if n := e.mem.Sandboxes(); n != 1 {
		t.Errorf("%d sandboxes, want 1 (reattached, not created again)", n)
	}
}

// Shutdown lets a running turn finish within the grace period.
func TestShutdownFinishesTurn(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	e := newEnv(t, withFake(&enginetest.Scripted{Events: []engine.Event{said}, Block: block}))
	r := e.start()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	s.until(hangar.EventAgentMessage)

	late := e.send(id, userMessage("late"))[0]
	r.Drain()
	done := make(chan bool)
	go func() { done <- r.Shutdown(e.ctx) }()
	close(block)
	if finished := <-done; !finished {
		t.Error("Shutdown reported unfinished turns")
	}
	if sess := e.get(id); sess.Status != hangar.StatusIdle {
		t.Errorf("status after shutdown %q, want idle (the turn finished)", sess.Status)
	}
	// The message queued behind it did not start: it waits in the store for the next
	// owner.
	for _, ev := range e.list(id) {
		if ev.ID == late.ID && ev.ProcessedAt != nil {
			t.Errorf("queued message processed during shutdown")
		}
	}
	if ids, err := e.store.ListOrphanedSessions(e.ctx, hangar.Now(), 10); err != nil || !slices.Equal(ids, []string{id}) {
		t.Errorf("orphaned sessions after shutdown %v, %v; want the session with the queued message", ids, err)
	}
	if ok, err := e.store.AcquireLease(e.ctx, id, "next", hangar.Now(), hangar.Now().Add(time.Minute)); err != nil || !ok {
		t.Errorf("lease not released by shutdown: %t, %v", ok, err)
	}
}

// When the grace period ends first, the turn is stopped and left in flight, its lease
// released: the next runner retries it once.
func TestShutdownGraceOver(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	e := newEnv(t, withFake(&enginetest.Scripted{Runs: []enginetest.Script{
		{Events: []engine.Event{said}, Block: block},
		{Events: []engine.Event{said}},
	}}))
	r := e.start()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	s.until(hangar.EventAgentMessage)

	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if r.Shutdown(ctx) {
		t.Error("Shutdown reported that the blocked turn finished")
	}
	if sess := e.get(id); sess.Status != hangar.StatusRunning {
		t.Fatalf("status after shutdown %q, want running (handed over)", sess.Status)
	}
	e.runner = e.startAnother()
	got := withoutSpans(s.until(hangar.EventStatusIdle))
	if want := []string{"session.error", "session.status_rescheduled", "session.status_running", "agent.message", "session.status_idle"}; !slices.Equal(types(got), want) {
		t.Fatalf("after restart %v, want %v", types(got), want)
	}
	checkContiguous(t, e.list(id))
}

func checkContiguous(t *testing.T, evs []hangar.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d (%s) has seq %d", i, ev.Type, ev.Seq)
		}
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// With Config.Events (several instances), client events sent to an instance that does
// not run the session reach the run live: a tool answer, an interrupt, a message.
func TestClientEventsAcrossRunners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tune = func(c *runner.Config) {
		c.Events = e.hub
		c.LeaseTTL = time.Hour // no takeover scan during the test: only follow delivers
	}
	a := e.start()
	b := e.startAnother()

	tool := e.session("scripted", script(
		[]map[string]any{{"custom_tool_use": map[string]any{"name": "lookup"}}},
		[]map[string]any{{"message": "next"}},
		[]map[string]any{{"message": "more-reply"}},
	), `[{"type":"custom","name":"lookup","input_schema":{"type":"object"}}]`)
	s := e.subscribe(tool)
	if _, err := a.Send(e.ctx, tool, []hangar.Event{userMessage("go")}, ""); err != nil {
		t.Fatal(err)
	}
	use := s.until(hangar.EventAgentCustomToolUse)
	useID := use[len(use)-1].ID
	s.until(hangar.EventStatusIdle) // requires_action
	// An answer to nothing is stored but ignored by the run; the real one goes through.
	if _, err := b.Send(e.ctx, tool, []hangar.Event{clientEvent(hangar.EventUserCustomToolResult, map[string]any{
		"custom_tool_use_id": useID, "content": engine.TextContent("42"),
	})}, ""); err != nil {
		t.Fatalf("answer through the other runner: %v", err)
	}
	// Two runners publishing to one in-process hub may interleave their live events;
	// the stored log is what is ordered (with PostgreSQL the listener delivers in order).
	s.until(hangar.EventStatusIdle)
	stored := withoutSpans(e.list(tool))
	if want := []string{"user.custom_tool_result", "session.status_running", "agent.message", "session.status_idle"}; !slices.Equal(types(stored[len(stored)-4:]), want) {
		t.Fatalf("after the remote answer %v, want it to end with %v", types(stored), want)
	}
	// A message sent to the other runner runs at once, on whichever runner gets it (the
	// takeover scan is off).
	if _, err := b.Send(e.ctx, tool, []hangar.Event{userMessage("more")}, ""); err != nil {
		t.Fatal(err)
	}
	s.until(hangar.EventAgentMessage)
	// The turn may already have stored its idle event: look at the last agent.message.
	stored = withoutSpans(e.list(tool))
	var reply string
	for _, ev := range slices.Backward(stored) {
		if ev.Type == hangar.EventAgentMessage {
			reply = text(t, ev)
			break
		}
	}
	if reply != "more-reply" {
		t.Fatalf("queued remote message: %v", types(stored))
	}

	slow := e.session("scripted", script([]map[string]any{{"message": "working"}, {"sleep_ms": 60_000}}), "")
	s2 := e.subscribe(slow)
	if _, err := a.Send(e.ctx, slow, []hangar.Event{userMessage("go")}, ""); err != nil {
		t.Fatal(err)
	}
	s2.until(hangar.EventAgentMessage)
	if _, err := b.Send(e.ctx, slow, []hangar.Event{clientEvent(hangar.EventUserInterrupt, nil)}, ""); err != nil {
		t.Fatal(err)
	}
	got := s2.until(hangar.EventStatusIdle)
	if sr := stopReason(t, got[len(got)-1]); sr.Type != "end_turn" {
		t.Errorf("interrupted turn stop_reason %+v", sr)
	}
	checkContiguous(t, e.list(tool))
}

// Shutdown does not wait for turns that wait for the client.
func TestShutdownSkipsAwaitingTurns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.start()
	id := e.session("scripted", script([]map[string]any{{"custom_tool_use": map[string]any{"name": "lookup"}}}),
		`[{"type":"custom","name":"lookup","input_schema":{"type":"object"}}]`)
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	s.until(hangar.EventStatusIdle) // requires_action
	// e.ctx lasts a minute: returning before the test's deadline shows it did not wait.
	if r.Shutdown(e.ctx) {
		t.Error("Shutdown reported that the awaiting turn finished")
	}
}
