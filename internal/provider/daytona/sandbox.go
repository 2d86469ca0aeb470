package daytona

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Sandbox is one Daytona sandbox.
type Sandbox struct {
	p       *Provider
	h       cloud.Handle
	toolbox *cloud.Client

	mu        sync.Mutex
	destroyed bool
}

func (s *Sandbox) Handle() provider.Handle { return s.h.Encode() }

// Capabilities reports the provider's capabilities on the sandbox, so that engines see it
// as Isolated (engine.Isolated) and start their CLI at its path inside the image (the
// engine's mount target, e.g. /opt/hangar/engines/claude), which the image must bring.
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

// waitStarted drives the sandbox to "started": it polls through transitional states and
// starts a stopped sandbox.
func (s *Sandbox) waitStarted(ctx context.Context, sb sandboxJSON) error {
	var t *time.Ticker
	for {
		switch sb.State {
		case "started":
			return nil
		case "stopped", "archived":
			if err := s.p.api.JSON(ctx, http.MethodPost, "/sandbox/"+s.h.ID+"/start", nil, nil, &sb); err != nil {
				return err
			}
			continue
		case "destroyed", "destroying":
			return hangar.NotFound("daytona sandbox", s.h.ID)
		case "error", "build_failed":
			return &hangar.Error{Kind: hangar.KindUnavailable, Message: fmt.Sprintf("daytona sandbox %s failed: %s", s.h.ID, sb.ErrorReason)}
		}
		if t == nil {
			t = time.NewTicker(s.p.cfg.PollInterval)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := s.p.api.JSON(ctx, http.MethodGet, "/sandbox/"+s.h.ID, nil, nil, &sb); err != nil {
			return err
		}
	}
}

// prepare creates the session's directories, with sudo when the user cannot (the
// default snapshot's user may not write to /).
func (s *Sandbox) prepare(ctx context.Context) error {
	var dirs []string
	for _, d := range []string{s.h.WorkDir, s.h.HomeDir} {
		if d != "" {
			dirs = append(dirs, cloud.Quote(d))
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	script := `if mkdir -p -- "$@" 2>/dev/null; then :; else sudo -n mkdir -p -- "$@" && sudo -n chown "$(id -un)" -- "$@"; fi`
	c, err := s.command(ctx, "sh -c "+cloud.Quote(script)+" sh "+joinSpace(dirs)+" </dev/null")
	if err != nil {
		return err
	}
	defer c.close()
	var out bytes.Buffer
	if err := c.logs(ctx, &out, &out); err != nil {
		return err
	}
	code, err := c.exitCode(ctx)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("daytona: prepare sandbox directories: exit %d: %s", code, out.String())
	}
	return nil
}

func joinSpace(xs []string) string {
	var b bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// Exec returns at once; the command starts when stdin is closed, in a process session
// of its own (commands of one session run one after the other in its shell).
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "daytona: exec: no command")
	}
	x := &execution{s: s, spec: spec, ctx: ctx}
	x.proc = cloud.NewProc(&cloud.BufferedStdin{OnClose: func(data []byte) {
		x.mu.Lock()
		x.closed = true // from now on the command runs, and a signal must reach it
		x.mu.Unlock()
		go x.start(data)
	}}, x.signal)
	go func() {
		select {
		case <-ctx.Done():
			x.signal(true)
		case <-x.proc.Done():
		}
	}()
	return x.proc, nil
}

type execution struct {
	s    *Sandbox
	spec provider.ExecSpec
	ctx  context.Context
	proc *cloud.Proc

	mu      sync.Mutex
	cmd     *command // nil until started
	closed  bool     // stdin closed: the command starts
	stopped bool     // signalled: never start, or kill once started
}

