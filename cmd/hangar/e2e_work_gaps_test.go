package main

// End-to-end tests of the work queue's edges through the official SDK: a claim taken over
// by a second WorkPoller while the first one's ack is in flight, and the healthcheck item
// of a new environment answered by the SDK's EnvironmentWorker.

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"
)

// TestE2EWorkLateAck: poller A claims a session's item, but its ack is held back (a slow
// network, played by a middleware) until poller B, polling with reclaim_older_than_ms=0,
// has reclaimed and acknowledged the item. A's late ack gets 409, the SDK discards the
// item (a force stop, also 409) and polls on, and B's claim is untouched: starting, its
// token heartbeats.
func TestE2EWorkLateAck(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c, ctx := srv.Client, testContext(t)
	env, envKey := newSelfHostedEnvironment(t, c, "late-ack")
	agent := newAgent(t, c, "late-ack-agent", nil)
	sess := newSession(t, c, agent.ID, env.ID)

	ackHeld := make(chan string, 1) // the work ID A is acknowledging
	release := make(chan struct{})
	hold := option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/ack") {
			parts := strings.Split(req.URL.Path, "/")
			select {
			case ackHeld <- parts[len(parts)-2]:
			default:
			}
			select {
			case <-release:
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		}
		return next(req)
	})
	msgs := make(chan string, 64)
	a := environments.NewWorkPoller(ctx, newClient(srv.URL), environments.WorkPollerOptions{
		EnvironmentID: env.ID, EnvironmentKey: envKey, WorkerID: "worker-a", Drain: true,
		RequestOptions: []option.RequestOption{hold}, Logger: slog.New(logWatch{msgs}),
	})
	defer a.Close()
	aNext := make(chan bool, 1)
	go func() { aNext <- a.Next() }()
	var first string
	select {
	case first = <-ackHeld:
	case <-ctx.Done():
		t.Fatal("poller A never acknowledged")
	}

	b := environments.NewWorkPoller(ctx, newClient(srv.URL), environments.WorkPollerOptions{
		EnvironmentID: env.ID, EnvironmentKey: envKey, WorkerID: "worker-b", Drain: true,
		ReclaimOlderThanMs: param.NewOpt(int64(0)),
		Logger:             slog.New(logWatch{make(chan string)}),
	})
	defer b.Close()
	if !b.Next() {
		t.Fatalf("poller B claimed nothing (err %v)", b.Err())
	}
	second := b.Current()
	if second.ID == first || second.Data.ID != sess.ID {
		t.Fatalf("B claimed %s (A holds %s), want a new item for %s", second.ID, first, sess.ID)
	}

	close(release)
	waitLog(t, ctx, msgs, "ack failed, discarding work item")
	if <-aNext {
		t.Fatalf("poller A yielded %s after its ack failed", a.Current().ID)
	}
	if err := a.Err(); err != nil {
		t.Fatalf("poller A: %v", err)
	}

	old, err := c.Beta.Environments.Work.Get(ctx, first, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: env.ID})
	if err != nil || old.State != anthropic.BetaSelfHostedWorkStateStopped {
		t.Fatalf("A's item: %v %s", err, old.RawJSON())
	}
	got, err := c.Beta.Environments.Work.Get(ctx, second.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: env.ID})
	if err != nil || got.State != anthropic.BetaSelfHostedWorkStateStarting || got.StopRequestedAt != "" {
		t.Fatalf("B's item after A's late ack: %v %s", err, got.RawJSON())
	}
	tc := newClient(srv.URL, option.WithAuthToken(sessionsToken(t, second.Secret)))
	hb, err := tc.Beta.Environments.Work.Heartbeat(ctx, second.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: env.ID, ExpectedLastHeartbeat: param.NewOpt("NO_HEARTBEAT"),
	})
	if err != nil || hb.State != anthropic.BetaSelfHostedWorkHeartbeatResponseStateActive {
		t.Fatalf("B's heartbeat: %v", err)
	}
}

// TestE2EWorkHealthcheck: a new self_hosted environment queues a healthcheck item; the
// SDK's EnvironmentWorker claims it, skips it as a non-session item and stops it, and the
// queue's stats show it answered.
func TestE2EWorkHealthcheck(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c, ctx := srv.Client, testContext(t)
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name:   "healthcheck",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var key string
	if k, ok := env.JSON.ExtraFields["environment_key"]; ok {
		key = strings.Trim(k.Raw(), `"`)
	}
	if key == "" {
		t.Fatalf("no environment_key in %s", env.RawJSON())
	}
	stats, err := c.Beta.Environments.Work.Stats(ctx, env.ID, anthropic.BetaEnvironmentWorkStatsParams{})
	if err != nil || stats.Depth != 1 {
		t.Fatalf("stats of a new environment: %v %s", err, stats.RawJSON())
	}

	msgs := make(chan string, 256)
	w := environments.NewEnvironmentWorker(newClient(srv.URL), environments.EnvironmentWorkerOptions{
		EnvironmentID: env.ID, EnvironmentKey: key, WorkerID: "hc-worker", Workdir: t.TempDir(),
		Logger: slog.New(logWatch{msgs}),
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	waitLog(t, ctx, msgs, "skipping non-session work item")
	waitLog(t, ctx, msgs, "idle; polling for work") // after the item's force-stop
	stop()
	if err := <-done; err != nil {
		t.Errorf("worker: %v", err)
	}

	page, err := c.Beta.Environments.Work.List(ctx, env.ID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("work list: %v", err)
	}
	hc := page.Data[0]
	if hc.Data.Type != "healthcheck" || hc.Data.ID != env.ID || hc.State != anthropic.BetaSelfHostedWorkStateStopped || hc.AcknowledgedAt == "" {
		t.Fatalf("healthcheck item %s", hc.RawJSON())
	}
	stats, err = c.Beta.Environments.Work.Stats(ctx, env.ID, anthropic.BetaEnvironmentWorkStatsParams{})
	if err != nil || stats.Depth != 0 || stats.Pending != 0 || stats.WorkersPolling != 1 {
		t.Fatalf("stats after the worker answered: %v %s", err, stats.RawJSON())
	}
}
