package runner_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/runner"
)

// TestSelfHostedNoWorker: a delegated call waits while a worker holds the session's work
// item; once nobody has held it for SelfHostedTimeout, the call is answered to the model
// as an error and the turn fails with session.error (exhausted) and status_idle
// retries_exhausted. The clock and the checks are the test's: no sleeps.
func TestSelfHostedNoWorker(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	armed := make(chan time.Duration, 16)
	fire := make(chan time.Time)

	fake := &fakemodel.Server{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := newEnv(t, func(e *env) {
		e.tune = func(cfg *runner.Config) {
			cfg.Engines.Register("native", func(json.RawMessage, engine.Deps) (engine.Engine, error) {
				cfg, _ := json.Marshal(native.Config{BaseURL: srv.URL, APIKey: "sk-test"})
				return native.New(cfg, engine.Deps{})
			})
			cfg.Clock = clock
			cfg.SelfHostedTimeout = 10 * time.Minute
			cfg.SelfHostedAfter = func(d time.Duration) <-chan time.Time { armed <- d; return fire }
		}
	})
	e.envID = hangar.NewID(hangar.PrefixEnvironment)
	if err := e.store.CreateEnvironment(e.ctx, &hangar.Environment{Type: "environment", ID: e.envID, Name: "w-" + e.envID,
		Config: hangar.EnvironmentConfig{Type: "self_hosted"}, CreatedAt: clock(), UpdatedAt: clock()}); err != nil {
		t.Fatal(err)
	}
	e.start()
	tools := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[]}]`
	id := e.session("native", nil, tools)

	// A worker claims, acknowledges and heartbeats the session's item (60 s lease).
	item := &hangar.Work{ID: hangar.NewID(hangar.PrefixWork), EnvironmentID: e.envID, State: hangar.WorkQueued,
		Data: hangar.WorkData{Type: hangar.WorkDataSession, ID: id}, Metadata: map[string]string{}, CreatedAt: clock()}
	if _, _, err := e.store.EnqueueWork(e.ctx, item); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ClaimWork(e.ctx, hangar.WorkClaim{EnvironmentID: e.envID, WorkerID: "w", Now: clock(), ReclaimBefore: clock().Add(-time.Hour), TokenHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateWork(e.ctx, e.envID, item.ID, func(w *hangar.Work) error {
		if err := w.Ack(clock()); err != nil {
			return err
		}
		_, err := w.Heartbeat(hangar.NoHeartbeat, time.Minute, clock())
		return err
	}); err != nil {
		t.Fatal(err)
	}

	s := e.subscribe(id)
	e.send(id, userMessage(`CUSTOM:write {"file_path":"a.txt","content":"x"}`))
	var use hangar.Event
	for use.Type != hangar.EventAgentToolUse {
		use = s.next()
	}
	if d := <-armed; d != 30*time.Second {
		t.Errorf("check interval = %s, want 30s", d)
	}
	// The lease is live; then it expired less than the timeout ago: the call keeps waiting.
	for _, step := range []time.Duration{30 * time.Second, 10 * time.Minute} {
		advance(step)
		fire <- clock()
		<-armed // checked, still waiting, the next check armed
		if st := e.get(id).Status; st != hangar.StatusRunning {
			t.Fatalf("status after %s = %s, want running", step, st)
		}
	}
	// Ten minutes after the lease ran out: the turn fails.
	advance(time.Minute)
	fire <- clock()
	rest := selfHostedQuiet(s.until(hangar.EventStatusIdle))
	var sessErr hangar.Event
	for _, ev := range rest {
		if ev.Type == hangar.EventSessionError {
			sessErr = ev
		}
	}
	var body struct {
		Error hangar.SessionError `json:"error"`
	}
	json.Unmarshal(sessErr.Body, &body)
	if body.Error.Type != "unknown_error" || body.Error.RetryStatus.Type != "exhausted" || !strings.Contains(body.Error.Message, "no self-hosted worker") {
		t.Fatalf("events %v; session.error %s", types(rest), sessErr.Body)
	}
	if sr := stopReason(t, rest[len(rest)-1]); sr.Type != "retries_exhausted" {
		t.Errorf("stop_reason = %+v, want retries_exhausted", sr)
	}
	if st := e.get(id).Status; st != hangar.StatusIdle {
		t.Errorf("status = %s, want idle", st)
	}
	reqs := fake.MessageRequests()
	res, ok := reqs[len(reqs)-1].LastToolResult()
	if !ok || !res.IsError || !strings.Contains(res.ResultText(), "no self-hosted worker") {
		t.Errorf("the model got %+v, want the no-worker error as the call's result", res)
	}
	// The worker's late result is refused: the call was answered.
	if _, err := e.runner.Send(e.ctx, id, []hangar.Event{clientEvent(hangar.EventUserToolResult, map[string]any{"tool_use_id": use.ID})}, ""); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("late tool result: %v, want invalid_request_error", err)
	}
}
