package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Multiagent sessions (docs/threads.md). A session whose agent has a coordinator roster
// runs its turns on the primary thread, the coordinator. Its engine is offered one custom
// tool per roster entry (delegationTools); when it calls one, the runner (not the client)
// handles it: it creates or continues the entry's child thread, runs the callee agent's
// engine in the same sandbox with its own HOME and resume token (thread_run.go), and
// returns the child's final agent.message as the tool's result. Child events are stored
// with their thread; the primary stream shows thread status events and the child's
// requests for the client (cross-posted), which the client answers as usual, routed by
// tool use ID.

// threadSet is the multiagent state of a session, guarded by session.mu.
type threadSet struct {
	// primary is the ID of the primary thread; primaryName its agent's name.
	primary     string
	primaryName string
	// roster lists the delegation targets, by roster index.
	roster []rosterEntry
	// children maps roster indexes to their child thread, once created.
	children map[int]*childThread
	// busy counts the delegations in flight (the coordinator waits on them: the watchdog
	// does not count that time).
	busy int
	// done is closed and replaced when busy drops to 0.
	done chan struct{}
	// turn is the coordinator's turn that delegated last; budget is set once a child's
	// model request reached the session's budget (thread_run.go), until that turn ends.
	turn   *turn
	budget bool
}

// rosterEntry is one agent the coordinator may delegate to.
type rosterEntry struct {
	tool  string       // the delegation tool's name
	agent hangar.Agent // snapshot, without roster
}

// childThread is the runtime state of a child thread, guarded by session.mu.
type childThread struct {
	id     string
	roster int
	agent  hangar.Agent
	resume string
	turns  int
	// running is true while a run of the thread is in progress.
	running bool
	// answers and interrupt are the client's input for the run; signal wakes it.
	answers   []answer
	interrupt bool
	signal    chan struct{}
}

func (c *childThread) notify() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// isCoordinator reports whether an agent's multiagent configuration is a coordinator roster.
func isCoordinator(a *hangar.Agent) bool {
	var m struct {
		Type string `json:"type"`
	}
	return len(a.Multiagent) > 0 && json.Unmarshal(a.Multiagent, &m) == nil && m.Type == "coordinator"
}

// threads returns the session's multiagent state, loading it the first time: the roster's
// agents and the threads already stored (a restarted runner continues them), creating the
// primary thread when missing. nil for sessions whose agent is no coordinator.
func (r *Runner) threads(ctx context.Context, st *session, sess *hangar.Session) (*threadSet, error) {
	if !isCoordinator(&sess.Agent) {
		return nil, nil
	}
	st.mu.Lock()
	ts := st.threads
	st.mu.Unlock()
	if ts != nil {
		return ts, nil
	}
	roster, err := r.resolveRoster(ctx, &sess.Agent)
	if err != nil {
		return nil, err
	}
	ts = &threadSet{roster: roster, children: map[int]*childThread{}, done: make(chan struct{})}
	close(ts.done)
	stored, _, err := r.store.ListThreads(ctx, sess.ID, hangar.ThreadFilter{Page: hangar.Page{Limit: hangar.MaxThreads + 1}})
	if err != nil {
		return nil, err
	}
	for _, t := range stored {
		if t.ParentThreadID == nil {
			ts.primary = t.ID
		} else if t.Roster >= 0 && t.Roster < len(roster) && t.Status != hangar.StatusTerminated {
			ts.children[t.Roster] = &childThread{id: t.ID, roster: t.Roster, agent: t.Agent, resume: t.Resume, turns: t.Turns, signal: make(chan struct{}, 1)}
			if t.Status == hangar.StatusRunning {
				// Its run died with a previous runner: nothing runs it now.
				if _, err := r.store.UpdateThread(ctx, sess.ID, t.ID, func(t *hangar.Thread) error {
					t.Status = hangar.StatusIdle
					return nil
				}); err != nil {
					return nil, err
				}
			}
		}
	}
	if ts.primary == "" {
		p, err := r.createPrimaryThread(ctx, sess)
		if err != nil {
			return nil, err
		}
		ts.primary = p.ID
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.threads == nil {
		st.threads = ts
	}
	return st.threads, nil
}

func (r *Runner) createPrimaryThread(ctx context.Context, sess *hangar.Session) (*hangar.Thread, error) {
	t := hangar.NewPrimaryThread(sess)
	if err := r.store.CreateThread(ctx, t); err != nil && !hangar.IsKind(err, hangar.KindConflict) {
		return nil, err
	}
	return t, nil
}

// resolveRoster loads the agents of a coordinator's roster. "self" is the coordinator
// without its roster (one delegation level); advisor entries are not served.
func (r *Runner) resolveRoster(ctx context.Context, coord *hangar.Agent) ([]rosterEntry, error) {
	var m struct {
		Agents []struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Version int    `json:"version"`
		} `json:"agents"`
	}
	if err := json.Unmarshal(coord.Multiagent, &m); err != nil {
		return nil, fmt.Errorf("read multiagent roster: %w", err)
	}
	var out []rosterEntry
	used := map[string]bool{}
	for _, e := range m.Agents {
		var a hangar.Agent
		switch e.Type {
		case "self":
			a = *coord
		case "agent":
			got, err := r.store.GetAgent(ctx, e.ID, e.Version)
			if err != nil {
				return nil, fmt.Errorf("load roster agent %s: %w", e.ID, err)
			}
			a = *got
		default:
			continue
		}
		a.Multiagent = nil
		name := delegationToolName(a.Name)
		for i := 2; used[name]; i++ {
			name = delegationToolName(fmt.Sprintf("%s_%d", a.Name, i))
		}
		used[name] = true
		out = append(out, rosterEntry{tool: name, agent: a})
	}
	return out, nil
}

