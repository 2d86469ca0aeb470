package vercel

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Sandbox is one Vercel sandbox.
type Sandbox struct {
	p *Provider
	h cloud.Handle

	mu        sync.Mutex
	destroyed bool
	cmds      map[string]bool // running commands started here, for Stop
}

func (s *Sandbox) Handle() provider.Handle { return s.h.Encode() }

// Capabilities reports the provider's capabilities on the sandbox, so that engines see it
// as Isolated (engine.Isolated) and start their CLI at its path inside the image (the
// engine's mount target, e.g. /opt/hangar/engines/claude), which the image must bring.
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

func (s *Sandbox) path(suffix string) string { return "/v1/sandboxes/" + s.h.ID + suffix }

// waitRunning polls until the sandbox runs; stopped, failed and aborted sandboxes are
// not_found (Vercel cannot restart them).
func (s *Sandbox) waitRunning(ctx context.Context, status string) error {
	var t *time.Ticker
	for {
		switch status {
		case "running":
			return nil
		case "pending":
		default:
			return hangar.Errorf(hangar.KindNotFound, "vercel sandbox %s is %s", s.h.ID, status)
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
		var resp sandboxResponse
		if err := s.p.api.JSON(ctx, http.MethodGet, s.path(""), nil, nil, &resp); err != nil {
			return err
		}
		status = resp.Sandbox.Status
	}
}

// prepare creates the session's directories with sudo and gives them to the user.
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
	id, err := s.startCommand(ctx, cmdRequest{Command: "sh", Args: args, Sudo: true})
	if err != nil {
		return err
	}
	code, err := s.wait(ctx, id)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("vercel: prepare sandbox directories: exit %d", code)
	}
	return nil
}

type cmdRequest struct {
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Cwd     string            `json:"cwd,omitempty"`
	Env     map[string]string `json:"env"`
	Sudo    bool              `json:"sudo"`
}

type commandResponse struct {
	Command struct {
		ID       string `json:"id"`
		ExitCode *int   `json:"exitCode"`
	} `json:"command"`
}

func (s *Sandbox) startCommand(ctx context.Context, req cmdRequest) (string, error) {
	if req.Env == nil {
		req.Env = map[string]string{}
	}
	var resp commandResponse
	if err := s.p.api.JSON(ctx, http.MethodPost, s.path("/cmd"), nil, req, &resp); err != nil {
		return "", err
	}
	return resp.Command.ID, nil
}

// wait blocks on GET /cmd/{id}?wait=true, which answers once the command finished.
func (s *Sandbox) wait(ctx context.Context, id string) (int, error) {
	var resp commandResponse
	if err := s.p.api.JSON(ctx, http.MethodGet, s.path("/cmd/"+id), map[string][]string{"wait": {"true"}}, nil, &resp); err != nil {
		return -1, err
	}
	if resp.Command.ExitCode == nil {
		return -1, fmt.Errorf("vercel: command %s finished without an exit code", id)
	}
	return *resp.Command.ExitCode, nil
}

// Exec returns at once; the command starts when stdin is closed (the API takes no
// stdin, so what was written is uploaded and redirected). Output then streams from
// GET /cmd/{id}/logs as NDJSON lines.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "vercel: exec: no command")
	}
	x := &execution{s: s, spec: spec, ctx: ctx}
	stdin := &cloud.BufferedStdin{OnClose: func(data []byte) {
		x.mu.Lock()
		x.closed = true // from now on the command runs, and a signal must reach it
		x.mu.Unlock()
		go x.start(data)
	}}
	x.proc = cloud.NewProc(stdin, x.signal)
	go func() {
		select {
		case <-ctx.Done():
			x.signal(true)
		case <-x.proc.Done():
		}
	}()
	return x.proc, nil
}

// execution is one Exec's command, started when its stdin closes.
type execution struct {
	s    *Sandbox
	spec provider.ExecSpec
	ctx  context.Context
	proc *cloud.Proc

	mu      sync.Mutex
	id      string // "" until started
	closed  bool   // stdin closed: the command starts
	stopped bool   // signalled: never start, or kill once started
}

func (x *execution) bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(x.ctx), stopTimeout)
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
	req := cmdRequest{Command: spec.Args[0], Args: spec.Args[1:], Cwd: dir, Env: env}
	ctx, cancel := x.bg()
	if len(stdin) > 0 {
		// The file goes to the command's HOME (the user's, unlike /tmp not shared with
		// other users); the shell opens it as stdin, removes it, and becomes the command.
		name := ".hangar-stdin-" + hangar.NewID("")
		home := env["HOME"]
		if home == "" {
			home = "/tmp"
		}
		if err := s.PutFile(ctx, path.Join(home, name), stdin, 0o600); err != nil {
			cancel()
			x.proc.Exit(-1, fmt.Errorf("vercel: upload stdin: %w", err))
			return
		}
		req.Command, req.Args = "sh", append([]string{"-c", `f="${HOME:-/tmp}/$0"; exec <"$f" && rm -f -- "$f" && exec "$@"`, name}, spec.Args...)
	}
	id, err := s.startCommand(ctx, req)
	cancel()
	if err != nil {
		x.proc.Exit(-1, err)
		return
	}
	x.mu.Lock()
	x.id = id
	stopped := x.stopped
	x.mu.Unlock()
	s.track(id, true)
	defer s.track(id, false)
	if stopped {
		x.kill(true)
	}
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(x.ctx))
	defer cancel()
	if err := s.logs(streamCtx, id, x.proc.StdoutWriter(), x.proc.StderrWriter()); err != nil {
		x.proc.Exit(-1, err)
		return
	}
	code, err := s.wait(streamCtx, id)
	x.proc.Exit(code, err)
}

