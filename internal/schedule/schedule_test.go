package schedule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/schedule"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// fakeClock is a settable clock: tests move time and call Tick; nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeRunner records the runs it is asked for.
type fakeRunner struct {
	mu    sync.Mutex
	calls []call
	err   error
}

type call struct {
	id string
	at time.Time
}

func (r *fakeRunner) RunDeployment(_ context.Context, id string, tr hangar.TriggerContext) (*hangar.DeploymentRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr.Type != hangar.TriggerSchedule || tr.ScheduledAt == nil {
		return nil, fmt.Errorf("trigger %+v, want a schedule trigger with scheduled_at", tr)
	}
	r.calls = append(r.calls, call{id, *tr.ScheduledAt})
	if r.err != nil {
		return nil, r.err
	}
	sid := "sesn_" + id
	return &hangar.DeploymentRun{ID: hangar.NewID(hangar.PrefixDeploymentRun), DeploymentID: id, SessionID: &sid, Trigger: tr}, nil
}

func (r *fakeRunner) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func openStore(t *testing.T) hangar.Store {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

// addDeployment stores an active deployment scheduled by expr in tz, as the API would.
func addDeployment(t *testing.T, st hangar.Store, now time.Time, expr, tz string) *hangar.Deployment {
	t.Helper()
	d := &hangar.Deployment{ID: hangar.NewID(hangar.PrefixDeployment), Name: "d", Agent: hangar.AgentRef{Type: "agent", ID: "agent_x", Version: 1},
		EnvironmentID: "env_x", InitialEvents: json.RawMessage(`[]`), Resources: json.RawMessage(`[]`),
		Schedule: &hangar.CronSpec{Type: "cron", Expression: expr, Timezone: tz}, Status: hangar.DeploymentActive,
		PausedReason: json.RawMessage(`null`), CreatedAt: now, UpdatedAt: now}
	d.NextRunAt = d.NextRun(now)
	if err := st.CreateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func tick(t *testing.T, s *schedule.Scheduler) int {
	t.Helper()
	runs, err := s.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}

func TestTickFollowsCronInTimeZoneAcrossDST(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	st := openStore(t)
	clk := &fakeClock{t: time.Date(2026, 3, 6, 8, 0, 0, 0, ny)}
	run := &fakeRunner{}
	s := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now})
	d := addDeployment(t, st, clk.Now(), "0 9 * * *", "America/New_York")

	// 9:00 New York is 14:00 UTC before the spring-forward of 2026-03-08, 13:00 UTC after.
	want := []time.Time{
		time.Date(2026, 3, 6, 14, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 7, 14, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 8, 13, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC),
	}
	for i, at := range want {
		clk.Set(at.Add(-time.Second))
		if n := tick(t, s); n != 0 {
			t.Fatalf("fire %d: %d runs a second early", i, n)
		}
		clk.Set(at.Add(3 * time.Second))
		if n := tick(t, s); n != 1 {
			t.Fatalf("fire %d at %v: %d runs, want 1", i, at, n)
		}
		if n := tick(t, s); n != 0 {
			t.Fatalf("fire %d: a second tick ran it again (%d runs)", i, n)
		}
	}
	calls := run.Calls()
	for i, c := range calls {
		if c.id != d.ID || !c.at.Equal(want[i]) {
			t.Errorf("run %d = %s at %v, want %s at %v", i, c.id, c.at, d.ID, want[i])
		}
	}
	got, err := st.GetDeployment(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schedule.LastRunAt == nil || !got.Schedule.LastRunAt.Equal(want[3].Add(3*time.Second)) {
		t.Errorf("last_run_at = %v, want the start of the last run", got.Schedule.LastRunAt)
	}
	if next := time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC); got.NextRunAt == nil || !got.NextRunAt.Equal(next) {
		t.Errorf("next_run_at = %v, want %v", got.NextRunAt, next)
	}
}

func TestTickFallBackHourFiresOnce(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	st := openStore(t)
	clk := &fakeClock{t: time.Date(2026, 10, 31, 12, 0, 0, 0, ny)}
	run := &fakeRunner{}
	s := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now})
	addDeployment(t, st, clk.Now(), "30 1 * * *", "America/New_York")
	// 2026-11-01 01:30 happens twice in New York (EDT, then EST an hour later).
	for m := 0; m <= 4*60; m += 5 {
		clk.Set(time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute))
		tick(t, s)
	}
	calls := run.Calls()
	if len(calls) != 1 || !calls[0].at.Equal(time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)) {
		t.Errorf("runs during the repeated hour = %v, want one at 05:30 UTC (01:30 EDT)", calls)
	}
}

