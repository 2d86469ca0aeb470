package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// env is one runner wired to a real SQLite store, a hub, the scripted engine, a fake
// engine ("fake") and the memory provider.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  hangar.Store
	hub    *pubsub.Hub
	runner *runner.Runner
	fake   *enginetest.Scripted
	mem    *memory.Provider
	envID  string
	// tune, when set, adjusts the runner's config (leases, instance).
	tune func(*runner.Config)
}

type option func(*env)

func withFake(f *enginetest.Scripted) option { return func(e *env) { e.fake = f } }

// noStart leaves starting the runner to the test (recovery tests).
var noStart = func(e *env) {}

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e := &env{t: t, ctx: ctx, store: store, hub: pubsub.New(1024), fake: &enginetest.Scripted{}, mem: &memory.Provider{}}
	for _, o := range opts {
		o(e)
	}
	e.envID = hangar.NewID(hangar.PrefixEnvironment)
	now := hangar.Now()
	if err := store.CreateEnvironment(ctx, &hangar.Environment{Type: "environment", ID: e.envID, Name: "env-" + e.envID, Config: hangar.EnvironmentConfig{Type: "cloud"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create environment: %v", err)
	}
	t.Cleanup(func() {
		if e.runner != nil {
			e.runner.Close()
		}
		e.hub.Close()
		store.Close()
	})
	return e
}

// start builds and starts the runner.
func (e *env) start() *runner.Runner {
	e.t.Helper()
	e.runner = e.startAnother()
	return e.runner
}

// startAnother builds and starts a runner on the env's store that the env does not keep
// as e.runner (a second instance); it is closed when the test ends.
func (e *env) startAnother() *runner.Runner {
	e.t.Helper()
	engines := engine.NewRegistry()
	engines.Register("scripted", scripted.New)
	engines.Register("fake", func(json.RawMessage, engine.Deps) (engine.Engine, error) { return e.fake, nil })
	providers := provider.NewRegistry()
	providers.Register("memory", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return e.mem, nil })
	cfg := runner.Config{Store: e.store, Hub: e.hub, Engines: engines, Providers: providers}
	if e.tune != nil {
		e.tune(&cfg)
	}
	r := runner.New(cfg)
	if err := r.Start(e.ctx); err != nil {
		e.t.Fatalf("start runner: %v", err)
	}
	e.t.Cleanup(r.Close)
	return r
}

// session creates a session of an agent on engine eng with metadata and tools.
func (e *env) session(eng string, metadata map[string]string, tools string) string {
	e.t.Helper()
	if tools == "" {
		tools = "[]"
	}
	now := hangar.Now()
	s := &hangar.Session{
		Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle, EnvironmentID: e.envID,
		Agent: hangar.Agent{
			Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "a", Engine: eng,
			Model: hangar.Model{ID: "claude-sonnet-4-6", Speed: "standard"}, Tools: json.RawMessage(tools), Metadata: metadata,
			CreatedAt: now, UpdatedAt: now,
		},
		Metadata: map[string]string{}, Resources: json.RawMessage(`[]`), VaultIDs: []string{}, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateSession(e.ctx, s); err != nil {
		e.t.Fatalf("create session: %v", err)
	}
	return s.ID
}

func script(steps ...[]map[string]any) map[string]string {
	type turn struct {
		Steps []map[string]any `json:"steps"`
	}
	var s struct {
		Turns []turn `json:"turns"`
	}
	for _, st := range steps {
		s.Turns = append(s.Turns, turn{st})
	}
	b, _ := json.Marshal(s)
	return map[string]string{scripted.MetadataKey: string(b)}
}

func clientEvent(typ string, fields any) hangar.Event {
	ev := hangar.NewEvent(typ, fields)
	ev.ID = hangar.NewID(hangar.PrefixEvent)
	return ev
}

func userMessage(text string) hangar.Event {
	return clientEvent(hangar.EventUserMessage, map[string]any{"content": engine.TextContent(text)})
}

// subscribe returns a stream of the session's live events.
func (e *env) subscribe(sessionID string) *stream {
	ch, cancel := e.hub.Subscribe(sessionID)
	e.t.Cleanup(cancel)
	return &stream{t: e.t, ch: ch}
}

func (e *env) send(sessionID string, evs ...hangar.Event) []hangar.Event {
	e.t.Helper()
	got, err := e.runner.Send(e.ctx, sessionID, evs, "")
	if err != nil {
		e.t.Fatalf("send: %v", err)
	}
	return got
}

func (e *env) get(sessionID string) *hangar.Session {
	e.t.Helper()
	s, err := e.store.GetSession(e.ctx, sessionID)
	if err != nil {
		e.t.Fatalf("get session: %v", err)
	}
	return s
}

func (e *env) list(sessionID string) []hangar.Event {
	e.t.Helper()
	evs, _, err := e.store.ListEvents(e.ctx, sessionID, hangar.EventFilter{Page: hangar.Page{Limit: 1000}})
	if err != nil {
		e.t.Fatalf("list events: %v", err)
	}
	return evs
}

type stream struct {
	t  *testing.T
	ch <-chan *hangar.Event
}

// next returns the next live event, failing the test after a generous deadline.
func (s *stream) next() hangar.Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.ch:
		if !ok {
			s.t.Fatal("stream closed")
		}
		return *ev
	case <-time.After(30 * time.Second):
		s.t.Fatal("timed out waiting for a live event")
		return hangar.Event{}
	}
}

