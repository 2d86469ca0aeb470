package runner

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// startLoop starts the session's goroutine. The caller holds st.mu and r.life for reading
// (so Close cannot be waiting yet).
func (r *Runner) startLoop(st *session) {
	ctx, cancel := context.WithCancel(r.ctx)
	st.active, st.done, st.cancel = true, make(chan struct{}), cancel
	r.wg.Add(1)
	r.loops.Add(1)
	if r.cfg.Events != nil {
		// Seeded with the queue: those messages may still come back live.
		st.handled = map[string]struct{}{}
		for _, q := range st.queue {
			st.handled[q.ID] = struct{}{}
		}
		events, unsubscribe := r.cfg.Events.Subscribe(st.id)
		r.wg.Add(1)
		go r.follow(ctx, st, events, unsubscribe)
	}
	go r.loop(ctx, st, st.done)
}

// loop runs the session's queued turns in order while it holds the session's lease, and
// exits, releasing the lease, when the queue is empty or the runner drains (queued
// messages then stay unprocessed in the store for the next owner).
func (r *Runner) loop(ctx context.Context, st *session, done chan struct{}) {
	defer r.wg.Done()
	defer r.loops.Done()
	defer close(done)
	for {
		st.mu.Lock()
		if ctx.Err() != nil || st.deleted || !st.leased || len(st.queue) == 0 || r.draining.Load() {
			released := false
			if ctx.Err() == nil {
				st.queue, st.attempts = nil, 0
				released = st.leased
				r.releaseLocked(ctx, st)
			}
			st.active, st.handled = false, nil
			st.cancel()
			st.mu.Unlock()
			if released && r.cfg.Events != nil {
				r.recheck(st)
			}
			return
		}
		msg, attempts := st.queue[0], st.attempts
		st.queue, st.attempts = st.queue[1:], 0
		st.turnActive, st.interrupt = true, false
		st.mu.Unlock()

		r.turn(ctx, st, msg, attempts)

		st.mu.Lock()
		st.turnActive, st.interrupt = false, false
		st.clearPending()
		st.answers = nil
		st.mu.Unlock()
	}
}

// turn is one user.message turn: status_running, the engine run with its events, tool
// round trips, and the final status_idle. A run the watchdog finds hung is stopped and,
// while retries remain, started again from the same message (see watchdog.go). attempts
// counts the runs the turn already had (before a takeover: see recover.go).
func (r *Runner) turn(ctx context.Context, st *session, msg hangar.Event, attempts int) {
	log := r.log.With("session", st.id, "message", msg.ID)
	t := &turn{r: r, st: st, ids: map[string]string{}, since: r.now(), start: r.now(), end: TurnEnd{Outcome: "stopped"}}
	if r.cfg.Tracer != nil {
		var end func(TurnEnd)
		ctx, end = r.cfg.Tracer.StartTurn(ctx, st.id, msg.ID)
		defer func() { end(t.end) }()
	}

	if attempts == 0 && t.budgetBlocked(ctx, msg) {
		return
	}
	st.mu.Lock()
	resume := st.resume
	st.mu.Unlock()
	for attempt := attempts; ; attempt++ {
		t.end.Attempts = attempt + 1
		sess, err := t.running(ctx, msg, attempt == 0)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("start turn", "err", err)
			}
			return
		}
		res := t.run(ctx, &sess, msg, log)
		if ctx.Err() != nil {
			return
		}
		if !res.hung || res.interrupted {
			r.syncOutputs(ctx, st)
			r.syncMemoryOut(ctx, st.id)
			if t.outcome(ctx, msg, res) { // outcome.go: graded, and continued or ended
				return
			}
			t.finish(ctx, msg, res.err, res.interrupted)
			return
		}
		if attempt >= max(r.cfg.MaxRetries, 0) {
			t.finish(ctx, msg, r.hungError(""), false)
			return
		}
		log.Warn("turn hung; retrying", "attempt", attempt+1)
		if intr, err := t.reschedule(ctx, resume); err != nil || intr {
			if err != nil && ctx.Err() == nil {
				log.Error("reschedule turn", "err", err)
			}
			if intr {
				t.finish(ctx, msg, nil, true)
			}
			return
		}
	}
}