func TestPauseUnpause(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Date(2026, 6, 1, 0, 0, 30, 0, time.UTC)
	clk := &fakeClock{t: start}
	run := &fakeRunner{}
	s := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now})
	d := addDeployment(t, st, start, "*/10 * * * *", "UTC")

	setStatus := func(status string) {
		t.Helper()
		if _, err := st.UpdateDeployment(ctx, d.ID, func(d *hangar.Deployment) error {
			d.Status = status
			d.NextRunAt = d.NextRun(clk.Now())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(hangar.DeploymentPaused)
	for m := 10; m <= 60; m += 10 {
		clk.Set(start.Add(time.Duration(m) * time.Minute))
		if n := tick(t, s); n != 0 {
			t.Fatalf("paused deployment ran at +%dm", m)
		}
	}
	// Unpausing does not replay the fires missed while paused: the next one is after now.
	setStatus(hangar.DeploymentActive)
	if n := tick(t, s); n != 0 {
		t.Fatalf("unpause replayed %d missed fires", n)
	}
	clk.Set(start.Add(70 * time.Minute))
	if n := tick(t, s); n != 1 {
		t.Fatalf("unpaused deployment: %d runs, want 1", n)
	}
	if c := run.Calls(); !c[0].at.Equal(time.Date(2026, 6, 1, 1, 10, 0, 0, time.UTC)) {
		t.Errorf("run scheduled at %v", c[0].at)
	}
}

func TestMissedFiresRunOnce(t *testing.T) {
	st := openStore(t)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: start}
	run := &fakeRunner{}
	s := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now})
	d := addDeployment(t, st, start, "0 * * * *", "UTC")
	clk.Set(start.Add(72*time.Hour + 30*time.Minute)) // down for three days
	if n := tick(t, s); n != 1 {
		t.Fatalf("after downtime: %d runs, want 1", n)
	}
	if n := tick(t, s); n != 0 {
		t.Fatalf("missed fires piled up: %d more runs", n)
	}
	got, _ := st.GetDeployment(context.Background(), d.ID)
	if want := start.Add(73 * time.Hour); got.NextRunAt == nil || !got.NextRunAt.Equal(want) {
		t.Errorf("next_run_at = %v, want %v", got.NextRunAt, want)
	}
}

func TestRunnerErrorSpendsFire(t *testing.T) {
	st := openStore(t)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: start}
	run := &fakeRunner{err: fmt.Errorf("boom")}
	s := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now})
	addDeployment(t, st, start, "0 * * * *", "UTC")
	clk.Set(start.Add(time.Hour))
	tick(t, s)
	tick(t, s)
	if n := len(run.Calls()); n != 1 {
		t.Errorf("a failing run was retried: %d calls, want 1", n)
	}
}

// Two schedulers (two instances) on one database never fire one occurrence twice.
func TestTwoSchedulersNoDoubleFire(t *testing.T) {
	st := openStore(t)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: start}
	run := &fakeRunner{}
	const deployments = 20
	for range deployments {
		addDeployment(t, st, start, "*/5 * * * *", "UTC")
	}
	a := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now, Batch: 7})
	b := schedule.New(schedule.Config{Store: st, Runner: run, Clock: clk.Now, Batch: 7})
	for fire := 1; fire <= 3; fire++ {
		clk.Set(start.Add(time.Duration(5*fire) * time.Minute))
		var wg sync.WaitGroup
		for _, s := range []*schedule.Scheduler{a, b, a, b, a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Tick(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	seen := map[call]int{}
	for _, c := range run.Calls() {
		seen[c]++
	}
	if len(run.Calls()) != 3*deployments || len(seen) != 3*deployments {
		t.Errorf("%d runs (%d distinct), want %d, each once", len(run.Calls()), len(seen), 3*deployments)
	}
	for c, n := range seen {
		if n > 1 {
			t.Errorf("%s at %v fired %d times", c.id, c.at, n)
		}
	}
}
