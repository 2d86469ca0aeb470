package main

// Several real `hangar serve` processes on one PostgreSQL database (internal/pgstore, a
// private cluster from pgtest): sessions spread over the instances, one instance killed
// mid-turn, then a SIGTERM rolling restart. Every session must end idle with every message
// answered, and the SSE clients on surviving instances must see every event exactly once,
// in sequence.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
)

// watcher follows one session's SSE stream on one instance from a given sequence number,
// recording events and checking that their ids continue 1, 2, 3... without gap or repeat.
type watcher struct {
	session string
	mu      sync.Mutex
	evs     []storedEvent
	err     error
	changed chan struct{} // signalled on every event
}

func watch(t *testing.T, ctx context.Context, baseURL, sessionID string, after []storedEvent) *watcher {
	t.Helper()
	w := &watcher{session: sessionID, evs: append([]storedEvent(nil), after...), changed: make(chan struct{}, 1)}
	s := openRawStream(t, ctx, baseURL, sessionID, "", map[string]string{"Last-Event-ID": strconv.Itoa(len(after))})
	go func() {
		defer s.close()
		for {
			f, err := s.next()
			w.mu.Lock()
			if err != nil {
				if w.err == nil {
					w.err = err
				}
				w.mu.Unlock()
				w.signal()
				return
			}
			var ev storedEvent
			if err := json.Unmarshal([]byte(f.Data), &ev); err != nil {
				w.err = err
			}
			seq, _ := strconv.ParseInt(f.ID, 10, 64)
			if want := int64(len(w.evs) + 1); seq != want && w.err == nil {
				w.err = fmt.Errorf("event %s has seq %d, want %d", ev.Type, seq, want)
			}
			ev.Seq = seq
			w.evs = append(w.evs, ev)
			w.mu.Unlock()
			w.signal()
		}
	}()
	return w
}

func (w *watcher) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watcher) snapshot() ([]storedEvent, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]storedEvent(nil), w.evs...), w.err
}

// waitFor waits until done holds for the watcher's events, or fails at the deadline.
func (w *watcher) waitFor(t *testing.T, ctx context.Context, what string, done func([]storedEvent) bool) []storedEvent {
	t.Helper()
	for {
		evs, err := w.snapshot()
		if done(evs) {
			return evs
		}
		if err != nil {
			t.Fatalf("session %s: stream failed before %s: %v; got %v", w.session, what, err, storedTypes(evs))
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			t.Fatalf("session %s: no %s in time; got %v", w.session, what, storedTypes(evs))
		}
	}
}

// idleAfter reports whether the log ends idle with n agent.message text in it.
func idleAfter(text string, n int) func([]storedEvent) bool {
	return func(evs []storedEvent) bool {
		return len(evs) > 0 && evs[len(evs)-1].Type == "session.status_idle" && countEvents(evs, "agent.message", text) >= n
	}
}

