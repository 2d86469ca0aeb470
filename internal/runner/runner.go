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
	"sync"
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

	// Egress, when set, routes sandboxes' traffic through the egress proxy (see Egress).
	Egress Egress
	// Secrets opens vault credentials: a session whose vaults hold an ANTHROPIC_API_KEY
	// (or ANTHROPIC_AUTH_TOKEN) environment_variable credential sends its model requests
	// with it instead of the server's credential (see modelCredential). Without Secrets
	// such a session fails to start its sandbox rather than silently using the server's.
	Secrets Secrets
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
	wg      sync.WaitGroup

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
	return &Runner{
		cfg: cfg, store: cfg.Store, hub: cfg.Hub, log: cfg.Logger, now: cfg.Clock, newID: cfg.NewID,
		sessions:  make(map[string]*session),
		engines:   make(map[string]engine.Engine),
		providers: make(map[string]provider.Provider),
	}
}

// Start makes the runner accept work under ctx, the server's lifecycle context, and
// recovers sessions a previous process left running (see recover.go).
func (r *Runner) Start(ctx context.Context) error {
	r.life.Lock()
	if r.started {
		r.life.Unlock()
		return errors.New("runner: already started")
	}
	r.started = true
	r.ctx, r.stop = context.WithCancel(ctx)
	r.life.Unlock()

	r.life.RLock()
	defer r.life.RUnlock()
	return r.recoverAll(r.ctx)
}

// Close stops every session goroutine and running turn, waits for them, and stops (but
// does not destroy) sandboxes. Sessions with a turn in progress stay running in the store
// and are recovered by the next Start.
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
	for _, st := range r.sessions {
		st.mu.Lock()
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
func receiptProcessed(typ string) bool { return typ != hangar.EventUserMessage }

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
	if r.sessions[st.id] == st && !st.active && st.sandbox == nil && len(st.queue) == 0 {
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

	now := r.now()
	evs := make([]hangar.Event, len(events))
	var answers []answer
	startsTurn, queued := false, st.turnActive || len(st.queue) > 0
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
		case hangar.EventUserCustomToolResult, hangar.EventUserToolConfirmation:
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
			p, ok := st.pending[a.storedID]
			if !ok || p.answerType != a.event.Type || seen[a.storedID] {
				return hangar.Errorf(hangar.KindInvalidRequest, "%s: %s is not a pending %s of this session", a.field, a.storedID, answerOf[a.event.Type])
			}
			seen[a.storedID] = true
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

	for _, ev := range stored {
		switch ev.Type {
		case hangar.EventUserMessage:
			st.queue = append(st.queue, ev)
		case hangar.EventUserInterrupt:
			if st.turnActive {
				st.interrupt = true
			}
		}
	}
	for _, a := range answers {
		a.pending = st.pending[a.storedID]
		st.removePending(a.storedID)
		st.answers = append(st.answers, a)
	}
	st.notify()
	if len(st.queue) > 0 && !st.active {
		r.startLoop(st)
	}
	return stored, nil
}

// answerOf names the event an answer type answers, for error messages.
var answerOf = map[string]string{
	hangar.EventUserCustomToolResult: hangar.EventAgentCustomToolUse,
	hangar.EventUserToolConfirmation: hangar.EventAgentToolUse,
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
	if _, err := r.store.GetSession(ctx, sessionID); err != nil {
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
	now := r.now()
	mutated := false
	for i := range evs {
		evs[i].SessionID = st.id
	}
	stored, _, err = r.store.AppendEvents(ctx, hangar.AppendRequest{
		SessionID:      st.id,
		Events:         evs,
		IdempotencyKey: idempotencyKey,
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

// providerFor returns the (cached) provider named name, or the default for "".
func (r *Runner) providerFor(name string) (provider.Provider, error) {
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
		return p, nil
	}
	f, ok := r.cfg.Providers.Get(name)
	if !ok {
		return nil, &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("sandbox provider %q is not available on this server", name)}
	}
	p, err := f(r.cfg.ProviderConfig[name], provider.Deps{Logger: r.log.With("provider", name), Clock: r.now, DataDir: r.cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("create provider %s: %w", name, err)
	}
	r.providers[name] = p
	return p, nil
}
