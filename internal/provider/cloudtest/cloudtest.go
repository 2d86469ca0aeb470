// Package cloudtest holds what the cloud vendors' protocol fakes share: a sandbox that is
// a directory on the host, in which commands run for real, so the conformance suite
// exercises real processes and real streaming through each vendor's wire protocol.
//
// Commands run under bubblewrap with the sandbox's directory as their /, and the host's
// /usr, /etc and /lib* read-only over it: paths in arguments, working directories and
// HOME mean what they mean in a real sandbox ("/workspace/a.txt" is ROOT/workspace/a.txt).
package cloudtest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Box is one fake sandbox.
type Box struct {
	Root string // host directory standing for the sandbox's /
	// Binds are host directories mounted read-only in the sandbox (target → source), as
	// if the image carried them (Provider.BindMounts); set before the first command.
	Binds map[string]string

	mu    sync.Mutex
	procs map[*Cmd]bool
}

// NewBox returns a sandbox rooted at a new directory under dir.
func NewBox(dir string) (*Box, error) {
	root, err := os.MkdirTemp(dir, "box-")
	if err != nil {
		return nil, err
	}
	// Like any Linux image, the sandbox has a /tmp.
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	return &Box{Root: root, procs: map[*Cmd]bool{}}, nil
}

// Path maps an absolute sandbox path to the host.
func (b *Box) Path(p string) string {
	return filepath.Join(b.Root, filepath.FromSlash(path.Clean("/"+p)))
}

// WriteFile writes a file, creating its parent directories.
func (b *Box) WriteFile(p string, data []byte, mode fs.FileMode) error {
	hp := b.Path(p)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	if err := os.WriteFile(hp, data, mode); err != nil {
		return err
	}
	return os.Chmod(hp, mode)
}

// ReadFile reads a file; the error satisfies errors.Is(err, fs.ErrNotExist) when missing.
func (b *Box) ReadFile(p string) ([]byte, error) { return os.ReadFile(b.Path(p)) }

// Bwrap reports why StartShell cannot work here ("" when it can).
func Bwrap() string {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return "bwrap (bubblewrap, installed by scripts/install-test-deps) is not installed"
	}
	return ""
}

// StartShell runs script with sh -c, for vendor APIs that take a command line whose
// paths the fake cannot rewrite: bubblewrap makes the box's root the process's /, with
// the host's /usr, /etc and friends mounted read-only over it, so absolute paths in
// script mean what they mean in a real sandbox.
func (b *Box) StartShell(script string, env map[string]string) (*Cmd, error) {
	return b.StartIn([]string{"/bin/sh", "-c", script}, "/", env)
}

// StartIn runs args under bubblewrap like StartShell, in the sandbox directory cwd
// (created when missing), with env (replacing the default PATH and HOME when given).
func (b *Box) StartIn(args []string, cwd string, env map[string]string) (*Cmd, error) {
	if len(args) == 0 {
		return nil, errors.New("no command")
	}
	if cwd == "" {
		cwd = "/"
	}
	if err := os.MkdirAll(b.Path(cwd), 0o755); err != nil {
		return nil, err
	}
	search := "/usr/local/bin:/usr/bin:/bin"
	if v, ok := env["PATH"]; ok {
		search = v
	}
	if err := b.lookPath(args[0], search); err != nil {
		return nil, err
	}
	bw := []string{"--bind", b.Root, "/", "--proc", "/proc", "--dev", "/dev", "--die-with-parent", "--chdir", cwd}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			// Made here, not with bwrap's --symlink, which fails once the link exists.
			target, err := os.Readlink(d)
			if err != nil {
				return nil, err
			}
			if err := os.Symlink(target, b.Path(d)); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, err
			}
		case fi.IsDir():
			bw = append(bw, "--ro-bind", d, d)
		}
	}
	for target, src := range b.Binds {
		if err := os.MkdirAll(b.Path(target), 0o755); err != nil {
			return nil, err
		}
		bw = append(bw, "--ro-bind", src, path.Clean(target))
	}
	c := exec.Command("bwrap", append(append(bw, "--"), args...)...)
	vars := map[string]string{"PATH": search, "HOME": "/"}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		c.Env = append(c.Env, k+"="+v)
	}
	return b.start(c)
}

// systemDirs are the host directories StartIn mounts (or links) into the sandbox.
var systemDirs = []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// hostPath is where the sandbox path p lives on the host: under a bind, its source; under
// a system directory, the host's own; elsewhere, under the box's root.
func (b *Box) hostPath(p string) string {
	p = path.Clean("/" + p)
	for target, src := range b.Binds {
		if t := path.Clean(target); p == t || strings.HasPrefix(p, t+"/") {
			return filepath.Join(src, filepath.FromSlash(strings.TrimPrefix(p, t)))
		}
	}
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return p
		}
	}
	return b.Path(p)
}

// lookPath fails, as a real sandbox's exec would before anything runs, when cmd is not
// an executable file in the sandbox (searched in path when it has no slash).
func (b *Box) lookPath(cmd, search string) error {
	candidates := []string{cmd}
	if !strings.Contains(cmd, "/") {
		candidates = nil
		for _, dir := range filepath.SplitList(search) {
			candidates = append(candidates, path.Join(dir, cmd))
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(b.hostPath(c)); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return nil
		}
	}
	return fmt.Errorf("exec: %q: executable file not found", cmd)
}

func (b *Box) start(c *exec.Cmd) (*Cmd, error) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd := &Cmd{c: c, done: make(chan struct{})}
	var err error
	if cmd.Stdin, err = c.StdinPipe(); err != nil {
		return nil, err
	}
	or, ow, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		or.Close()
		ow.Close()
		return nil, err
	}
	c.Stdout, c.Stderr = ow, ew
	if err := c.Start(); err != nil {
		or.Close()
		ow.Close()
		er.Close()
		ew.Close()
		return nil, fmt.Errorf("start %s: %w", c.Args[0], err)
	}
	ow.Close()
	ew.Close()
	cmd.Stdout, cmd.Stderr = or, er
	b.mu.Lock()
	b.procs[cmd] = true
	b.mu.Unlock()
	go func() {
		c.Wait()
		b.mu.Lock()
		delete(b.procs, cmd)
		b.mu.Unlock()
		close(cmd.done)
	}()
	return cmd, nil
}

// KillAll kills every running process of the sandbox (pause, stop, delete).
func (b *Box) KillAll() {
	b.mu.Lock()
	var cmds []*Cmd
	for c := range b.procs {
		cmds = append(cmds, c)
	}
	b.mu.Unlock()
	for _, c := range cmds {
		c.Signal(syscall.SIGKILL)
		<-c.Done()
	}
}

// Remove kills the sandbox's processes and deletes its files.
func (b *Box) Remove() error {
	b.KillAll()
	return os.RemoveAll(b.Root)
}

// Cmd is a running command. Read Stdout and Stderr to EOF before ExitCode.
type Cmd struct {
	c              *exec.Cmd
	Stdin          io.WriteCloser
	Stdout, Stderr io.ReadCloser
	done           chan struct{}
}

// Pid is the host process ID.
func (c *Cmd) Pid() int { return c.c.Process.Pid }

// Signal signals the command's process group.
func (c *Cmd) Signal(sig syscall.Signal) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	return syscall.Kill(-c.c.Process.Pid, sig)
}

// Done is closed when the command has exited.
func (c *Cmd) Done() <-chan struct{} { return c.done }

// ExitCode waits for the command and returns its exit code, 128+signal when killed.
func (c *Cmd) ExitCode() int {
	<-c.done
	st := c.c.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
