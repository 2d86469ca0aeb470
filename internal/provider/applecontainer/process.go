package applecontainer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/internal/provider"
)

// pidWrapper runs before every Exec's command ("$@"): it records the shell's pid, which the
// command then takes over, in the sandbox's /tmp for Signal, since neither CLI can signal
// one exec of a VM.
const pidWrapper = `echo $$ > /tmp/.hangar-pid-$0 && exec "$@"`

// killScript signals the Exec whose token is $1 with $2 (INT, or KILL for the process and
// all its descendants, frozen first so they cannot fork away).
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

// argvEnv are variables passed with their values in argv: harmless, and the CLI itself
// needs its own PATH and HOME, so they cannot come from its environment.
var argvEnv = map[string]bool{"PATH": true, "HOME": true, "USER": true, "LANG": true, "SHELL": true, "TMPDIR": true}

// process is one CLI exec of a sandbox.
type process struct {
	s      *Sandbox
	cmd    *exec.Cmd
	token  string
	user   string
	stdin  io.WriteCloser
	stdout *provider.Pipe
	stderr *provider.Pipe
	done   chan struct{}
	code   int
	err    error
}

// start runs args in the sandbox through the CLI's exec, stdin open.
func (s *Sandbox) start(ctx context.Context, user, dir string, env, args []string) (*process, error) {
	var b [8]byte
	rand.Read(b[:])
	return s.startAs(ctx, hex.EncodeToString(b[:]), user, dir, env, args)
}

// startAs is start with the token naming the process's pid file.
func (s *Sandbox) startAs(ctx context.Context, token, user, dir string, env, args []string) (*process, error) {
	o := execOpts{user: user, dir: dir}
	cliEnv := os.Environ()
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if s.p.d.inheritEnv && !argvEnv[k] {
			o.env = append(o.env, k)
			cliEnv = append(cliEnv, kv)
		} else {
			o.env = append(o.env, kv)
		}
	}
	argv := s.p.d.exec(s.h.Name, o, append([]string{"/bin/sh", "-c", pidWrapper, token}, args...))
	cmd := exec.Command(orDefault(s.p.cfg.CLI, s.p.d.bin), argv...)
	cmd.Env = cliEnv
	p := &process{s: s, cmd: cmd, token: token, user: user, stdout: provider.NewPipe(), stderr: provider.NewPipe(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	// Output held open by a background process of the command must not hang Wait.
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	p.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go p.wait()
	go func() {
		select {
		case <-ctx.Done():
			p.Signal(true)
			cmd.Process.Kill()
		case <-p.done:
		}
	}()
	return p, nil
}

func (p *process) wait() {
	defer close(p.done)
	err := p.cmd.Wait()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		p.code = exit.ExitCode()
	case errors.As(err, &exit):
		p.code = 128 + 9 // killed by a signal
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		p.err = err
	}
	p.stdout.CloseWrite()
	p.stderr.CloseWrite()
}

func (p *process) Stdin() io.WriteCloser { return p.stdin }
func (p *process) Stdout() io.Reader     { return p.stdout }
func (p *process) Stderr() io.Reader     { return p.stderr }

// Signal implements provider.Process: SIGINT to the process, or SIGKILL to it and its
// descendants, delivered by a short exec of kill inside the sandbox; a forced stop also
// kills the local CLI client.
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
	_, out, code, err := p.s.run(ctx, p.user, nil, "/bin/sh", "-c", killScript, "kill", p.token, sig)
	if kill {
		p.cmd.Process.Kill()
	}
	if err != nil || code != 0 {
		select {
		case <-p.done: // the VM went away: so did the process
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

var _ provider.Process = (*process)(nil)
