package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Sandbox is one session's pod.
type Sandbox struct {
	p   *Provider
	h   handle
	raw []byte

	mu        sync.Mutex
	procs     map[*process]struct{}
	stopped   bool
	destroyed bool
}

// Handle implements provider.Sandbox.
func (s *Sandbox) Handle() provider.Handle { return provider.Handle(s.raw) }

// Capabilities reports the provider's capabilities on the sandbox itself, so engines can
// tell that paths inside differ from the host's (Isolated).
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

// Pod returns the namespace and name of the sandbox's pod.
func (s *Sandbox) Pod() (namespace, name string) { return s.h.Namespace, s.h.Pod }

var errStopped = errors.New("stopped")

func (s *Sandbox) usable() error {
	switch {
	case s.destroyed:
		return fmt.Errorf("kubernetes sandbox %s: destroyed", s.h.Session)
	case s.stopped:
		return fmt.Errorf("kubernetes sandbox %s: %w", s.h.Session, errStopped)
	}
	return nil
}

func (s *Sandbox) checkUsable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usable()
}

// Exec implements provider.Sandbox: an exec of the pod's sandbox container through the
// API server, with stdin, stdout and stderr streamed.
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
	env := []string{"HOME=" + s.h.HomeDir}
	for _, kv := range spec.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " \t\n$'\"") {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "exec: environment entry %q is not KEY=VALUE", kv)
		}
		env = append(env, kv)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	pr, err := s.start(ctx, dir, env, spec.Args)
	if err != nil {
		return nil, fmt.Errorf("kubernetes sandbox %s: exec %s: %w", s.h.Session, spec.Args[0], err)
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

// run runs args with stdin to completion and returns stdout, stderr and the exit code.
func (s *Sandbox) run(ctx context.Context, stdin []byte, args ...string) (string, string, int, error) {
	pr, err := s.start(ctx, "/", nil, args)
	if err != nil {
		return "", "", 0, err
	}
	go func() {
		pr.Stdin().Write(stdin)
		pr.Stdin().Close()
	}()
	var errOut bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(&errOut, pr.Stderr()) })
	out, _ := io.ReadAll(pr.Stdout())
	wg.Wait()
	code, err := pr.Wait()
	return string(out), errOut.String(), code, err
}

// sandboxPath returns the clean absolute path of name inside the sandbox (relative names
// are under the work dir); it must be in the work dir, home, /mnt/session or /mnt/memory
// (invalid_request_error).
func (s *Sandbox) sandboxPath(name string) (string, error) {
	p := name
	if !path.IsAbs(p) {
		p = path.Join(s.h.WorkDir, p)
	}
	p = path.Clean(p)
	inside := false
	for _, dir := range []string{s.h.WorkDir, s.h.HomeDir, sessionDir, memoryDir} {
		inside = inside || (within(p, dir) && p != dir)
	}
	if !inside {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "path %q is not a file under the sandbox's work dir %s, home %s, %s or %s", name, s.h.WorkDir, s.h.HomeDir, sessionDir, memoryDir)
	}
	return p, nil
}

// putScript writes stdin to $1 with mode $2: into a temporary file first, renamed over
// the target, so a reader never sees half a file.
const putScript = `mkdir -p -- "$(dirname -- "$1")" && cat > "$1.hangar-tmp" && chmod "$2" "$1.hangar-tmp" && mv -f -- "$1.hangar-tmp" "$1"`

// getScript prints $1; exit 44 when it does not exist, 45 when it is not a regular file.
const getScript = `[ -e "$1" ] || exit 44; [ -f "$1" ] || exit 45; exec cat -- "$1"`

// PutFile implements provider.Sandbox: an exec of sh with the data on stdin (the exec API
// has no file transfer; this needs only sh, cat, mkdir, chmod and mv in the image).
func (s *Sandbox) PutFile(ctx context.Context, name string, data []byte, mode uint32) error {
	if err := s.checkUsable(); err != nil {
		return err
	}
	p, err := s.sandboxPath(name)
	if err != nil {
		return err
	}
	_, errOut, code, err := s.run(ctx, data, "/bin/sh", "-c", putScript, "put", p, fmt.Sprintf("%o", mode&0o777))
	if err != nil {
		return fmt.Errorf("put file %s: %w", name, err)
	}
	if code != 0 {
		return fmt.Errorf("put file %s: exit %d: %s", name, code, strings.TrimSpace(errOut))
	}
	return nil
}

// GetFile implements provider.Sandbox: not_found_error when the file does not exist.
func (s *Sandbox) GetFile(ctx context.Context, name string) ([]byte, error) {
	if err := s.checkUsable(); err != nil {
		return nil, err
	}
	p, err := s.sandboxPath(name)
	if err != nil {
		return nil, err
	}
	out, errOut, code, err := s.run(ctx, nil, "/bin/sh", "-c", getScript, "get", p)
	switch {
	case err != nil:
		return nil, fmt.Errorf("get file %s: %w", name, err)
	case code == 44:
		return nil, hangar.Errorf(hangar.KindNotFound, "file %s not found", name)
	case code == 45:
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "get file %q: not a regular file", name)
	case code != 0:
		return nil, fmt.Errorf("get file %s: exit %d: %s", name, code, strings.TrimSpace(errOut))
	}
	return []byte(out), nil
}

// Stop implements provider.Sandbox: every process the provider started in the pod (by any
// Hangar instance) is killed; the pod and its volumes stay for Recover. A pod cannot be
// paused through the API, so the pod itself keeps running (a sleeping shell).
func (s *Sandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.stopped {
		return nil
	}
	args := []string{"/bin/sh", "-c", killAllScript, "stop"}
	for pr := range s.procs {
		args = append(args, pr.token)
	}
	out, errOut, code, err := s.run(ctx, nil, args...)
	if err != nil || code != 0 {
		if err == nil {
			err = fmt.Errorf("exit %d: %s%s", code, out, errOut)
		}
		return fmt.Errorf("stop kubernetes sandbox %s: %w", s.h.Session, err)
	}
	s.stopped = true
	return nil
}

// Destroy implements provider.Sandbox: it deletes the pod (grace period 0), and with it
// the emptyDir volumes — or, for a claimed pod, the SandboxClaim that owns it. A pod or
// claim already gone is not an error.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil
	}
	del := s.p.deletePod
	if s.h.Claim != "" {
		del = s.p.deleteClaim
	}
	if err := del(ctx, s.h); err != nil {
		return fmt.Errorf("destroy kubernetes sandbox %s: %w", s.h.Session, err)
	}
	// Owned by the pod, the policy goes with it anyway; deleting it here does not wait
	// for the garbage collector, and covers a policy whose owner could not be set.
	if err := s.p.deleteNetworkPolicy(ctx, s.h); err != nil {
		return fmt.Errorf("destroy kubernetes sandbox %s: %w", s.h.Session, err)
	}
	s.destroyed = true
	return nil
}

var _ provider.Sandbox = (*Sandbox)(nil)
