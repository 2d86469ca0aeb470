package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Paths inside a sandbox.
const (
	forwarderPath = "/run/hangar/hangar"
	socketPath    = "/run/hangar/egress.sock"
	readyPath     = "/tmp/.hangar-forward-ready"
	sandboxUID    = "1000"
	sandboxPath   = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Sandbox is a local sandbox: a state directory, a cgroup, and the processes Exec starts.
type Sandbox struct {
	p   *Provider
	h   handle
	raw []byte
	cg  *cgroup // nil when limits are disabled

	mu        sync.Mutex
	procs     map[*process]struct{}
	stopped   bool
	destroyed bool
}

// Handle implements provider.Sandbox.
func (s *Sandbox) Handle() provider.Handle { return provider.Handle(s.raw) }

// Capabilities reports the provider's capabilities on the sandbox itself, so engines can
// tell that paths inside differ from the host's (Isolated).
func (s *Sandbox) Capabilities() provider.Capabilities { return capabilities() }

// Exec implements provider.Sandbox: it runs spec.Args under bwrap in the sandbox's cgroup.
// It returns an invalid_request_error for an empty command or a bad Dir.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "exec: no command")
	}
	dir := spec.Dir
	if dir == "" {
		dir = s.h.WorkDir
	} else if !path.IsAbs(dir) {
		dir = path.Join(s.h.WorkDir, dir)
	}
	args, err := s.bwrapArgs(dir, spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if s.h.EgressSocket != "" {
		if _, err := os.Stat(s.h.EgressSocket); err != nil {
			return nil, fmt.Errorf("local sandbox %s: egress socket: %w", s.h.Session, err)
		}
	}
	pr, err := start(ctx, s.p.bwrap, args, s.cg)
	if err != nil {
		return nil, fmt.Errorf("local sandbox %s: exec %s: %w", s.h.Session, spec.Args[0], err)
	}
	s.procs[pr] = struct{}{}
	go func() {
		pr.Wait()
		s.mu.Lock()
		delete(s.procs, pr)
		s.mu.Unlock()
	}()
	return pr, nil
}

func (s *Sandbox) usable() error {
	switch {
	case s.destroyed:
		return fmt.Errorf("local sandbox %s: destroyed", s.h.Session)
	case s.stopped:
		return fmt.Errorf("local sandbox %s: stopped", s.h.Session)
	}
	return nil
}

// bwrapArgs builds the bwrap command line of one Exec.
func (s *Sandbox) bwrapArgs(dir string, spec provider.ExecSpec) ([]string, error) {
	args := []string{
		"--unshare-all", "--unshare-user", "--disable-userns",
		"--die-with-parent", "--new-session",
		"--uid", sandboxUID, "--gid", sandboxUID,
		"--hostname", "sandbox",
	}
	args = append(args, s.p.system...)
	args = append(args,
		// The agent's uid maps to the host's root (see docs/sandboxes.md), so /proc,
		// whose /proc/sys and /proc/sysrq-trigger are root-owned and global, is read-only.
		"--proc", "/proc", "--remount-ro", "/proc",
		"--dev", "/dev", "--tmpfs", "/tmp",
		"--bind", s.h.workspace(), s.h.WorkDir,
		"--bind", s.h.home(), s.h.HomeDir,
	)
	for _, m := range s.h.Mounts {
		flag := "--bind"
		if m.ReadOnly {
			flag = "--ro-bind"
		}
		args = append(args, flag, m.Source, m.Target)
	}
	if s.h.Layer != "" {
		args = append(args, "--ro-bind", s.h.Layer, layerPath)
	}
	if s.h.EgressSocket != "" {
		args = append(args,
			"--ro-bind", s.p.forwarder, forwarderPath,
			"--ro-bind", s.h.EgressSocket, socketPath)
	}
	args = append(args,
		"--remount-ro", "/", // the root tmpfs: no writes but to the binds and /tmp
		"--chdir", dir,
		"--clearenv",
		"--setenv", "PATH", sandboxPath,
		"--setenv", "HOME", s.h.HomeDir,
		"--setenv", "USER", "agent",
		"--setenv", "LANG", "C.UTF-8",
	)
	if s.h.Layer != "" {
		for _, kv := range layerEnv {
			args = append(args, "--setenv", kv[0], kv[1])
		}
	}
	for _, kv := range spec.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "exec: environment entry %q is not KEY=VALUE", kv)
		}
		args = append(args, "--setenv", k, v)
	}
	args = append(args, "--")
	if s.h.EgressSocket != "" {
		// Start the forwarder, wait until it listens, then run the payload.
		args = append(args, "/bin/sh", "-c", forwardScript, "sh")
	}
	return append(args, spec.Args...), nil
}

