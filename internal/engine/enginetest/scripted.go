// Package enginetest holds the conformance suite every engine passes and Scripted, a fake
// engine driven by knobs for runner tests.
package enginetest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Scripted is a fake engine: each run emits Events, then waits on Block (if set) until it
// is closed or the run is interrupted, then ends with ExitErr. Events with RequiresAction
// make the run wait for a matching Send before emitting the next one. The exported fields
// are knobs; set them before the first Start. Runs scripts each Start call differently.
type Scripted struct {
	// StartErr, when set, is returned by Start.
	StartErr error
	// Events are emitted in order by every run.
	Events []engine.Event
	// Block, when non-nil, holds the run open after its events until closed.
	Block chan struct{}
	// ExitErr is returned by Wait of a run that was not interrupted.
	ExitErr error
	// Caps is returned by Capabilities.
	Caps engine.Capabilities
	// Runs, when non-empty, replaces StartErr, Events, Block and ExitErr per Start call:
	// the nth call (0-based) follows Runs[n], and calls past the end follow the last one.
	Runs []Script

	mu     sync.Mutex
	specs  []engine.Spec
	inputs []engine.Input
	// Started receives each run's spec when non-nil (buffer it).
	Started chan engine.Spec
}

// Script is what one run of Scripted does (see Scripted.Runs).
type Script struct {
	// StartErr, when set, is returned by Start.
	StartErr error
	// Events are emitted in order; Every, when positive, is waited before each of them.
	Events []engine.Event
	Every  time.Duration
	// Block, when non-nil, holds the run open after its events until closed.
	Block chan struct{}
	// ExitErr is returned by Wait of a run that was not interrupted.
	ExitErr error
	// IgnoreInterrupt makes Interrupt a no-op, like a wedged agent: only cancelling the
	// run's context ends it.
	IgnoreInterrupt bool
}

// script returns the script of the nth Start call (0-based).
func (s *Scripted) script(n int) Script {
	if len(s.Runs) == 0 {
		return Script{StartErr: s.StartErr, Events: s.Events, Block: s.Block, ExitErr: s.ExitErr}
	}
	return s.Runs[min(n, len(s.Runs)-1)]
}

// Specs returns the specs of every Start call so far.
func (s *Scripted) Specs() []engine.Spec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]engine.Spec(nil), s.specs...)
}

// Inputs returns every input sent to its runs so far.
func (s *Scripted) Inputs() []engine.Input {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]engine.Input(nil), s.inputs...)
}

// Capabilities implements engine.Engine.
func (s *Scripted) Capabilities() engine.Capabilities { return s.Caps }

// Start implements engine.Engine.
func (s *Scripted) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	s.mu.Lock()
	sc := s.script(len(s.specs))
	s.specs = append(s.specs, spec)
	s.mu.Unlock()
	if s.Started != nil {
		s.Started <- spec
	}
	if sc.StartErr != nil {
		return nil, sc.StartErr
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &fakeRun{s: s, sc: sc, events: make(chan engine.Event), inputs: make(chan engine.Input, 16), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cancel()
		defer close(r.events)
		r.err = r.play(ctx)
	}()
	return r, nil
}

type fakeRun struct {
	s      *Scripted
	sc     Script
	events chan engine.Event
	inputs chan engine.Input
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	err    error

	mu      sync.Mutex
	pending map[string]bool
}

var errStopped = errors.New("stopped")

func (r *fakeRun) play(ctx context.Context) error {
	for _, ev := range r.sc.Events {
		if r.sc.Every > 0 {
			t := time.NewTimer(r.sc.Every)
			select {
			case <-t.C:
			case <-r.stop:
				t.Stop()
				return nil
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		if ev.RequiresAction {
			r.mu.Lock()
			if r.pending == nil {
				r.pending = make(map[string]bool)
			}
			r.pending[ev.ID] = true
			r.mu.Unlock()
		}
		select {
		case r.events <- ev:
		case <-r.stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if ev.RequiresAction {
			select {
			case <-r.inputs:
			case <-r.stop:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if r.sc.Block != nil {
		select {
		case <-r.sc.Block:
		case <-r.stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.sc.ExitErr
}

func (r *fakeRun) Events() <-chan engine.Event { return r.events }

func (r *fakeRun) Send(ctx context.Context, in engine.Input) error {
	r.mu.Lock()
	ok := r.pending[in.ToolUseID]
	delete(r.pending, in.ToolUseID)
	r.mu.Unlock()
	if !ok {
		return hangar.Errorf(hangar.KindInvalidRequest, "no pending tool use %s", in.ToolUseID)
	}
	r.s.mu.Lock()
	r.s.inputs = append(r.s.inputs, in)
	r.s.mu.Unlock()
	select {
	case r.inputs <- in:
		return nil
	case <-r.done:
		return errors.New("run ended")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *fakeRun) Interrupt(ctx context.Context) error {
	if r.sc.IgnoreInterrupt {
		return nil
	}
	r.once.Do(func() { close(r.stop) })
	return nil
}

func (r *fakeRun) Wait() error {
	<-r.done
	return r.err
}

var (
	_ engine.Engine = (*Scripted)(nil)
	_ engine.Run    = (*fakeRun)(nil)
)
