package runner

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Sessions on a self_hosted environment (docs/engines.md, "native"): the agent loop stays
// on the server and the agent toolset's calls run in the customer's worker, which has the
// files and the tools; there is no sandbox here to run a CLI in. So such sessions run the
// native engine, with no sandbox and engine.Spec.Delegate set, whatever the agent's engine
// field names: a CLI engine would have nowhere to run. The scripted engine is the one
// exception: it runs no tools and no CLI, and tests drive self_hosted sessions with it.

// sessionEngine returns the engine that runs sess's turns and whether its toolset calls
// are delegated to a self_hosted worker.
func (r *Runner) sessionEngine(ctx context.Context, sess *hangar.Session) (engine.Engine, bool, error) {
	name := sess.Agent.Engine
	delegate := false
	if name != hangar.EngineScripted {
		// A session whose environment is gone keeps its agent's engine (its sandbox, if
		// it still needs one, fails to be created with the same not_found_error).
		env, err := r.store.GetEnvironment(ctx, sess.EnvironmentID)
		switch {
		case hangar.IsKind(err, hangar.KindNotFound):
		case err != nil:
			return nil, false, err
		case env.Config.Type == "self_hosted":
			name, delegate = hangar.EngineNative, true
		}
	}
	eng, err := r.engineFor(name)
	return eng, delegate, err
}

// hostModelSpec fills in the session's own model credential for engines that call the
// model from the server (engine.Capabilities.HostModel), as the egress proxy would for a
// CLI: the first of its vaults with an ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN.
func (r *Runner) hostModelSpec(ctx context.Context, sess *hangar.Session, eng engine.Engine, spec *engine.Spec) error {
	if !eng.Capabilities().HostModel || len(sess.VaultIDs) == 0 {
		return nil
	}
	opts, err := r.modelCredential(ctx, sess)
	if err != nil {
		return &engine.Error{Type: "unknown_error", Message: "the session's model credential could not be read from its vaults", Err: err}
	}
	spec.ModelKey, spec.ModelAuthToken = opts.APIKey, opts.AuthToken
	return nil
}

// A delegated call that never gets a worker. The watchdog is paused while a call waits on
// its result, since a worker may legitimately run a long command; but a session whose work
// item nobody claims would then stay running forever. So while a delegated call waits, the
// run checks the session's work item (every min(timeout, 30s)): when no worker has held
// it — no live lease, no claim or heartbeat — for Config.SelfHostedTimeout since the wait
// began, the waiting calls are answered to the model as errors (and any later delegated
// call of the run at once), and the turn fails like a run out of retries: session.error
// (unknown_error, retry_status exhausted: the server does not retry, and the session is
// not terminated — a worker may come later) and session.status_idle retries_exhausted.
// The work item stays queued for the next turn.

// DefaultSelfHostedTimeout is the default Config.SelfHostedTimeout.
const DefaultSelfHostedTimeout = 10 * time.Minute

// maxWorkerCheck bounds the interval of the worker checks.
const maxWorkerCheck = 30 * time.Second

// workerWait watches one run's waits on a self-hosted worker. It is owned by the run's
// goroutine.
type workerWait struct {
	r         *Runner
	ctx       context.Context
	sessionID string
	on        bool             // the session is self_hosted and the timeout is enabled
	c         <-chan time.Time // the next check; nil while nothing waits on a worker
	since     time.Time        // when the current wait began
}

func (r *Runner) newWorkerWait(ctx context.Context, sess *hangar.Session) *workerWait {
	w := &workerWait{r: r, ctx: ctx, sessionID: sess.ID}
	if r.cfg.SelfHostedTimeout > 0 {
		_, w.on, _ = r.sessionEngine(ctx, sess)
	}
	return w
}

// awaitingWorker reports whether a delegated call of the coordinator's run waits on a
// worker's user.tool_result. The caller must not hold st.mu.
func (st *session) awaitingWorker() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.workerCalls()) > 0
}