// running announces an attempt of the turn with session.status_running (marking msg
// processed first, on the first attempt) and returns the session as of then.
func (t *turn) running(ctx context.Context, msg hangar.Event, first bool) (hangar.Session, error) {
	r, st := t.r, t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if first && msg.ProcessedAt == nil {
		if err := r.store.MarkProcessed(ctx, st.id, []string{msg.ID}, r.now()); err != nil {
			return hangar.Session{}, err
		}
	}
	var sess hangar.Session
	err := r.appendTurnLocked(ctx, st, []hangar.Event{r.newEvent(hangar.EventStatusRunning, nil)}, func(s *hangar.Session) error {
		s.Status = hangar.StatusRunning
		sess = *s
		return nil
	})
	t.since = r.now()
	return sess, err
}

// runResult is how one engine run of a turn ended.
type runResult struct {
	err         error // from Start or Wait
	interrupted bool  // the client interrupted the run
	hung        bool  // the watchdog stopped the run
	noWorker    bool  // no self-hosted worker served a delegated call in time (selfhosted.go)
}

// run starts one engine run of the turn and follows it to its end: it records the run's
// events, hands it the client's answers, stops it on user.interrupt or when the watchdog
// fires, and returns once its Events channel is closed and Wait has returned, so two runs
// of a session never overlap. When ctx ends it kills the run and returns a zero result.
func (t *turn) run(ctx context.Context, sess *hangar.Session, msg hangar.Event, log *slog.Logger) runResult {
	r, st := t.r, t.st
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	run, err := r.startRun(runCtx, st, sess, msg)
	if err != nil {
		return runResult{err: err}
	}

	var res runResult
	wd := newWatchdog(r.cfg.Watchdog)
	defer wd.stop()
	ww := r.newWorkerWait(ctx, sess) // selfhosted.go
	var grace <-chan time.Time
	stop := func() {
		wd.stop()
		if err := run.Interrupt(ctx); err != nil {
			log.Warn("interrupt run", "err", err)
			cancelRun()
		}
		grace = time.After(r.cfg.InterruptGrace)
	}
	events := run.Events()
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if (res.interrupted || res.hung) && ev.RequiresAction {
				continue // nobody will answer it
			}
			if err := t.record(ctx, ev); err != nil {
				if ctx.Err() == nil {
					log.Error("record engine event", "type", ev.Type, "err", err)
				}
				cancelRun()
			}
			wd.kick(st.awaiting())
			ww.arm(t, run, &res)
		case <-st.signal:
			st.mu.Lock()
			answers, intr := st.answers, st.interrupt
			st.answers, st.interrupt = nil, false
			if intr {
				st.clearPending()
			}
			st.mu.Unlock()
			if intr && !res.interrupted {
				res.interrupted = true
				if !res.hung {
					stop()
				}
			}
			if res.interrupted || res.hung {
				continue
			}
			for _, a := range answers {
				t.answer(ctx, run, a)
			}
			if len(answers) > 0 {
				wd.kick(st.awaiting())
				ww.arm(t, run, &res)
			}
		case <-ww.c:
			ww.check(t, run, &res, log)
		case <-wd.C():
			log.Warn("run produced no output in time; stopping it", "window", r.cfg.Watchdog)
			res.hung = true
			stop()
		case <-grace:
			log.Warn("stopped run did not end in time; cancelling it")
			cancelRun()
			grace = nil
		case <-ctx.Done():
			cancelRun()
			for range events {
			}
			run.Wait()
			return runResult{}
		}
	}
	r.waitThreads(ctx, st) // thread.go: no child thread outlives the coordinator's run
	res.err = run.Wait()
	if res.noWorker && res.err == nil && !res.interrupted {
		res.err = r.noWorkerError()
	}
	return res
}