var nonToolChars = regexp.MustCompile(`[^a-z0-9_]+`)

// delegationToolName is the name of the tool that delegates to an agent: "delegate_to_"
// and the agent's name in lower snake case, within the 64 characters tool names allow.
func delegationToolName(agentName string) string {
	slug := strings.Trim(nonToolChars.ReplaceAllString(strings.ToLower(agentName), "_"), "_")
	if slug == "" {
		slug = "agent"
	}
	name := "delegate_to_" + slug
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// delegationTools returns tools (an agent's resolved tools JSON) with one custom tool per
// roster entry appended.
func delegationTools(tools json.RawMessage, roster []rosterEntry) (json.RawMessage, error) {
	var list []json.RawMessage
	if len(tools) > 0 && string(tools) != "null" {
		if err := json.Unmarshal(tools, &list); err != nil {
			return nil, fmt.Errorf("read agent tools: %w", err)
		}
	}
	for _, e := range roster {
		desc := fmt.Sprintf("Delegate a task to the %q agent, which works in its own thread with its own instructions and tools, in the same workspace. Send it a complete, self-contained task; it keeps its context across calls. Returns the agent's final reply.", e.agent.Name)
		if e.agent.Description != nil && *e.agent.Description != "" {
			desc += " About this agent: " + *e.agent.Description
		}
		b, err := json.Marshal(map[string]any{
			"type": "custom", "name": e.tool, "description": desc,
			"input_schema": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"message": map[string]string{"type": "string", "description": "The task or follow-up message for the agent."},
				},
				"required": []string{"message"},
			},
		})
		if err != nil {
			return nil, err
		}
		list = append(list, b)
	}
	return json.Marshal(list)
}

// withDelegation returns the session the coordinator's engine starts from: for a
// multiagent session, a copy whose agent also has the delegation tools.
func (r *Runner) withDelegation(ctx context.Context, st *session, sess *hangar.Session) (*hangar.Session, error) {
	ts, err := r.threads(ctx, st, sess)
	if err != nil || ts == nil || len(ts.roster) == 0 {
		return sess, err
	}
	tools, err := delegationTools(sess.Agent.Tools, ts.roster)
	if err != nil {
		return nil, err
	}
	// The primary thread runs: clients (the SDK's session tool runner) learn its ID from
	// the first session.thread_status_* event of the log.
	st.mu.Lock()
	err = r.appendTurnLocked(ctx, st, r.primaryStatus(ctx, st, hangar.EventThreadStatusRunning, nil), nil)
	st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	c := *sess
	c.Agent.Tools = tools
	return &c, nil
}

