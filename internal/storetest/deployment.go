package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// Deployments pins hangar.DeploymentStore: CRUD, filters, paging, the due-deployment poll,
// the conditional fire claim (exactly one of many concurrent claimers wins), and runs.

func newDeployment(clk *clock, agentID string, next *time.Time) *hangar.Deployment {
	at := clk.Now()
	return &hangar.Deployment{
		ID: hangar.NewID(hangar.PrefixDeployment), Name: "nightly", Description: "",
		Agent:         hangar.AgentRef{Type: "agent", ID: agentID, Version: 1},
		EnvironmentID: "env_x",
		InitialEvents: json.RawMessage(`[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]`),
		Resources:     json.RawMessage(`[]`), VaultIDs: []string{}, Metadata: map[string]string{"k": "v"},
		Schedule:     &hangar.CronSpec{Type: "cron", Expression: "0 9 * * *", Timezone: "UTC"},
		Status:       hangar.DeploymentActive,
		PausedReason: json.RawMessage(`null`),
		CreatedAt:    at, UpdatedAt: at, NextRunAt: next,
	}
}

func testDeployments(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	base := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

	var ds []*hangar.Deployment
	for i := range 4 {
		next := base.Add(time.Duration(i) * time.Hour)
		d := newDeployment(clk, fmt.Sprintf("agent_%d", i%2), &next)
		must(t, st.CreateDeployment(ctx, d))
		ds = append(ds, d)
	}
	wantKind(t, "CreateDeployment(same ID)", st.CreateDeployment(ctx, ds[0]), hangar.KindConflict)

	t.Run("get and list", func(t *testing.T) {
		got, err := st.GetDeployment(ctx, ds[1].ID)
		must(t, err)
		if d := diff(ds[1], got); d != "" {
			t.Errorf("GetDeployment (-want +got):\n%s", d)
		}
		_, err = st.GetDeployment(ctx, "depl_missing")
		wantKind(t, "GetDeployment", err, hangar.KindNotFound)
		got2, _, err := st.ListDeployments(ctx, hangar.DeploymentFilter{AgentID: "agent_1", Page: hangar.Page{Desc: true}})
		must(t, err)
		if len(got2) != 2 || got2[0].ID != ds[3].ID || got2[1].ID != ds[1].ID {
			t.Errorf("ListDeployments(agent_1) = %v", deploymentIDs(got2))
		}
		checkPaging(t, pager[*hangar.Deployment]{
			list: func(p hangar.Page) ([]*hangar.Deployment, hangar.PageResult, error) {
				return st.ListDeployments(ctx, hangar.DeploymentFilter{Page: p})
			},
			id: func(d *hangar.Deployment) string { return d.ID },
		}, []string{ds[0].ID, ds[1].ID, ds[2].ID, ds[3].ID}, 3, false)
	})

	t.Run("update, pause, archive", func(t *testing.T) {
		_, err := st.UpdateDeployment(ctx, ds[3].ID, func(d *hangar.Deployment) error { return errSentinel })
		if err != errSentinel {
			t.Errorf("UpdateDeployment callback error = %v, want it unchanged", err)
		}
		got, err := st.UpdateDeployment(ctx, ds[3].ID, func(d *hangar.Deployment) error {
			d.Status, d.PausedReason, d.NextRunAt = hangar.DeploymentPaused, json.RawMessage(`{"type":"manual"}`), nil
			return nil
		})
		must(t, err)
		if got.Status != hangar.DeploymentPaused || got.NextRunAt != nil {
			t.Errorf("paused deployment = %+v", got)
		}
		paused, _, err := st.ListDeployments(ctx, hangar.DeploymentFilter{Status: hangar.DeploymentPaused})
		must(t, err)
		if len(paused) != 1 || paused[0].ID != ds[3].ID {
			t.Errorf("ListDeployments(paused) = %v", deploymentIDs(paused))
		}
		now := clk.Now()
		_, err = st.UpdateDeployment(ctx, ds[2].ID, func(d *hangar.Deployment) error {
			d.ArchivedAt, d.NextRunAt = &now, nil
			return nil
		})
		must(t, err)
		live, _, err := st.ListDeployments(ctx, hangar.DeploymentFilter{})
		must(t, err)
		all, _, err := st.ListDeployments(ctx, hangar.DeploymentFilter{IncludeArchived: true})
		must(t, err)
		if len(live) != 3 || len(all) != 4 {
			t.Errorf("ListDeployments: %d live, %d with archived; want 3, 4", len(live), len(all))
		}
		_, err = st.UpdateDeployment(ctx, "depl_missing", func(*hangar.Deployment) error { return nil })
		wantKind(t, "UpdateDeployment(missing)", err, hangar.KindNotFound)
	})

	t.Run("due and claim", func(t *testing.T) {
		// ds[2] is archived and ds[3] paused: only ds[0] and ds[1] can be due.
		due, err := st.DueDeployments(ctx, base.Add(10*time.Hour), 10)
		must(t, err)
		if len(due) != 2 || due[0].ID != ds[0].ID || due[1].ID != ds[1].ID {
			t.Fatalf("DueDeployments = %v, want [%s %s]", deploymentIDs(due), ds[0].ID, ds[1].ID)
		}
		due, err = st.DueDeployments(ctx, base, 10)
		must(t, err)
		if len(due) != 1 {
			t.Errorf("DueDeployments(at first fire) = %v, want 1", deploymentIDs(due))
		}
		next := base.Add(24 * time.Hour)
		const claimers = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.ClaimDeploymentFire(ctx, ds[0].ID, base, &next, base)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d concurrent claims of one fire succeeded, want exactly 1", wins)
		}
		got, err := st.GetDeployment(ctx, ds[0].ID)
		must(t, err)
		if got.NextRunAt == nil || !got.NextRunAt.Equal(next) || got.Schedule.LastRunAt == nil || !got.Schedule.LastRunAt.Equal(base) {
			t.Errorf("after claim: next %v, last %v; want %v, %v", got.NextRunAt, got.Schedule.LastRunAt, next, base)
		}
		ok, err := st.ClaimDeploymentFire(ctx, ds[0].ID, base, &next, base)
		must(t, err)
		if ok {
			t.Error("a stale claim succeeded")
		}
	})

	t.Run("runs", func(t *testing.T) {
		var runs []*hangar.DeploymentRun
		for i := range 5 {
			r := &hangar.DeploymentRun{ID: hangar.NewID(hangar.PrefixDeploymentRun), DeploymentID: ds[i%2].ID,
				Agent: ds[i%2].Agent, Trigger: hangar.TriggerContext{Type: hangar.TriggerManual}, CreatedAt: clk.Now()}
			if i == 2 {
				at := base
				r.Trigger = hangar.TriggerContext{Type: hangar.TriggerSchedule, ScheduledAt: &at}
			}
			if i == 4 {
				r.Error = &hangar.RunError{Type: "environment_archived_error", Message: "gone"}
			} else {
				r.SessionID = ptr(hangar.NewID(hangar.PrefixSession))
			}
			must(t, st.CreateDeploymentRun(ctx, r))
			runs = append(runs, r)
		}
		wantKind(t, "CreateDeploymentRun(same ID)", st.CreateDeploymentRun(ctx, runs[0]), hangar.KindConflict)
		got, err := st.GetDeploymentRun(ctx, runs[2].ID)
		must(t, err)
		if d := diff(runs[2], got); d != "" {
			t.Errorf("GetDeploymentRun (-want +got):\n%s", d)
		}
		_, err = st.GetDeploymentRun(ctx, "drun_missing")
		wantKind(t, "GetDeploymentRun", err, hangar.KindNotFound)
		for _, tc := range []struct {
			name string
			f    hangar.DeploymentRunFilter
			want []*hangar.DeploymentRun
		}{
			{"deployment", hangar.DeploymentRunFilter{DeploymentID: ds[0].ID}, []*hangar.DeploymentRun{runs[0], runs[2], runs[4]}},
			{"schedule", hangar.DeploymentRunFilter{TriggerType: hangar.TriggerSchedule}, []*hangar.DeploymentRun{runs[2]}},
			{"has error", hangar.DeploymentRunFilter{HasError: ptr(true)}, []*hangar.DeploymentRun{runs[4]}},
			{"no error", hangar.DeploymentRunFilter{HasError: ptr(false), DeploymentID: ds[1].ID}, []*hangar.DeploymentRun{runs[1], runs[3]}},
		} {
			list, _, err := st.ListDeploymentRuns(ctx, tc.f)
			must(t, err)
			if d := diff(tc.want, list); d != "" {
				t.Errorf("ListDeploymentRuns(%s) (-want +got):\n%s", tc.name, d)
			}
		}
	})
}

func deploymentIDs(ds []*hangar.Deployment) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}