// startRun acquires the session's sandbox (when the engine needs one) and starts the
// engine.
func (r *Runner) startRun(ctx context.Context, st *session, sess *hangar.Session, msg hangar.Event) (engine.Run, error) {
	eng, delegate, err := r.sessionEngine(ctx, sess) // selfhosted.go
	if err != nil {
		return nil, err
	}
	// A coordinator's engine gets its delegation tools (thread.go).
	if sess, err = r.withDelegation(ctx, st, sess); err != nil {
		return nil, err
	}
	var sb provider.Sandbox
	if !eng.Capabilities().NoSandbox && !delegate {
		if sb, err = r.sandbox(ctx, st, sess, eng); err != nil {
			return nil, err
		}
		if err := r.mountResources(ctx, sess, sb); err != nil {
			return nil, err
		}
		if err := r.installSkills(ctx, sess, sb); err != nil {
			return nil, err
		}
		if err := r.syncMemoryIn(ctx, sess); err != nil {
			return nil, err
		}
	}
	turns, err := r.turnCount(ctx, st, msg)
	if err != nil {
		return nil, err
	}
	var body struct {
		Content json.RawMessage `json:"content"`
	}
	json.Unmarshal(msg.Body, &body)
	st.mu.Lock()
	resume, egress := st.resume, st.egressSpec
	st.mu.Unlock()
	spec := engine.Spec{
		Session: sess, Message: msg, Content: body.Content, Turn: turns, Resume: resume,
		WorkDir: r.cfg.WorkDir, HomeDir: r.cfg.HomeDir, Egress: egress, Delegate: delegate,
	}
	system, err := r.systemSpec(ctx, st, msg, eng, &spec) // system_message.go
	if err != nil {
		return nil, err
	}
	if err := r.hostModelSpec(ctx, sess, eng, &spec); err != nil {
		return nil, err
	}
	if err := r.hostEgress(ctx, st, sess, eng, &spec); err != nil { // host_egress.go
		return nil, err
	}
	run, err := eng.Start(ctx, sb, spec)
	if err == nil {
		r.systemDelivered(ctx, st, system)
	}
	return run, err
}

// mounter is implemented by engines whose CLI lives on the host and must be bound into
// the sandbox (e.g. claudecode: its install directory, read-only).
type mounter interface {
	Mounts() []provider.Mount
}

