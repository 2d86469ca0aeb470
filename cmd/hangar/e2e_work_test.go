package main

// End-to-end tests of the self-hosted work queue (docs/self-hosted.md) through the official
// SDK: its WorkPoller claims the work item of a session on a self_hosted environment with
// the environment key, and the item's secret carries the sessions token the SDK worker
// uses for the session's calls; its EnvironmentWorker, and `hangar worker`, run a session's
// tool calls for Hangar's native agent loop.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// newSelfHostedEnvironment creates a self_hosted environment and returns it with its key
// (the Hangar extension field environment_key of the create response).
func newSelfHostedEnvironment(t *testing.T, c anthropic.Client, name string) (*anthropic.BetaEnvironment, string) {
	t.Helper()
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{
		Name:   name,
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfSelfHosted: &anthropic.BetaSelfHostedConfigParams{}},
	})
	if err != nil {
		t.Fatalf("create self_hosted environment: %v", err)
	}
	var extra struct {
		EnvironmentKey string `json:"environment_key"`
	}
	if err := json.Unmarshal([]byte(env.RawJSON()), &extra); err != nil || !strings.HasPrefix(extra.EnvironmentKey, hangar.PrefixEnvironmentKey) {
		t.Fatalf("environment_key missing from %s (%v)", env.RawJSON(), err)
	}
	dropHealthcheck(t, c, env.ID)
	return env, extra.EnvironmentKey
}

// dropHealthcheck force-stops the healthcheck item queued with a new environment, so a
// test's pollers and workers start at its sessions' items (TestE2EWorkHealthcheck has a
// worker answer it).
func dropHealthcheck(t *testing.T, c anthropic.Client, envID string) {
	t.Helper()
	ctx := testContext(t)
	page, err := c.Beta.Environments.Work.List(ctx, envID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].Data.Type != "healthcheck" {
		t.Fatalf("work of a new environment: %v, want its healthcheck", err)
	}
	if _, err := c.Beta.Environments.Work.Stop(ctx, page.Data[0].ID, anthropic.BetaEnvironmentWorkStopParams{
		EnvironmentID:                 envID,
		BetaSelfHostedWorkStopRequest: anthropic.BetaSelfHostedWorkStopRequestParam{Force: param.NewOpt(true)},
	}); err != nil {
		t.Fatalf("stop the healthcheck: %v", err)
	}
}

