// Package memory is an in-process sandbox provider: files live in a map and Exec runs a
// Go function instead of a program. It isolates nothing. It backs tests and lets a server
// run the scripted engine with no container runtime.
package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// ExecFunc runs in place of a process. It reads stdin, writes stdout and stderr, and
// returns the exit code. ctx is cancelled by Process.Signal, Sandbox.Stop and Destroy.
type ExecFunc func(ctx context.Context, sb *Sandbox, spec provider.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) int

// Provider is the memory provider. The zero value is ready to use; the exported fields are
// knobs for tests and must be set before first use.
type Provider struct {
	// Exec runs commands; nil means Builtin.
	Exec ExecFunc
	// CreateErr and RecoverErr, when set, are returned by Create and Recover.
	CreateErr  error
	RecoverErr error

	mu        sync.Mutex
	next      int
	sandboxes map[string]*Sandbox
}

// Config is the memory provider's JSON config. It has no fields yet.
type Config struct{}

// New is the provider.Factory of the memory provider.
func New(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	if len(bytes.TrimSpace(cfg)) > 0 && string(bytes.TrimSpace(cfg)) != "null" {
		dec := json.NewDecoder(bytes.NewReader(cfg))
		dec.DisallowUnknownFields()
		var c Config
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("memory provider config: %w", err)
		}
	}
	return &Provider{}, nil
}

// Capabilities implements provider.Provider.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true}
}

// Create implements provider.Provider.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	if p.CreateErr != nil {
		return nil, p.CreateErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sandboxes == nil {
		p.sandboxes = make(map[string]*Sandbox)
	}
	p.next++
	workDir := spec.WorkDir
	if workDir == "" {
		workDir = "/workspace"
	}
	sb := &Sandbox{
		p:       p,
		id:      fmt.Sprintf("mem-%d-%s", p.next, spec.SessionID),
		spec:    spec,
		workDir: workDir,
		files:   make(map[string]memFile),
		procs:   make(map[*process]struct{}),
	}
	p.sandboxes[sb.id] = sb
	return sb, nil
}

// Recover implements provider.Provider: it finds a sandbox of this Provider value that was
// not destroyed and restarts it if stopped.
func (p *Provider) Recover(ctx context.Context, h provider.Handle) (provider.Sandbox, error) {
	if p.RecoverErr != nil {
		return nil, p.RecoverErr
	}
	p.mu.Lock()
	sb, ok := p.sandboxes[string(h)]
	p.mu.Unlock()
	if !ok {
		return nil, hangar.NotFound("sandbox", string(h))
	}
	sb.mu.Lock()
	sb.stopped = false
	sb.mu.Unlock()
	return sb, nil
}

// Sandboxes returns the number of sandboxes created and not destroyed.
func (p *Provider) Sandboxes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sandboxes)
}

type memFile struct {
	data []byte
	mode uint32
}

// Sandbox is a memory sandbox.
type Sandbox struct {
	p       *Provider
	id      string
	spec    provider.Spec
	workDir string

	mu        sync.Mutex
	files     map[string]memFile
	procs     map[*process]struct{}
	stopped   bool
	destroyed bool
}

// Spec returns the spec the sandbox was created with.
func (s *Sandbox) Spec() provider.Spec { return s.spec }

// Handle implements provider.Sandbox.
func (s *Sandbox) Handle() provider.Handle { return provider.Handle(s.id) }

func (s *Sandbox) abs(p string) string {
	if !path.IsAbs(p) {
		p = path.Join(s.workDir, p)
	}
	return path.Clean(p)
}

func (s *Sandbox) usable() error {
	switch {
	case s.destroyed:
		return fmt.Errorf("memory sandbox %s: destroyed", s.id)
	case s.stopped:
		return fmt.Errorf("memory sandbox %s: stopped", s.id)
	}
	return nil
}

// PutFile implements provider.Sandbox.
func (s *Sandbox) PutFile(ctx context.Context, name string, data []byte, mode uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	s.files[s.abs(name)] = memFile{data: bytes.Clone(data), mode: mode}
	return nil
}

// GetFile implements provider.Sandbox.
func (s *Sandbox) GetFile(ctx context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	f, ok := s.files[s.abs(name)]
	if !ok {
		return nil, hangar.NotFound("file", name)
	}
	return bytes.Clone(f.data), nil
}

