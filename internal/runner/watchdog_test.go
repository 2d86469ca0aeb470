package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// The watchdog tests run in a synctest bubble: timers use the bubble's fake clock, which
// jumps ahead only when every goroutine of the bubble is blocked. So the real 10-minute
// default window is tested in microseconds, "no event for longer than the window" is exact,
// and nothing sleeps for real.

// bubbleEnv returns an env whose store, hub and runner (configured by cfg) live in the
// current bubble. Call it from inside synctest.Test.
func bubbleEnv(t *testing.T, fake *enginetest.Scripted, cfg func(*runner.Config)) *env {
	t.Helper()
	ctx := t.Context()
	store, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e := &env{t: t, ctx: ctx, store: store, hub: pubsub.New(1024), fake: fake, mem: &memory.Provider{}}
	e.envID = hangar.NewID(hangar.PrefixEnvironment)
	now := hangar.Now()
	if err := store.CreateEnvironment(ctx, &hangar.Environment{Type: "environment", ID: e.envID, Name: "env-" + e.envID, Config: hangar.EnvironmentConfig{Type: "cloud"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create environment: %v", err)
	}
	engines := engine.NewRegistry()
	engines.Register("fake", func(json.RawMessage, engine.Deps) (engine.Engine, error) { return fake, nil })
	providers := provider.NewRegistry()
	providers.Register("memory", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return e.mem, nil })
	c := runner.Config{Store: store, Hub: e.hub, Engines: engines, Providers: providers}
	if cfg != nil {
		cfg(&c)
	}
	e.runner = runner.New(c)
	t.Cleanup(func() {
		e.runner.Close()
		e.hub.Close()
		store.Close()
	})
	if err := e.runner.Start(context.WithoutCancel(ctx)); err != nil {
		t.Fatalf("start runner: %v", err)
	}
	return e
}

// recv returns the next live event. In a bubble, a missing event is a deadlock, which
// synctest reports.
func (s *stream) recv() hangar.Event {
	s.t.Helper()
	ev, ok := <-s.ch
	if !ok {
		s.t.Fatal("stream closed")
	}
	return *ev
}

// upTo reads live events up to and including the first one of type typ.
func (s *stream) upTo(typ string) []hangar.Event {
	s.t.Helper()
	var out []hangar.Event
	for {
		ev := s.recv()
		out = append(out, ev)
		if ev.Type == typ {
			return out
		}
	}
}

// advance moves the bubble's fake clock d ahead, running everything due meanwhile, and
// waits for the bubble to settle.
func advance(d time.Duration) {
	time.Sleep(d) // fake time: returns once the bubble's clock reaches now+d
	synctest.Wait()
}

func message(text string) engine.Event {
	return engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(text)}}
}

func sessionError(t *testing.T, ev hangar.Event) hangar.SessionError {
	t.Helper()
	if ev.Type != hangar.EventSessionError {
		t.Fatalf("event %s is not session.error", ev.Type)
	}
	return field[hangar.SessionError](t, ev, "error")
}

func TestWatchdogRetriesHungRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &enginetest.Scripted{Runs: []enginetest.Script{
			{Events: []engine.Event{message("thinking...")}, Block: make(chan struct{})}, // hangs
			{Events: []engine.Event{message("done")}},
		}}
		e := bubbleEnv(t, fake, nil) // default window: 10 minutes
		id := e.session("fake", nil, "")
		s := e.subscribe(id)
		msg := e.send(id, userMessage("go"))[0]

		got := s.upTo(hangar.EventStatusIdle)
		want := []string{
			"user.message", "session.status_running", "agent.message", "session.error", "session.status_rescheduled",
			"session.status_running", "agent.message", "session.status_idle",
		}
		if !slices.Equal(types(got), want) {
			t.Fatalf("types %v, want %v", types(got), want)
		}
		se := sessionError(t, got[3])
		if want := (hangar.SessionError{Type: "unknown_error", Message: "the agent produced no output for 10m0s; retrying", RetryStatus: hangar.RetryStatus{Type: "retrying"}}); se != want {
			t.Errorf("error %+v, want %+v", se, want)
		}
		if silent := got[3].ProcessedAt.Sub(*got[2].ProcessedAt); silent != runner.DefaultWatchdog {
			t.Errorf("hung run stopped after %v of silence, want %v", silent, runner.DefaultWatchdog)
		}
		if txt := text(t, got[6]); txt != "done" {
			t.Errorf("retry said %q", txt)
		}
		if sr := stopReason(t, got[7]); sr.Type != "end_turn" {
			t.Errorf("stop_reason %+v", sr)
		}
		if st := e.get(id).Status; st != hangar.StatusIdle {
			t.Errorf("status %q", st)
		}
		specs := fake.Specs()
		if len(specs) != 2 || specs[0].Message.ID != msg.ID || specs[1].Message.ID != msg.ID || specs[1].Turn != 0 {
			t.Errorf("runs %d, want 2 runs of turn 0 from %s", len(specs), msg.ID)
		}
		if n := e.mem.Sandboxes(); n != 1 {
			t.Errorf("%d sandboxes, want the same one for the retry", n)
		}
		if want := types(got); !slices.Equal(types(e.list(id)), want) {
			t.Errorf("stored types %v, want %v", types(e.list(id)), want)
		}
	})
}