// sandbox returns the session's sandbox: the one this runner holds, else the one the
// session's runtime state names, reattached (Provider.Recover), else a new one with the
// mounts eng needs. Its handle is stored with the session, so a runner on another
// instance, or after a restart, finds it.
//
// A sandbox is reattached only when the session's egress attachment has no unix socket:
// the socket's path is new in every process, and a reattached sandbox would still point
// at the old one. Such sandboxes are created again instead, which keeps their state when
// the provider keys it by session (local: the session's HOME and workspace under the data
// dir), so the CLI's conversation files survive either way.
func (r *Runner) sandbox(ctx context.Context, st *session, sess *hangar.Session, eng engine.Engine) (provider.Sandbox, error) {
	st.mu.Lock()
	sb := st.sandbox
	st.mu.Unlock()
	if sb != nil {
		return sb, nil
	}
	env, err := r.store.GetEnvironment(ctx, sess.EnvironmentID)
	if err != nil {
		return nil, err
	}
	name, p, err := r.providerFor(env.Config.Provider)
	if err != nil {
		return nil, err
	}
	att, err := r.attachEgress(ctx, sess, env, eng, p.Capabilities())
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	rt := st.runtime
	st.mu.Unlock()
	if rt.Provider == name && len(rt.Sandbox) > 0 && (att == nil || att.Socket == "") && p.Capabilities().Recover {
		if sb, err = p.Recover(ctx, provider.Handle(rt.Sandbox)); err != nil {
			sb = nil
			r.log.Info("sandbox not recovered; creating a new one", "session", sess.ID, "err", err)
		}
	}
	spec := provider.Spec{SessionID: sess.ID, Environment: env.Config, WorkDir: r.cfg.WorkDir, HomeDir: r.cfg.HomeDir}
	if att != nil {
		spec.EgressSocket = att.Socket
	}
	if m, ok := eng.(mounter); ok {
		spec.Mounts = m.Mounts()
	}
	if !p.Capabilities().Remote {
		// A remote provider's sandbox gets session content by copy instead (content.go).
		spec.Mounts = append(spec.Mounts, r.sessionFileMounts(sess.ID)...)
		spec.Mounts = append(spec.Mounts, r.memoryMounts(sess)...)
	}
	if sb == nil {
		if spec.Layer, err = r.layer(ctx, env); err != nil {
			att.close()
			return nil, err
		}
	}
	if sb == nil {
		if sb, err = p.Create(ctx, spec); err != nil {
			att.close()
			return nil, &engine.Error{Type: "unknown_error", Message: "the session's sandbox could not be created", Err: err}
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sandbox, st.egress, st.egressSpec = sb, att, engineEgress(att, p.Capabilities())
	rt = st.runtime
	rt.Provider, rt.Sandbox = name, sb.Handle()
	if err := r.store.SetSessionRuntime(ctx, st.id, rt); err != nil {
		r.log.Warn("store sandbox handle", "session", st.id, "err", err)
	} else {
		st.runtime = rt
	}
	return sb, nil
}

// turnCount returns the number of user.message turns of the session before msg (0-based
// turn number of msg), counting them in the store the first time.
func (r *Runner) turnCount(ctx context.Context, st *session, msg hangar.Event) (int, error) {
	st.mu.Lock()
	n := st.turns
	st.mu.Unlock()
	if n >= 0 {
		return n, nil
	}
	msgs, err := r.userMessages(ctx, st.id)
	if err != nil {
		return 0, err
	}
	n = 0
	for _, m := range msgs {
		if m.Seq < msg.Seq {
			n++
		}
	}
	st.mu.Lock()
	st.turns = n
	st.mu.Unlock()
	return n, nil
}

// userMessages lists every user.message of a session, oldest first.
func (r *Runner) userMessages(ctx context.Context, sessionID string) ([]hangar.Event, error) {
	var out []hangar.Event
	f := hangar.EventFilter{Types: []string{hangar.EventUserMessage}, Page: hangar.Page{Limit: 100}}
	for {
		evs, page, err := r.store.ListEvents(ctx, sessionID, f)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		if page.Next == "" || len(evs) == 0 {
			return out, nil
		}
		c, err := hangar.DecodeCursor(page.Next)
		if err != nil {
			return nil, err
		}
		f.Page.Cursor = &c
	}
}

// turn is the bookkeeping of one turn.
type turn struct {
	r  *Runner
	st *session
	// ids maps engine-local event IDs to stored IDs.
	ids map[string]string
	// since is when the session last went running (for Stats.ActiveSeconds); start is
	// when the turn started (for Metrics).
	since time.Time
	start time.Time
	// end is how the turn ended (for Tracer), set by finish.
	end TurnEnd
	// budget is set once the session's budget stopped the turn (budget.go).
	budget bool
	// previews maps the engine-local IDs of open live previews to the stored IDs their
	// concluding events will carry (deltas.go).
	previews map[string]string
}

// refFields names the body field that carries the stored ID of Event.Ref, by type.
var refFields = map[string]string{
	hangar.EventAgentToolResult: "tool_use_id",
	"agent.mcp_tool_result":     "mcp_tool_use_id",
	hangar.EventModelRequestEnd: "model_request_start_id",
}

// record stores and publishes one engine event; an event requiring action also puts the
// session idle with stop_reason requires_action.
func (t *turn) record(ctx context.Context, ev engine.Event) error {
	st := t.st
	if ev.Type == engine.EventResume {
		st.mu.Lock()
		st.resume = ev.Resume
		st.mu.Unlock()
		return nil
	}
	if ev.Type == engine.EventPreview {
		t.preview(ev) // deltas.go: published, never stored
		return nil
	}
	if handled, err := t.delegate(ctx, ev); handled || err != nil { // thread_run.go
		return err
	}
	out := t.r.newEvent(ev.Type, nil)
	if id := t.previewedID(ev); id != "" {
		out.ID = id // pre-assigned by its live preview (deltas.go)
	}
	body, err := t.body(ev)
	if err != nil {
		return err
	}
	out.Body = body
	if ev.ID != "" {
		t.ids[ev.ID] = out.ID
	}
	evs := []hangar.Event{out}

	st.mu.Lock()
	defer st.mu.Unlock()
	goIdle := false
	if ev.RequiresAction {
		answerType := hangar.EventUserCustomToolResult
		if ev.Type != hangar.EventAgentCustomToolUse {
			answerType = hangar.EventUserToolConfirmation
		}
		st.addPending(out.ID, pending{engineID: ev.ID, answerType: answerType, thenResult: ev.AwaitsResult})
		evs = append(evs, t.r.idleEvent(hangar.StopReason{Type: "requires_action", EventIDs: append([]string(nil), st.order...)}))
		goIdle = true
	} else if ev.AwaitsResult {
		st.awaitResult(out.ID, ev.ID)
	}
	// A model request's usage is followed by a session.usage snapshot (session_usage.go).
	usageAt := -1
	if ev.Usage != nil {
		evs = append(evs, t.r.newEvent(hangar.EventSessionUsage, nil))
		usageAt = len(evs) - 1
	}
	now := t.r.now()
	err = t.r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
		if ev.Usage != nil {
			s.AddUsage(*ev.Usage)
			t.usageBody(s, evs[usageAt:usageAt+1], now)
		}
		if goIdle && s.Status != hangar.StatusIdle {
			s.Status = hangar.StatusIdle
			s.Stats.ActiveSeconds += now.Sub(t.since).Seconds()
		}
		return nil
	})
	if err != nil && (ev.RequiresAction || ev.AwaitsResult) {
		st.removePending(out.ID)
	}
	if err == nil && ev.Usage != nil {
		t.checkBudget(ctx)
	}
	return err
}

