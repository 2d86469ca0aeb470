package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/hangar-dev/hangar/internal/provider"
)

// pidWrapper runs before every Exec's command ("$@"): it records the shell's pid, which
// the command then takes over, in /tmp (a tmpfs) for Signal: the exec API has no way to
// signal an exec, and the pid it reports is the host's.
const pidWrapper = `echo $$ > /tmp/.hangar-pid-$0 && exec "$@"`

// killScript signals the Exec whose token is $1 with $2 (INT, or KILL for the process and
// all its descendants, frozen first so they cannot fork away). It runs as the Exec's user.
const killScript = `f=/tmp/.hangar-pid-$1
i=0
while [ ! -s "$f" ]; do
	i=$((i+1)); [ $i -gt 400 ] && exit 0
	sleep 0.005
done
pid=$(cat "$f")
if [ "$2" = KILL ]; then
	tree() {
		kill -s STOP "$1" 2>/dev/null
		for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done
		kill -s KILL "$1" 2>/dev/null
	}
	tree "$pid"
else
	kill -s "$2" "$pid" 2>/dev/null
fi
exit 0`

// process is one exec of a container.
type process struct {
	s      *Sandbox
	id     string // exec ID
	token  string // names the pid file
	user   string
	conn   types.HijackedResponse
	stdin  *stdinWriter
	stdout *provider.Pipe
	stderr *provider.Pipe
	done   chan struct{}
	code   int
	err    error
}

// start creates and attaches an exec of args.
func (s *Sandbox) start(ctx context.Context, user, dir string, env, args []string) (*process, error) {
	var b [8]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	cli := s.p.cli
	created, err := cli.ContainerExecCreate(ctx, s.h.Container, container.ExecOptions{
		User: user, WorkingDir: dir, Env: env,
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Cmd: append([]string{"/bin/sh", "-c", pidWrapper, token}, args...),
	})
	if err != nil {
		return nil, err
	}
	conn, err := cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, err
	}
	p := &process{s: s, id: created.ID, token: token, user: user, conn: conn,
		stdin: &stdinWriter{conn: &conn}, stdout: provider.NewPipe(), stderr: provider.NewPipe(), done: make(chan struct{})}
	go p.pump()
	go func() {
		select {
		case <-ctx.Done():
			p.Signal(true)
		case <-p.done:
		}
	}()
	return p, nil
}

// pump demultiplexes the exec's output until it ends, then reads its exit code.
func (p *process) pump() {
	defer close(p.done)
	_, err := stdcopy.StdCopy(p.stdout, p.stderr, p.conn.Reader)
	p.conn.Close()
	p.stdout.CloseWrite()
	p.stderr.CloseWrite()
	p.stdin.exited()
	// The stream ends when the process has exited; the engine may take a moment more to
	// record the exit code.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		info, ierr := p.s.p.cli.ContainerExecInspect(ctx, p.id)
		switch {
		case ierr != nil:
			p.err = fmt.Errorf("exec inspect: %w", errors.Join(ierr, err))
			return
		case !info.Running:
			p.code = info.ExitCode
			return
		}
		select {
		case <-ctx.Done():
			p.err = fmt.Errorf("exec %s still running after its output ended", p.id)
			return
		case <-time.After(delay):
		}
	}
}

func (p *process) Stdin() io.WriteCloser { return p.stdin }
func (p *process) Stdout() io.Reader     { return p.stdout }
func (p *process) Stderr() io.Reader     { return p.stderr }

// Signal implements provider.Process: SIGINT to the process, or SIGKILL to it and its
// descendants, delivered by a short exec of kill inside the container.
func (p *process) Signal(kill bool) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	sig := "INT"
	if kill {
		sig = "KILL"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, code, err := p.s.run(ctx, p.user, "/bin/sh", "-c", killScript, "kill", p.token, sig)
	if err != nil || code != 0 {
		select {
		case <-p.done: // the container went away: so did the process
			return nil
		default:
		}
		if err == nil {
			err = fmt.Errorf("exit %d: %s", code, out)
		}
		return fmt.Errorf("signal: %w", err)
	}
	return nil
}

// Wait implements provider.Process.
func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

// stdinWriter writes to the exec's stdin; Close half-closes the connection (EOF).
type stdinWriter struct {
	conn *types.HijackedResponse
	mu   sync.Mutex
	done bool
}

func (w *stdinWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done {
		return 0, io.ErrClosedPipe
	}
	return w.conn.Conn.Write(b)
}

func (w *stdinWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	return w.conn.CloseWrite()
}

func (w *stdinWriter) exited() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

var _ provider.Process = (*process)(nil)