func TestWatchdogRetriesExhausted(t *testing.T) {
	const window, grace = 50 * time.Millisecond, 10 * time.Second
	tests := []struct {
		name       string
		maxRetries int
		wantRuns   int
	}{
		{"default one retry", 0, 2},
		{"three retries", 3, 4},
		{"no retries", -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// A wedged run: it ignores Interrupt, so only cancelling its context after
				// the grace period ends it.
				fake := &enginetest.Scripted{Runs: []enginetest.Script{{Block: make(chan struct{}), IgnoreInterrupt: true}}}
				e := bubbleEnv(t, fake, func(c *runner.Config) {
					c.Watchdog, c.InterruptGrace, c.MaxRetries = window, grace, tt.maxRetries
				})
				id := e.session("fake", nil, "")
				s := e.subscribe(id)
				e.send(id, userMessage("go"))
				s.upTo(hangar.EventStatusRunning)
				queued := e.send(id, userMessage("queued behind the hung turn"))[0]
				got := s.upTo(hangar.EventStatusIdle)

				var want []string
				for range tt.wantRuns - 1 {
					want = append(want, "session.error", "session.status_rescheduled", "session.status_running")
				}
				want = append([]string{"user.message"}, append(want, "session.error", "session.status_idle")...)
				if !slices.Equal(types(got), want) {
					t.Fatalf("types %v, want %v", types(got), want)
				}
				for i, ev := range got {
					if ev.Type != hangar.EventSessionError {
						continue
					}
					se := sessionError(t, ev)
					wantSE := hangar.SessionError{Type: "unknown_error", Message: "the agent produced no output for 50ms; retrying", RetryStatus: hangar.RetryStatus{Type: "retrying"}}
					if i == len(got)-2 {
						wantSE.Message, wantSE.RetryStatus.Type = "the agent produced no output for 50ms", "exhausted"
					}
					if se != wantSE {
						t.Errorf("event %d: error %+v, want %+v", i, se, wantSE)
					}
				}
				if sr := stopReason(t, got[len(got)-1]); sr.Type != "retries_exhausted" {
					t.Errorf("stop_reason %+v", sr)
				}
				// Each run was over (silent for the window, then cancelled after the grace
				// period) before the next started.
				var starts []time.Time
				for _, ev := range e.list(id) {
					if ev.Type == hangar.EventStatusRunning {
						starts = append(starts, *ev.ProcessedAt)
					}
				}
				for i := 1; i < len(starts); i++ {
					if d := starts[i].Sub(starts[i-1]); d != window+grace {
						t.Errorf("run %d started %v after run %d, want %v", i+1, d, i, window+grace)
					}
				}
				if n := len(fake.Specs()); n != tt.wantRuns {
					t.Errorf("%d runs, want %d", n, tt.wantRuns)
				}
				if st := e.get(id).Status; st != hangar.StatusIdle {
					t.Errorf("status %q", st)
				}
				for _, ev := range e.list(id) {
					if ev.ID == queued.ID && ev.ProcessedAt == nil {
						t.Error("queued user.message not flushed (processed) when retries were exhausted")
					}
				}
			})
		})
	}
}

