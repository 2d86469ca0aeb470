package factory

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// step is a request of the turn, sent once droid answered the one before.
type step struct {
	id   string
	line []byte
}

// run is one turn of droid, driven over JSON-RPC.
type run struct {
	proc   provider.Process
	cancel context.CancelFunc
	logger *slog.Logger
	grace  time.Duration
	record io.Writer
	mcp    []string // the agent's MCP server names (Translator.MCPServers)

	events chan engine.Event
	stop   chan struct{} // closed by Interrupt
	once   sync.Once
	done   chan struct{}
	err    error

	mu          sync.Mutex // guards the fields below and the order of stdin writes
	waitFor     string     // the request whose answer sends the next step
	steps       []step
	reopen      []step // the new-session and title requests, should the session not load
	started     bool   // the user message was sent: the turn runs in droid
	stdinClosed bool
}

func (r *run) Events() <-chan engine.Event { return r.events }

// Send implements engine.Run: droid's permission prompts are answered by the translator
// (the engine does not declare ToolConfirmation), so no event awaits the client.
func (r *run) Send(ctx context.Context, in engine.Input) error {
	return hangar.Errorf(hangar.KindInvalidRequest, "factory: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
}

// Interrupt implements engine.Run. A turn droid is running is cancelled with a
// droid.interrupt_session request: droid ends it (agent_turn_completed, reason
// "cancelled"), keeps the transcript consistent, and exits at EOF on stdin. A turn not yet
// started (droid still starting or opening the session) gets no message: stdin is closed
// at once. Either way the CLI is signalled, then killed, if it outlives the grace periods.
func (r *run) Interrupt(ctx context.Context) error {
	r.once.Do(func() {
		r.mu.Lock()
		close(r.stop)
		if r.started {
			r.writeLocked(request(reqInterrupt, "droid.interrupt_session", map[string]string{}))
		} else {
			r.closeLocked()
		}
		r.mu.Unlock()
		go engine.Escalate(r.done, r.proc, r.grace, r.cancel, r.logger)
	})
	return nil
}

func (r *run) Wait() error {
	<-r.done
	return r.err
}

func (r *run) interrupted() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *run) writeStdin(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeLocked(b)
}

func (r *run) writeLocked(b []byte) {
	if r.stdinClosed {
		return
	}
	if _, err := r.proc.Stdin().Write(b); err != nil {
		r.logger.Debug("factory: write stdin", "err", err)
	}
}

func (r *run) closeLocked() {
	if !r.stdinClosed {
		r.stdinClosed = true
		r.proc.Stdin().Close()
	}
}

// advance sends the turn's next request once droid answered the previous one, and closes
// stdin, which lets droid exit, once the turn is over or cannot start.
func (r *run) advance(t *Translator) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case t.Completion() != nil, t.Failed(reqSession), t.Failed(reqMessage), !r.started && r.interrupted():
		r.closeLocked()
		return
	case r.waitFor == reqLoad && t.Failed(reqLoad):
		// The session is gone (its HOME lost or damaged): a new one, whose ID replaces the
		// resume token, beats failing this turn and every later one.
		r.logger.Warn("factory: droid could not load the session; starting a new one")
		r.waitFor = reqSession
		r.steps = append(r.reopen[1:], r.steps...)
		r.writeLocked(r.reopen[0].line)
		return
	}
	for len(r.steps) > 0 && t.Answered(r.waitFor) {
		s := r.steps[0]
		if s.id == reqMessage && !t.MCPSettled() {
			return // sent once droid reports the MCP servers settled (a later line)
		}
		r.steps, r.waitFor = r.steps[1:], s.id
		r.writeLocked(s.line)
		if s.id == reqMessage {
			r.started = true
		}
	}
}

// emit sends ev; it reports false when the run's context is done.
func (r *run) emit(ctx context.Context, ev engine.Event) bool {
	select {
	case r.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *run) main(ctx context.Context) {
	defer close(r.done)
	defer r.cancel()
	defer close(r.events)

	stderr := &engine.Tail{Max: 4 << 10}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		io.Copy(stderr, r.proc.Stderr())
	}()

	t := &Translator{
		MCPServers: r.mcp,
		Unknown:    engine.LogSkipped(r.logger, "factory"),
		Reply: func(line []byte) {
			r.logger.Debug("factory: answering droid's request", "line", string(line))
			r.writeStdin(append(line, '\n'))
		},
	}
	live := true
	rd := bufio.NewReaderSize(r.proc.Stdout(), 64<<10)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 {
			if r.record != nil {
				r.record.Write(line)
			}
			evs := t.Line(line)
			for _, ev := range evs {
				if !live {
					break
				}
				live = r.emit(ctx, ev)
			}
			r.advance(t)
		}
		if err != nil {
			break
		}
	}
	r.mu.Lock()
	r.closeLocked()
	r.mu.Unlock()
	code, werr := r.proc.Wait()
	<-stderrDone
	failed := t.Completion() == nil && !r.interrupted() && ctx.Err() == nil
	if live {
		for _, ev := range t.Finish(failed) {
			if !r.emit(ctx, ev) {
				break
			}
		}
	}
	r.err = engine.Ending{
		Name: "factory", Interrupted: r.interrupted(), Ctx: ctx.Err(), Translate: engine.ErrOf(t.Err()), Wait: werr, Finished: t.Completion() != nil,
		Exit: func() error { return engine.ExitedEarly("droid", code, strings.TrimSpace(stderr.String())) },
	}.Err()
}

var _ engine.Run = (*run)(nil)
