package sprites

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Sandbox is one sprite.
type Sandbox struct {
	p *Provider
	h cloud.Handle

	mu        sync.Mutex
	destroyed bool
	running   map[*execution]bool // for Stop
}

// Capabilities are the provider's: engines start their CLI at its mount target, where
// the machine's image must bring it (engine.CLIBinary).
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

func (s *Sandbox) Handle() provider.Handle { return s.h.Encode() }

func (s *Sandbox) path(suffix string) string { return "/v1/sprites/" + s.h.ID + suffix }

// prepare creates the session's directories, with sudo when the user cannot.
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
	script := `if mkdir -p -- "$@" 2>/dev/null; then :; else sudo -n mkdir -p -- "$@" && sudo -n chown "$(id -un)" -- "$@"; fi`
	proc, err := s.exec(ctx, append([]string{"sh", "-c", script, "sh"}, dirs...), "/", nil)
	if err != nil {
		return err
	}
	proc.Stdin().Close()
	var out bytes.Buffer
	go io.Copy(&out, proc.Stderr())
	io.Copy(io.Discard, proc.Stdout())
	code, err := proc.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("sprites: prepare sandbox directories: exit %d: %s", code, out.String())
	}
	return nil
}

// Exec runs the command over the exec websocket: stdin writes become stdin frames and
// Close an EOF frame; stdout and stderr frames are relayed as they arrive.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "sprites: exec: no command")
	}
	env := cloud.Env(spec.Env)
	if _, ok := env["HOME"]; !ok && s.h.HomeDir != "" {
		env["HOME"] = s.h.HomeDir
	}
	dir := spec.Dir
	if dir == "" {
		dir = s.h.WorkDir
	}
	return s.exec(ctx, spec.Args, dir, env)
}

// PutFile writes through PUT /fs/write, creating parent directories, with the mode.
func (s *Sandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if err := s.alive(); err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	q := url.Values{"path": {cloud.Resolve(s.h.WorkDir, p)}, "workingDir": {"/"}, "mkdirParents": {"true"},
		"mode": {fmt.Sprintf("%04o", mode&0o7777)}}
	resp, err := s.p.api.Do(ctx, http.MethodPut, s.path("/fs/write"), q, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// GetFile reads through GET /fs/read; 404 is not_found.
func (s *Sandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	resp, err := s.p.api.Do(ctx, http.MethodGet, s.path("/fs/read"), url.Values{"path": {p}, "workingDir": {"/"}}, "", nil)
	if err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("file", p)
		}
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Stop kills the commands started through this Sandbox. A sprite has no stop: it
// hibernates by itself when idle, keeping its files, and wakes on the next request.
func (s *Sandbox) Stop(ctx context.Context) error {
	if err := s.alive(); err != nil {
		return err
	}
	s.mu.Lock()
	var xs []*execution
	for x := range s.running {
		xs = append(xs, x)
	}
	s.mu.Unlock()
	for _, x := range xs {
		if err := x.signal(true); err != nil {
			return err
		}
		<-x.proc.Done()
	}
	return nil
}

// Destroy deletes the sprite; an unknown one counts as destroyed.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	err := s.p.api.JSON(ctx, http.MethodDelete, s.path(""), nil, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

func (s *Sandbox) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return hangar.Errorf(hangar.KindNotFound, "sprite %s was destroyed", s.h.ID)
	}
	return nil
}