func TestWatchdogIgnoresTimeAwaitingClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = time.Minute
		fake := &enginetest.Scripted{Runs: []enginetest.Script{{Events: []engine.Event{
			{Type: hangar.EventAgentCustomToolUse, ID: "tu_1", Body: map[string]any{"name": "approve", "input": map[string]any{}}, RequiresAction: true},
			message("thanks"),
		}}}}
		e := bubbleEnv(t, fake, func(c *runner.Config) { c.Watchdog = window })
		id := e.session("fake", nil, "")
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		first := s.upTo(hangar.EventStatusIdle)
		if sr := stopReason(t, first[len(first)-1]); sr.Type != "requires_action" {
			t.Fatalf("stop_reason %+v, want requires_action", sr)
		}
		n := len(e.list(id))

		advance(24 * time.Hour) // the client takes a day to answer
		if evs := e.list(id); len(evs) != n {
			t.Fatalf("events while awaiting the client: %v", types(evs[n:]))
		}
		use := first[len(first)-2]
		e.send(id, clientEvent(hangar.EventUserCustomToolResult, map[string]any{"custom_tool_use_id": use.ID, "content": engine.TextContent("ok")}))
		rest := s.upTo(hangar.EventStatusIdle)
		want := []string{"user.custom_tool_result", "session.status_running", "agent.message", "session.status_idle"}
		if !slices.Equal(types(rest), want) {
			t.Fatalf("types %v, want %v", types(rest), want)
		}
		if sr := stopReason(t, rest[3]); sr.Type != "end_turn" {
			t.Errorf("stop_reason %+v", sr)
		}
		if n := len(fake.Specs()); n != 1 {
			t.Errorf("%d runs, want 1", n)
		}
	})
}

func TestWatchdogSteadyRunNotStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = time.Minute
		var evs []engine.Event
		for i := range 20 { // 20 events 50s apart: 16m40s in all, never a minute of silence
			evs = append(evs, message(fmt.Sprint("step ", i)))
		}
		fake := &enginetest.Scripted{Runs: []enginetest.Script{{Events: evs, Every: 50 * time.Second}}}
		e := bubbleEnv(t, fake, func(c *runner.Config) { c.Watchdog = window })
		id := e.session("fake", nil, "")
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		got := s.upTo(hangar.EventStatusIdle)
		if len(got) != 23 || slices.Contains(types(got), hangar.EventSessionError) {
			t.Fatalf("types %v, want user.message, status_running, 20 agent.message, status_idle", types(got))
		}
		if sr := stopReason(t, got[len(got)-1]); sr.Type != "end_turn" {
			t.Errorf("stop_reason %+v", sr)
		}
		if d := got[len(got)-1].ProcessedAt.Sub(*got[1].ProcessedAt); d != 20*50*time.Second {
			t.Errorf("turn took %v of fake time, want %v", d, 20*50*time.Second)
		}
	})
}

func TestWatchdogDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := make(chan struct{})
		fake := &enginetest.Scripted{Runs: []enginetest.Script{{Block: block}}}
		e := bubbleEnv(t, fake, func(c *runner.Config) { c.Watchdog = -1 })
		id := e.session("fake", nil, "")
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		s.upTo(hangar.EventStatusRunning)
		advance(24 * time.Hour)
		close(block)
		got := s.upTo(hangar.EventStatusIdle)
		if sr := stopReason(t, got[len(got)-1]); len(got) != 1 || sr.Type != "end_turn" {
			t.Errorf("after a silent day: %v %+v, want only status_idle end_turn", types(got), sr)
		}
	})
}

func TestWatchdogInterruptDuringRetryEndsTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window, grace = time.Minute, 10 * time.Second
		fake := &enginetest.Scripted{Runs: []enginetest.Script{{Block: make(chan struct{}), IgnoreInterrupt: true}}}
		e := bubbleEnv(t, fake, func(c *runner.Config) { c.Watchdog, c.InterruptGrace = window, grace })
		id := e.session("fake", nil, "")
		s := e.subscribe(id)
		e.send(id, userMessage("go"))
		s.upTo(hangar.EventStatusRunning)
		advance(window + grace/2) // the watchdog fired; the wedged run is in its grace period
		e.send(id, clientEvent(hangar.EventUserInterrupt, nil))
		got := s.upTo(hangar.EventStatusIdle)
		if want := []string{"user.interrupt", "session.status_idle"}; !slices.Equal(types(got), want) {
			t.Fatalf("types %v, want %v", types(got), want)
		}
		if sr := stopReason(t, got[1]); sr.Type != "end_turn" {
			t.Errorf("stop_reason %+v", sr)
		}
		if n := len(fake.Specs()); n != 1 {
			t.Errorf("%d runs, want 1 (no retry after the client interrupted)", n)
		}
	})
}
