package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/hangar-dev/hangar/internal/provider"
)

// execWrapper runs before every command: the exec API takes only argv, so the wrapper
// records its pid (which the command takes over, for Signal: the API cannot signal an
// exec), changes to the working directory and exports the environment. Arguments: $0 the
// token naming the pid file, $1 the directory, $2 the number of KEY=VALUE entries, those
// entries, then the command.
const execWrapper = `echo $$ > /tmp/.hangar-pid-$0 || exit 126
cd -- "$1" || exit 126
shift; n=$1; shift
while [ "$n" -gt 0 ]; do export "$1"; shift; n=$((n-1)); done
exec "$@"`

// treeFunc kills a process and its descendants (found through /proc/*/stat, as
// /proc/PID/task/*/children is not always compiled in), each stopped first so it cannot
// fork away.
const treeFunc = `tree() {
	kill -s STOP "$1" 2>/dev/null
	for f in /proc/[0-9]*/stat; do
		read -r _ _ _ pp _ < "$f" 2>/dev/null || continue
		if [ "$pp" = "$1" ]; then c=${f#/proc/}; tree "${c%/stat}"; fi
	done
	kill -s KILL "$1" 2>/dev/null
}
`

// killScript signals the exec whose token is $1 with $2 (INT, or KILL for its tree).
const killScript = treeFunc + `f=/tmp/.hangar-pid-$1
i=0
while [ ! -s "$f" ]; do
	i=$((i+1)); [ $i -gt 400 ] && exit 0
	sleep 0.005
done
pid=$(cat "$f")
if [ "$2" = KILL ]; then tree "$pid"; else kill -s "$2" "$pid" 2>/dev/null; fi
exit 0`

// killAllScript kills every exec the provider started in the pod, but itself. Its
// arguments are the tokens of the execs still running: an exec whose wrapper has not yet
// written its pid file (Stop right after Exec) is waited for, as killScript does.
const killAllScript = treeFunc + `for t in "$@"; do
	i=0
	while [ ! -s "/tmp/.hangar-pid-$t" ] && [ $i -le 400 ]; do
		i=$((i+1)); sleep 0.005
	done
done
for f in /tmp/.hangar-pid-*; do
	[ -f "$f" ] || continue
	pid=$(cat "$f"); rm -f "$f"
	[ -n "$pid" ] && [ "$pid" != "$$" ] && tree "$pid"
done
exit 0`

// process is one exec of the pod's sandbox container.
type process struct {
	s      *Sandbox
	token  string
	stdinR *io.PipeReader
	stdinW *io.PipeWriter
	stdout *provider.Pipe
	stderr *provider.Pipe
	done   chan struct{}
	code   int
	err    error
}

// start streams an exec of args in dir with env (KEY=VALUE) over the API server.
func (s *Sandbox) start(ctx context.Context, dir string, env, args []string) (*process, error) {
	if s.p.rest == nil {
		return nil, errors.New("no client config for exec")
	}
	var b [8]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	cmd := append([]string{"/bin/sh", "-c", execWrapper, token, dir, strconv.Itoa(len(env))}, env...)
	cmd = append(cmd, args...)
	req := s.p.core.RESTClient().Post().Namespace(s.h.Namespace).Resource("pods").Name(s.h.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: s.h.container(), Command: cmd, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exec, err := newExecutor(s.p.rest, req.URL())
	if err != nil {
		return nil, err
	}
	r, w := io.Pipe()
	p := &process{s: s, token: token, stdinR: r, stdinW: w, stdout: provider.NewPipe(), stderr: provider.NewPipe(), done: make(chan struct{})}
	go p.stream(exec)
	go func() {
		select {
		case <-ctx.Done():
			p.Signal(true)
		case <-p.done:
		}
	}()
	return p, nil
}

// newExecutor streams over WebSocket (v5.channel.k8s.io: stdin can be half-closed),
// falling back to SPDY when the API server does not upgrade to WebSocket, as kubectl does.
func newExecutor(rc *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	ws, err := remotecommand.NewWebSocketExecutor(rc, "GET", u.String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// stream runs the exec to its end and records the exit code. The stream's context is not
// the caller's: cancelling kills the process (Signal), whose stream then ends.
func (p *process) stream(exec remotecommand.Executor) {
	defer close(p.done)
	err := exec.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdin: p.stdinR, Stdout: p.stdout, Stderr: p.stderr})
	// EOF for client-go's stdin copier (an error would be logged through klog); later
	// writes to Stdin fail with io.ErrClosedPipe.
	p.stdinW.Close()
	p.stdout.CloseWrite()
	p.stderr.CloseWrite()
	var exit utilexec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		p.code = exit.ExitStatus()
	default:
		p.err = fmt.Errorf("exec stream: %w", err)
	}
}

func (p *process) Stdin() io.WriteCloser { return p.stdinW }
func (p *process) Stdout() io.Reader     { return p.stdout }
func (p *process) Stderr() io.Reader     { return p.stderr }

// Signal implements provider.Process: SIGINT to the process, or SIGKILL to it and its
// descendants, delivered by a short exec of kill in the pod.
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
	out, errOut, code, err := p.s.run(ctx, nil, "/bin/sh", "-c", killScript, "kill", p.token, sig)
	if err != nil || code != 0 {
		select {
		case <-p.done: // the pod went away: so did the process
			return nil
		default:
		}
		if err == nil {
			err = fmt.Errorf("exit %d: %s%s", code, out, errOut)
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
