package runner

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// session is the in-memory state of one session. mu guards every field and serializes the
// session's appends (see appendLocked). Lock order: Runner.mu before session.mu.
type session struct {
	id string

	mu sync.Mutex
	// queue holds stored user.message events waiting for their turn, oldest first.
	queue []hangar.Event
	// answers are client answers to pending tool uses, not yet handed to the run.
	answers []answer
	// interrupt asks the current turn to stop.
	interrupt bool
	// pending maps the stored ID of each event awaiting a client answer to its details;
	// order lists those IDs in emission order (for stop_reason.event_ids).
	pending map[string]pending
	order   []string
	// turnActive is true from a turn's status_running to its final status_idle.
	turnActive bool
	// active is true while the session's goroutine runs; done is closed when it exits and
	// cancel stops it.
	active  bool
	done    chan struct{}
	cancel  context.CancelFunc
	deleted bool
	// signal wakes the goroutine when answers or an interrupt arrive.
	signal chan struct{}

	sandbox provider.Sandbox
	// egress is the session's egress proxy attachment (nil without Config.Egress), made
	// with the sandbox; egressSpec is what engines are told about it.
	egress     *EgressAttachment
	egressSpec engine.Egress
	// turns is the turn number of the next user.message (-1 until counted); resume
	// is the token of the session's last run (engine.EventResume).
	turns  int
	resume string

	// leased is true while this runner holds the session's lease (see lease.go): only
	// then does it run the session's turns, and queue, turnActive and active may be set.
	leased bool
	// leaseGen orders lease acquisitions (Runner.leaseGen when acquired; see renew).
	leaseGen uint64
	// attempts is how many runs the turn of queue[0] already had (a turn cut by a crash
	// and retried after a takeover starts at 1).
	attempts int
	// runtime is the session's stored runtime state, as last read or written.
	runtime hangar.SessionRuntime
	// handled holds the IDs of client events this runner's Send already dispatched, while
	// follow runs (nil otherwise): follow skips them when they come back live.
	handled map[string]struct{}
	// threads is the multiagent state of a coordinator's session (thread.go); nil otherwise.
	threads *threadSet
}

// pending is an emitted event awaiting the client.
type pending struct {
	engineID   string // Event.ID the engine gave it
	answerType string // the client event type that answers it
	// thenResult marks a delegated agent.tool_use awaiting confirmation (engine.Event
	// RequiresAction and AwaitsResult): once allowed, the worker's user.tool_result is
	// awaited for it (see take).
	thenResult bool
	// thread is the child thread whose run awaits the answer; nil for the coordinator's.
	thread *childThread
}

// answer is a client's answer to a pending event.
type answer struct {
	event    hangar.Event
	field    string // custom_tool_use_id or tool_use_id
	storedID string
	pending  pending
	// delegation marks the result of a delegation tool call (thread_run.go): the runner's
	// own answer, which changes no status.
	delegation bool
}

func newSession(id string) *session {
	return &session{id: id, pending: map[string]pending{}, signal: make(chan struct{}, 1), turns: -1}
}

// notify wakes the session goroutine without blocking.
func (st *session) notify() {
	select {
	case st.signal <- struct{}{}:
	default:
	}
}

func (st *session) addPending(storedID string, p pending) {
	st.pending[storedID] = p
	st.order = append(st.order, storedID)
}

func (st *session) removePending(storedID string) {
	delete(st.pending, storedID)
	st.order = slices.DeleteFunc(st.order, func(id string) bool { return id == storedID })
}

// awaitResult records a delegated agent.tool_use whose user.tool_result the worker will
// send. Unlike addPending it does not list the event in order: the session stays running
// while the worker runs the call (order is what stop_reason requires_action lists).
func (st *session) awaitResult(storedID, engineID string) {
	st.pending[storedID] = pending{engineID: engineID, answerType: hangar.EventUserToolResult}
}

// take moves a validated answer from pending to the answers for the run. An allowed
// confirmation of a delegated call leaves the call pending for its user.tool_result.
func (st *session) take(a answer) answer {
	a.pending = st.pending[a.storedID]
	st.removePending(a.storedID)
	if a.pending.thenResult && a.event.Type == hangar.EventUserToolConfirmation && a.input().Allow {
		p := a.pending // the same call, now awaiting its result (not listed in order)
		p.answerType, p.thenResult = hangar.EventUserToolResult, false
		st.pending[a.storedID] = p
	}
	return a
}

func (st *session) clearPending() {
	clear(st.pending)
	st.order = nil
}

// parseAnswer reads the referenced tool use of a user.custom_tool_result or
// user.tool_confirmation.
func parseAnswer(ev hangar.Event) (answer, error) {
	var b struct {
		ToolUseID       string `json:"tool_use_id"`
		CustomToolUseID string `json:"custom_tool_use_id"`
	}
	if err := json.Unmarshal(ev.Body, &b); err != nil && len(ev.Body) > 0 {
		return answer{}, hangar.Errorf(hangar.KindInvalidRequest, "%s: invalid body", ev.Type)
	}
	a := answer{event: ev, field: "tool_use_id", storedID: b.ToolUseID}
	if ev.Type == hangar.EventUserCustomToolResult {
		a.field, a.storedID = "custom_tool_use_id", b.CustomToolUseID
	}
	if a.storedID == "" {
		return answer{}, hangar.Errorf(hangar.KindInvalidRequest, "%s: %s is required", ev.Type, a.field)
	}
	return a, nil
}

// input converts an answer into what the engine's run receives.
func (a answer) input() engine.Input {
	var b struct {
		Result      string          `json:"result"`
		DenyMessage string          `json:"deny_message"`
		Content     json.RawMessage `json:"content"`
		IsError     bool            `json:"is_error"`
	}
	json.Unmarshal(a.event.Body, &b)
	return engine.Input{
		Type: a.event.Type, ToolUseID: a.pending.engineID, Event: a.event,
		Allow: b.Result == "allow", DenyMessage: b.DenyMessage, Content: b.Content, IsError: b.IsError,
	}
}
