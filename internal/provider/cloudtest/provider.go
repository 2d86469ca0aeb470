package cloudtest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Provider is a remote sandbox provider over Boxes, for tests of what the runner does on
// cloud sandboxes without any vendor's protocol in the way: it reports
// Capabilities.Remote, ignores Spec.Mounts (a remote machine cannot bind the server's
// paths) and reaches its sandboxes only through Exec, PutFile and GetFile, which run real
// processes and touch real files under the box's root.
type Provider struct {
	// Dir holds the boxes (a test's t.TempDir()).
	Dir string
	// BindMounts binds Spec.Mounts read-only, standing for an image that carries the
	// engine CLIs at those paths (what a real remote template must do).
	BindMounts bool

	mu      sync.Mutex
	boxes   map[string]*RemoteSandbox
	created []provider.Spec
}

// Capabilities implements provider.Provider.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Isolated: true, Remote: true}
}

// Specs returns the spec of every Create so far.
func (p *Provider) Specs() []provider.Spec {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]provider.Spec(nil), p.created...)
}

// Create implements provider.Provider: a new box with the spec's work dir and home.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	b, err := NewBox(p.Dir)
	if err != nil {
		return nil, err
	}
	sb := &RemoteSandbox{Box: b, id: path.Base(b.Root), work: orRoot(spec.WorkDir), home: orRoot(spec.HomeDir)}
	if p.BindMounts {
		b.Binds = map[string]string{}
		for _, m := range spec.Mounts {
			b.Binds[m.Target] = m.Source
		}
	}
	for _, d := range []string{sb.work, sb.home} {
		if err := os.MkdirAll(b.Path(d), 0o755); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.boxes == nil {
		p.boxes = map[string]*RemoteSandbox{}
	}
	p.boxes[sb.id] = sb
	p.created = append(p.created, spec)
	return sb, nil
}

// Recover implements provider.Provider.
func (p *Provider) Recover(ctx context.Context, h provider.Handle) (provider.Sandbox, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sb := p.boxes[string(h)]
	if sb == nil {
		return nil, hangar.NotFound("sandbox", string(h))
	}
	return sb, nil
}

func orRoot(d string) string {
	if d == "" {
		return "/"
	}
	return path.Clean(d)
}

// RemoteSandbox is one box of Provider.
type RemoteSandbox struct {
	*Box
	id, work, home string
}

// Capabilities reports the provider's capabilities on the sandbox (engine.Isolated).
func (s *RemoteSandbox) Capabilities() provider.Capabilities { return (&Provider{}).Capabilities() }

// Handle implements provider.Sandbox.
func (s *RemoteSandbox) Handle() provider.Handle { return provider.Handle(s.id) }

// Exec implements provider.Sandbox.
func (s *RemoteSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	dir := spec.Dir
	if dir == "" {
		dir = s.work
	} else if !path.IsAbs(dir) {
		dir = path.Join(s.work, dir)
	}
	env := map[string]string{"HOME": s.home}
	for _, kv := range spec.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			env[k] = v
		}
	}
	c, err := s.StartIn(spec.Args, dir, env)
	if err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			c.Signal(syscall.SIGKILL)
		case <-c.Done():
		}
	}()
	return remoteProcess{c}, nil
}

func (s *RemoteSandbox) abs(p string) string {
	if !path.IsAbs(p) {
		p = path.Join(s.work, p)
	}
	return path.Clean(p)
}

// PutFile implements provider.Sandbox: like a vendor's file API, it writes any path.
func (s *RemoteSandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	return s.WriteFile(s.abs(p), data, fs.FileMode(mode&0o777))
}

// GetFile implements provider.Sandbox.
func (s *RemoteSandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	b, err := s.ReadFile(s.abs(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, hangar.NotFound("file", p)
	}
	return b, err
}

// Stop implements provider.Sandbox.
func (s *RemoteSandbox) Stop(ctx context.Context) error { s.KillAll(); return nil }

// Destroy implements provider.Sandbox.
func (s *RemoteSandbox) Destroy(ctx context.Context) error { return s.Remove() }

type remoteProcess struct{ c *Cmd }

func (p remoteProcess) Stdin() io.WriteCloser { return p.c.Stdin }
func (p remoteProcess) Stdout() io.Reader     { return p.c.Stdout }
func (p remoteProcess) Stderr() io.Reader     { return p.c.Stderr }
func (p remoteProcess) Signal(kill bool) error {
	if kill {
		return p.c.Signal(syscall.SIGKILL)
	}
	return p.c.Signal(syscall.SIGTERM)
}
func (p remoteProcess) Wait() (int, error) { return p.c.ExitCode(), nil }

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Sandbox  = (*RemoteSandbox)(nil)
)
