// Package runner owns the lifecycle of sessions: it appends client events, runs turns on
// agent engines inside sandboxes, translates what engines emit into stored and published
// CMA events, and drives each session's status machine (idle ↔ running, requires_action,
// interrupts, errors). One goroutine runs per active session, under the lifecycle context
// given to Start; request contexts never outlive their request.
//
// Every event goes through one path, appendLocked: store first, then publish, under the
// session's lock, so live subscribers see events in Seq order and a reconnecting client
// that replays from the store never misses one.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Publisher delivers live events (internal/pubsub.Hub).
type Publisher interface {
	Publish(ev hangar.Event)
}

// Config holds the runner's dependencies.
type Config struct {
	Store     hangar.Store
	Hub       Publisher
	Engines   *engine.Registry
	Providers *provider.Registry
	// EngineConfig and ProviderConfig hold the JSON config passed to each factory, by name.
	EngineConfig   map[string]json.RawMessage
	ProviderConfig map[string]json.RawMessage
	// DataDir is where providers may keep state (provider.Deps.DataDir).
	DataDir string
	// DefaultProvider is used for environments that name none. Empty means the only
	// registered provider, when there is exactly one.
	DefaultProvider string
	// WorkDir and HomeDir are the agent's directories inside sandboxes (defaults
	// /workspace and /home/agent).
	WorkDir string
	HomeDir string
	// InterruptGrace is how long an interrupted run may take to end before its context is
	// cancelled (default 10s).
	InterruptGrace time.Duration
	Logger         *slog.Logger
	Clock          hangar.Clock
	NewID          hangar.IDGen

	// Watchdog is how long a run may go without emitting an event, while it is not waiting
	// on the client, before it is treated as hung and stopped (see watchdog.go). 0 means
	// DefaultWatchdog; negative disables the watchdog.
	Watchdog time.Duration
	// MaxRetries is how many times a hung turn is started again before the turn fails with
	// retries_exhausted. 0 means DefaultMaxRetries; negative means none.
	MaxRetries int
	// SelfHostedTimeout is how long a self_hosted session's delegated tool call may wait
	// while its work item has no live claim or heartbeat before the turn fails (see
	// selfhosted.go). 0 means DefaultSelfHostedTimeout; negative disables it.
	SelfHostedTimeout time.Duration
	// SelfHostedAfter returns the channel of the next worker check (default time.After);
	// tests drive the checks with it and Clock.
	SelfHostedAfter func(time.Duration) <-chan time.Time

	// Egress, when set, routes sandboxes' traffic through the egress proxy (see Egress).
	Egress Egress
	// Secrets opens vault credentials: a session whose vaults hold an ANTHROPIC_API_KEY
	// (or ANTHROPIC_AUTH_TOKEN) environment_variable credential sends its model requests
	// with it instead of the server's credential (see modelCredential). Without Secrets
	// such a session fails to start its sandbox rather than silently using the server's.
	Secrets Secrets

	// Instance names this runner as the owner of session leases (see lease.go); "" means
	// a random ID. Every process must have its own.
	Instance string
	// LeaseTTL is how long a session's lease lasts without a heartbeat: how soon another
	// instance takes over the sessions of one that died. 0 means DefaultLeaseTTL.
	// Heartbeats and takeover scans run every LeaseTTL/3.
	LeaseTTL time.Duration
	// Exclusive declares that no other runner uses the store (one node; cmd/hangar holds
	// a lock on the SQLite database). Start then takes over every session with work at
	// once instead of waiting for the leases of a crashed process to expire.
	Exclusive bool
	// Metrics receives the runner's measurements; nil means none.
	Metrics Metrics
	// Layers, when set, gives sessions their environment's prebuilt packages (see
	// layer.go); without it config.packages are not installed.
	Layers Layers
	// Events, when set, delivers the live events of every session, including those
	// stored by other instances sharing the store (cmd/hangar: the PostgreSQL listener).
	// The runner then follows the sessions it runs (see follow.go), so that client events
	// sent to another instance reach the run: user.interrupt, tool answers, user.message.
	// Without it (one instance), client events reach the run only through Send.
	Events Subscriber
	// Tracer, when set, traces every turn (cmd/hangar: OpenTelemetry); nil means none.
	Tracer Tracer
	// Blobs holds file contents: file resources are read from it, output files written to
	// it (see session_resources.go, outputs.go). Without it neither is done.
	Blobs hangar.BlobStore
	// Grader, when set, evaluates outcomes (user.define_outcome; see outcome.go). Without
	// it an outcome's evaluation ends failed.
	Grader Grader
}