// delegating reports whether a delegation is in flight. The caller holds st.mu.
func (st *session) delegating() bool { return st.threads != nil && st.threads.busy > 0 }

// primaryStatus returns the session.thread_status_* event of the primary thread of a
// multiagent session (none for other sessions) and records the status on the thread.
// The caller holds st.mu.
func (r *Runner) primaryStatus(ctx context.Context, st *session, typ string, reason *hangar.StopReason) []hangar.Event {
	ts := st.threads
	if ts == nil || ts.primary == "" {
		return nil
	}
	fields := map[string]any{"session_thread_id": ts.primary, "agent_name": r.primaryName(st)}
	status := hangar.StatusRunning
	if reason != nil {
		fields["stop_reason"] = reason
		status = hangar.StatusIdle
	}
	now := r.now()
	if _, err := r.store.UpdateThread(ctx, st.id, ts.primary, func(t *hangar.Thread) error {
		if t.Status == hangar.StatusRunning {
			t.Stats.ActiveSeconds += now.Sub(t.UpdatedAt).Seconds()
		}
		t.Status, t.UpdatedAt = status, now
		t.Stats.DurationSeconds = now.Sub(t.CreatedAt).Seconds()
		return nil
	}); err != nil {
		r.log.Warn("update primary thread", "session", st.id, "err", err)
	}
	return []hangar.Event{r.newEvent(typ, fields)}
}

// primaryName is the coordinator's agent name (from the stored primary thread's snapshot,
// cached on first use). The caller holds st.mu.
func (r *Runner) primaryName(st *session) string {
	if st.threads.primaryName == "" {
		if t, err := r.store.GetThread(context.Background(), st.id, st.threads.primary); err == nil {
			st.threads.primaryName = t.Agent.Name
		}
	}
	return st.threads.primaryName
}

// interruptThreads handles a user.interrupt for a multiagent session: without
// session_thread_id (or naming the primary thread) every child thread is interrupted and
// the caller interrupts the coordinator; naming another thread interrupts only that one,
// if it is a running child, and reports true. The caller holds st.mu.
func (st *session) interruptThreads(ev hangar.Event) (childOnly bool) {
	ts := st.threads
	if ts == nil {
		return false
	}
	var b struct {
		SessionThreadID string `json:"session_thread_id"`
	}
	json.Unmarshal(ev.Body, &b)
	if b.SessionThreadID == ts.primary {
		b.SessionThreadID = ""
	}
	for _, c := range ts.children {
		if b.SessionThreadID == "" || b.SessionThreadID == c.id {
			if c.running {
				c.interrupt = true
				c.notify()
			}
		}
	}
	return b.SessionThreadID != ""
}

