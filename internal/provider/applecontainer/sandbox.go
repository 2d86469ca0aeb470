package applecontainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// sandboxPath is the PATH of every Exec.
const sandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// rootUser runs the sandbox's setup.
const rootUser = "0:0"

// Sandbox is one session's VM.
type Sandbox struct {
	p   *Provider
	h   handle
	raw []byte

	mu        sync.Mutex
	procs     map[*process]struct{}
	egress    *egressBridge
	stopped   bool
	destroyed bool
}

// Handle implements provider.Sandbox.
func (s *Sandbox) Handle() provider.Handle { return provider.Handle(s.raw) }

// Capabilities reports the provider's capabilities on the sandbox itself, so engines can
// tell that paths inside differ from the host's (Isolated).
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

// Name is the CLI's name of the sandbox's container or VM.
func (s *Sandbox) Name() string { return s.h.Name }

func (s *Sandbox) usable() error {
	switch {
	case s.destroyed:
		return fmt.Errorf("%s sandbox %s: %w", s.p.d.name, s.h.Session, errDestroyed)
	case s.stopped:
		return fmt.Errorf("%s sandbox %s: stopped", s.p.d.name, s.h.Session)
	}
	return nil
}

// setup creates the work dir and home, owned by the sandbox's user.
func (s *Sandbox) setup(ctx context.Context) error {
	script := `mkdir -p -- "$2" "$3" && chown "$1" -- "$2" "$3"`
	_, out, code, err := s.run(ctx, rootUser, nil, "/bin/sh", "-c", script, "setup", s.p.cfg.User, s.h.WorkDir, s.h.HomeDir)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d: %s", code, out)
	}
	if err != nil {
		return fmt.Errorf("prepare the work dir and home: %w", err)
	}
	return nil
}

// Exec implements provider.Sandbox.
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
	env := []string{"PATH=" + sandboxPath, "HOME=" + s.h.HomeDir, "USER=agent", "LANG=C.UTF-8"}
	for _, kv := range spec.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "exec: environment entry %q is not KEY=VALUE", kv)
		}
		env = append(env, kv)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	pr, err := s.start(ctx, s.p.cfg.User, dir, env, spec.Args)
	if err != nil {
		return nil, fmt.Errorf("%s sandbox %s: exec %s: %w", s.p.d.name, s.h.Session, spec.Args[0], err)
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

// run runs args to completion as user with stdin and returns its stdout, stderr and exit
// code.
func (s *Sandbox) run(ctx context.Context, user string, stdin []byte, args ...string) ([]byte, string, int, error) {
	pr, err := s.start(ctx, user, "/", []string{"PATH=" + sandboxPath}, args)
	if err != nil {
		return nil, "", 0, err
	}
	go func() {
		pr.Stdin().Write(stdin)
		pr.Stdin().Close()
	}()
	var errOut []byte
	var wg sync.WaitGroup
	wg.Go(func() { errOut, _ = io.ReadAll(pr.Stderr()) })
	out, _ := io.ReadAll(pr.Stdout())
	wg.Wait()
	code, err := pr.Wait()
	return out, string(bytes.TrimSpace(errOut)), code, err
}

// filePath returns the clean absolute path of name inside the sandbox (relative names are
// under the work dir); it must be in the work dir or home (invalid_request_error).
func (s *Sandbox) filePath(name string) (string, error) {
	p := name
	if !path.IsAbs(p) {
		p = path.Join(s.h.WorkDir, p)
	}
	p = path.Clean(p)
	if (!within(p, s.h.WorkDir) && !within(p, s.h.HomeDir)) || p == s.h.WorkDir || p == s.h.HomeDir {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "path %q is not a file under the sandbox's work dir %s or home %s", name, s.h.WorkDir, s.h.HomeDir)
	}
	return p, nil
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func (s *Sandbox) checkUsable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usable()
}

// Exit codes of the file scripts.
const (
	exitMissing    = 3
	exitNotRegular = 4
)

// PutFile implements provider.Sandbox: the data goes through the stdin of cat, as the
// sandbox's user, who creates missing parent directories.
func (s *Sandbox) PutFile(ctx context.Context, name string, data []byte, mode uint32) error {
	if err := s.checkUsable(); err != nil {
		return err
	}
	p, err := s.filePath(name)
	if err != nil {
		return err
	}
	script := `mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"`
	_, out, code, err := s.run(ctx, s.p.cfg.User, data, "/bin/sh", "-c", script, "put", p, strconv.FormatUint(uint64(mode&0o777), 8))
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d: %s", code, out)
	}
	if err != nil {
		return fmt.Errorf("put file %s: %w", name, err)
	}
	return nil
}

// GetFile implements provider.Sandbox: not_found_error when the file does not exist.
func (s *Sandbox) GetFile(ctx context.Context, name string) ([]byte, error) {
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	p, err := s.filePath(name)
	if err != nil {
		return nil, err
	}
	script := `[ -e "$1" ] || exit 3; [ -f "$1" ] || exit 4; exec cat -- "$1"`
	data, out, code, err := s.run(ctx, s.p.cfg.User, nil, "/bin/sh", "-c", script, "get", p)
	switch {
	case err != nil:
		return nil, fmt.Errorf("get file %s: %w", name, err)
	case code == exitMissing:
		return nil, hangar.Errorf(hangar.KindNotFound, "file %s not found", name)
	case code == exitNotRegular:
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "get file %q: not a regular file", name)
	case code != 0:
		return nil, fmt.Errorf("get file %s: exit %d: %s", name, code, out)
	}
	return data, nil
}

// halt ends the sandbox's processes and egress bridge; s.mu is held.
func (s *Sandbox) halt() {
	for pr := range s.procs {
		pr.cmd.Process.Kill()
	}
	if s.egress != nil {
		s.egress.close()
		s.egress = nil
	}
}

// Stop implements provider.Sandbox: the VM is stopped and kept, with its files.
func (s *Sandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.stopped {
		return nil
	}
	s.stopped = true
	s.halt()
	if _, err := s.p.cli(ctx, s.p.d.stop(s.h.Name)...); err != nil {
		if st, serr := s.p.state(ctx, s.h.Name); serr == nil && st != stateRunning {
			return nil // gone or stopped already
		}
		return fmt.Errorf("stop %s sandbox %s: %w", s.p.d.name, s.h.Session, err)
	}
	return nil
}

// Destroy implements provider.Sandbox: the VM and its files are deleted.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil
	}
	s.halt()
	if _, err := s.p.cli(ctx, s.p.d.remove(s.h.Name)...); err != nil {
		if st, serr := s.p.state(ctx, s.h.Name); serr != nil || st != stateMissing {
			return fmt.Errorf("destroy %s sandbox %s: %w", s.p.d.name, s.h.Session, errors.Join(err, serr))
		}
	}
	s.destroyed = true
	return nil
}

var _ provider.Sandbox = (*Sandbox)(nil)