// Tracer traces turns.
type Tracer interface {
	// StartTurn starts the span of a turn of sessionID answering message messageID; the
	// runs of the turn get the returned context. end is called once, when the turn ends.
	StartTurn(ctx context.Context, sessionID, messageID string) (_ context.Context, end func(TurnEnd))
}

// TurnEnd is how a turn ended, for Tracer.
type TurnEnd struct {
	// Outcome is end_turn, interrupted or error (as for Metrics), or stopped when the
	// runner stopped the turn (shutdown, lost lease, deleted session) before its end.
	Outcome string
	// Attempts is how many runs the turn had (more than one after retries).
	Attempts int
	// Err is the error of a failed turn.
	Err error
}

// Subscriber delivers a session's live events (internal/pubsub, pgstore.Listener).
type Subscriber interface {
	// Subscribe returns the session's events from now on; the channel is closed when
	// cancel is called or when the subscriber falls too far behind.
	Subscribe(sessionID string) (events <-chan *hangar.Event, cancel func())
}

// Metrics receives the runner's measurements (cmd/hangar exports them to Prometheus).
// Methods are called from many goroutines.
type Metrics interface {
	// TurnEnded reports a finished turn, its outcome (end_turn, interrupted, error) and
	// how long it took from its first session.status_running.
	TurnEnded(outcome string, d time.Duration)
	// Takeover reports a session this runner took over: a lease that expired or was
	// released with work left (a queued message or a turn cut mid-way).
	Takeover()
}

// Runner runs sessions. It implements httpapi.Runner.
type Runner struct {
	cfg   Config
	store hangar.Store
	hub   Publisher
	log   *slog.Logger
	now   hangar.Clock
	newID hangar.IDGen

	// life guards started/closed: Send, Delete and recovery hold it for reading so Close
	// never races a goroutine start.
	life    sync.RWMutex
	started bool
	closed  bool
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup // every goroutine
	loops   sync.WaitGroup // session goroutines
	// owner is the lease owner ID (Config.Instance); draining is set by Shutdown, after
	// which no turn starts.
	owner    string
	draining atomic.Bool
	leaseGen atomic.Uint64

	mu        sync.Mutex // guards the maps below; taken before any session.mu
	sessions  map[string]*session
	engines   map[string]engine.Engine
	providers map[string]provider.Provider
}

// New returns a runner; call Start before use.
func New(cfg Config) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = hangar.NewID
	}
	if cfg.Engines == nil {
		cfg.Engines = engine.NewRegistry()
	}
	if cfg.Providers == nil {
		cfg.Providers = provider.NewRegistry()
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = "/workspace"
	}
	if cfg.HomeDir == "" {
		cfg.HomeDir = "/home/agent"
	}
	if cfg.InterruptGrace == 0 {
		cfg.InterruptGrace = 10 * time.Second
	}
	if cfg.Watchdog == 0 {
		cfg.Watchdog = DefaultWatchdog
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.SelfHostedTimeout == 0 {
		cfg.SelfHostedTimeout = DefaultSelfHostedTimeout
	}
	if cfg.SelfHostedAfter == nil {
		cfg.SelfHostedAfter = time.After
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Instance == "" {
		cfg.Instance = cfg.NewID("inst_")
	}
	return &Runner{
		cfg: cfg, store: cfg.Store, hub: cfg.Hub, log: cfg.Logger, now: cfg.Clock, newID: cfg.NewID, owner: cfg.Instance,
		sessions:  make(map[string]*session),
		engines:   make(map[string]engine.Engine),
		providers: make(map[string]provider.Provider),
	}
}

// Start makes the runner accept work under ctx, the server's lifecycle context, takes
// over the sessions a previous process left with work (see lease.go and recover.go), and
// starts the heartbeat that renews this runner's leases and takes over orphaned sessions.
func (r *Runner) Start(ctx context.Context) error {
	r.life.Lock()
	if r.started {
		r.life.Unlock()
		return errors.New("runner: already started")
	}
	r.started = true
	r.ctx, r.stop = context.WithCancel(ctx)
	r.life.Unlock()

	r.log.Info("session runner started", "instance", r.owner, "lease_ttl", r.cfg.LeaseTTL, "exclusive", r.cfg.Exclusive)
	if err := r.takeOver(r.ctx, r.cfg.Exclusive); err != nil {
		return err
	}
	r.wg.Add(1)
	go r.keep(r.ctx)
	return nil
}

// Instance returns the runner's lease owner ID.
func (r *Runner) Instance() string { return r.owner }

// Drain stops the runner from starting turns: session goroutines end after their current
// turn, releasing their leases, and messages stay queued in the store for whichever
// runner takes their session over. Shutdown drains first.
func (r *Runner) Drain() {
	r.life.Lock()
	r.draining.Store(true)
	r.life.Unlock()
}

// Shutdown stops the runner gracefully: no turn starts any more (client events are still
// stored; their messages stay queued in the store for another instance or the next
// start), turns in progress may finish until ctx is done (turns waiting for the client,
// requires_action, are not waited for), and then Close stops the rest.
// A turn stopped that way stays in flight in the store, its lease released, so the
// instance that takes the session over retries it once (session.status_rescheduled).
// It reports whether every turn finished in time.
func (r *Runner) Shutdown(ctx context.Context) bool {
	r.Drain()
	r.life.RLock()
	started := r.started && !r.closed
	r.life.RUnlock()
	finished := true
	if started {
		// No session goroutine starts once draining is set (every start holds r.life),
		// so the count only goes down.
		done := make(chan struct{})
		go func() {
			r.loops.Wait()
			close(done)
		}()
		// A turn waiting for the client (requires_action) cannot finish without it, and
		// its client's stream is closing: stop waiting once only such turns remain.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-tick.C:
				if r.onlyAwaiting() {
					finished = false
					break wait
				}
			case <-ctx.Done():
				finished = false
				r.log.Warn("shutdown grace period over; stopping running turns (they are retried where their sessions are taken over)")
				break wait
			}
		}
	}
	r.Close()
	return finished
}

