package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// delegate handles an event of the coordinator's run that calls a delegation tool, and
// reports whether it did; every other event is recorded as usual by the caller.
func (t *turn) delegate(ctx context.Context, ev engine.Event) (bool, error) {
	if ev.Type != hangar.EventAgentCustomToolUse || !ev.RequiresAction {
		return false, nil
	}
	st := t.st
	st.mu.Lock()
	ts := st.threads
	st.mu.Unlock()
	if ts == nil {
		return false, nil
	}
	var call struct {
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	b, err := json.Marshal(ev.Body)
	if err != nil {
		return false, err
	}
	json.Unmarshal(b, &call)
	idx := -1
	for i, e := range ts.roster {
		if e.tool == call.Name {
			idx = i
		}
	}
	if idx < 0 {
		return false, nil
	}
	var in struct {
		Message string `json:"message"`
	}
	json.Unmarshal(call.Input, &in)
	st.mu.Lock()
	if ts.turn != t { // a child's model requests count toward this turn's budget
		ts.turn, ts.budget = t, false
	}
	st.mu.Unlock()
	return true, t.r.startDelegation(ctx, st, ts, idx, ev.ID, in.Message)
}

// startDelegation records the coordinator's message to a roster agent's thread (creating
// the thread on first use) and starts the thread's run. Problems the coordinator can fix
// (no message, the thread busy, too many threads) become an error result of its tool call.
func (r *Runner) startDelegation(ctx context.Context, st *session, ts *threadSet, idx int, toolUseID, message string) error {
	entry := ts.roster[idx]
	if strings.TrimSpace(message) == "" {
		st.mu.Lock()
		defer st.mu.Unlock()
		r.delegationResultLocked(st, toolUseID, "message: required", true)
		return nil
	}
	sess, err := r.store.GetSession(ctx, st.id)
	if err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	c := ts.children[idx]
	running := 0
	for _, x := range ts.children {
		if x.running {
			running++
		}
	}
	archived := false
	if c != nil {
		if th, err := r.store.GetThread(ctx, st.id, c.id); err == nil && th.ArchivedAt != nil {
			archived = true
		}
	}
	switch {
	case archived:
		r.delegationResultLocked(st, toolUseID, fmt.Sprintf("the thread of agent %q is archived; it takes no more work", entry.agent.Name), true)
		return nil
	case c != nil && c.running:
		r.delegationResultLocked(st, toolUseID, fmt.Sprintf("agent %q is still working on an earlier task; wait for its result", entry.agent.Name), true)
		return nil
	case running >= hangar.MaxThreads:
		r.delegationResultLocked(st, toolUseID, fmt.Sprintf("at most %d threads may run at once", hangar.MaxThreads), true)
		return nil
	}
	var evs []hangar.Event
	if c == nil {
		now := r.now()
		parent := ts.primary
		th := &hangar.Thread{
			ID: r.newID(hangar.PrefixThread), SessionID: st.id, Status: hangar.StatusIdle, Agent: entry.agent,
			ParentThreadID: &parent, Roster: idx, CreatedAt: now, UpdatedAt: now,
		}
		if err := r.store.CreateThread(ctx, th); err != nil {
			return err
		}
		c = &childThread{id: th.ID, roster: idx, agent: entry.agent, signal: make(chan struct{}, 1)}
		ts.children[idx] = c
		evs = append(evs, r.newEvent(hangar.EventThreadCreated, map[string]any{"session_thread_id": c.id, "agent_name": entry.agent.Name}))
	}
	content := engine.TextContent(message)
	evs = append(evs, r.newEvent(hangar.EventThreadMessageSent, map[string]any{
		"to_session_thread_id": c.id, "to_agent_name": entry.agent.Name, "content": content,
	}))
	if err := r.appendTurnLocked(ctx, st, evs, nil); err != nil {
		return err
	}
	c.running, c.interrupt, c.answers = true, false, nil
	if ts.busy == 0 {
		ts.done = make(chan struct{})
	}
	ts.busy++
	r.wg.Add(1)
	go r.runChild(ctx, st, ts, c, sess, toolUseID, message)
	return nil
}

// delegationResultLocked hands the coordinator's run the result of its delegation tool
// call. The caller holds st.mu.
func (r *Runner) delegationResultLocked(st *session, toolUseID, text string, isError bool) {
	if text == "" {
		text = "(no output)"
	}
	body, _ := json.Marshal(map[string]any{"content": engine.TextContent(text), "is_error": isError})
	st.answers = append(st.answers, answer{
		event:      hangar.Event{Type: hangar.EventUserCustomToolResult, SessionID: st.id, Body: body},
		field:      "custom_tool_use_id",
		pending:    pending{engineID: toolUseID, answerType: hangar.EventUserCustomToolResult},
		delegation: true,
	})
	st.notify()
}

// childOutcome is how a child thread's run ended.
type childOutcome struct {
	final       string // text of its last agent.message
	usage       *hangar.Usage
	err         error
	interrupted bool
	started     time.Time
}

// runChild runs one delegation on a child thread and reports its result to the
// coordinator.
func (r *Runner) runChild(ctx context.Context, st *session, ts *threadSet, c *childThread, sess *hangar.Session, toolUseID, message string) {
	defer r.wg.Done()
	out := r.childRun(ctx, st, ts, c, sess, message)

	st.mu.Lock()
	defer st.mu.Unlock()
	defer func() {
		c.running = false
		if ts.busy--; ts.busy == 0 {
			close(ts.done)
		}
	}()
	if ctx.Err() != nil {
		return
	}
	reason := hangar.StopReason{Type: "end_turn"}
	if out.interrupted && ts.budget {
		reason.Type = "budget_reached"
	}
	var evs []hangar.Event
	result, isError := out.final, false
	switch {
	case out.interrupted:
		result, isError = "the agent was interrupted before it finished", true
	case out.err != nil:
		typ, text := "unknown_error", "the agent engine failed"
		var ee *engine.Error
		if errors.As(out.err, &ee) {
			typ, text = ee.Type, ee.Message
		}
		r.log.Warn("thread run failed", "session", st.id, "thread", c.id, "err", out.err)
		reason = hangar.StopReason{Type: "retries_exhausted"}
		evs = append(evs, r.threadEvent(c, r.errorEvent(typ, text), true))
		result, isError = "the agent failed: "+text, true
	default:
		if result == "" {
			result = "(no output)"
		}
		evs = append(evs, r.threadEvent(c, r.newEvent(hangar.EventThreadMessageSent, map[string]any{
			"to_session_thread_id": ts.primary, "content": engine.TextContent(result),
		}), false))
	}
	evs = append(evs, r.threadEvent(c, r.newEvent(hangar.EventThreadStatusIdle, map[string]any{
		"session_thread_id": c.id, "agent_name": c.agent.Name, "stop_reason": reason,
	}), true))
	if !out.interrupted && out.err == nil {
		evs = append(evs, r.newEvent(hangar.EventThreadMessageReceived, map[string]any{
			"from_session_thread_id": c.id, "from_agent_name": c.agent.Name, "content": engine.TextContent(result),
		}))
	}
	c.turns++
	if err := r.appendTurnLocked(ctx, st, evs, nil); err != nil && ctx.Err() == nil {
		r.log.Error("end thread run", "session", st.id, "thread", c.id, "err", err)
	}
	now := r.now()
	resume, turns := c.resume, c.turns
	if _, err := r.store.UpdateThread(ctx, st.id, c.id, func(t *hangar.Thread) error {
		t.Status, t.UpdatedAt, t.Resume, t.Turns = hangar.StatusIdle, now, resume, turns
		if out.usage != nil {
			if t.Usage == nil {
				t.Usage = &hangar.Usage{}
			}
			t.Usage.Add(*out.usage)
		} else if t.Usage == nil {
			t.Usage = &hangar.Usage{}
		}
		if !out.started.IsZero() {
			t.Stats.ActiveSeconds += now.Sub(out.started).Seconds()
		}
		t.Stats.DurationSeconds = now.Sub(t.CreatedAt).Seconds()
		return nil
	}); err != nil {
		r.log.Warn("update thread", "session", st.id, "thread", c.id, "err", err)
	}
	r.delegationResultLocked(st, toolUseID, result, isError)
}

// threadEvent marks ev as an event of child thread c, shown on the primary stream too
// when crossPost.
func (r *Runner) threadEvent(c *childThread, ev hangar.Event, crossPost bool) hangar.Event {
	ev.ThreadID, ev.CrossPosted = c.id, crossPost
	return ev
}

// childRun runs the child thread's engine on message, in the session's sandbox with a
// HOME of its own, recording its events on the thread until the run ends. The child gets
// the primary's watchdog treatment (watchdog.go): a run silent for Config.Watchdog while
// it does not wait on the client is stopped and, while retries remain (Config.MaxRetries),
// started again from the same task with the resume token the delegation started with,
// announced by session.error (retrying) and session.thread_status_rescheduled; once they
// are exhausted the delegation fails, and the coordinator gets an error result.
func (r *Runner) childRun(ctx context.Context, st *session, ts *threadSet, c *childThread, sess *hangar.Session, message string) childOutcome {
	var out childOutcome
	content := engine.TextContent(message)
	recv := r.threadEvent(c, r.newEvent(hangar.EventThreadMessageReceived, map[string]any{
		"from_session_thread_id": ts.primary, "content": content,
	}), false)
	st.mu.Lock()
	err := r.appendTurnLocked(ctx, st, []hangar.Event{
		r.threadEvent(c, r.newEvent(hangar.EventThreadStatusRunning, map[string]any{"session_thread_id": c.id, "agent_name": c.agent.Name}), true),
		recv,
	}, nil)
	resume, turns := c.resume, c.turns
	st.mu.Unlock()
	if err != nil {
		out.err = err
		return out
	}
	out.started = r.now()
	r.setThreadStatus(ctx, st, c, hangar.StatusRunning, out.started)

	eng, err := r.engineFor(c.agent.Engine)
	if err != nil {
		out.err = err
		return out
	}
	child := *sess
	child.Agent = c.agent
	home := path.Join(r.cfg.HomeDir, ".threads", c.id)
	var sb provider.Sandbox
	if !eng.Capabilities().NoSandbox {
		if sb, err = r.sandbox(ctx, st, sess, eng); err != nil {
			out.err = err
			return out
		}
		// The thread's own HOME keeps its CLI's conversation apart from the others'.
		if err := sb.PutFile(ctx, path.Join(home, ".hangar-thread"), []byte(c.id+"\n"), 0o644); err != nil {
			out.err = &engine.Error{Type: "unknown_error", Message: "the thread's home directory could not be created", Err: err}
			return out
		}
		// The child agent's own skills, where its CLI looks for them in its HOME (skills.go).
		if err := r.installSkillsAt(ctx, &child, sb, home); err != nil {
			out.err = err
			return out
		}
	}
	msgBody, _ := json.Marshal(map[string]any{"content": content})
	msg := hangar.Event{ID: recv.ID, SessionID: st.id, Type: hangar.EventUserMessage, ProcessedAt: recv.ProcessedAt, Body: msgBody}
	st.mu.Lock()
	egress := st.egressSpec
	st.mu.Unlock()
	contentJSON, _ := json.Marshal(content)
	spec := engine.Spec{
		Session: &child, Message: msg, Content: contentJSON, Turn: turns, Resume: resume,
		WorkDir: r.cfg.WorkDir, HomeDir: home, Egress: egress,
	}
	// An engine that runs in the server (native) gets the model credential and the
	// egress attachment as the coordinator does (selfhosted.go, host_egress.go).
	if err := r.hostModelSpec(ctx, &child, eng, &spec); err != nil {
		out.err = err
		return out
	}
	if err := r.hostEgress(ctx, st, &child, eng, &spec); err != nil {
		out.err = err
		return out
	}
	for attempt := 0; ; attempt++ {
		hung := r.childAttempt(ctx, st, c, eng, sb, spec, &out)
		if !hung || out.interrupted || ctx.Err() != nil {
			return out
		}
		if attempt >= max(r.cfg.MaxRetries, 0) {
			out.err = r.hungError("")
			return out
		}
		r.log.Warn("thread run hung; retrying", "session", st.id, "thread", c.id, "attempt", attempt+1)
		if intr, err := r.rescheduleChild(ctx, st, c, resume); err != nil || intr {
			out.err, out.interrupted = err, intr
			return out
		}
	}
}

// childAttempt is one engine run of a delegation: it records the run's events, hands it
// the client's answers, stops it on an interrupt or when the watchdog finds it hung, and
// returns once the run has ended (reporting whether the watchdog stopped it).
func (r *Runner) childAttempt(ctx context.Context, st *session, c *childThread, eng engine.Engine, sb provider.Sandbox, spec engine.Spec, out *childOutcome) (hung bool) {
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	run, err := eng.Start(runCtx, sb, spec)
	if err != nil {
		out.err = err
		return false
	}
	ids := map[string]string{}
	wd := newWatchdog(r.cfg.Watchdog)
	defer wd.stop()
	var grace <-chan time.Time
	stop := func() {
		wd.stop()
		if err := run.Interrupt(ctx); err != nil {
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
			if (out.interrupted || hung) && ev.RequiresAction {
				continue // nobody will answer it
			}
			if err := r.recordChild(ctx, st, c, ids, ev, out); err != nil {
				if ctx.Err() == nil {
					r.log.Error("record thread event", "thread", c.id, "type", ev.Type, "err", err)
				}
				cancelRun()
			}
			wd.kick(st.childAwaiting(c))
		case <-c.signal:
			st.mu.Lock()
			answers, intr := c.answers, c.interrupt
			c.answers, c.interrupt = nil, false
			st.mu.Unlock()
			if intr && !out.interrupted {
				out.interrupted = true
				r.settleChild(st, c)
				if !hung {
					stop()
				}
			}
			if out.interrupted || hung {
				continue
			}
			for _, a := range answers {
				r.answerChild(ctx, st, c, run, a)
			}
			if len(answers) > 0 {
				wd.kick(st.childAwaiting(c))
			}
		case <-wd.C():
			r.log.Warn("thread run produced no output in time; stopping it", "session", st.id, "thread", c.id, "window", r.cfg.Watchdog)
			hung = true
			stop()
		case <-grace:
			cancelRun()
			grace = nil
		case <-ctx.Done():
			cancelRun()
			for range events {
			}
			run.Wait()
			out.err = ctx.Err()
			return false
		}
	}
	if err := run.Wait(); err != nil && !out.interrupted && !hung {
		out.err = err
	}
	return hung && !out.interrupted
}

// childAwaiting reports whether child thread c has requests waiting on the client (its
// watchdog is paused meanwhile).
func (st *session) childAwaiting(c *childThread) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.pending {
		if p.thread == c {
			return true
		}
	}
	return false
}

