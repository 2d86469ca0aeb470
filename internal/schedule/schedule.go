// Package schedule fires deployments on their cron schedules (docs/deployments.md). Every
// Hangar instance runs one Scheduler; they may share a database. Each fire is claimed in the
// store by moving the deployment's next_run_at forward with a conditional write
// (hangar.DeploymentStore.ClaimDeploymentFire), so exactly one instance runs it.
package schedule

import (
	"context"
	"log/slog"
	"time"

	"github.com/hangar-dev/hangar"
)

// Runner runs a deployment once (httpapi.Server.RunDeployment: the same session creation
// path as POST /v1/sessions).
type Runner interface {
	RunDeployment(ctx context.Context, id string, trigger hangar.TriggerContext) (*hangar.DeploymentRun, error)
}

// Config holds a scheduler's dependencies.
type Config struct {
	Store  hangar.DeploymentStore
	Runner Runner
	// Clock says what time it is; tests inject a fake one and call Tick.
	Clock  hangar.Clock
	Logger *slog.Logger
	// Interval is how often Run polls for due deployments; 0 means 5 seconds. Cron has
	// minute resolution, so a fire starts at most Interval after its time.
	Interval time.Duration
	// Batch caps the deployments fired per tick; 0 means 100.
	Batch int
}

// Scheduler fires due deployments.
type Scheduler struct {
	cfg  Config
	wake chan struct{}
}

// New returns a scheduler; call Run or Tick.
func New(cfg Config) *Scheduler {
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	return &Scheduler{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Run ticks every Interval, and whenever Trigger is called, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("deployment schedule tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Trigger makes Run tick now.
func (s *Scheduler) Trigger() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Tick fires every deployment due at the clock's now, once each, and returns the runs this
// scheduler started. A deployment whose fires were missed (the server was down) runs once,
// for its earliest missed time, and is rescheduled after now: missed fires do not pile up.
func (s *Scheduler) Tick(ctx context.Context) ([]*hangar.DeploymentRun, error) {
	now := s.cfg.Clock()
	var runs []*hangar.DeploymentRun
	// Poll in batches until fewer than a batch is due: every fire claimed, by this
	// scheduler or another, leaves the due set. The cap only guards against a store bug.
	for range 1000 {
		due, err := s.cfg.Store.DueDeployments(ctx, now, s.cfg.Batch)
		if err != nil {
			return runs, err
		}
		for _, d := range due {
			run, err := s.fire(ctx, d, now)
			if err != nil {
				return runs, err
			}
			if run != nil {
				runs = append(runs, run)
			}
		}
		if len(due) < s.cfg.Batch {
			break
		}
	}
	return runs, nil
}

// fire claims d's due fire and runs it; nil, nil when the claim went elsewhere or the run
// failed (logged: the fire is spent either way, as the claim moved next_run_at on).
func (s *Scheduler) fire(ctx context.Context, d *hangar.Deployment, now time.Time) (*hangar.DeploymentRun, error) {
	if d.NextRunAt == nil {
		return nil, nil
	}
	at := *d.NextRunAt
	ok, err := s.cfg.Store.ClaimDeploymentFire(ctx, d.ID, at, d.NextRun(now), now)
	if err != nil || !ok {
		return nil, err // !ok: another instance claimed this fire, or the deployment changed
	}
	run, err := s.cfg.Runner.RunDeployment(ctx, d.ID, hangar.TriggerContext{Type: hangar.TriggerSchedule, ScheduledAt: &at})
	if err != nil {
		s.cfg.Logger.Warn("scheduled deployment run", "deployment_id", d.ID, "scheduled_at", at, "err", err)
		return nil, nil
	}
	s.cfg.Logger.Info("scheduled deployment run", "deployment_id", d.ID, "run_id", run.ID, "scheduled_at", at)
	return run, nil
}