func TestMultiInstance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster and several servers")
	}
	began := time.Now()
	dbURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(t.Context(), 110*time.Second)
	defer cancel()
	env := []string{"HANGAR_DATABASE_URL=" + dbURL, "HANGAR_LEASE_TTL=1s", "HANGAR_SHUTDOWN_GRACE=20s"}
	start := func(name string) *proc { return startProc(t, name, t.TempDir(), env...) }
	procs := []*proc{start("p0"), start("p1"), start("p2")}

	// Three turns: the first and third hold for a while, so kills and restarts land
	// mid-turn. The first holds long enough for the test to see all ten of p0's turns
	// start and queue thirty messages on a loaded machine before the kill.
	agent := newAgent(t, procs[0].Client, "multi", scriptMetadata(t,
		[]scriptStep{{"message": "started"}, {"sleep_ms": 6000}, {"message": "finished"}},
		[]scriptStep{{"message": "second"}},
		[]scriptStep{{"message": "third-started"}, {"sleep_ms": 1500}, {"message": "third-finished"}},
	))
	environment := newEnvironment(t, procs[1].Client, "multi-env")
	const n = 30
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newSession(t, procs[i%3].Client, agent.ID, environment.ID).ID
	}
	// SSE clients on the instances that survive phase 1.
	watchers := make([]*watcher, n)
	for i, id := range ids {
		watchers[i] = watch(t, ctx, procs[1+i%2].URL, id, nil)
	}

	// Phase 1: kill p0 mid-turn.
	for i, id := range ids {
		send(t, procs[i%3].Client, id, userMessage("one"))
	}
	for i, w := range watchers {
		if i%3 == 0 {
			w.waitFor(t, ctx, `"started"`, func(evs []storedEvent) bool { return countEvents(evs, "agent.message", "started") > 0 })
		}
	}
	for i, id := range ids {
		send(t, procs[i%3].Client, id, userMessage("two"))
	}
	procs[0].kill()
	for i, w := range watchers {
		evs := w.waitFor(t, ctx, "the second turn", idleAfter("second", 1))
		resched := countEvents(evs, "session.status_rescheduled", "")
		if i%3 == 0 && resched != 1 {
			t.Errorf("session %d (killed instance): %d reschedules, want 1: %v", i, resched, storedTypes(evs))
		}
		if i%3 != 0 && resched != 0 {
			t.Errorf("session %d (live instance): %d reschedules, want 0: %v", i, resched, storedTypes(evs))
		}
		if f := countEvents(evs, "agent.message", "finished"); f != 1 {
			t.Errorf("session %d: first turn finished %d times, want 1: %v", i, f, storedTypes(evs))
		}
		if s := countEvents(evs, "agent.message", "second"); s != 1 {
			t.Errorf("session %d: second turn answered %d times, want 1", i, s)
		}
	}
	if t.Failed() {
		return
	}

	t.Logf("phase 1 (kill -9 mid-turn) done after %v", time.Since(began))

	// Phase 2: a SIGTERM rolling restart of p1 and p2 while every session runs its third
	// turn: the turns running on a stopping instance finish within its grace period, the
	// instance exits 0, and its sessions' next work goes elsewhere. Clients follow on p3.
	// (A turn cut by a grace period too short is retried like a crashed one: see
	// TestDurabilitySIGTERM.)
	procs = append(procs, start("p3"))
	for i, w := range watchers {
		evs, _ := w.snapshot()
		watchers[i] = watch(t, ctx, procs[3].URL, ids[i], evs)
	}
	for i, id := range ids {
		send(t, procs[1+i%3].Client, id, userMessage("three"))
	}
	for _, k := range []int{1, 2} {
		watchers[k].waitFor(t, ctx, `"third-started"`, func(evs []storedEvent) bool {
			return countEvents(evs, "agent.message", "third-started") > 0
		})
		if code := procs[k].terminate(30 * time.Second); code != 0 {
			t.Fatalf("%s exit code %d after SIGTERM, want 0", procs[k].name, code)
		}
		procs[k] = start(procs[k].name + "'")
	}
	for i, w := range watchers {
		evs := w.waitFor(t, ctx, "the third turn", idleAfter("third-finished", 1))
		if f := countEvents(evs, "agent.message", "third-finished"); f != 1 {
			t.Errorf("session %d: third turn finished %d times, want 1: %v", i, f, storedTypes(evs))
		}
		want := 0
		if i%3 == 0 {
			want = 1 // the turn cut by the kill in phase 1
		}
		if r := countEvents(evs, "session.status_rescheduled", ""); r != want {
			t.Errorf("session %d: %d reschedules in all, want %d (graceful stops cut no turn): %v", i, r, want, storedTypes(evs))
		}
		stored := listEvents(t, ctx, procs[3].URL, ids[i])
		if len(stored) != len(evs) {
			t.Errorf("session %d: the stream saw %d events, the store holds %d", i, len(evs), len(stored))
		}
		checkAnswered(t, ids[i], stored)
	}
	t.Logf("phase 2 (rolling restart) done after %v", time.Since(began))

	// Phase 3: client events sent to an instance that does not run the session reach the
	// run through LISTEN/NOTIFY: a custom tool result, then an interrupt.
	runner, other := procs[3], procs[1]
	toolAgent := newToolAgent(t, runner.Client, "multi-tools", scriptMetadata(t,
		[]scriptStep{{"custom_tool_use": map[string]any{"name": "get_weather"}}},
		[]scriptStep{{"message": "answered"}, {"sleep_ms": 60_000}},
	))
	ts := newSession(t, runner.Client, toolAgent.ID, environment.ID)
	tw := watch(t, ctx, other.URL, ts.ID, nil)
	send(t, runner.Client, ts.ID, userMessage("weather?"))
	evs := tw.waitFor(t, ctx, "agent.custom_tool_use", func(evs []storedEvent) bool {
		return countEvents(evs, "session.status_idle", "") > 0
	})
	var useID string
	for _, ev := range evs {
		if ev.Type == "agent.custom_tool_use" {
			useID = ev.ID
		}
	}
	send(t, other.Client, ts.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: useID,
		Content:         []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny"}}},
	}})
	tw.waitFor(t, ctx, `"answered" after the remote tool result`, func(evs []storedEvent) bool {
		return countEvents(evs, "agent.message", "answered") == 1
	})
	send(t, procs[2].Client, ts.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	evs = tw.waitFor(t, ctx, "idle after the remote interrupt", func(evs []storedEvent) bool {
		return countEvents(evs, "user.interrupt", "") == 1 && evs[len(evs)-1].Type == "session.status_idle"
	})
	checkAnswered(t, ts.ID, evs)
	t.Logf("phase 3 (client events through other instances) done after %v", time.Since(began))
}