func (x *execution) start(stdin []byte) {
	select {
	case <-x.proc.Done(): // signalled before stdin closed: it never runs
		return
	default:
	}
	s, spec := x.s, x.spec
	env := cloud.Env(spec.Env)
	if _, ok := env["HOME"]; !ok && s.h.HomeDir != "" {
		env["HOME"] = s.h.HomeDir
	}
	dir := spec.Dir
	if dir == "" {
		dir = s.h.WorkDir
	}
	script := cloud.Script(dir, env, spec.Args)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(x.ctx), stopTimeout)
	// A subshell, never exec in the session's own shell; stdin is a file or /dev/null,
	// never the session shell's input.
	line := "sh -c " + cloud.Quote(script) + " </dev/null"
	if len(stdin) > 0 {
		home := env["HOME"]
		if home == "" {
			home = "/tmp"
		}
		file := path.Join(home, ".hangar-stdin-"+hangar.NewID(""))
		if err := s.PutFile(ctx, file, stdin, 0o600); err != nil {
			cancel()
			x.proc.Exit(-1, fmt.Errorf("daytona: upload stdin: %w", err))
			return
		}
		line = "sh -c " + cloud.Quote("rm -f -- "+cloud.Quote(file)+"; "+script) + " <" + cloud.Quote(file)
	}
	c, err := s.command(ctx, line)
	cancel()
	if err != nil {
		x.proc.Exit(-1, err)
		return
	}
	defer c.close()
	x.mu.Lock()
	x.cmd = c
	stopped := x.stopped
	x.mu.Unlock()
	if stopped {
		c.terminate()
	}
	streamCtx, cancelStream := context.WithCancel(context.WithoutCancel(x.ctx))
	defer cancelStream()
	if err := c.logs(streamCtx, x.proc.StdoutWriter(), x.proc.StderrWriter()); err != nil {
		x.proc.Exit(-1, err)
		return
	}
	code, err := c.exitCode(streamCtx)
	x.proc.Exit(code, err)
}

// signal terminates the command: the toolbox API has one terminate call, so graceful
// and forced stops are the same.
func (x *execution) signal(kill bool) error {
	x.mu.Lock()
	c := x.cmd
	switch {
	case !x.closed:
		// Stdin still open, so not started: it never will; report it killed.
		x.mu.Unlock()
		x.proc.Exit(128+9, nil)
		return nil
	case c == nil:
		// Starting: start kills it as soon as it exists.
		x.stopped = true
		x.mu.Unlock()
		return nil
	}
	x.mu.Unlock()
	return c.terminate()
}

// PutFile creates the parent directory, uploads (multipart) and sets the mode.
func (s *Sandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if err := s.alive(); err != nil {
		return err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	if err := s.toolbox.JSON(ctx, http.MethodPost, "/files/folder", url.Values{"path": {path.Dir(p)}, "mode": {"755"}}, nil, nil); err != nil {
		return err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", path.Base(p))
	if err != nil {
		return err
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		return err
	}
	resp, err := s.toolbox.Do(ctx, http.MethodPost, "/files/upload", url.Values{"path": {p}}, mw.FormDataContentType(), &body)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if mode != 0 && mode != 0o644 {
		return s.toolbox.JSON(ctx, http.MethodPost, "/files/permissions", url.Values{"path": {p}, "mode": {fmt.Sprintf("%o", mode&0o7777)}}, nil, nil)
	}
	return nil
}

// GetFile downloads; 404 is not_found.
func (s *Sandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	resp, err := s.toolbox.Do(ctx, http.MethodGet, "/files/download", url.Values{"path": {p}}, "", nil)
	if err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("file", p)
		}
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Stop stops the sandbox; Daytona keeps its filesystem and Recover starts it again.
func (s *Sandbox) Stop(ctx context.Context) error {
	if err := s.alive(); err != nil {
		return err
	}
	var sb sandboxJSON
	if err := s.p.api.JSON(ctx, http.MethodGet, "/sandbox/"+s.h.ID, nil, nil, &sb); err != nil {
		return err
	}
	if sb.State == "stopped" || sb.State == "stopping" || sb.State == "archived" {
		return nil
	}
	return s.p.api.JSON(ctx, http.MethodPost, "/sandbox/"+s.h.ID+"/stop", nil, nil, nil)
}

// Destroy deletes the sandbox; an unknown one counts as destroyed.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	err := s.p.api.JSON(ctx, http.MethodDelete, "/sandbox/"+s.h.ID, nil, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

func (s *Sandbox) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return hangar.Errorf(hangar.KindNotFound, "daytona sandbox %s was destroyed", s.h.ID)
	}
	return nil
}