// onlyAwaiting reports whether every running turn waits for the client.
func (r *Runner) onlyAwaiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.sessions {
		st.mu.Lock()
		working := st.active && len(st.order) == 0
		st.mu.Unlock()
		if working {
			return false
		}
	}
	return true
}

// Close stops every session goroutine and running turn, waits for them, stops (but does
// not destroy) sandboxes and releases this runner's leases. Sessions with a turn in
// progress stay running in the store; whichever runner takes them over next (this
// process's successor, at once when Exclusive) retries the turn.
func (r *Runner) Close() {
	r.life.Lock()
	if r.closed || !r.started {
		r.closed = true
		r.life.Unlock()
		return
	}
	r.closed = true
	r.life.Unlock()
	r.stop()
	r.wg.Wait()

	r.mu.Lock()
	var sandboxes []provider.Sandbox
	var attachments []*EgressAttachment
	var leased []string
	for _, st := range r.sessions {
		st.mu.Lock()
		if st.leased {
			leased = append(leased, st.id)
			st.leased, st.queue = false, nil
		}
		if st.sandbox != nil {
			sandboxes = append(sandboxes, st.sandbox)
		}
		if st.egress != nil {
			attachments = append(attachments, st.egress)
			st.egress = nil
		}
		st.mu.Unlock()
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range leased {
		if err := r.store.ReleaseLease(ctx, id, r.owner); err != nil {
			r.log.Warn("release lease", "session", id, "err", err)
		}
	}
	for _, sb := range sandboxes {
		if err := sb.Stop(ctx); err != nil {
			r.log.Warn("stop sandbox", "err", err)
		}
	}
	for _, att := range attachments {
		att.close()
	}
}

// available returns an error unless the runner is started and not closed. The caller
// holds r.life for reading.
func (r *Runner) available() error {
	if !r.started || r.closed {
		return hangar.Errorf(hangar.KindUnavailable, "the session runner is not running")
	}
	return nil
}

// session returns the state of session id, creating it.
func (r *Runner) session(id string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.sessions[id]
	if st == nil {
		st = newSession(id)
		r.sessions[id] = st
	}
	return st
}

// receiptProcessed reports whether a client event type is always processed on receipt
// (echoed with processed_at set). A user.message is processed when its turn starts.
func receiptProcessed(typ string) bool {
	// A system.message stays unprocessed until a turn hands it to the engine
	// (system_message.go).
	return typ != hangar.EventUserMessage && typ != hangar.EventSystemMessage
}

// Send implements httpapi.Runner. It appends the client's events in one transaction
// (idempotent per key), publishes them, and hands them to the session's goroutine:
// user.message is queued for a turn, tool answers go to the waiting run, user.interrupt
// stops the current turn. It returns a conflict_error for archived or terminated sessions
// and an invalid_request_error for an answer to a tool use that is not pending.
func (r *Runner) Send(ctx context.Context, sessionID string, events []hangar.Event, idempotencyKey string) ([]hangar.Event, error) {
	r.life.RLock()
	defer r.life.RUnlock()
	if err := r.available(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "events: must not be empty")
	}
	st := r.session(sessionID)
	stored, err := r.send(ctx, st, events, idempotencyKey)
	if hangar.IsKind(err, hangar.KindNotFound) {
		r.forget(st) // do not keep state for sessions that do not exist
	}
	return stored, err
}