// rescheduleChild reports a hung child run that will be retried (session.error retrying
// and session.thread_status_rescheduled, cross-posted), then announces the new attempt
// (session.thread_status_running); resume is the token the delegation started with. It
// reports whether the thread was interrupted meanwhile, in which case it must end instead.
func (r *Runner) rescheduleChild(ctx context.Context, st *session, c *childThread, resume string) (interrupted bool, err error) {
	st.mu.Lock()
	c.resume = resume
	for id, p := range st.pending {
		if p.thread == c {
			st.removePending(id)
		}
	}
	he := r.hungError("; retrying")
	ident := map[string]any{"session_thread_id": c.id, "agent_name": c.agent.Name}
	err = r.appendTurnLocked(ctx, st, []hangar.Event{
		r.threadEvent(c, r.retryEvent(he.Type, he.Message, "retrying"), true),
		r.threadEvent(c, r.newEvent(hangar.EventThreadStatusRescheduled, ident), true),
	}, nil)
	interrupted, c.interrupt, c.answers = c.interrupt, false, nil
	st.mu.Unlock()
	if err != nil || interrupted {
		return interrupted, err
	}
	r.setThreadStatus(ctx, st, c, hangar.StatusRescheduling, r.now())
	st.mu.Lock()
	err = r.appendTurnLocked(ctx, st, []hangar.Event{r.threadEvent(c, r.newEvent(hangar.EventThreadStatusRunning, ident), true)}, nil)
	st.mu.Unlock()
	if err == nil {
		r.setThreadStatus(ctx, st, c, hangar.StatusRunning, r.now())
	}
	return false, err
}