// workerCalls returns the stored IDs of the calls awaiting a worker's result, sorted. The
// caller holds st.mu.
func (st *session) workerCalls() []string {
	var ids []string
	for id, p := range st.pending {
		if p.answerType == hangar.EventUserToolResult && p.thread == nil && !slices.Contains(st.order, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// arm updates the checks after the run's state changed: they run while a delegated call
// waits on the worker. Once the worker was found missing, a new delegated call is
// answered with the error at once.
func (w *workerWait) arm(t *turn, run engine.Run, res *runResult) {
	switch {
	case !w.on || res.hung || res.interrupted:
		w.c, w.since = nil, time.Time{}
	case res.noWorker:
		w.fail(t, run)
	case !t.st.awaitingWorker():
		w.c, w.since = nil, time.Time{}
	default:
		if w.since.IsZero() {
			w.since = w.r.now()
		}
		if w.c == nil {
			w.c = w.r.cfg.SelfHostedAfter(min(w.r.cfg.SelfHostedTimeout, maxWorkerCheck))
		}
	}
}

// check looks at the session's work item when the check fires.
func (w *workerWait) check(t *turn, run engine.Run, res *runResult, log *slog.Logger) {
	w.c = nil
	if !t.st.awaitingWorker() {
		w.since = time.Time{}
		return
	}
	gone, err := w.r.workerGone(w.ctx, w.sessionID, w.since)
	if err != nil {
		log.Warn("check the session's work item", "err", err)
	}
	if gone {
		log.Warn("no self-hosted worker served the session's tool call in time; failing the turn", "timeout", w.r.cfg.SelfHostedTimeout)
		res.noWorker = true
	}
	w.arm(t, run, res)
}

// fail answers every call waiting on a worker with the no-worker error.
func (w *workerWait) fail(t *turn, run engine.Run) {
	w.c = nil
	st := t.st
	msg := w.r.noWorkerError().Message
	st.mu.Lock()
	var answers []answer
	for _, id := range st.workerCalls() {
		ev := w.r.newEvent(hangar.EventUserToolResult, map[string]any{
			"tool_use_id": id, "content": engine.TextContent(msg), "is_error": true,
		})
		answers = append(answers, st.take(answer{event: ev, field: "tool_use_id", storedID: id}))
	}
	st.mu.Unlock()
	for _, a := range answers {
		t.answer(w.ctx, run, a)
	}
}

// workerGone reports whether no worker has held sessionID's work item for the timeout:
// none holds a live lease now, and the latest of since, its claim and its heartbeats is
// at least the timeout ago.
func (r *Runner) workerGone(ctx context.Context, sessionID string, since time.Time) (bool, error) {
	now, last := r.now(), since
	item, err := r.store.SessionWork(ctx, sessionID)
	switch {
	case hangar.IsKind(err, hangar.KindNotFound):
	case err != nil:
		return false, err
	default:
		held := item.State == hangar.WorkStarting || item.State == hangar.WorkActive
		if held && item.LeaseExpiresAt != nil && now.Before(*item.LeaseExpiresAt) {
			return false, nil
		}
		for _, at := range []*time.Time{item.ClaimedAt, item.AcknowledgedAt, item.LatestHeartbeatAt, item.LeaseExpiresAt} {
			if at != nil && at.After(last) {
				last = *at
			}
		}
	}
	return now.Sub(last) >= r.cfg.SelfHostedTimeout, nil
}

// noWorkerError is the error of a turn whose delegated call no worker served.
func (r *Runner) noWorkerError() *engine.Error {
	return &engine.Error{Type: "unknown_error", Message: "no self-hosted worker served the tool call for " + r.cfg.SelfHostedTimeout.String() +
		"; start a worker for the session's environment (hangar worker, or an SDK EnvironmentWorker) and send a new message"}
}