// until reads events up to and including the first one of type typ.
func (s *stream) until(typ string) []hangar.Event {
	s.t.Helper()
	var out []hangar.Event
	for {
		ev := s.next()
		out = append(out, ev)
		if ev.Type == typ {
			return out
		}
	}
}

func types(evs []hangar.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// withoutSpans drops span events.
func withoutSpans(evs []hangar.Event) []hangar.Event {
	var out []hangar.Event
	for _, ev := range evs {
		// session.usage follows every span.model_request_end (session_usage.go).
		if !strings.HasPrefix(ev.Type, "span.") && ev.Type != hangar.EventSessionUsage {
			out = append(out, ev)
		}
	}
	return out
}

func field[T any](t *testing.T, ev hangar.Event, name string) T {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ev.Body, &m); err != nil {
		t.Fatalf("%s body %s: %v", ev.Type, ev.Body, err)
	}
	var v T
	json.Unmarshal(m[name], &v)
	return v
}

func text(t *testing.T, ev hangar.Event) string {
	return engine.Text(field[json.RawMessage](t, ev, "content"))
}

func stopReason(t *testing.T, ev hangar.Event) hangar.StopReason {
	t.Helper()
	if ev.Type != hangar.EventStatusIdle {
		t.Fatalf("event %s is not session.status_idle", ev.Type)
	}
	return field[hangar.StopReason](t, ev, "stop_reason")
}

func TestOneTurn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)

	sent := e.send(id, userMessage("hello world"))
	if sent[0].ProcessedAt == nil || sent[0].Seq != 1 {
		t.Errorf("stored user.message processed_at %v seq %d, want set (it starts a turn at once) and 1", sent[0].ProcessedAt, sent[0].Seq)
	}
	got := s.until(hangar.EventStatusIdle)
	want := []string{"user.message", "session.status_running", "span.model_request_start", "agent.message", "span.model_request_end", "session.usage", "session.status_idle"}
	if !slices.Equal(types(got), want) {
		t.Fatalf("types %v, want %v", types(got), want)
	}
	for i, ev := range got {
		if ev.Seq != int64(i+1) {
			t.Errorf("event %d (%s) seq %d, want %d", i, ev.Type, ev.Seq, i+1)
		}
		if i > 0 && (ev.ProcessedAt == nil || !strings.HasPrefix(ev.ID, hangar.PrefixEvent)) {
			t.Errorf("event %s: id %q processed_at %v", ev.Type, ev.ID, ev.ProcessedAt)
		}
	}
	if got[0].ID != sent[0].ID {
		t.Errorf("published user.message %s, stored %s", got[0].ID, sent[0].ID)
	}
	if txt := text(t, got[3]); txt != "echo: hello world" {
		t.Errorf("agent said %q", txt)
	}
	if sr := stopReason(t, got[6]); sr.Type != "end_turn" {
		t.Errorf("stop_reason %+v", sr)
	}
	if ref := field[string](t, got[4], "model_request_start_id"); ref != got[2].ID {
		t.Errorf("model_request_start_id %q, want %q", ref, got[2].ID)
	}
	// The session.usage snapshot after the request carries the session's totals.
	var snap struct {
		Usage  hangar.UsageSnapshot `json:"usage"`
		Budget *hangar.Budget       `json:"budget"`
	}
	if err := json.Unmarshal(got[5].Body, &snap); err != nil || snap.Usage.InputTokens == 0 || snap.Usage.ListCost == nil || snap.Budget != nil {
		t.Errorf("session.usage %s (%v)", got[5].Body, err)
	}
	if sess, err := e.store.GetSession(context.Background(), id); err != nil || sess.Usage != snap.Usage.Usage || sess.CostCents <= 0 {
		t.Errorf("session usage %+v cost %v, want %+v (%v)", sess.Usage, sess.CostCents, snap.Usage.Usage, err)
	}

	stored := e.list(id)
	if !slices.Equal(types(stored), want) {
		t.Errorf("stored types %v", types(stored))
	}
	sess := e.get(id)
	if sess.Status != hangar.StatusIdle {
		t.Errorf("status %q", sess.Status)
	}
	if sess.Usage.InputTokens != 2 || sess.Usage.OutputTokens != 3 {
		t.Errorf("usage %+v, want 2 in / 3 out (words)", sess.Usage)
	}
}

func TestQueuedMessagesRunInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)
	for _, m := range []string{"one", "two", "three"} {
		e.send(id, userMessage(m))
	}
	var said []string
	for range 3 {
		for _, ev := range s.until(hangar.EventStatusIdle) {
			if ev.Type == hangar.EventAgentMessage {
				said = append(said, text(t, ev))
			}
			if ev.Type == hangar.EventStatusIdle && stopReason(t, ev).Type != "end_turn" {
				t.Errorf("stop_reason %s", ev.Body)
			}
		}
	}
	if want := []string{"echo: one", "echo: two", "echo: three"}; !slices.Equal(said, want) {
		t.Errorf("said %v, want %v", said, want)
	}
	for _, ev := range e.list(id) {
		if ev.Type == hangar.EventUserMessage && ev.ProcessedAt == nil {
			t.Errorf("user.message %s not processed", ev.ID)
		}
	}
}

func TestQueuedWhileRunning(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	started := make(chan engine.Spec, 8)
	e := newEnv(t, withFake(&enginetest.Scripted{
		Block:   block,
		Started: started,
		Events:  []engine.Event{{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent("hi")}}},
	}))
	e.start()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)
	e.send(id, userMessage("first"))
	<-started
	s.until(hangar.EventAgentMessage)
	e.send(id, userMessage("second"))
	e.send(id, userMessage("third"))
	if st := e.get(id).Status; st != hangar.StatusRunning {
		t.Errorf("status while blocked = %q", st)
	}
	close(block)
	for i := range 3 {
		s.until(hangar.EventStatusIdle)
		if i > 0 {
			spec := <-started
			if got, want := engine.Text(spec.Content), []string{"", "second", "third"}[i]; got != want {
				t.Errorf("turn %d ran %q, want %q", i, got, want)
			}
			if spec.Turn != i {
				t.Errorf("turn %d has Spec.Turn %d", i, spec.Turn)
			}
		}
	}
	if n := e.mem.Sandboxes(); n != 1 {
		t.Errorf("%d sandboxes for one session, want 1 kept across turns", n)
	}
}

func TestCustomToolRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", script(
		[]map[string]any{{"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Paris"}}}},
		[]map[string]any{{"message": "It is sunny in Paris."}},
	), "")
	s := e.subscribe(id)
	e.send(id, userMessage("weather?"))
	first := withoutSpans(s.until(hangar.EventStatusIdle))
	want := []string{"user.message", "session.status_running", "agent.custom_tool_use", "session.status_idle"}
	if !slices.Equal(types(first), want) {
		t.Fatalf("types %v, want %v", types(first), want)
	}
	use := first[2]
	if sr := stopReason(t, first[3]); sr.Type != "requires_action" || !slices.Equal(sr.EventIDs, []string{use.ID}) {
		t.Fatalf("stop_reason %+v, want requires_action [%s]", sr, use.ID)
	}
	if st := e.get(id).Status; st != hangar.StatusIdle {
		t.Errorf("status while awaiting the result = %q, want idle", st)
	}

	_, err := e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserCustomToolResult, map[string]any{"custom_tool_use_id": "sevt_nope"})}, "")
	if !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("result for an unknown tool use: %v, want invalid_request_error", err)
	}
	_, err = e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserToolConfirmation, map[string]any{"tool_use_id": use.ID, "result": "allow"})}, "")
	if !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("confirmation for a custom tool use: %v, want invalid_request_error", err)
	}

	res := e.send(id, clientEvent(hangar.EventUserCustomToolResult, map[string]any{
		"custom_tool_use_id": use.ID, "content": engine.TextContent(`{"sky":"clear"}`),
	}))
	if res[0].ProcessedAt == nil {
		t.Error("user.custom_tool_result not processed on receipt")
	}
	second := withoutSpans(s.until(hangar.EventStatusIdle))
	want = []string{"user.custom_tool_result", "session.status_running", "agent.message", "session.status_idle"}
	if !slices.Equal(types(second), want) {
		t.Fatalf("types %v, want %v", types(second), want)
	}
	if txt := text(t, second[2]); txt != "It is sunny in Paris." {
		t.Errorf("agent said %q", txt)
	}
	if sr := stopReason(t, second[3]); sr.Type != "end_turn" {
		t.Errorf("stop_reason %+v", sr)
	}
	_, err = e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserCustomToolResult, map[string]any{"custom_tool_use_id": use.ID})}, "")
	if !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("second result for the same tool use: %v, want invalid_request_error", err)
	}
}

func TestToolConfirmation(t *testing.T) {
	t.Parallel()
	tools := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_ask"}},"configs":[]}]`
	steps := script([]map[string]any{
		{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, "result": "a.txt"},
	})
	tests := []struct {
		name   string
		answer map[string]any
		want   []string
	}{
		{"allow", map[string]any{"result": "allow"}, []string{"user.tool_confirmation", "session.status_running", "agent.tool_result", "session.status_idle"}},
		{"deny", map[string]any{"result": "deny", "deny_message": "not now"}, []string{"user.tool_confirmation", "session.status_running", "agent.message", "session.status_idle"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.start()
			id := e.session("scripted", steps, tools)
			s := e.subscribe(id)
			e.send(id, userMessage("list files"))
			first := withoutSpans(s.until(hangar.EventStatusIdle))
			use := first[2]
			if use.Type != hangar.EventAgentToolUse || field[string](t, use, "evaluated_permission") != "ask" {
				t.Fatalf("got %s %s, want agent.tool_use asking", use.Type, use.Body)
			}
			if sr := stopReason(t, first[3]); sr.Type != "requires_action" || !slices.Equal(sr.EventIDs, []string{use.ID}) {
				t.Fatalf("stop_reason %+v", sr)
			}
			tt.answer["tool_use_id"] = use.ID
			e.send(id, clientEvent(hangar.EventUserToolConfirmation, tt.answer))
			second := withoutSpans(s.until(hangar.EventStatusIdle))
			if !slices.Equal(types(second), tt.want) {
				t.Fatalf("types %v, want %v", types(second), tt.want)
			}
			switch tt.name {
			case "allow":
				if ref := field[string](t, second[2], "tool_use_id"); ref != use.ID || text(t, second[2]) != "a.txt" {
					t.Errorf("tool_result %s, want tool_use_id %s", second[2].Body, use.ID)
				}
			case "deny":
				if txt := text(t, second[2]); txt != "tool use denied: not now" {
					t.Errorf("agent said %q", txt)
				}
			}
			if sr := stopReason(t, second[3]); sr.Type != "end_turn" {
				t.Errorf("stop_reason %+v", sr)
			}
		})
	}
}