// body returns the stored body of an engine event: its Body with the stored ID of Ref
// filled in.
func (t *turn) body(ev engine.Event) (json.RawMessage, error) {
	var raw json.RawMessage
	if ev.Body != nil {
		b, err := json.Marshal(ev.Body)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	field, ok := refFields[ev.Type]
	if ev.Ref == "" || !ok {
		return raw, nil
	}
	m := map[string]json.RawMessage{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
	}
	id, _ := json.Marshal(t.ids[ev.Ref])
	m[field] = id
	return json.Marshal(m)
}

// answer hands a client answer to the run, then reports the new status: running when
// nothing else is pending, else idle with the remaining event IDs.
func (t *turn) answer(ctx context.Context, run engine.Run, a answer) {
	if err := run.Send(ctx, a.input()); err != nil {
		t.r.log.Warn("send answer to run", "session", t.st.id, "event", a.event.ID, "err", err)
	}
	if a.event.Type == hangar.EventUserToolResult || a.delegation {
		return // the session stayed running while the worker or the child thread ran the call
	}
	st := t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var ev hangar.Event
	status := hangar.StatusRunning
	if len(st.order) == 0 {
		ev = t.r.newEvent(hangar.EventStatusRunning, nil)
		t.since = t.r.now()
	} else {
		ev = t.r.idleEvent(hangar.StopReason{Type: "requires_action", EventIDs: append([]string(nil), st.order...)})
		status = hangar.StatusIdle
	}
	if err := t.r.appendTurnLocked(ctx, st, []hangar.Event{ev}, func(s *hangar.Session) error {
		s.Status = status
		return nil
	}); err != nil && ctx.Err() == nil {
		t.r.log.Error("append status", "session", st.id, "err", err)
	}
}

// finish ends a turn with status_idle end_turn, or, when the run failed, with
// session.error and status_idle retries_exhausted, flushing the queued messages (marked
// processed, never run) as CMA does when retries are exhausted.
func (t *turn) finish(ctx context.Context, msg hangar.Event, runErr error, interrupted bool) {
	r, st := t.r, t.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var processed []string
	evs := []hangar.Event{r.idleEvent(hangar.StopReason{Type: "end_turn"})}
	if runErr != nil && !interrupted {
		typ, text := "unknown_error", "the agent engine failed"
		var ee *engine.Error
		if errors.As(runErr, &ee) {
			typ, text = ee.Type, ee.Message
		}
		r.log.Warn("turn failed", "session", st.id, "message", msg.ID, "err", runErr)
		evs = []hangar.Event{r.errorEvent(typ, text), r.idleEvent(hangar.StopReason{Type: "retries_exhausted"})}
		for _, q := range st.queue {
			processed = append(processed, q.ID)
		}
		st.queue = nil
	}
	evs = t.budgetIdle(evs)
	evs = r.primaryIdle(ctx, st, evs) // thread.go
	now := r.now()
	if len(processed) > 0 {
		if err := r.store.MarkProcessed(ctx, st.id, processed, now); err != nil {
			r.log.Error("mark processed", "session", st.id, "err", err)
		}
	}
	if st.turns >= 0 {
		st.turns += 1 + len(processed)
	}
	// The next turn resumes the CLI conversation from where this one left it, on any
	// instance: store the token before the turn ends, so a turn that is retried after a
	// crash resumes from the token its first run started with.
	if st.resume != st.runtime.Resume {
		rt := st.runtime
		rt.Resume = st.resume
		if err := r.store.SetSessionRuntime(ctx, st.id, rt); err != nil {
			r.log.Error("store resume token", "session", st.id, "err", err)
		} else {
			st.runtime = rt
		}
	}
	if err := r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
		if s.Status == hangar.StatusRunning {
			s.Stats.ActiveSeconds += now.Sub(t.since).Seconds()
		}
		s.Status = hangar.StatusIdle
		return nil
	}); err != nil && ctx.Err() == nil {
		r.log.Error("end turn", "session", st.id, "err", err)
	}
	outcome := "end_turn"
	switch {
	case interrupted:
		outcome = "interrupted"
	case runErr != nil:
		outcome = "error"
	}
	t.end.Outcome, t.end.Err = outcome, runErr
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.TurnEnded(outcome, now.Sub(t.start))
	}
}
