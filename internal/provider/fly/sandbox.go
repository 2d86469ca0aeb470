package fly

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Sandbox is one Fly Machine.
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

func (s *Sandbox) path(suffix string) string { return s.p.path("/"+s.h.ID, suffix) }

// waitStarted blocks on GET /wait?state=started: Fly answers when the machine runs, or
// 408 when the wait's own timeout passes first, and then it asks again.
func (s *Sandbox) waitStarted(ctx context.Context, instance string) error {
	q := url.Values{"state": {"started"}, "timeout": {"60"}}
	if instance != "" {
		q.Set("instance_id", instance)
	}
	for {
		req, err := s.p.api.Request(ctx, http.MethodGet, s.path("/wait"), q, "", nil)
		if err != nil {
			return err
		}
		resp, err := s.p.api.HTTP.Do(req)
		if err != nil {
			return &hangar.Error{Kind: hangar.KindUnavailable, Message: "fly API unreachable", Err: err}
		}
		switch {
		case resp.StatusCode == http.StatusRequestTimeout:
			resp.Body.Close()
		case resp.StatusCode/100 != 2:
			defer resp.Body.Close()
			return cloud.StatusError("fly", "wait for machine "+s.h.ID, resp)
		default:
			resp.Body.Close()
			return nil
		}
	}
}

// execResponse is flydv1.ExecResponse.
type execResponse struct {
	ExitCode   int    `json:"exit_code"`
	ExitSignal int    `json:"exit_signal"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
}

// run runs argv to completion with stdin.
func (s *Sandbox) run(ctx context.Context, argv []string, stdin string) (execResponse, error) {
	body := map[string]any{"command": argv, "timeout": s.p.cfg.ExecTimeoutSeconds}
	if stdin != "" {
		body["stdin"] = stdin
	}
	var r execResponse
	err := s.p.api.JSON(ctx, http.MethodPost, s.path("/exec"), nil, body, &r)
	return r, err
}

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
	r, err := s.run(ctx, append([]string{"sh", "-c", script, "sh"}, dirs...), "")
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("fly: prepare sandbox directories: exit %d: %s", r.ExitCode, r.Stderr)
	}
	return nil
}

// Exec returns at once; the command runs when stdin is closed, through one exec call
// whose response carries all of its output. The exec API takes no working directory or
// environment, so the command is wrapped in sh, which also records its PID for Signal.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "fly: exec: no command")
	}
	x := &execution{s: s, spec: spec, ctx: ctx, pidFile: "/tmp/.hangar-exec-" + hangar.NewID("") + ".pid"}
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
	s       *Sandbox
	spec    provider.ExecSpec
	ctx     context.Context
	proc    *cloud.Proc
	pidFile string

	mu      sync.Mutex
	closed  bool // stdin closed: the command runs
	stopped bool // signalled before stdin closed: it never will
}

func (x *execution) start(stdin []byte) {
	x.mu.Lock()
	stopped := x.stopped
	x.mu.Unlock()
	if stopped {
		return
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
	script := "echo $$ > " + cloud.Quote(x.pidFile) + " && " + cloud.Script(dir, env, spec.Args)
	s.mu.Lock()
	s.running[x] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, x)
		s.mu.Unlock()
	}()
	// The exec call is not tied to x.ctx: cancelling it would leave the command running
	// (Signal kills it instead).
	r, err := s.run(context.WithoutCancel(x.ctx), []string{"sh", "-c", script}, string(stdin))
	if err != nil {
		x.proc.Exit(-1, err)
		return
	}
	x.proc.StdoutWriter().Write([]byte(r.Stdout))
	x.proc.StderrWriter().Write([]byte(r.Stderr))
	code := r.ExitCode
	if r.ExitSignal > 0 {
		code = 128 + r.ExitSignal
	}
	x.proc.Exit(code, nil)
	cleanup, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	s.run(cleanup, []string{"rm", "-f", x.pidFile}, "")
}

// signal kills the command with a second exec (kill on the PID the wrapper recorded).
func (x *execution) signal(kill bool) error {
	x.mu.Lock()
	if !x.closed {
		x.stopped = true
		x.mu.Unlock()
		x.proc.Exit(128+9, nil)
		return nil
	}
	x.mu.Unlock()
	sig := "TERM"
	if kill {
		sig = "KILL"
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	// The command may have been sent a moment ago: give its wrapper up to 5s to record
	// its PID.
	script := `i=0; while [ ! -s "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
pid=$(cat "$1" 2>/dev/null) && kill -` + sig + ` "$pid" 2>/dev/null; exit 0`
	_, err := x.s.run(ctx, []string{"sh", "-c", script, "sh", x.pidFile}, "")
	return err
}

// PutFile writes through exec: the data, base64 on stdin, decoded into place.
func (s *Sandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if err := s.alive(); err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	script := `mkdir -p -- "$(dirname -- "$1")" && base64 -d > "$1" && chmod "$2" -- "$1"`
	r, err := s.run(ctx, []string{"sh", "-c", script, "sh", p, fmt.Sprintf("%o", mode&0o7777)}, base64.StdEncoding.EncodeToString(data))
	if err != nil {
		return err
	}
	if r.ExitCode != 0 {
		return fmt.Errorf("fly: write %s: exit %d: %s", p, r.ExitCode, r.Stderr)
	}
	return nil
}

// missing is the exit code GetFile's script reports a missing file with.
const missing = 44

// GetFile reads through exec: the file, base64 on stdout.
func (s *Sandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	r, err := s.run(ctx, []string{"sh", "-c", fmt.Sprintf(`test -f "$1" || exit %d; base64 < "$1"`, missing), "sh", p}, "")
	if err != nil {
		return nil, err
	}
	switch r.ExitCode {
	case 0:
		return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(r.Stdout), ""))
	case missing:
		return nil, hangar.NotFound("file", path.Clean(p))
	}
	return nil, fmt.Errorf("fly: read %s: exit %d: %s", p, r.ExitCode, r.Stderr)
}

// Stop kills the running commands and suspends the machine (memory and root
// filesystem are kept; a plain stop would reset the root filesystem from the image).
// Recover starts it again.
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
		x.signal(true)
		<-x.proc.Done()
	}
	var m machineJSON
	if err := s.p.api.JSON(ctx, http.MethodGet, s.path(""), nil, nil, &m); err != nil {
		return err
	}
	if m.State == "suspended" || m.State == "suspending" || m.State == "stopped" {
		return nil
	}
	return s.p.api.JSON(ctx, http.MethodPost, s.path("/suspend"), nil, nil, nil)
}

// Destroy force-destroys the machine; an unknown one counts as destroyed.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	err := s.p.api.JSON(ctx, http.MethodDelete, s.path(""), url.Values{"force": {"true"}}, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

func (s *Sandbox) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return hangar.Errorf(hangar.KindNotFound, "fly machine %s was destroyed", s.h.ID)
	}
	return nil
}
