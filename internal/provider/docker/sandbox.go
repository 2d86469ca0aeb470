package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Sandbox is one session's container.
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
func (s *Sandbox) Capabilities() provider.Capabilities { return capabilities() }

// ContainerID is the engine's ID of the sandbox's container.
func (s *Sandbox) ContainerID() string { return s.h.Container }

func (s *Sandbox) usable() error {
	switch {
	case s.destroyed:
		return fmt.Errorf("%s sandbox %s: destroyed", s.p.name, s.h.Session)
	case s.stopped:
		return fmt.Errorf("%s sandbox %s: %w", s.p.name, s.h.Session, errStopped)
	}
	return nil
}

// Exec implements provider.Sandbox: an exec of the container, as the configured user,
// with stdin, stdout and stderr attached.
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
	pr, err := s.start(ctx, s.p.user, dir, env, spec.Args)
	if err != nil {
		return nil, fmt.Errorf("%s sandbox %s: exec %s: %w", s.p.name, s.h.Session, spec.Args[0], err)
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

// run runs args to completion as user and returns its combined output and exit code.
func (s *Sandbox) run(ctx context.Context, user string, args ...string) (string, int, error) {
	pr, err := s.start(ctx, user, "/", []string{"PATH=" + sandboxPath}, args)
	if err != nil {
		return "", 0, err
	}
	pr.Stdin().Close()
	var out bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(&out, pr.Stderr()) })
	b, _ := io.ReadAll(pr.Stdout())
	wg.Wait()
	code, err := pr.Wait()
	return string(b) + out.String(), code, err
}

// hostRel returns the clean absolute path of name inside the sandbox (relative names are
// under the work dir); it must be in the work dir or home (invalid_request_error).
func (s *Sandbox) sandboxPath(name string) (string, error) {
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

func (s *Sandbox) checkUsable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usable()
}

// PutFile implements provider.Sandbox: the file is copied in as a tar archive, owned by
// the sandbox's user; missing parent directories are created by that user.
func (s *Sandbox) PutFile(ctx context.Context, name string, data []byte, mode uint32) error {
	if err := s.checkUsable(); err != nil {
		return err
	}
	p, err := s.sandboxPath(name)
	if err != nil {
		return err
	}
	dir := path.Dir(p)
	if _, err := s.p.cli.ContainerStatPath(ctx, s.h.Container, dir); client.IsErrNotFound(err) {
		out, code, err := s.run(ctx, s.p.user, "mkdir", "-p", "--", dir)
		if err != nil || code != 0 {
			return fmt.Errorf("put file %s: mkdir %s: exit %d %s: %w", name, dir, code, out, err)
		}
	} else if err != nil {
		return fmt.Errorf("put file %s: %w", name, err)
	}
	uid, gid := s.ids()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: path.Base(p), Mode: int64(mode & 0o777), Size: int64(len(data)), Uid: uid, Gid: gid, ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return err
	}
	if err := s.p.cli.CopyToContainer(ctx, s.h.Container, dir, &buf, container.CopyToContainerOptions{}); err != nil {
		return fileErr("put", name, err)
	}
	return nil
}

// ids returns the numeric uid and gid of the sandbox's user (0 when not numeric).
func (s *Sandbox) ids() (int, int) {
	u, g, _ := strings.Cut(s.p.user, ":")
	uid, _ := strconv.Atoi(u)
	gid, err := strconv.Atoi(g)
	if err != nil {
		gid = uid
	}
	return uid, gid
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
	rc, stat, err := s.p.cli.CopyFromContainer(ctx, s.h.Container, p)
	if err != nil {
		return nil, fileErr("get", name, err)
	}
	defer rc.Close()
	if !stat.Mode.IsRegular() {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "get file %q: not a regular file", name)
	}
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("get file %s: %w", name, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "get file %q: not a regular file", name)
	}
	return io.ReadAll(tr)
}

func fileErr(op, name string, err error) error {
	if client.IsErrNotFound(err) {
		return &hangar.Error{Kind: hangar.KindNotFound, Message: fmt.Sprintf("file %s not found", name), Err: err}
	}
	return fmt.Errorf("%s file %s: %w", op, name, err)
}

// Stop implements provider.Sandbox: the container is killed and kept, with its volumes.
func (s *Sandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.stopped {
		return nil
	}
	s.stopped = true
	timeout := 0
	err := s.p.cli.ContainerStop(ctx, s.h.Container, container.StopOptions{Timeout: &timeout})
	if err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("stop %s sandbox %s: %w", s.p.name, s.h.Session, err)
	}
	return nil
}

// Destroy implements provider.Sandbox: it removes the container and the session's volumes.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return nil
	}
	var errs []error
	if err := s.p.cli.ContainerRemove(ctx, s.h.Container, removeOptions); err != nil && !client.IsErrNotFound(err) {
		errs = append(errs, err)
	}
	for _, what := range []string{"workspace", "home"} {
		if err := s.p.cli.VolumeRemove(ctx, volumeName(s.h.Session, what), true); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s sandbox %s: %w", s.p.name, s.h.Session, err)
	}
	s.destroyed = true
	return nil
}

var _ provider.Sandbox = (*Sandbox)(nil)