// Exec implements provider.Sandbox: it runs the provider's ExecFunc in a goroutine.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "exec: no command")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if spec.Dir == "" {
		spec.Dir = s.workDir
	}
	fn := s.p.Exec
	if fn == nil {
		fn = Builtin
	}
	pctx, cancel := context.WithCancel(ctx)
	pr := &process{
		cancel: cancel,
		stdin:  newPipe(),
		stdout: newPipe(),
		stderr: newPipe(),
		done:   make(chan struct{}),
	}
	s.procs[pr] = struct{}{}
	go func() {
		// A signalled or finished process no longer reads stdin: unblock its reader.
		<-pctx.Done()
		pr.stdin.CloseWithError(io.ErrClosedPipe)
	}()
	go func() {
		defer close(pr.done)
		pr.code = fn(pctx, s, spec, pr.stdin, pr.stdout, pr.stderr)
		cancel()
		pr.stdout.Close()
		pr.stderr.Close()
		s.mu.Lock()
		delete(s.procs, pr)
		s.mu.Unlock()
	}()
	return pr, nil
}

func (s *Sandbox) cancelProcs() {
	for pr := range s.procs {
		pr.cancel()
	}
}

// Stop implements provider.Sandbox.
func (s *Sandbox) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.cancelProcs()
	return nil
}

// Destroy implements provider.Sandbox.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	s.destroyed = true
	s.cancelProcs()
	s.files = map[string]memFile{}
	s.mu.Unlock()
	s.p.mu.Lock()
	delete(s.p.sandboxes, s.id)
	s.p.mu.Unlock()
	return nil
}

type process struct {
	cancel                context.CancelFunc
	stdin, stdout, stderr *pipe
	done                  chan struct{}
	code                  int
}

func (p *process) Stdin() io.WriteCloser { return p.stdin }
func (p *process) Stdout() io.Reader     { return p.stdout }
func (p *process) Stderr() io.Reader     { return p.stderr }
func (p *process) Signal(kill bool) error {
	p.cancel()
	return nil
}
func (p *process) Wait() (int, error) {
	<-p.done
	return p.code, nil
}

// Builtin is the default ExecFunc. It knows a handful of commands: echo ARGS..., cat
// (stdin to stdout, or the named sandbox files), true, false, sleep (until cancelled) and
// "sh -c" / "bash -c" with one of those as the script. Anything else exits 127.
func Builtin(ctx context.Context, sb *Sandbox, spec provider.ExecSpec, stdin io.Reader, stdout, stderr io.Writer) int {
	args := spec.Args
	if len(args) == 3 && (args[0] == "sh" || args[0] == "bash") && args[1] == "-c" {
		args = strings.Fields(args[2])
		if len(args) == 0 {
			return 0
		}
	}
	switch args[0] {
	case "echo":
		fmt.Fprintln(stdout, strings.Join(args[1:], " "))
		return 0
	case "true":
		return 0
	case "false":
		return 1
	case "cat":
		if len(args) == 1 {
			if _, err := io.Copy(stdout, stdin); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				fmt.Fprintln(stderr, "cat:", err)
				return 1
			}
			return 0
		}
		for _, name := range args[1:] {
			b, err := sb.GetFile(ctx, name)
			if err != nil {
				fmt.Fprintf(stderr, "cat: %s: No such file or directory\n", name)
				return 1
			}
			stdout.Write(b)
		}
		return 0
	case "sleep":
		<-ctx.Done()
		return 130
	}
	fmt.Fprintf(stderr, "%s: command not found\n", args[0])
	return 127
}

// pipe is an unbounded in-memory pipe: writes never block, reads block until data or
// close. A real pipe is bounded; unbounded keeps callers that read only stdout from
// deadlocking on a chatty stderr.
type pipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    bytes.Buffer
	err    error // set on close: io.EOF for readers, or the close error
	closed bool
}

func newPipe() *pipe {
	p := &pipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.buf.Len() == 0 && !p.closed {
		p.cond.Wait()
	}
	if p.buf.Len() > 0 {
		return p.buf.Read(b)
	}
	return 0, p.err
}

func (p *pipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	p.buf.Write(b)
	p.cond.Broadcast()
	return len(b), nil
}

// Close closes the writing side: readers drain the buffer, then get io.EOF.
func (p *pipe) Close() error { return p.CloseWithError(io.EOF) }

func (p *pipe) CloseWithError(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed, p.err = true, err
		p.cond.Broadcast()
	}
	return nil
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Sandbox  = (*Sandbox)(nil)
	_ provider.Process  = (*process)(nil)
)