// forwardScript runs inside the sandbox before the payload ("$@") when the session has an
// egress socket: the forwarder creates readyPath once it listens on provider.EgressAddr.
var forwardScript = fmt.Sprintf(`%s forward --listen %s --socket %s --ready %s </dev/null >/dev/null 2>&1 &
i=0
while [ ! -e %[4]s ]; do
	i=$((i+1))
	if [ $i -gt 1000 ] || ! kill -0 $! 2>/dev/null; then echo "hangar: the egress forwarder did not start" >&2; exit 125; fi
	sleep 0.005
done
exec "$@"`, forwarderPath, provider.EgressAddr, socketPath, readyPath)

// hostPath maps a path inside the sandbox (absolute, or relative to the work dir) to the
// root it lives under on the host and its path relative to that root. Paths outside the
// work dir and home are an invalid_request_error.
func (s *Sandbox) hostPath(name string) (root, rel string, err error) {
	p := name
	if !path.IsAbs(p) {
		p = path.Join(s.h.WorkDir, p)
	}
	p = path.Clean(p)
	for _, m := range []struct{ in, host string }{{s.h.WorkDir, s.h.workspace()}, {s.h.HomeDir, s.h.home()}} {
		if within(p, m.in) {
			rel := strings.TrimPrefix(strings.TrimPrefix(p, m.in), "/")
			if rel == "" {
				rel = "."
			}
			return m.host, filepath.FromSlash(rel), nil
		}
	}
	return "", "", hangar.Errorf(hangar.KindInvalidRequest, "path %q is outside the sandbox's work dir %s and home %s", name, s.h.WorkDir, s.h.HomeDir)
}

// openRoot opens the host directory behind name; symlinks and ".." cannot leave it.
func (s *Sandbox) openRoot(name string) (*os.Root, string, error) {
	s.mu.Lock()
	err := s.usable()
	s.mu.Unlock()
	if err != nil {
		return nil, "", err
	}
	dir, rel, err := s.hostPath(name)
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", fmt.Errorf("local sandbox %s: %w", s.h.Session, err)
	}
	return root, rel, nil
}

// PutFile implements provider.Sandbox. Paths must be under the work dir or home
// (invalid_request_error otherwise, or when a symlink points out of them).
func (s *Sandbox) PutFile(ctx context.Context, name string, data []byte, mode uint32) error {
	root, rel, err := s.openRoot(name)
	if err != nil {
		return err
	}
	defer root.Close()
	if rel == "." {
		return hangar.Errorf(hangar.KindInvalidRequest, "put file %q: is a directory", name)
	}
	if d := filepath.Dir(rel); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fileErr("put", name, err)
		}
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fs.FileMode(mode)&fs.ModePerm)
	if err != nil {
		return fileErr("put", name, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Chmod(rel, fs.FileMode(mode)&fs.ModePerm)
	}
	return fileErr("put", name, err)
}

// GetFile implements provider.Sandbox: not_found_error when the file does not exist.
func (s *Sandbox) GetFile(ctx context.Context, name string) ([]byte, error) {
	root, rel, err := s.openRoot(name)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, fileErr("get", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "get file %q: not a regular file", name)
	}
	b, err := io.ReadAll(f)
	return b, fileErr("get", name, err)
}

// fileErr classifies a file error: missing files are not_found_error, escapes are
// invalid_request_error.
func fileErr(op, name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return &hangar.Error{Kind: hangar.KindNotFound, Message: fmt.Sprintf("file %s not found", name), Err: err}
	case strings.Contains(err.Error(), "path escapes from parent"):
		// os.Root's escape error has no exported sentinel.
		return &hangar.Error{Kind: hangar.KindInvalidRequest, Message: fmt.Sprintf("%s file %q: path escapes the sandbox", op, name), Err: err}
	}
	return fmt.Errorf("%s file %s: %w", op, name, err)
}

// Stop implements provider.Sandbox: it kills every process of the sandbox.
func (s *Sandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil
	}
	s.stopped = true
	return s.killAll()
}

// killAll kills the processes of the sandbox; s.mu is held.
func (s *Sandbox) killAll() error {
	for pr := range s.procs {
		pr.Signal(true)
	}
	if s.cg != nil {
		if err := s.cg.kill(); err != nil {
			return fmt.Errorf("stop local sandbox %s: %w", s.h.Session, err)
		}
	}
	return nil
}

// Destroy implements provider.Sandbox: it kills the processes and removes the cgroup and
// the sandbox's directories.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil
	}
	if err := s.killAll(); err != nil {
		return err
	}
	s.destroyed = true
	var errs []error
	if s.cg != nil {
		errs = append(errs, s.cg.remove())
	}
	if err := os.RemoveAll(s.h.Dir); err != nil {
		errs = append(errs, fmt.Errorf("destroy local sandbox %s: %w", s.h.Session, err))
	}
	return errors.Join(errs...)
}

var _ provider.Sandbox = (*Sandbox)(nil)