// setThreadStatus records a child thread's status in the store.
func (r *Runner) setThreadStatus(ctx context.Context, st *session, c *childThread, status string, now time.Time) {
	if _, err := r.store.UpdateThread(ctx, st.id, c.id, func(t *hangar.Thread) error {
		t.Status, t.UpdatedAt = status, now
		return nil
	}); err != nil {
		r.log.Warn("update thread", "session", st.id, "thread", c.id, "err", err)
	}
}

// recordChild stores and publishes one engine event of a child thread. A request for the
// client is cross-posted to the primary stream with session_thread_id, and puts the
// thread (and, with nothing else working, the session) idle with requires_action.
func (r *Runner) recordChild(ctx context.Context, st *session, c *childThread, ids map[string]string, ev engine.Event, out *childOutcome) error {
	if ev.Type == engine.EventResume {
		st.mu.Lock()
		c.resume = ev.Resume
		st.mu.Unlock()
		return nil
	}
	if ev.Type == engine.EventPreview {
		r.childPreview(st, c.id, ids, ev) // deltas.go: published, never stored
		return nil
	}
	rec := r.threadEvent(c, r.newEvent(ev.Type, nil), false)
	if id := childPreviewedID(ids, ev); id != "" {
		rec.ID = id // pre-assigned by its live preview (deltas.go)
	}
	body, err := (&turn{ids: ids}).body(ev)
	if err != nil {
		return err
	}
	rec.Body = body
	if ev.ID != "" {
		ids[ev.ID] = rec.ID
	}
	if ev.Type == hangar.EventAgentMessage {
		var b struct {
			Content json.RawMessage `json:"content"`
		}
		json.Unmarshal(body, &b)
		out.final = engine.Text(b.Content)
	}
	if ev.Usage != nil {
		if out.usage == nil {
			out.usage = &hangar.Usage{}
		}
		out.usage.Add(*ev.Usage)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	evs := []hangar.Event{rec}
	goIdle := false
	if ev.RequiresAction {
		evs[0].CrossPosted = true
		evs[0].Body = withThreadID(body, c.id)
		answerType := hangar.EventUserCustomToolResult
		if ev.Type != hangar.EventAgentCustomToolUse {
			answerType = hangar.EventUserToolConfirmation
		}
		st.addPending(rec.ID, pending{engineID: ev.ID, answerType: answerType, thread: c})
		evs = append(evs,
			r.threadEvent(c, r.newEvent(hangar.EventThreadStatusIdle, map[string]any{
				"session_thread_id": c.id, "agent_name": c.agent.Name,
				"stop_reason": hangar.StopReason{Type: "requires_action", EventIDs: []string{rec.ID}},
			}), true),
			r.idleEvent(hangar.StopReason{Type: "requires_action", EventIDs: append([]string(nil), st.order...)}))
		goIdle = true
	}
	// A child's model request counts toward the session's usage and budget like the
	// coordinator's, priced at the child's model, with a session.usage snapshot after it.
	usageAt := -1
	if ev.Usage != nil {
		evs = append(evs, r.newEvent(hangar.EventSessionUsage, nil))
		usageAt = len(evs) - 1
	}
	now := r.now()
	err = r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
		if ev.Usage != nil {
			if s.CostCents == 0 {
				s.CostCents = hangar.ListCostCents(s.Agent.Model.ID, s.Usage)
			}
			s.Usage.Add(*ev.Usage)
			s.CostCents += hangar.ListCostCents(c.agent.Model.ID, *ev.Usage)
			if t := st.threads.turn; t != nil {
				t.usageBody(s, evs[usageAt:usageAt+1], now)
			} else {
				evs[usageAt].Body = hangar.NewEvent(hangar.EventSessionUsage, hangar.SessionUsageEvent(s, 0)).Body
			}
		}
		if goIdle {
			s.Status = hangar.StatusIdle
		}
		return nil
	})
	if err != nil && ev.RequiresAction {
		st.removePending(rec.ID)
	}
	if err == nil && ev.Usage != nil {
		r.threadBudgetLocked(ctx, st)
	}
	return err
}

