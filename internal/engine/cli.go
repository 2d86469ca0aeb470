package engine

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// LineTranslator turns the output lines of a one-shot CLI into events (see StartCLI).
type LineTranslator interface {
	// Line translates one line of the CLI's stdout (with its newline, if any).
	Line(line []byte) []Event
	// Finish returns the events that close the turn once stdout is done; failed reports
	// that the turn did not finish (see CLIOptions.Done) and was neither interrupted nor
	// cancelled.
	Finish(failed bool) []Event
	// Err returns the classified error the output reported, if any (a nil interface, not
	// a typed nil, when there is none).
	Err() error
}

// CLIOptions configure StartCLI.
type CLIOptions struct {
	// Name prefixes the run's errors and log messages ("codex").
	Name string
	// Grace is how long an interrupted CLI may take to exit after SIGINT, and then after
	// SIGKILL, before the run's context is cancelled.
	Grace time.Duration
	// Logger receives debug messages (nil: discarded).
	Logger *slog.Logger
	// Done reports whether the CLI finished the turn, given its exit code (typically:
	// whether its final result line was seen).
	Done func(code int) bool
	// OnExit returns the error of a run whose CLI exited without finishing the turn,
	// given its exit code and the tail of its stderr.
	OnExit func(code int, stderr string) error
}

// StartCLI runs the turn of proc, a one-shot CLI without a control protocol whose stdout
// is translated line by line by t, and returns it as a Run. cancel cancels ctx, the
// context proc runs under; the run calls it when it ends. Interrupt sends the CLI SIGINT,
// then SIGKILL after opts.Grace, then cancels ctx after another opts.Grace. Wait returns
// nil for an interrupted turn, ctx's error for a cancelled one, then t.Err(), a wait
// error, or opts.OnExit's error for a turn that is not opts.Done.
func StartCLI(ctx context.Context, proc provider.Process, cancel context.CancelFunc, t LineTranslator, opts CLIOptions) Run {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &cliRun{
		proc:   proc,
		cancel: cancel,
		t:      t,
		opts:   opts,
		events: make(chan Event),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go r.main(ctx)
	return r
}

// LogSkipped returns a translator's Unknown hook that logs every skipped line (cut to
// 512 bytes) at debug level.
func LogSkipped(logger *slog.Logger, name string) func(typ string, line []byte) {
	return func(typ string, line []byte) {
		logger.Debug(name+": skipped output line", "type", typ, "line", truncate(line, 512))
	}
}

// cliRun is one turn of a CLI started by StartCLI.
type cliRun struct {
	proc   provider.Process
	cancel context.CancelFunc
	t      LineTranslator
	opts   CLIOptions

	events chan Event
	stop   chan struct{} // closed by Interrupt
	once   sync.Once
	done   chan struct{}
	err    error
}

func (r *cliRun) Events() <-chan Event { return r.events }

// Send implements Run: the CLI asks nothing, so no event awaits an answer.
func (r *cliRun) Send(ctx context.Context, in Input) error {
	return hangar.Errorf(hangar.KindInvalidRequest, "%s: %s for %s, which awaits no such answer", r.opts.Name, in.Type, in.ToolUseID)
}

// Interrupt implements Run: it signals the CLI, then kills it if it is still running
// after the grace period.
func (r *cliRun) Interrupt(ctx context.Context) error {
	r.once.Do(func() {
		close(r.stop)
		go r.escalate()
	})
	return nil
}

// escalate signals, then kills, the interrupted CLI.
func (r *cliRun) escalate() {
	select {
	case <-r.done:
		return
	default:
	}
	if err := r.proc.Signal(false); err != nil {
		r.opts.Logger.Debug(r.opts.Name+": interrupt signal", "err", err)
	}
	t := time.NewTimer(r.opts.Grace)
	defer t.Stop()
	select {
	case <-r.done:
		return
	case <-t.C:
	}
	r.opts.Logger.Debug(r.opts.Name + ": interrupted CLI still running, killing it")
	if err := r.proc.Signal(true); err != nil {
		r.cancel()
		return
	}
	t.Reset(r.opts.Grace)
	select {
	case <-r.done:
	case <-t.C:
		r.cancel()
	}
}

func (r *cliRun) Wait() error {
	<-r.done
	return r.err
}

func (r *cliRun) interrupted() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// emit sends ev; it reports false when the run's context is done.
func (r *cliRun) emit(ctx context.Context, ev Event) bool {
	select {
	case r.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *cliRun) main(ctx context.Context) {
	defer close(r.done)
	defer r.cancel()
	defer close(r.events)

	stderr := &Tail{Max: 4 << 10}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		io.Copy(stderr, r.proc.Stderr())
	}()

	live := true
	rd := bufio.NewReaderSize(r.proc.Stdout(), 64<<10)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && live {
			for _, ev := range r.t.Line(line) {
				if live = r.emit(ctx, ev); !live {
					break
				}
			}
		}
		if err != nil {
			break
		}
	}
	code, werr := r.proc.Wait()
	<-stderrDone
	done := r.opts.Done(code)
	if live {
		for _, ev := range r.t.Finish(!done && !r.interrupted() && ctx.Err() == nil) {
			if !r.emit(ctx, ev) {
				break
			}
		}
	}
	r.err = Ending{
		Name: r.opts.Name, Interrupted: r.interrupted(), Ctx: ctx.Err(), Translate: r.t.Err(), Wait: werr, Finished: done,
		Exit: func() error { return r.opts.OnExit(code, stderr.String()) },
	}.Err()
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

var _ Run = (*cliRun)(nil)
