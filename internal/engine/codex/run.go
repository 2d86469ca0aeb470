package codex

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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

// The IDs of the run's requests to the app server. The server numbers its own requests
// (approvals) from 0 in a space of its own.
const (
	idInitialize = iota + 1
	idThread
	idTurn
	idInterrupt
	idNewThread // thread/start after a failed thread/resume
)

type runOptions struct {
	logger *slog.Logger
	grace  time.Duration
	thread map[string]any // thread/start or thread/resume params
	resume string
	input  []map[string]any
	ask    func(tool string) bool
}

// run is one turn of the app server.
type run struct {
	proc   provider.Process
	cancel context.CancelFunc
	opts   runOptions

	events chan engine.Event
	stop   chan struct{} // closed by Interrupt
	once   sync.Once
	done   chan struct{}
	err    error

	stdinMu     sync.Mutex
	stdinClosed bool

	// mu guards t, which Send reads while main feeds it, and the IDs.
	mu       sync.Mutex
	t        *Translator
	threadID string
	turnID   string
	sent     bool  // turn/interrupt was sent
	failure  error // why the protocol exchange failed, if it did
}

func newRun(proc provider.Process, cancel context.CancelFunc, opts runOptions) *run {
	r := &run{
		proc:   proc,
		cancel: cancel,
		opts:   opts,
		events: make(chan engine.Event),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	r.t = &Translator{Unknown: engine.LogSkipped(opts.logger, "codex"), Ask: opts.ask, Respond: r.write}
	return r
}

// start sends the initialize request; the rest of the exchange follows its response.
func (r *run) start() error {
	b := request(idInitialize, "initialize", map[string]any{
		"clientInfo":   map[string]any{"name": "hangar", "title": "Hangar", "version": Version},
		"capabilities": map[string]any{"experimentalApi": false, "requestAttestation": false},
	})
	if _, err := r.proc.Stdin().Write(b); err != nil {
		return fmt.Errorf("codex: write initialize: %w", err)
	}
	return nil
}

// request returns a JSON-RPC request line.
func request(id int, method string, params any) []byte {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return append(b, '\n')
}

func (r *run) Events() <-chan engine.Event { return r.events }

// Send implements engine.Run: it answers the approval request behind an agent.tool_use
// that awaits the client's user.tool_confirmation. Codex's decisions carry no message, so
// a deny message does not reach the model: it is told the user declined.
func (r *run) Send(ctx context.Context, in engine.Input) error {
	var line []byte
	if in.Type == hangar.EventUserToolConfirmation {
		r.mu.Lock()
		line, _ = r.t.Approval(in.ToolUseID, in.Allow)
		r.mu.Unlock()
	}
	if line == nil {
		return hangar.Errorf(hangar.KindInvalidRequest, "codex: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
	}
	select {
	case <-r.done:
		return errors.New("codex: run ended")
	default:
	}
	r.write(line)
	return nil
}

// Interrupt implements engine.Run: it sends turn/interrupt (or, before the turn has an
// ID, has main send it as soon as it does), then signals the CLI and finally kills it if
// it is still running after the grace periods.
func (r *run) Interrupt(ctx context.Context) error {
	r.once.Do(func() {
		close(r.stop)
		r.mu.Lock()
		// The interrupted turn settles its approvals: answers come too late.
		clear(r.t.asks)
		r.interruptTurn()
		r.mu.Unlock()
		go r.escalate(true)
	})
	return nil
}

// interruptTurn sends turn/interrupt once the turn has an ID, once; r.mu is held.
func (r *run) interruptTurn() {
	if r.turnID != "" && !r.sent {
		r.sent = true
		r.write(request(idInterrupt, "turn/interrupt", map[string]string{"threadId": r.threadID, "turnId": r.turnID}))
	}
}

// escalate signals, then kills, a CLI that does not exit: after an interrupt, a grace
// period for the turn to stop before stdin is closed; then engine.Escalate's SIGINT and
// SIGKILL.
func (r *run) escalate(interrupt bool) {
	if interrupt {
		t := time.NewTimer(r.opts.grace)
		select {
		case <-r.done:
			t.Stop()
			return
		case <-t.C:
		}
		r.opts.logger.Debug("codex: interrupted turn still running, closing stdin")
		r.closeStdin()
	}
	engine.Escalate(r.done, r.proc, r.opts.grace, r.cancel, r.opts.logger)
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

// write writes a line to the CLI's stdin, unless it was closed.
func (r *run) write(b []byte) {
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if r.stdinClosed {
		return
	}
	if _, err := r.proc.Stdin().Write(b); err != nil {
		r.opts.logger.Debug("codex: write stdin", "err", err)
	}
}

// closeStdin closes the CLI's stdin: the app server exits at EOF.
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

// rpcResponse is a response to one of the run's requests.
type rpcResponse struct {
	ID     *int            `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// handle takes the next step of the exchange after a response to one of the run's
// requests, and returns the events it produces (EventResume). Writes to stdin take only
// stdinMu, never r.mu, so they may happen under r.mu.
func (r *run) handle(resp rpcResponse) []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	fail := func(what string) {
		msg := fmt.Sprintf("codex app-server: %s failed", what)
		if resp.Error != nil {
			msg += ": " + resp.Error.Message
		}
		r.failure = &engine.Error{Type: "unknown_error", Message: msg}
		r.closeStdin()
	}
	switch *resp.ID {
	case idInitialize:
		if resp.Error != nil {
			fail("initialize")
			return nil
		}
		if r.interrupted() {
			r.closeStdin()
			return nil
		}
		r.write([]byte(`{"jsonrpc":"2.0","method":"initialized"}` + "\n"))
		method := "thread/start"
		if r.opts.resume != "" {
			method = "thread/resume"
		}
		r.write(request(idThread, method, r.opts.thread))
	case idThread, idNewThread:
		if resp.Error != nil {
			if *resp.ID == idThread && r.opts.resume != "" {
				// The thread's rollout is gone (a HOME that was not kept): go on in a
				// new thread rather than fail every later turn.
				r.opts.logger.Warn("codex: cannot resume thread, starting a new one", "thread_id", r.opts.resume, "err", resp.Error.Message)
				p := make(map[string]any, len(r.opts.thread))
				for k, v := range r.opts.thread {
					if k != "threadId" && k != "excludeTurns" {
						p[k] = v
					}
				}
				r.write(request(idNewThread, "thread/start", p))
				return nil
			}
			fail("thread/start")
			return nil
		}
		var res struct {
			Thread struct {
				ID string `json:"id"`
			} `json:"thread"`
		}
		if json.Unmarshal(resp.Result, &res) != nil || res.Thread.ID == "" {
			fail("thread/start (no thread id)")
			return nil
		}
		r.threadID = res.Thread.ID
		if r.interrupted() {
			r.closeStdin()
		} else {
			r.write(request(idTurn, "turn/start", map[string]any{"threadId": r.threadID, "input": r.opts.input}))
		}
		return []engine.Event{{Type: engine.EventResume, Resume: r.threadID}}
	case idTurn:
		var res struct {
			Turn struct {
				ID string `json:"id"`
			} `json:"turn"`
		}
		if resp.Error != nil || json.Unmarshal(resp.Result, &res) != nil || res.Turn.ID == "" {
			fail("turn/start")
			return nil
		}
		r.turnID = res.Turn.ID
		if r.interrupted() {
			r.interruptTurn()
		}
	case idInterrupt:
		if resp.Error != nil {
			r.opts.logger.Debug("codex: turn/interrupt", "err", resp.Error.Message)
			r.closeStdin()
		}
	}
	return nil
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

	live, ended := true, false
	rd := bufio.NewReaderSize(r.proc.Stdout(), 64<<10)
	for {
		line, err := rd.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 && live {
			var evs []engine.Event
			var resp rpcResponse
			if json.Unmarshal(line, &resp) == nil && resp.Method == "" && resp.ID != nil {
				evs = r.handle(resp)
			} else {
				r.mu.Lock()
				evs = r.t.Line(line)
				done := r.t.Done()
				r.mu.Unlock()
				if done && !ended {
					// The turn is over: EOF on stdin makes the server exit.
					ended = true
					r.closeStdin()
					go r.escalate(false)
				}
			}
			for _, ev := range evs {
				if live = r.emit(ctx, ev); !live {
					break
				}
			}
		}
		if err != nil {
			break
		}
	}
	r.closeStdin()
	code, werr := r.proc.Wait()
	<-stderrDone
	r.mu.Lock()
	done, terr, failure := r.t.Done(), r.t.Err(), r.failure
	failed := !done && !r.interrupted() && ctx.Err() == nil
	fin := r.t.Finish(failed)
	lastErr := r.t.LastError()
	r.mu.Unlock()
	if live {
		for _, ev := range fin {
			if !r.emit(ctx, ev) {
				break
			}
		}
	}
	switch {
	case r.interrupted():
		r.err = nil
	case ctx.Err() != nil:
		r.err = ctx.Err()
	case terr != nil:
		r.err = terr
	case failure != nil:
		r.err = failure
	case done:
		r.err = nil
	case werr != nil:
		r.err = fmt.Errorf("codex: wait: %w", werr)
	default:
		msg := fmt.Sprintf("codex exited with code %d before finishing the turn", code)
		if lastErr != "" {
			msg += ": " + lastErr
		} else if s := strings.TrimSpace(stderr.String()); s != "" {
			msg += ": " + s
		}
		r.err = &engine.Error{Type: "unknown_error", Message: msg}
	}
}

var _ engine.Run = (*run)(nil)