func (x *execution) signal(kill bool) error {
	x.mu.Lock()
	switch {
	case !x.closed:
		// Stdin still open, so not started: it never will; report it killed.
		x.mu.Unlock()
		x.proc.Exit(128+9, nil)
		return nil
	case x.id == "":
		// Starting: start kills it as soon as it exists.
		x.stopped = true
		x.mu.Unlock()
		return nil
	}
	x.mu.Unlock()
	return x.kill(kill)
}

func (x *execution) kill(kill bool) error {
	ctx, cancel := x.bg()
	defer cancel()
	sig := 15
	if kill {
		sig = 9
	}
	err := x.s.p.api.JSON(ctx, http.MethodPost, x.s.path("/"+x.id+"/kill"), nil, map[string]int{"signal": sig}, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil // exited already
	}
	return err
}

// logLine is one NDJSON line of GET /cmd/{id}/logs.
type logLine struct {
	Stream string          `json:"stream"` // stdout, stderr or error
	Data   json.RawMessage `json:"data"`   // a string; {code, message} for errors
}

// logs relays a command's log stream until it ends (the command exited).
func (s *Sandbox) logs(ctx context.Context, id string, stdout, stderr io.Writer) error {
	resp, err := s.p.api.Do(ctx, http.MethodGet, s.path("/cmd/"+id+"/logs"), nil, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		return fmt.Errorf("vercel: log stream has content type %q, want application/x-ndjson", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("vercel: log line: %w", err)
		}
		var text string
		switch l.Stream {
		case "stdout", "stderr":
			if err := json.Unmarshal(l.Data, &text); err != nil {
				return fmt.Errorf("vercel: log line data: %w", err)
			}
			w := stdout
			if l.Stream == "stderr" {
				w = stderr
			}
			io.WriteString(w, text)
		case "error":
			var e struct{ Code, Message string }
			json.Unmarshal(l.Data, &e)
			return fmt.Errorf("vercel: log stream: %s: %s", e.Code, e.Message)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("vercel: log stream: %w", err)
	}
	return nil
}

func (s *Sandbox) track(id string, running bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if running {
		s.cmds[id] = true
	} else {
		delete(s.cmds, id)
	}
}

// PutFile writes through POST /fs/write: a gzipped tar extracted at "/", which creates
// parent directories and applies mode.
func (s *Sandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if err := s.alive(); err != nil {
		return err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	var body bytes.Buffer
	gz := gzip.NewWriter(&body)
	tw := tar.NewWriter(gz)
	if mode == 0 {
		mode = 0o644
	}
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: int64(mode & 0o7777), Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	req, err := s.p.api.Request(ctx, http.MethodPost, s.path("/fs/write"), nil, "application/gzip", &body)
	if err != nil {
		return err
	}
	req.Header.Set("X-Cwd", "/")
	resp, err := s.p.api.Send(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// GetFile reads through POST /fs/read; 404 is not_found.
func (s *Sandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	b, _ := json.Marshal(map[string]string{"path": p})
	resp, err := s.p.api.Do(ctx, http.MethodPost, s.path("/fs/read"), nil, "application/json", bytes.NewReader(b))
	if err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("file", p)
		}
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Stop kills the commands started through this Sandbox and leaves the sandbox running:
// stopping a Vercel sandbox ends it for good, so the files would not survive. It lives
// until its timeout (TimeoutMS) or Destroy.
func (s *Sandbox) Stop(ctx context.Context) error {
	if err := s.alive(); err != nil {
		return err
	}
	s.mu.Lock()
	var ids []string
	for id := range s.cmds {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		err := s.p.api.JSON(ctx, http.MethodPost, s.path("/"+id+"/kill"), nil, map[string]int{"signal": 9}, nil)
		if err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
			return err
		}
	}
	return nil
}

// Destroy stops the sandbox (POST /stop); an unknown one counts as destroyed.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	err := s.p.api.JSON(ctx, http.MethodPost, s.path("/stop"), nil, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

func (s *Sandbox) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return hangar.Errorf(hangar.KindNotFound, "vercel sandbox %s was destroyed", s.h.ID)
	}
	return nil
}
