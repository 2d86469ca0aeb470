package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/hangar-dev/hangar/internal/provider"
)

// hostSandbox is a provider.Sandbox of plain host processes, for the bare side of the
// engines measurement: paths are host paths, and Exec gives the process the environment
// the local sandbox gives it besides the engine's (bwrap --clearenv).
type hostSandbox struct{}

func (hostSandbox) Handle() provider.Handle { return nil }

func (hostSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if len(spec.Args) == 0 {
		return nil, errors.New("exec: no command")
	}
	cmd := exec.Command(spec.Args[0], spec.Args[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "USER=agent", "LANG=C.UTF-8"}, spec.Env...)
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &hostProcess{cmd: cmd, stdin: inW, stdout: outR, stderr: errR, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		case err != nil:
			p.err = err
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			p.Signal(true)
		case <-p.done:
		}
	}()
	return p, nil
}

func (hostSandbox) PutFile(ctx context.Context, path string, data []byte, mode uint32) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, os.FileMode(mode))
}

func (hostSandbox) GetFile(ctx context.Context, path string) ([]byte, error) {
	return os.ReadFile(path)
}

func (hostSandbox) Stop(ctx context.Context) error    { return nil }
func (hostSandbox) Destroy(ctx context.Context) error { return nil }

// hostProcess is one hostSandbox.Exec.
type hostProcess struct {
	cmd            *exec.Cmd
	stdin          *os.File
	stdout, stderr *os.File
	done           chan struct{}
	code           int
	err            error
}

func (p *hostProcess) Stdin() io.WriteCloser { return p.stdin }
func (p *hostProcess) Stdout() io.Reader     { return p.stdout }
func (p *hostProcess) Stderr() io.Reader     { return p.stderr }

// Signal signals the process group: SIGINT, or SIGKILL when kill.
func (p *hostProcess) Signal(kill bool) error {
	sig := syscall.SIGINT
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal: %w", err)
	}
	return nil
}

func (p *hostProcess) Wait() (int, error) {
	<-p.done
	return p.code, p.err
}

var _ provider.Sandbox = hostSandbox{}
