package pi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Start implements engine.Engine: it writes pi's configuration into sb, starts pi in RPC
// mode and sends it the turn's prompt.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if sb == nil {
		return nil, errors.New("pi: no sandbox")
	}
	node, entry, err := e.command(sb)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: err.Error(), Err: err}
	}
	files := []file{
		{AgentDir(spec) + "/models.json", ModelsFile(spec)},
		{AgentDir(spec) + "/settings.json", SettingsFile(spec)},
	}
	if s := system(spec); s != "" {
		files = append(files, file{SystemPath(spec), []byte(s)})
	}
	if cfg := BridgeConfig(spec); cfg != nil {
		files = append(files, file{BridgePath(spec), bridgeSource}, file{BridgeConfigPath(spec), cfg})
	}
	for _, f := range files {
		if err := putFile(ctx, sb, f.path, f.data); err != nil {
			return nil, fmt.Errorf("pi: write %s: %w", f.path, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	proc, err := sb.Exec(ctx, provider.ExecSpec{
		Args: append([]string{node, entry}, Args(spec)...),
		Env:  Env(spec),
		Dir:  spec.WorkDir,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pi: exec: %w", err)
	}
	r := &run{
		proc:    proc,
		cancel:  cancel,
		logger:  e.logger.With("session_id", sessionID(spec)),
		grace:   engine.Grace(e.cfg.InterruptGraceMS),
		custom:  map[string]bool{},
		ask:     map[string]bool{},
		events:  make(chan engine.Event),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: map[string]Request{},
		mcp:     MCPServers(spec),
	}
	for _, c := range CustomTools(agentTools(spec)) {
		r.custom[c.Name] = true
	}
	for _, n := range AskTools(agentTools(spec)) {
		r.ask[n] = true
	}
	if _, err := proc.Stdin().Write(append([]byte(stateCommand), Prompt(spec)...)); err != nil {
		proc.Signal(true)
		cancel()
		proc.Wait()
		return nil, fmt.Errorf("pi: write prompt: %w", err)
	}
	go r.main(ctx)
	return r, nil
}

// file is a file Start writes into the sandbox.
type file struct {
	path string
	data []byte
}

// run is one turn of pi in RPC mode.
type run struct {
	proc   provider.Process
	cancel context.CancelFunc
	logger *slog.Logger
	grace  time.Duration
	custom map[string]bool // the agent's custom tools
	ask    map[string]bool // pi tools that need the client's confirmation
	mcp    []MCPServer     // the agent's MCP servers

	events chan engine.Event
	stop   chan struct{} // closed by Interrupt
	once   sync.Once
	done   chan struct{}
	err    error

	stdinMu     sync.Mutex
	stdinClosed bool

	mu      sync.Mutex
	pending map[string]Request // engine-local event ID → bridge dialog awaiting the client
}

func (r *run) Events() <-chan engine.Event { return r.events }

// Send implements engine.Run: it answers the bridge dialog behind an
// agent.custom_tool_use (with the user.custom_tool_result) or behind an agent.tool_use
// that awaits its user.tool_confirmation.
func (r *run) Send(ctx context.Context, in engine.Input) error {
	r.mu.Lock()
	req, ok := r.pending[in.ToolUseID]
	if ok && req.Confirmation == (in.Type == hangar.EventUserToolConfirmation) &&
		(in.Type == hangar.EventUserToolConfirmation || in.Type == hangar.EventUserCustomToolResult) {
		delete(r.pending, in.ToolUseID)
	} else {
		ok = false
	}
	r.mu.Unlock()
	if !ok {
		return hangar.Errorf(hangar.KindInvalidRequest, "pi: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
	}
	select {
	case <-r.done:
		return errors.New("pi: run ended")
	default:
	}
	r.writeStdin(req.Response(in))
	return nil
}

// Interrupt implements engine.Run: it sends pi the abort command, which ends the prompt
// with agent_end, then signals and finally kills pi if it is still running after the
// grace periods.
func (r *run) Interrupt(ctx context.Context) error {
	r.once.Do(func() {
		close(r.stop)
		r.writeStdin([]byte(abortCommand))
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
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if r.stdinClosed {
		return
	}
	if _, err := r.proc.Stdin().Write(b); err != nil {
		r.logger.Debug("pi: write stdin", "err", err)
	}
}

// closeStdin ends pi's input: in RPC mode, EOF makes pi shut down and exit.
func (r *run) closeStdin() {
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if !r.stdinClosed {
		r.stdinClosed = true
		r.proc.Stdin().Close()
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

	t := &Translator{Unknown: engine.LogSkipped(r.logger, "pi"), Reply: r.writeStdin, Custom: r.custom, Ask: r.ask, MCP: r.mcp}
	live := true
	// RPC mode frames records with LF only (JSON strings may hold U+2028).
	rd := bufio.NewReaderSize(r.proc.Stdout(), 64<<10)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && live {
			for _, ev := range t.Line(line) {
				if ev.RequiresAction {
					// Register the dialog before the runner can see the event and answer.
					if req, ok := t.Request(ev.ID); ok {
						r.mu.Lock()
						r.pending[ev.ID] = req
						r.mu.Unlock()
					}
				}
				if live = r.emit(ctx, ev); !live {
					break
				}
			}
			if t.Ended() {
				r.closeStdin()
			}
		}
		if err != nil {
			break
		}
	}
	r.closeStdin()
	code, werr := r.proc.Wait()
	<-stderrDone
	failed := !t.Ended() && !r.interrupted() && ctx.Err() == nil
	if live {
		for _, ev := range t.Finish(failed || t.Err() != nil) {
			if !r.emit(ctx, ev) {
				break
			}
		}
	}
	r.err = engine.Ending{
		Name: "pi", Interrupted: r.interrupted(), Ctx: ctx.Err(), Translate: engine.ErrOf(t.Err()), Wait: werr, Finished: t.Ended(),
		Exit: func() error { return engine.ExitedEarly("pi", code, lastLines(stderr.String(), 5)) },
	}.Err()
}

// putFile writes a file of the sandbox, through a shell when the sandbox cannot write
// files itself.
func putFile(ctx context.Context, sb provider.Sandbox, p string, data []byte) error {
	err := sb.PutFile(ctx, p, data, 0o600)
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	proc, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"/bin/sh", "-c", `mkdir -p "$(dirname "$1")" && cat > "$1"`, "sh", p}})
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, proc.Stdout())
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&stderr, proc.Stderr())
		close(done)
	}()
	_, werr := proc.Stdin().Write(data)
	proc.Stdin().Close()
	code, err := proc.Wait()
	<-done
	switch {
	case err != nil:
		return err
	case code != 0:
		return fmt.Errorf("sh exited with code %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return werr
}

// lastLines returns the last n non-empty lines of s, joined by newlines.
func lastLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}

var _ engine.Run = (*run)(nil)
