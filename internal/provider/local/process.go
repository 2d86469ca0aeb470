package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/hangar-dev/hangar/internal/provider"
)

// gateScript holds the process back until its parent has put it in the sandbox's cgroup,
// so that bwrap and everything it starts are limited from their first instruction.
const gateScript = `read _ <&3 || exit 125; exec 3<&-; exec "$@"`

// process is one Exec: /bin/sh (the gate) exec'ing bwrap, which runs the payload in
// fresh namespaces.
type process struct {
	cmd            *exec.Cmd
	stdin          *os.File
	stdout, stderr *output
	exited         chan struct{} // bwrap has exited; closed before done
	done           chan struct{}
	code           int
	err            error
}

// start starts bwrap with args in cg (none when nil). The process is killed when ctx is
// done.
func start(ctx context.Context, bwrap string, args []string, cg *cgroup) (*process, error) {
	var files []*os.File // parent's copies of the child's ends, closed after start
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pipe := os.Pipe
	gateR, gateW, err := pipe()
	if err != nil {
		return nil, err
	}
	defer gateW.Close()
	files = append(files, gateR)
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	files = append(files, inR)
	outR, outW, err := pipe()
	if err != nil {
		inW.Close()
		return nil, err
	}
	files = append(files, outW)
	errR, errW, err := pipe()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	files = append(files, errW)

	cmd := exec.Command("/bin/sh", append([]string{"-c", gateScript, "sh", bwrap}, args...)...)
	cmd.Env = []string{}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.ExtraFiles = []*os.File{gateR}
	cmd.SysProcAttr = sysProcAttr()
	closeParent := func() { inW.Close(); outR.Close(); errR.Close() }
	if err := cmd.Start(); err != nil {
		closeParent()
		return nil, err
	}
	if cg != nil {
		if err := cg.add(cmd.Process.Pid); err != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			closeParent()
			return nil, err
		}
	}
	if _, err := gateW.Write([]byte("\n")); err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		closeParent()
		return nil, fmt.Errorf("release the process: %w", err)
	}
	exited := make(chan struct{})
	p := &process{cmd: cmd, stdin: inW, stdout: &output{outR, exited}, stderr: &output{errR, exited},
		exited: exited, done: make(chan struct{})}
	go p.wait()
	go func() {
		select {
		case <-ctx.Done():
			p.Signal(true)
		case <-p.done:
		}
	}()
	return p, nil
}

func (p *process) wait() {
	defer close(p.done)
	err := p.cmd.Wait()
	// A signal that ends bwrap while it starts can orphan its namespace's init: cloned
	// just after the signal, before it armed --die-with-parent, it waits forever for the
	// uid map its dead parent was to write, holding stdout. It is still in bwrap's
	// process group (the payload has its own session), which no new process can join
	// now, so killing the group reaches exactly such stragglers.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	close(p.exited)
	p.stdout.exit()
	p.stderr.exit()
	p.stdin.Close()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.code = 128 + int(ws.Signal())
		} else {
			p.code = ee.ExitCode()
		}
	default:
		p.err = err
	}
}

func (p *process) Stdin() io.WriteCloser { return p.stdin }
func (p *process) Stdout() io.Reader     { return p.stdout }
func (p *process) Stderr() io.Reader     { return p.stderr }

// Signal implements provider.Process. kill=false sends SIGINT to the payload's process
// group (bwrap runs it in a new session) and leaves bwrap alone so the payload can exit
// gracefully; kill=true SIGKILLs bwrap, which takes the sandbox's pid namespace down.
func (p *process) Signal(kill bool) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	pid := p.cmd.Process.Pid
	if kill {
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal: %w", err)
		}
		return nil
	}
	// bwrap (pid) forks the namespace's init, which leads the payload's session and
	// process group (--new-session) and, being a namespace init without handlers, ignores
	// the SIGINT itself.
	for _, init := range children(pid) {
		if err := syscall.Kill(-init, syscall.SIGINT); err == nil {
			return nil
		}
	}
	// Not started yet: interrupting bwrap ends the sandbox's processes.
	if err := syscall.Kill(-pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal: %w", err)
	}
	return nil
}

// children lists the child processes of pid.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// Wait implements provider.Process.
func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

var _ provider.Process = (*process)(nil)