// threadBudgetLocked stops the session's work once a child thread's model request reached
// the session's budget (budget.go): the coordinator's turn is interrupted and ends with
// stop_reason budget_reached, and every running child thread is interrupted (its own
// session.thread_status_idle says budget_reached too). The caller holds st.mu.
func (r *Runner) threadBudgetLocked(ctx context.Context, st *session) {
	sess, err := r.store.GetSession(ctx, st.id)
	if err != nil || !sess.Budget.ReachedCost(sess.ListCost()) {
		return
	}
	ts := st.threads
	if !ts.budget {
		r.log.Info("session budget reached by a child thread; stopping the turn", "session", st.id, "max_list_cost", sess.Budget.MaxListCost.Amount)
	}
	ts.budget = true
	if ts.turn != nil {
		ts.turn.budget = true
	}
	if st.turnActive {
		st.interrupt = true
		st.notify()
	}
	for _, c := range ts.children {
		if c.running {
			c.interrupt = true
			c.notify()
		}
	}
}

// withThreadID adds session_thread_id to an event body.
func withThreadID(body json.RawMessage, threadID string) json.RawMessage {
	m := map[string]json.RawMessage{}
	if len(body) > 0 {
		json.Unmarshal(body, &m)
	}
	m["session_thread_id"], _ = json.Marshal(threadID)
	b, _ := json.Marshal(m)
	return b
}