// forget drops the state of a session that has nothing going on.
func (r *Runner) forget(st *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if r.sessions[st.id] == st && !st.active && !st.leased && st.sandbox == nil && len(st.queue) == 0 {
		delete(r.sessions, st.id)
	}
}

func (r *Runner) send(ctx context.Context, st *session, events []hangar.Event, idempotencyKey string) ([]hangar.Event, error) {
	sessionID := st.id
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.deleted {
		return nil, hangar.NotFound("session", sessionID)
	}
	// Run the session here unless another runner holds its lease (it then finds the
	// queued messages in the store, and with Config.Events gets interrupts and answers
	// live: see follow) or this one is shutting down.
	heldElsewhere := false
	if !st.leased && !r.draining.Load() && needsRunner(events) {
		ok, err := r.acquireLocked(ctx, st, false)
		if err != nil {
			return nil, err
		}
		heldElsewhere = !ok
		// Work the takeover found runs even if these events are refused; a lease taken
		// for events that leave nothing to run is given back.
		defer func() {
			switch {
			case !st.leased || st.active:
			case len(st.queue) > 0:
				r.startLoop(st)
			default:
				r.releaseLocked(ctx, st)
			}
		}()
	}
	// While draining, interrupts and answers still reach a running turn, but no turn
	// starts: messages stay queued in the store for the next owner.
	local, draining := st.leased, r.draining.Load()
	// Answers to a run on another instance are checked there: it takes those that answer
	// a pending tool use of its run (see follow).
	remoteAnswers := heldElsewhere && r.cfg.Events != nil

	now := r.now()
	evs := make([]hangar.Event, len(events))
	var answers []answer
	startsTurn, queued := false, !local || draining || st.turnActive || len(st.queue) > 0
	for i, ev := range events {
		ev.SessionID = sessionID
		ev.ProcessedAt = nil
		if receiptProcessed(ev.Type) {
			ev.ProcessedAt = &now
		}
		switch ev.Type {
		case hangar.EventUserMessage:
			// A message that starts a turn at once is processed on receipt; one queued
			// behind earlier input keeps processed_at null until its turn starts.
			if !queued {
				ev.ProcessedAt = &now
				startsTurn, queued = true, true
			}
		case hangar.EventUserDefineOutcome:
			// Starts work on its own (outcome.go); processed on receipt either way.
			if !queued {
				startsTurn, queued = true, true
			}
		case hangar.EventUserCustomToolResult, hangar.EventUserToolConfirmation, hangar.EventUserToolResult:
			a, err := parseAnswer(ev)
			if err != nil {
				return nil, err
			}
			answers = append(answers, a)
		}
		evs[i] = ev
	}
	mutate := func(s *hangar.Session) error {
		if s.ArchivedAt != nil {
			return hangar.Errorf(hangar.KindConflict, "session %s is archived; create a new session", s.ID)
		}
		if s.Status == hangar.StatusTerminated {
			return hangar.Errorf(hangar.KindConflict, "session %s is terminated; create a new session", s.ID)
		}
		seen := map[string]bool{}
		for _, a := range answers {
			if remoteAnswers {
				break
			}
			p, ok := st.pending[a.storedID]
			if !ok || p.answerType != a.event.Type || seen[a.storedID] {
				return hangar.Errorf(hangar.KindInvalidRequest, "%s: %s is not a pending %s of this session", a.field, a.storedID, answerOf[a.event.Type])
			}
			seen[a.storedID] = true
		}
		if err := defineOutcomes(s, evs); err != nil {
			return err
		}
		if startsTurn {
			s.Status = hangar.StatusRunning
		}
		return nil
	}
	stored, replayed, err := r.appendLocked(ctx, st, evs, idempotencyKey, mutate)
	if err != nil || replayed {
		return stored, err
	}

	if !local {
		// Stored for the runner holding the lease (or the next one): user.messages stay
		// queued with processed_at null. The holder may have released the lease since
		// this runner tried it, before its follow saw the messages: try again (see
		// recheck for the other side).
		if heldElsewhere && hasUserMessage(stored) {
			r.acquireQueued(ctx, st)
		}
		return stored, nil
	}
	for _, ev := range stored {
		switch ev.Type {
		case hangar.EventUserMessage:
			st.queue = append(st.queue, ev)
		case hangar.EventUserDefineOutcome:
			st.queue = append(st.queue, outcomeTurn(ev))
		case hangar.EventUserInterrupt:
			// In a multiagent session, an interrupt naming a child thread stops only it.
			if st.turnActive && !st.interruptThreads(ev) {
				st.interrupt = true
			}
		}
	}
	for _, a := range answers {
		st.dispatch(a) // thread.go: to the coordinator's run or a child thread's
	}
	st.notify()
	if len(st.queue) > 0 && !st.active && !draining {
		r.startLoop(st)
	}
	if st.handled != nil {
		for _, ev := range stored {
			st.handled[ev.ID] = struct{}{}
		}
	}
	return stored, nil
}

