package e2b

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Sandbox is one E2B sandbox.
type Sandbox struct {
	p    *Provider
	h    cloud.Handle
	envd *cloud.Client

	mu        sync.Mutex
	destroyed bool
}

func (s *Sandbox) Handle() provider.Handle { return s.h.Encode() }

// Capabilities reports the provider's capabilities on the sandbox, so that engines see it
// as Isolated (engine.Isolated) and start their CLI at its path inside the image (the
// engine's mount target, e.g. /opt/hangar/engines/claude), which the image must bring.
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

// prepare creates the session's work and home directories, owned by the process user
// (as root: the template's user cannot create them at the filesystem's top).
func (s *Sandbox) prepare(ctx context.Context) error {
	var dirs []string
	for _, d := range []string{s.h.WorkDir, s.h.HomeDir} {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	args := append([]string{"-c", `u=$0; mkdir -p -- "$@" && chown -- "$u" "$@"`, s.p.cfg.User}, dirs...)
	code, out, err := s.run(ctx, "root", "/bin/sh", args...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("e2b: prepare sandbox directories: exit %d: %s", code, out)
	}
	return nil
}

// run runs a short command to completion and returns its exit code and output.
func (s *Sandbox) run(ctx context.Context, user, cmd string, args ...string) (int, string, error) {
	ev, err := s.startProcess(ctx, startRequest{Process: processConfig{Cmd: cmd, Args: args}}, user)
	if err != nil {
		return 0, "", err
	}
	defer ev.close()
	var out bytes.Buffer
	for {
		e, err := ev.next()
		if err != nil {
			return 0, out.String(), fmt.Errorf("e2b: %s: %w", cmd, err)
		}
		if e.Data != nil {
			out.Write(e.Data.Stdout)
			out.Write(e.Data.Stderr)
		}
		if e.End != nil {
			return e.End.ExitCode, out.String(), nil
		}
	}
}

// Exec starts the process through envd's Start stream: it returns once envd reports
// the process started, then relays output events as they arrive. Stdin writes become
// SendInput calls and Close a CloseStdin call.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "e2b: exec: no command")
	}
	// E2B kills a sandbox TimeoutSeconds after its creation unless told otherwise: each
	// Exec (each turn) pushes that deadline to TimeoutSeconds from now.
	if err := s.p.api.JSON(ctx, http.MethodPost, "/sandboxes/"+s.h.ID+"/timeout", nil,
		map[string]int{"timeout": s.p.cfg.TimeoutSeconds}, nil); err != nil {
		return nil, s.gone(err)
	}
	env := cloud.Env(spec.Env)
	if _, ok := env["HOME"]; !ok && s.h.HomeDir != "" {
		env["HOME"] = s.h.HomeDir
	}
	dir := spec.Dir
	if dir == "" {
		dir = s.h.WorkDir
	}
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ev, err := s.startProcess(streamCtx, startRequest{Process: processConfig{
		Cmd: spec.Args[0], Args: spec.Args[1:], Envs: env, Cwd: dir}, Stdin: true}, "")
	if err != nil {
		cancel()
		return nil, err
	}
	var pid uint32
	for pid == 0 {
		e, err := ev.next()
		if err != nil {
			ev.close()
			cancel()
			return nil, fmt.Errorf("e2b: exec %s: %w", spec.Args[0], err)
		}
		if e.Start != nil {
			pid = e.Start.PID
		}
	}
	sel := processSelector{PID: pid}
	bg := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	}
	signal := func(kill bool) error {
		c, done := bg()
		defer done()
		sig := "SIGNAL_SIGTERM"
		if kill {
			sig = "SIGNAL_SIGKILL"
		}
		err := s.unary(c, "SendSignal", map[string]any{"process": sel, "signal": sig})
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil // already exited
		}
		return err
	}
	stdin := &cloud.StdinFunc{
		Send: func(b []byte) error {
			c, done := bg()
			defer done()
			return s.unary(c, "SendInput", map[string]any{"process": sel, "input": map[string][]byte{"stdin": b}})
		},
		CloseF: func() error {
			c, done := bg()
			defer done()
			err := s.unary(c, "CloseStdin", map[string]any{"process": sel})
			if hangar.IsKind(err, hangar.KindNotFound) {
				return nil
			}
			return err
		},
	}
	proc := cloud.NewProc(stdin, signal)
	go func() {
		defer cancel()
		defer ev.close()
		for {
			e, err := ev.next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("e2b: process stream ended without an end event")
				}
				proc.Exit(-1, err)
				return
			}
			switch {
			case e.Data != nil:
				proc.StdoutWriter().Write(e.Data.Stdout)
				proc.StderrWriter().Write(e.Data.Stderr)
			case e.End != nil:
				proc.Exit(e.End.ExitCode, nil)
				return
			}
		}
	}()
	// The process ends with ctx: envd does not tie a process to its stream.
	go func() {
		select {
		case <-ctx.Done():
			signal(true)
		case <-proc.Done():
		}
	}()
	return proc, nil
}

// PutFile uploads through envd's POST /files (multipart), which creates parent
// directories; a mode with execute bits is then applied with chmod (envd has no mode
// field).
func (s *Sandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if err := s.alive(); err != nil {
		return err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", p)
	if err != nil {
		return err
	}
	fw.Write(data)
	if err := mw.Close(); err != nil {
		return err
	}
	resp, err := s.envd.Do(ctx, http.MethodPost, "/files", s.fileQuery(p), mw.FormDataContentType(), &body)
	if err != nil {
		return s.gone(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if mode&0o111 != 0 {
		code, out, err := s.run(ctx, "", "chmod", fmt.Sprintf("%o", mode&0o7777), p)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("e2b: chmod %s: %s", p, out)
		}
	}
	return nil
}

// GetFile downloads through envd's GET /files; 404 is not_found.
func (s *Sandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	resp, err := s.envd.Do(ctx, http.MethodGet, "/files", s.fileQuery(p), "", nil)
	if err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("file", p)
		}
		return nil, s.gone(err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (s *Sandbox) fileQuery(p string) url.Values {
	return url.Values{"path": {p}, "username": {s.p.cfg.User}}
}

// Stop pauses the sandbox: E2B snapshots its memory and filesystem, and Recover
// (connect) resumes it. Pausing a paused sandbox (409) is a no-op.
func (s *Sandbox) Stop(ctx context.Context) error {
	if err := s.alive(); err != nil {
		return err
	}
	err := s.p.api.JSON(ctx, http.MethodPost, "/sandboxes/"+s.h.ID+"/pause", nil, nil, nil)
	if hangar.IsKind(err, hangar.KindConflict) {
		return nil
	}
	return err
}

// Destroy kills the sandbox; one that is already gone (404) counts as destroyed.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	err := s.p.api.JSON(ctx, http.MethodDelete, "/sandboxes/"+s.h.ID, nil, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

func (s *Sandbox) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return hangar.Errorf(hangar.KindNotFound, "e2b sandbox %s was destroyed", s.h.ID)
	}
	return nil
}

// gone reports a sandbox the envd proxy no longer routes to as not_found.
func (s *Sandbox) gone(err error) error {
	if hangar.IsKind(err, hangar.KindNotFound) {
		return &hangar.Error{Kind: hangar.KindNotFound, Message: "e2b sandbox " + s.h.ID + " not found", Err: err}
	}
	return err
}