// answerChild hands a client answer to a child thread's run and reports the new status:
// the thread runs again, and so does the session once nothing else awaits the client.
func (r *Runner) answerChild(ctx context.Context, st *session, c *childThread, run engine.Run, a answer) {
	if err := run.Send(ctx, a.input()); err != nil {
		r.log.Warn("send answer to thread run", "session", st.id, "thread", c.id, "err", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	evs := []hangar.Event{r.threadEvent(c, r.newEvent(hangar.EventThreadStatusRunning, map[string]any{"session_thread_id": c.id, "agent_name": c.agent.Name}), true)}
	status := hangar.StatusRunning
	if len(st.order) == 0 {
		evs = append(evs, r.newEvent(hangar.EventStatusRunning, nil))
	} else {
		evs = append(evs, r.idleEvent(hangar.StopReason{Type: "requires_action", EventIDs: append([]string(nil), st.order...)}))
		status = hangar.StatusIdle
	}
	if err := r.appendTurnLocked(ctx, st, evs, func(s *hangar.Session) error {
		s.Status = status
		return nil
	}); err != nil && ctx.Err() == nil {
		r.log.Error("append thread status", "session", st.id, "err", err)
	}
}

// settleChild drops the pending client requests of an interrupted child thread.
func (r *Runner) settleChild(st *session, c *childThread) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, p := range st.pending {
		if p.thread == c {
			st.removePending(id)
		}
	}
}