func TestInterrupt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", script([]map[string]any{
		{"message": "working on it"}, {"sleep_ms": 600000}, {"message": "done"},
	}), "")
	s := e.subscribe(id)
	msg := e.send(id, userMessage("go"))[0]
	s.until(hangar.EventAgentMessage)
	if st := e.get(id).Status; st != hangar.StatusRunning {
		t.Errorf("status during the turn = %q", st)
	}
	intr := e.send(id, clientEvent(hangar.EventUserInterrupt, nil))[0]
	if intr.ProcessedAt == nil {
		t.Error("user.interrupt not processed on receipt")
	}
	rest := s.until(hangar.EventStatusIdle)
	if rest[0].ID != intr.ID {
		t.Errorf("first event after the interrupt is %s, want the interrupt", rest[0].Type)
	}
	for _, ev := range rest {
		if ev.Type == hangar.EventAgentMessage {
			t.Errorf("agent kept talking: %s", ev.Body)
		}
	}
	if sr := stopReason(t, rest[len(rest)-1]); sr.Type != "end_turn" {
		t.Errorf("stop_reason %+v", sr)
	}
	for _, ev := range e.list(id) {
		if ev.ID == msg.ID && ev.ProcessedAt == nil {
			t.Error("interrupted user.message not marked processed")
		}
	}

	// Interrupting an idle session is a no-op (stored, nothing else happens), and the
	// session takes new work.
	e.send(id, clientEvent(hangar.EventUserInterrupt, nil))
	if ev := s.next(); ev.Type != hangar.EventUserInterrupt {
		t.Fatalf("got %s", ev.Type)
	}
	e.send(id, userMessage("again"))
	next := withoutSpans(s.until(hangar.EventAgentMessage))
	if want := []string{"user.message", "session.status_running", "agent.message"}; !slices.Equal(types(next), want) {
		t.Errorf("after idle interrupt: %v, want %v", types(next), want)
	}
}

func TestInterruptWhileAwaitingAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", script([]map[string]any{{"custom_tool_use": map[string]any{"name": "t"}}}), "")
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	first := withoutSpans(s.until(hangar.EventStatusIdle))
	use := first[2]
	e.send(id, clientEvent(hangar.EventUserInterrupt, nil))
	rest := withoutSpans(s.until(hangar.EventStatusIdle))
	if sr := stopReason(t, rest[len(rest)-1]); sr.Type != "end_turn" {
		t.Errorf("stop_reason %+v", sr)
	}
	_, err := e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserCustomToolResult, map[string]any{"custom_tool_use_id": use.ID})}, "")
	if !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("result after interrupt: %v, want invalid_request_error", err)
	}
}

func TestEngineError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		engine   string
		meta     map[string]string
		fake     *enginetest.Scripted
		wantType string
		wantMsg  string
	}{
		{"scripted error step", "scripted", script([]map[string]any{{"message": "hm"}, {"error": "model_overloaded_error"}}), nil, "model_overloaded_error", "scripted failure: model_overloaded_error"},
		{"start error is not shown", "fake", nil, &enginetest.Scripted{StartErr: errors.New("secret internals")}, "unknown_error", "the agent engine failed"},
		{"exit error", "fake", nil, &enginetest.Scripted{ExitErr: &engine.Error{Type: "model_rate_limited_error", Message: "slow down"}}, "model_rate_limited_error", "slow down"},
		{"unknown engine", "nope", nil, nil, "unknown_error", `engine "nope" is not available on this server`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []option
			if tt.fake != nil {
				opts = append(opts, withFake(tt.fake))
			}
			e := newEnv(t, opts...)
			e.start()
			id := e.session(tt.engine, tt.meta, "")
			s := e.subscribe(id)
			e.send(id, userMessage("go"))
			got := withoutSpans(s.until(hangar.EventStatusIdle))
			n := len(got)
			if n < 4 || got[n-2].Type != hangar.EventSessionError {
				t.Fatalf("types %v, want ... session.error, session.status_idle", types(got))
			}
			se := field[hangar.SessionError](t, got[n-2], "error")
			if se.Type != tt.wantType || se.Message != tt.wantMsg || se.RetryStatus.Type != "exhausted" {
				t.Errorf("error %+v, want %s %q exhausted", se, tt.wantType, tt.wantMsg)
			}
			if sr := stopReason(t, got[n-1]); sr.Type != "retries_exhausted" {
				t.Errorf("stop_reason %+v", sr)
			}
			if st := e.get(id).Status; st != hangar.StatusIdle {
				t.Errorf("status %q", st)
			}
		})
	}
}

func TestSendRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	archived := e.session("scripted", nil, "")
	if _, err := e.store.UpdateSession(e.ctx, archived, func(s *hangar.Session) error {
		now := hangar.Now()
		s.ArchivedAt = &now
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	terminated := e.session("scripted", nil, "")
	if _, err := e.store.UpdateSession(e.ctx, terminated, func(s *hangar.Session) error {
		s.Status = hangar.StatusTerminated
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		kind     hangar.Kind
		msg      string
	}{
		{"archived", archived, hangar.KindConflict, "archived; create a new session"},
		{"terminated", terminated, hangar.KindConflict, "terminated; create a new session"},
		{"missing", "sesn_011Cmissing", hangar.KindNotFound, ""},
	}
	for _, tt := range tests {
		_, err := e.runner.Send(e.ctx, tt.id, []hangar.Event{userMessage("hi")}, "")
		var he *hangar.Error
		if !errors.As(err, &he) || he.Kind != tt.kind || !strings.Contains(he.Message, tt.msg) {
			t.Errorf("%s: err %v, want %s containing %q", tt.name, err, tt.kind, tt.msg)
		}
	}
	if evs := e.list(archived); len(evs) != 0 {
		t.Errorf("archived session got events %v", types(evs))
	}
}

func TestIdempotentSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)
	msg := userMessage("once")
	first, err := e.runner.Send(e.ctx, id, []hangar.Event{msg}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	s.until(hangar.EventStatusIdle)
	retry := userMessage("once")
	again, err := e.runner.Send(e.ctx, id, []hangar.Event{retry}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ID != first[0].ID {
		t.Errorf("replay returned %s, want %s", again[0].ID, first[0].ID)
	}
	// A new message proves no second turn was queued by the replay: the next turn's
	// agent.message answers it.
	e.send(id, userMessage("twice"))
	got := s.until(hangar.EventStatusIdle)
	if g := withoutSpans(got); len(g) != 4 || g[0].Type != hangar.EventUserMessage || text(t, g[2]) != "echo: twice" {
		t.Errorf("after replay: %v", types(got))
	}
	if false {
	}
}

func TestDeleteDuringRun(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	e := newEnv(t, withFake(&enginetest.Scripted{
		Block:  block,
		Events: []engine.Event{{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent("busy")}}},
	}))
	e.start()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	s.until(hangar.EventAgentMessage)
	if n := e.mem.Sandboxes(); n != 1 {
		t.Fatalf("%d sandboxes, want 1", n)
	}
	if err := e.runner.Delete(e.ctx, id); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if ev := s.next(); ev.Type != hangar.EventSessionDeleted || ev.SessionID != id {
		t.Errorf("got %s, want session.deleted", ev.Type)
	}
	if _, err := e.store.GetSession(e.ctx, id); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	if n := e.mem.Sandboxes(); n != 0 {
		t.Errorf("%d sandboxes after delete, want 0", n)
	}
	if err := e.runner.Delete(e.ctx, id); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := e.runner.Send(e.ctx, id, []hangar.Event{userMessage("hi")}, ""); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("send after delete: %v", err)
	}
}

func TestRecoverAtStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	inFlight := e.session("scripted", nil, "")
	neverStarted := e.session("scripted", nil, "")
	cutAfterIdle := e.session("scripted", nil, "")
	retried := e.session("scripted", nil, "")

	now := hangar.Now()
	processed := func(ev hangar.Event) hangar.Event { ev.ProcessedAt = &now; return ev }
	setRunning := func(s *hangar.Session) error { s.Status = hangar.StatusRunning; return nil }
	for _, req := range []hangar.AppendRequest{
		// A turn in flight for "lost", with "queued" waiting behind it.
		{SessionID: inFlight, Events: []hangar.Event{processed(userMessage("lost")), processed(clientEvent(hangar.EventStatusRunning, nil)), userMessage("queued")}, Mutate: setRunning},
		// A message accepted (processed on receipt) whose turn never emitted status_running.
		{SessionID: neverStarted, Events: []hangar.Event{processed(userMessage("accepted"))}, Mutate: setRunning},
		// A second turn cut after a first one ended.
		{SessionID: cutAfterIdle, Events: []hangar.Event{
			processed(userMessage("first")), processed(clientEvent(hangar.EventStatusRunning, nil)), processed(clientEvent(hangar.EventStatusIdle, nil)),
			processed(userMessage("second")), processed(clientEvent(hangar.EventStatusRunning, nil)),
		}, Mutate: setRunning},
		// A turn already retried once (by the watchdog or a takeover) and cut again.
		{SessionID: retried, Events: []hangar.Event{
			processed(userMessage("again")), processed(clientEvent(hangar.EventStatusRunning, nil)),
			processed(clientEvent(hangar.EventSessionError, nil)), processed(clientEvent(hangar.EventStatusRescheduled, nil)),
			processed(clientEvent(hangar.EventStatusRunning, nil)),
		}, Mutate: setRunning},
	} {
		if _, _, err := e.store.AppendEvents(e.ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	s1, s2, s3, s4 := e.subscribe(inFlight), e.subscribe(neverStarted), e.subscribe(cutAfterIdle), e.subscribe(retried)
	e.start()

	// The cut turn runs again once, announced, then the queued one.
	got := withoutSpans(s1.until(hangar.EventStatusIdle))
	if want := []string{"session.error", "session.status_rescheduled", "session.status_running", "agent.message", "session.status_idle"}; !slices.Equal(types(got), want) {
		t.Fatalf("recovery events %v, want %v", types(got), want)
	}
	if rs := field[hangar.SessionError](t, got[0], "error").RetryStatus.Type; rs != "retrying" {
		t.Errorf("retry_status %q, want retrying", rs)
	}
	if txt := text(t, got[3]); txt != "echo: lost" {
		t.Errorf("retried turn said %q", txt)
	}
	if sr := stopReason(t, got[4]); sr.Type != "end_turn" {
		t.Errorf("stop_reason %+v", sr)
	}
	next := withoutSpans(s1.until(hangar.EventStatusIdle))
	if want := []string{"session.status_running", "agent.message", "session.status_idle"}; !slices.Equal(types(next), want) {
		t.Fatalf("requeued turn %v, want %v", types(next), want)
	}
	if txt := text(t, next[1]); txt != "echo: queued" {
		t.Errorf("requeued turn said %q", txt)
	}
	for _, ev := range e.list(inFlight) {
		if ev.Type == hangar.EventUserMessage && ev.ProcessedAt == nil {
			t.Errorf("user.message %s still unprocessed", ev.ID)
		}
	}

	got = withoutSpans(s2.until(hangar.EventAgentMessage))
	if want := []string{"session.status_idle", "session.status_running", "agent.message"}; !slices.Equal(types(got), want) {
		t.Fatalf("never-started session: %v, want %v", types(got), want)
	}
	if txt := text(t, got[2]); txt != "echo: accepted" {
		t.Errorf("never-started turn said %q", txt)
	}

	got = withoutSpans(s3.until(hangar.EventStatusIdle))
	if want := []string{"session.error", "session.status_rescheduled", "session.status_running", "agent.message", "session.status_idle"}; !slices.Equal(types(got), want) {
		t.Fatalf("second turn cut: %v, want %v", types(got), want)
	}
	if txt := text(t, got[3]); txt != "echo: second" {
		t.Errorf("retried second turn said %q", txt)
	}

	// Retries exhausted: the turn is abandoned.
	got = s4.until(hangar.EventStatusIdle)
	if want := []string{"session.error", "session.status_idle"}; !slices.Equal(types(got), want) {
		t.Fatalf("cut retried turn: %v, want %v", types(got), want)
	}
	if sr := stopReason(t, got[1]); sr.Type != "retries_exhausted" {
		t.Errorf("stop_reason %+v", sr)
	}
	if st := e.get(retried); st.Status != hangar.StatusIdle {
		t.Errorf("abandoned session is %q, want idle", st.Status)
	}
}

func TestCloseStopsRunningTurns(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	e := newEnv(t, withFake(&enginetest.Scripted{Block: block}))
	r := e.start()
	id := e.session("fake", nil, "")
	s := e.subscribe(id)
	e.send(id, userMessage("go"))
	s.until(hangar.EventStatusRunning)
	r.Close()
	if _, err := r.Send(e.ctx, id, []hangar.Event{userMessage("late")}, ""); !hangar.IsKind(err, hangar.KindUnavailable) {
		t.Errorf("send after close: %v", err)
	}
	if st := e.get(id).Status; st != hangar.StatusRunning {
		t.Errorf("status after close = %q, want running (recovered at next start)", st)
	}
}