// hasUserMessage reports whether events hold a user.message.
func hasUserMessage(events []hangar.Event) bool {
	return slices.ContainsFunc(events, func(ev hangar.Event) bool { return ev.Type == hangar.EventUserMessage })
}

// needsRunner reports whether events ask something of the runner running the session: a
// user.message to run, an interrupt or an answer for its run.
func needsRunner(events []hangar.Event) bool {
	for _, ev := range events {
		switch ev.Type {
		case hangar.EventUserMessage, hangar.EventUserInterrupt, hangar.EventUserCustomToolResult, hangar.EventUserToolConfirmation, hangar.EventUserToolResult, hangar.EventUserDefineOutcome:
			return true
		}
	}
	return false
}

// answerOf names the event an answer type answers, for error messages.
var answerOf = map[string]string{
	hangar.EventUserCustomToolResult: hangar.EventAgentCustomToolUse,
	hangar.EventUserToolConfirmation: hangar.EventAgentToolUse,
	hangar.EventUserToolResult:       hangar.EventAgentToolUse,
}

// Delete implements httpapi.Runner: it stops the session's turn and goroutine, destroys its
// sandbox, deletes it from the store and publishes session.deleted (not stored: the log is
// gone) so open streams end. not_found_error when the session does not exist.
func (r *Runner) Delete(ctx context.Context, sessionID string) error {
	r.life.RLock()
	defer r.life.RUnlock()
	if err := r.available(); err != nil {
		return err
	}
	sess, err := r.store.GetSession(ctx, sessionID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	st := r.sessions[sessionID]
	delete(r.sessions, sessionID)
	r.mu.Unlock()
	if st != nil {
		st.mu.Lock()
		st.deleted = true
		active, done, cancel := st.active, st.done, st.cancel
		st.mu.Unlock()
		if active {
			cancel()
			select {
			case <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		st.mu.Lock()
		sb, att := st.sandbox, st.egress
		st.sandbox, st.egress = nil, nil
		st.mu.Unlock()
		if sb != nil {
			if err := sb.Destroy(ctx); err != nil {
				r.log.Warn("destroy sandbox", "session", sessionID, "err", err)
			}
		}
		att.close()
	}
	if err := r.store.DeleteSession(ctx, sessionID); err != nil {
		return err
	}
	r.forgetEngineState(ctx, sess) // engine_forget.go
	now := r.now()
	r.hub.Publish(hangar.Event{ID: r.newID(hangar.PrefixEvent), SessionID: sessionID, Type: hangar.EventSessionDeleted, ProcessedAt: &now})
	return nil
}

// appendLocked is the one way events enter a session's log: it stores them (running
// mutate and the session bookkeeping in the same transaction), then publishes what was
// stored. The caller holds st.mu, which orders appends and publishes of the session.
//
// With an idempotency key already used, the store returns the events of the first append;
// they are neither published nor dispatched again, and replayed reports it.
func (r *Runner) appendLocked(ctx context.Context, st *session, evs []hangar.Event, idempotencyKey string, mutate func(*hangar.Session) error) (stored []hangar.Event, replayed bool, err error) {
	return r.appendEvents(ctx, st, evs, idempotencyKey, "", mutate)
}

// appendTurnLocked appends the runner's own events of a session it runs: like
// appendLocked, fenced by the session's lease (hangar.AppendRequest.LeaseOwner). When the
// lease turns out to be lost (another instance took the session over), it stops the
// session's goroutine and drops its local work: the new owner continues from the store.
func (r *Runner) appendTurnLocked(ctx context.Context, st *session, evs []hangar.Event, mutate func(*hangar.Session) error) error {
	_, _, err := r.appendEvents(ctx, st, evs, "", r.owner, mutate)
	if hangar.IsKind(err, hangar.KindConflict) && st.leased {
		r.log.Warn("lost the lease of a running session; stopping it here", "session", st.id)
		r.dropLocked(st)
	}
	return err
}

func (r *Runner) appendEvents(ctx context.Context, st *session, evs []hangar.Event, idempotencyKey, lease string, mutate func(*hangar.Session) error) (stored []hangar.Event, replayed bool, err error) {
	now := r.now()
	mutated := false
	for i := range evs {
		evs[i].SessionID = st.id
	}
	stored, _, err = r.store.AppendEvents(ctx, hangar.AppendRequest{
		SessionID:      st.id,
		Events:         evs,
		IdempotencyKey: idempotencyKey,
		LeaseOwner:     lease,
		Mutate: func(s *hangar.Session) error {
			mutated = true
			if mutate != nil {
				if err := mutate(s); err != nil {
					return err
				}
			}
			if d := now.Sub(s.CreatedAt).Seconds(); d > s.Stats.DurationSeconds {
				s.Stats.DurationSeconds = d
			}
			return nil
		},
	})
	if err != nil {
		return nil, false, err
	}
	if idempotencyKey != "" && (!mutated || len(stored) == 0 || stored[0].ID != evs[0].ID) {
		return stored, true, nil
	}
	for _, ev := range stored {
		if ev.SessionID == "" {
			ev.SessionID = st.id
		}
		r.hub.Publish(ev)
	}
	return stored, false, nil
}

// newEvent builds an event emitted by the server, processed now.
func (r *Runner) newEvent(typ string, fields any) hangar.Event {
	ev := hangar.NewEvent(typ, fields)
	ev.ID = r.newID(hangar.PrefixEvent)
	now := r.now()
	ev.ProcessedAt = &now
	return ev
}

func (r *Runner) idleEvent(reason hangar.StopReason) hangar.Event {
	return r.newEvent(hangar.EventStatusIdle, map[string]any{"stop_reason": reason})
}

func (r *Runner) errorEvent(typ, msg string) hangar.Event {
	return r.retryEvent(typ, msg, "exhausted")
}

// retryEvent is a session.error with retry_status retry (retrying, exhausted, terminal).
func (r *Runner) retryEvent(typ, msg, retry string) hangar.Event {
	return r.newEvent(hangar.EventSessionError, map[string]any{"error": hangar.SessionError{
		Type: typ, Message: msg, RetryStatus: hangar.RetryStatus{Type: retry},
	}})
}

// engineFor returns the (cached) engine named name.
func (r *Runner) engineFor(name string) (engine.Engine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.engines[name]; ok {
		return e, nil
	}
	f, ok := r.cfg.Engines.Get(name)
	if !ok {
		return nil, &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("engine %q is not available on this server", name)}
	}
	e, err := f(r.cfg.EngineConfig[name], engine.Deps{Logger: r.log.With("engine", name), Clock: r.now})
	if err != nil {
		return nil, fmt.Errorf("create engine %s: %w", name, err)
	}
	r.engines[name] = e
	return e, nil
}

// providerFor returns the (cached) provider named name, or the default for "", and its
// name.
func (r *Runner) providerFor(name string) (string, provider.Provider, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		name = r.cfg.DefaultProvider
	}
	if name == "" {
		if names := r.cfg.Providers.Names(); len(names) == 1 {
			name = names[0]
		}
	}
	if p, ok := r.providers[name]; ok {
		return name, p, nil
	}
	f, ok := r.cfg.Providers.Get(name)
	if !ok {
		return "", nil, &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("sandbox provider %q is not available on this server", name)}
	}
	p, err := f(r.cfg.ProviderConfig[name], provider.Deps{Logger: r.log.With("provider", name), Clock: r.now, DataDir: r.cfg.DataDir})
	if err != nil {
		return "", nil, fmt.Errorf("create provider %s: %w", name, err)
	}
	r.providers[name] = p
	return name, p, nil
}