// sessionsToken decodes the sessions token from a work item's secret, as the SDK worker does.
func sessionsToken(t *testing.T, secret string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(secret, "="))
	if err != nil {
		t.Fatalf("secret is not URL-safe base64: %v", err)
	}
	var p struct {
		SessionsToken string `json:"sessions_token"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.SessionsToken == "" {
		t.Fatalf("secret payload %q: %v", raw, err)
	}
	return p.SessionsToken
}

// TestE2EWorkQueueSDKPoller: the SDK's WorkPoller claims and acknowledges the item of a new
// session; the sessions token heartbeats it (412 on a stale value) and reads the session but
// nothing else; closing the poller stops the item, and its token dies.
func TestE2EWorkQueueSDKPoller(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	env, envKey := newSelfHostedEnvironment(t, c, "workers")
	agent := newAgent(t, c, "worker-agent", nil)
	sess := newSession(t, c, agent.ID, env.ID)

	poller := environments.NewWorkPoller(ctx, newClient(srv.URL), environments.WorkPollerOptions{
		EnvironmentID:  env.ID,
		EnvironmentKey: envKey,
		WorkerID:       "e2e-worker",
		Drain:          true,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer poller.Close()
	if !poller.Next() {
		t.Fatalf("poller found no work (err %v)", poller.Err())
	}
	work := poller.Current()
	if work.Data.ID != sess.ID || work.EnvironmentID != env.ID || !strings.HasPrefix(work.ID, hangar.PrefixWork) {
		t.Fatalf("claimed %s", work.RawJSON())
	}
	token := sessionsToken(t, work.Secret)

	got, err := c.Beta.Environments.Work.Get(ctx, work.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: env.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != anthropic.BetaSelfHostedWorkStateStarting || got.AcknowledgedAt == "" || got.Secret != "" {
		t.Fatalf("after the poller's ack: %s", got.RawJSON())
	}
	upd, err := c.Beta.Environments.Work.Update(ctx, work.ID, anthropic.BetaEnvironmentWorkUpdateParams{
		EnvironmentID:                   env.ID,
		BetaSelfHostedWorkUpdateRequest: anthropic.BetaSelfHostedWorkUpdateRequestParam{Metadata: map[string]string{"host": "w1"}},
	})
	if err != nil || upd.Metadata["host"] != "w1" || upd.State != anthropic.BetaSelfHostedWorkStateStarting {
		t.Fatalf("metadata update: %v %s", err, upd.RawJSON())
	}

	// The sessions token: heartbeat (first claim, then a stale precondition), the session.
	tc := newClient(srv.URL, option.WithAuthToken(token))
	hb, err := tc.Beta.Environments.Work.Heartbeat(ctx, work.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: env.ID, ExpectedLastHeartbeat: param.NewOpt(hangar.NoHeartbeat), DesiredTTLSeconds: param.NewOpt(int64(30)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if hb.State != anthropic.BetaSelfHostedWorkHeartbeatResponseStateActive || !hb.LeaseExtended || hb.TTLSeconds != 30 {
		t.Fatalf("heartbeat = %s", hb.RawJSON())
	}
	_, err = tc.Beta.Environments.Work.Heartbeat(ctx, work.ID, anthropic.BetaEnvironmentWorkHeartbeatParams{
		EnvironmentID: env.ID, ExpectedLastHeartbeat: param.NewOpt(hangar.NoHeartbeat),
	})
	if apiErr := wantStatus(t, err, 412, "invalid_request_error"); apiErr.ErrorCode() != anthropic.ErrorCodeBetaHeartbeatPreconditionFailed {
		t.Errorf("412 error code = %q", apiErr.ErrorCode())
	}
	if s, err := tc.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{}); err != nil || s.ID != sess.ID {
		t.Fatalf("get session with the sessions token: %v", err)
	}
	_, err = tc.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{})
	wantStatus(t, err, 403, "permission_error")

	stats, err := c.Beta.Environments.Work.Stats(ctx, env.ID, anthropic.BetaEnvironmentWorkStatsParams{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Depth != 0 || stats.Pending != 0 || stats.WorkersPolling != 1 {
		t.Errorf("stats = %s", stats.RawJSON())
	}

	// Closing the poller stops the item (gracefully: stopping); a forced stop ends it and
	// revokes the token.
	poller.Close()
	got, err = c.Beta.Environments.Work.Get(ctx, work.ID, anthropic.BetaEnvironmentWorkGetParams{EnvironmentID: env.ID})
	if err != nil || got.State != anthropic.BetaSelfHostedWorkStateStopping {
		t.Fatalf("after the poller's stop: %v %s", err, got.RawJSON())
	}
	stopped, err := c.Beta.Environments.Work.Stop(ctx, work.ID, anthropic.BetaEnvironmentWorkStopParams{
		EnvironmentID:                 env.ID,
		BetaSelfHostedWorkStopRequest: anthropic.BetaSelfHostedWorkStopRequestParam{Force: param.NewOpt(true)},
	})
	if err != nil || stopped.State != anthropic.BetaSelfHostedWorkStateStopped {
		t.Fatalf("forced stop: %v", err)
	}
	_, err = tc.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{})
	wantStatus(t, err, 401, "authentication_error")

	// The environment key lists the queue.
	kc := newClient(srv.URL, option.WithAuthToken(envKey))
	page, err := kc.Beta.Environments.Work.List(ctx, env.ID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil || len(page.Data) != 2 || page.Data[0].State != anthropic.BetaSelfHostedWorkStateStopped || page.Data[0].ID != work.ID {
		t.Fatalf("list with the environment key: %v", err)
	}
}

// logWatch is a slog.Handler that hands every record's message to a channel, so a test
// can wait for what the SDK worker reports ("claimed work", "idle; polling for work").
type logWatch struct{ msgs chan string }

func (h logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (h logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.msgs <- r.Message:
	default: // never block the worker; the test only needs the messages it waits for
	}
	return nil
}
func (h logWatch) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logWatch) WithGroup(string) slog.Handler      { return h }

// waitLog reads messages until want arrives.
func waitLog(t *testing.T, ctx context.Context, msgs <-chan string, want string) {
	t.Helper()
	for {
		select {
		case m := <-msgs:
			if m == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the worker never logged %q", want)
		}
	}
}

// workerSession runs one self_hosted session turn whose fake model calls a toolset tool
// (prompt), with a worker already polling env, and checks that the turn ends (end_turn)
// with the tool's result back at the model.
func workerSession(t *testing.T, ctx context.Context, c anthropic.Client, agentID, envID, prompt string) *anthropic.BetaManagedAgentsSession {
	t.Helper()
	sess := newSession(t, c, agentID, envID)
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage(prompt))
	evs := readUntil(t, stream, isIdle)
	if last := evs[len(evs)-1]; last.StopReason.Type != "end_turn" {
		t.Fatalf("turn ended with %s; events %v", last.RawJSON(), eventTypes(evs))
	}
	var uses, results int
	for _, ev := range evs {
		switch ev.Type {
		case "agent.tool_use":
			uses++
		case "user.tool_result":
			results++
		}
	}
	if uses != 1 || results != 1 {
		t.Fatalf("want one agent.tool_use answered by one user.tool_result from the worker, got %v", eventTypes(evs))
	}
	return sess
}

// wantStopped checks that the session's work item ended stopped.
func wantStopped(t *testing.T, ctx context.Context, c anthropic.Client, envID, sessionID string) {
	t.Helper()
	page, err := c.Beta.Environments.Work.List(ctx, envID, anthropic.BetaEnvironmentWorkListParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range page.Data {
		if w.Data.ID == sessionID {
			if w.State != anthropic.BetaSelfHostedWorkStateStopped || w.StartedAt == "" {
				t.Errorf("work item %s", w.RawJSON())
			}
			return
		}
	}
	t.Errorf("no work item for session %s", sessionID)
}

// TestE2EWorkerSelfHosted: a self_hosted session's turn runs its tool calls in a worker —
// the official SDK EnvironmentWorker in process, then `hangar worker` as a subprocess (with
// bash in bubblewrap where bwrap is installed) —
// driven by Hangar's native agent loop and a fake model: the file lands in the worker's
// workdir, the session idles with end_turn, and once the session has been idle for the
// worker's max idle the worker stops the item.
func TestE2EWorkerSelfHosted(t *testing.T) {
	t.Parallel()
	fake := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { t.Errorf("unexpected model request %s %s", r.Method, r.Path) }}
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	srv := startServer(t, func(c *Config) { c.UpstreamURL, c.UpstreamKey = upstream.URL, "sk-upstream" })
	c, ctx := srv.Client, testContext(t)
	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "self-hosted",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("engine", "native"), option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}}))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("sdk worker", func(t *testing.T) {
		env, key := newSelfHostedEnvironment(t, c, "sdk-workers")
		dir := t.TempDir()
		msgs := make(chan string, 256)
		idle := 300 * time.Millisecond
		w := environments.NewEnvironmentWorker(newClient(srv.URL), environments.EnvironmentWorkerOptions{
			EnvironmentID: env.ID, EnvironmentKey: key, WorkerID: "sdk-worker", Workdir: dir, MaxIdle: &idle,
			Logger: slog.New(logWatch{msgs}),
		})
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		defer func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		}()

		sess := workerSession(t, ctx, c, agent.ID, env.ID, `CUSTOM:write {"file_path":"hello.txt","content":"from the sdk worker"}`)
		if got, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(got) != "from the sdk worker" {
			t.Fatalf("workdir hello.txt = %q, %v", got, err)
		}
		waitLog(t, ctx, msgs, "claimed work")
		waitLog(t, ctx, msgs, "idle; polling for work") // after the item's force-stop
		wantStopped(t, ctx, c, env.ID, sess.ID)
	})

	t.Run("hangar worker", func(t *testing.T) {
		env, key := newSelfHostedEnvironment(t, c, "cli-workers")
		dir := t.TempDir()
		args := []string{"worker", "--environment-id", env.ID, "--base-url", srv.URL,
			"--workdir", dir, "--max-idle", "300ms", "--worker-id", "cli-worker"}
		if _, err := exec.LookPath("bwrap"); err == nil {
			args = append(args, "--sandbox", "bwrap") // bash in bubblewrap (worker_sandbox.go)
		}
		cmd := exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), cliExecEnv+"=1", "HANGAR_ENVIRONMENT_KEY="+key)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		msgs := make(chan string, 256)
		var logged strings.Builder
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				logged.WriteString(sc.Text() + "\n")
				if _, rest, ok := strings.Cut(sc.Text(), ` msg="`); ok {
					msg, _, _ := strings.Cut(rest, `"`)
					select {
					case msgs <- msg:
					default:
					}
				}
			}
		}()

		sess := workerSession(t, ctx, c, agent.ID, env.ID, "TOOL:bash echo from-bash > bash.txt && pwd")
		if got, err := os.ReadFile(filepath.Join(dir, "bash.txt")); err != nil || string(got) != "from-bash\n" {
			t.Fatalf("workdir bash.txt = %q, %v", got, err)
		}
		waitLog(t, ctx, msgs, "claimed work")
		waitLog(t, ctx, msgs, "idle; polling for work")
		wantStopped(t, ctx, c, env.ID, sess.ID)

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-scanned
		if err := cmd.Wait(); err != nil {
			t.Errorf("hangar worker exited with %v; stderr:\n%s", err, logged.String())
		}
		if strings.Contains(logged.String(), key) {
			t.Error("the worker logged its environment key")
		}
	})
}