// waitThreads interrupts the child threads still running once the coordinator's turn is
// over (it no longer waits for their results) and waits for them to end.
func (r *Runner) waitThreads(ctx context.Context, st *session) {
	st.mu.Lock()
	ts := st.threads
	if ts == nil {
		st.mu.Unlock()
		return
	}
	for _, c := range ts.children {
		if c.running {
			c.interrupt = true
			c.notify()
		}
	}
	done := ts.done
	st.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// primaryIdle inserts the primary thread's session.thread_status_idle before the
// session.status_idle that ends a multiagent session's turn in evs. The caller holds st.mu.
func (r *Runner) primaryIdle(ctx context.Context, st *session, evs []hangar.Event) []hangar.Event {
	if st.threads == nil {
		return evs
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != hangar.EventStatusIdle {
			continue
		}
		var b struct {
			StopReason hangar.StopReason `json:"stop_reason"`
		}
		json.Unmarshal(evs[i].Body, &b)
		idle := r.primaryStatus(ctx, st, hangar.EventThreadStatusIdle, &b.StopReason)
		return append(evs[:i:i], append(idle, evs[i:]...)...)
	}
	return evs
}

// dispatch hands a validated client answer to the run awaiting it: the coordinator's (the
// session's answers) or a child thread's, routed by the tool use it answers. The caller
// holds st.mu and notifies the session.
func (st *session) dispatch(a answer) {
	a = st.take(a)
	if c := a.pending.thread; c != nil {
		c.answers = append(c.answers, a)
		c.notify()
		return
	}
	st.answers = append(st.answers, a)
}

// endOrphanThreadsLocked terminates the child threads of a coordinator's session whose
// runs died with the runner that ran them (a crash, a takeover): a claimed session's
// child thread still marked running or rescheduling, while this runner runs none of its
// threads. Such a thread cannot be resumed: the delegation it served was a tool call of
// the coordinator's run, which died too (its turn is retried from its user.message, or
// abandoned; recover.go), so no run awaits its result. It gets a session.error (terminal)
// and a cross-posted session.thread_status_terminated, and its status becomes terminated
// for good; a later delegation to the same roster entry starts a new thread. The caller
// holds st.mu and the lease.
func (r *Runner) endOrphanThreadsLocked(ctx context.Context, st *session, sess *hangar.Session) error {
	if !isCoordinator(&sess.Agent) {
		return nil
	}
	if ts := st.threads; ts != nil {
		for _, c := range ts.children {
			if c.running {
				return nil // this runner still runs them
			}
		}
	}
	stored, _, err := r.store.ListThreads(ctx, sess.ID, hangar.ThreadFilter{
		Statuses: []string{hangar.StatusRunning, hangar.StatusRescheduling}, Page: hangar.Page{Limit: 1000},
	})
	if err != nil {
		return err
	}
	var evs []hangar.Event
	var ended []*hangar.Thread
	for _, t := range stored {
		if t.ParentThreadID == nil {
			continue
		}
		c := &childThread{id: t.ID}
		evs = append(evs,
			r.threadEvent(c, r.retryEvent("unknown_error", "the server running this thread stopped; the thread was terminated", "terminal"), false),
			r.threadEvent(c, r.newEvent(hangar.EventThreadStatusTerminated, map[string]any{"session_thread_id": t.ID, "agent_name": t.Agent.Name}), true))
		ended = append(ended, t)
	}
	if len(evs) == 0 {
		return nil
	}
	if err := r.appendTurnLocked(ctx, st, evs, nil); err != nil {
		return err
	}
	now := r.now()
	for _, t := range ended {
		if _, err := r.store.UpdateThread(ctx, sess.ID, t.ID, func(t *hangar.Thread) error {
			if t.Status == hangar.StatusRunning {
				t.Stats.ActiveSeconds += now.Sub(t.UpdatedAt).Seconds()
			}
			t.Status, t.UpdatedAt = hangar.StatusTerminated, now
			t.Stats.DurationSeconds = now.Sub(t.CreatedAt).Seconds()
			return nil
		}); err != nil {
			return err
		}
		if ts := st.threads; ts != nil {
			for i, c := range ts.children {
				if c.id == t.ID {
					delete(ts.children, i)
				}
			}
		}
	}
	r.log.Info("terminated orphaned child threads", "session", sess.ID, "threads", len(ended))
	return nil
}

// sessionMCPServers resolves the URL MCP servers the session's egress proxy serves: its
// agent's (mcp.go) and, for a coordinator, its roster agents', each with the session's
// vault credential for its URL, so a child thread reaches its own MCP servers through the
// proxy with credentials injected like the coordinator's. The proxy routes by server name:
// a roster agent's server whose name is already taken for another URL is left out.
func (r *Runner) sessionMCPServers(ctx context.Context, sess *hangar.Session) ([]MCPServer, error) {
	out, err := r.mcpServers(ctx, sess)
	if err != nil || !isCoordinator(&sess.Agent) {
		return out, err
	}
	roster, err := r.resolveRoster(ctx, &sess.Agent)
	if err != nil {
		return nil, err
	}
	urls := map[string]string{}
	for _, s := range out {
		urls[s.Name] = s.URL
	}
	for _, e := range roster {
		child := *sess
		child.Agent = e.agent
		list, err := r.mcpServers(ctx, &child)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if u, ok := urls[s.Name]; ok {
				if u != s.URL {
					r.log.Warn("child agent's MCP server name is taken by another URL; not served", "session", sess.ID, "agent", e.agent.ID, "mcp_server", s.Name)
				}
				continue
			}
			urls[s.Name] = s.URL
			out = append(out, s)
		}
	}
	return out, nil
}
