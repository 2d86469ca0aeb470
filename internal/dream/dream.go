// Package dream runs dreams (docs/dreams.md): asynchronous jobs that read a memory store
// and the transcripts of sessions that used it, ask a model for a reorganized set of
// memories, and write that set to a memory store — a new one (create_new, the default)
// or the input store itself (update_existing).
//
// Every Hangar instance runs one Runner; they may share a database. A dream is run by the
// instance that claims it in the store (hangar.DreamStore.ClaimDream) and keeps renewing
// the claim while it works; when an instance dies, its claim expires and another instance
// (or the same one after a restart) claims the dream and runs it again from the start.
// Running again is safe: the output store is recorded on the dream as soon as it exists
// and the result is applied as a diff, so a second run converges on the same memories.
package dream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
)

// Store is what a Runner needs of hangar.Store.
type Store interface {
	hangar.DreamStore
	hangar.MemoryStoreStore
	GetSession(ctx context.Context, id string) (*hangar.Session, error)
	ListEvents(ctx context.Context, sessionID string, f hangar.EventFilter) ([]hangar.Event, hangar.PageResult, error)
}

// Model reorganizes memories: the model call of a dream (messages.go calls the Anthropic
// Messages API; tests use internal/fakemodel behind it).
type Model interface {
	Dream(ctx context.Context, req Request) (Reply, error)
}

// Request is what the model reads.
type Request struct {
	Model        string
	Instructions string
	StoreName    string
	Memories     []File
	Transcripts  []Transcript
}

// File is one memory: a path and its content.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Transcript is one session rendered as text.
type Transcript struct {
	SessionID string
	Text      string
}

// Reply is the model's reorganized memory set: the complete new content of the store.
type Reply struct {
	Memories []File
	Usage    hangar.DreamUsage
}

// Config holds a Runner's dependencies.
type Config struct {
	Store Store
	// Model runs dreams; nil fails every dream saying the server has no model credential.
	Model Model
	// Owner names this instance in claims (the runner's lease owner ID).
	Owner  string
	Clock  hangar.Clock
	NewID  hangar.IDGen
	Logger *slog.Logger
	// ClaimTTL is how long a claim lasts without renewal; 0 means 2 minutes. Claims are
	// renewed every ClaimTTL/4 while a dream runs.
	ClaimTTL time.Duration
	// Interval is how often Run polls for runnable dreams; 0 means 5 seconds.
	Interval time.Duration
}

// Runner claims and runs dreams.
type Runner struct {
	cfg  Config
	wake chan struct{}

	mu       sync.Mutex
	inflight map[string]bool
	wg       sync.WaitGroup
}

// New returns a Runner; call Run, or Tick in tests.
func New(cfg Config) *Runner {
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = hangar.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = 2 * time.Minute
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Owner == "" {
		cfg.Owner = hangar.NewID("inst_")
	}
	return &Runner{cfg: cfg, wake: make(chan struct{}, 1), inflight: map[string]bool{}}
}

// Run polls for runnable dreams every Interval, and whenever Trigger is called, and runs
// each it claims in its own goroutine, until ctx ends; it then waits for them to stop.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	defer r.wg.Wait()
	for {
		if err := r.start(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("dream poll", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// Trigger makes Run poll now (a dream was just created).
func (r *Runner) Trigger() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Tick claims the runnable dreams and runs them, returning when they have stopped.
func (r *Runner) Tick(ctx context.Context) error {
	err := r.start(ctx)
	r.wg.Wait()
	return err
}

// start claims runnable dreams and starts a goroutine for each.
func (r *Runner) start(ctx context.Context) error {
	now := r.cfg.Clock()
	ids, err := r.cfg.Store.RunnableDreams(ctx, now, 20)
	if err != nil {
		return err
	}
	for _, id := range ids {
		r.mu.Lock()
		busy := r.inflight[id]
		r.mu.Unlock()
		if busy {
			continue
		}
		ok, err := r.cfg.Store.ClaimDream(ctx, id, r.cfg.Owner, now, now.Add(r.cfg.ClaimTTL))
		if err != nil {
			return err
		}
		if !ok {
			continue // another instance was quicker
		}
		r.mu.Lock()
		r.inflight[id] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() {
				r.mu.Lock()
				delete(r.inflight, id)
				r.mu.Unlock()
			}()
			r.runClaimed(ctx, id)
		}()
	}
	return nil
}

// errLost ends a run whose claim was lost or whose dream became final (canceled).
var errLost = errors.New("dream: claim lost or dream canceled")

// runClaimed runs a claimed dream, renewing the claim until it stops. A failed renewal
// (the dream was canceled, or another instance took it over) cancels the run.
func (r *Runner) runClaimed(ctx context.Context, id string) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(r.cfg.ClaimTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				now := r.cfg.Clock()
				if ok, err := r.cfg.Store.ClaimDream(ctx, id, r.cfg.Owner, now, now.Add(r.cfg.ClaimTTL)); err == nil && !ok {
					cancel(errLost)
					return
				}
			}
		}
	}()
	err := r.run(ctx, id)
	switch {
	case err == nil:
	case errors.Is(context.Cause(ctx), errLost):
		r.cfg.Logger.Info("dream stopped", "dream", id, "reason", "canceled or taken over")
	case ctx.Err() != nil:
		// Shutting down: give the claim up so that a live instance, or this one restarted,
		// resumes the dream at once (a crash leaves it to expire instead).
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := r.cfg.Store.ReleaseDream(rctx, id, r.cfg.Owner); err != nil {
			r.cfg.Logger.Warn("release dream", "dream", id, "err", err)
		}
	default:
		r.fail(id, err)
	}
}

// failure is an error with the type a failed dream reports.
type failure struct {
	typ string
	err error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func failf(typ, format string, args ...any) error {
	return &failure{typ: typ, err: fmt.Errorf(format, args...)}
}

// fail records a failed dream, unless it already ended (a cancel wins).
func (r *Runner) fail(id string, err error) {
	r.cfg.Logger.Warn("dream failed", "dream", id, "err", err)
	typ := "api_error"
	var f *failure
	if errors.As(err, &f) {
		typ = f.typ
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, uerr := r.cfg.Store.UpdateDream(ctx, id, func(d *hangar.Dream) error {
		if d.Final() {
			return nil
		}
		now := r.cfg.Clock()
		d.Status, d.EndedAt, d.Error = hangar.DreamFailed, &now, &hangar.DreamError{Type: typ, Message: err.Error()}
		return nil
	})
	if uerr != nil {
		r.cfg.Logger.Error("record failed dream", "dream", id, "err", uerr)
	}
}
