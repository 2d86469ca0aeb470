package modal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
	"github.com/hangar-dev/hangar/internal/provider/modal/modalpb"
)

// Sandbox is one Modal sandbox.
type Sandbox struct {
	p *Provider
	h cloud.Handle

	mu        sync.Mutex
	taskID    string // the container commands are exec'd in
	destroyed bool
}

func (s *Sandbox) Handle() provider.Handle { return s.h.Encode() }

// Capabilities reports the provider's capabilities on the sandbox, so that engines see it
// as Isolated (engine.Isolated) and start their CLI at its path inside the image (the
// engine's mount target, e.g. /opt/hangar/engines/claude), which the image must bring:
// the host path a non-isolated sandbox would use does not exist on Modal.
func (s *Sandbox) Capabilities() provider.Capabilities { return s.p.Capabilities() }

// waitTask finds the sandbox's task (its container), waiting for it to be scheduled and
// started when wait is set. A sandbox whose task has ended is not_found: it cannot run
// commands any more.
func (s *Sandbox) waitTask(ctx context.Context, wait bool) error {
	for {
		timeout := float32(pollTimeout)
		if !wait {
			timeout = 0
		}
		resp, err := s.p.api.SandboxGetTaskId(ctx, &modalpb.SandboxGetTaskIdRequest{SandboxId: s.h.ID, Timeout: &timeout, WaitUntilReady: wait})
		if err != nil {
			if e := grpcError("sandbox "+s.h.ID, err); hangar.IsKind(e, hangar.KindNotFound) {
				return hangar.NotFound("modal sandbox", s.h.ID)
			} else {
				return e
			}
		}
		if r := resp.TaskResult; r != nil {
			return &hangar.Error{Kind: hangar.KindNotFound, Message: fmt.Sprintf("modal sandbox %s has ended (%s) %s", s.h.ID, r.Status, r.Exception)}
		}
		if resp.GetTaskId() != "" {
			s.mu.Lock()
			s.taskID = resp.GetTaskId()
			s.mu.Unlock()
			return nil
		}
		if !wait {
			return hangar.Errorf(hangar.KindUnavailable, "modal sandbox %s has no running container yet", s.h.ID)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("modal: waiting for sandbox %s to start: %w", s.h.ID, err)
		}
	}
}

// prepare creates the session's work and home directories.
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
	code, _, errOut, err := s.run(ctx, nil, append([]string{"mkdir", "-p", "--"}, dirs...)...)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("modal: prepare sandbox directories: exit %d: %s", code, errOut)
	}
	return nil
}

// Exec runs spec through a shell wrapper (ContainerExec has no environment field, and
// signals need the process's PID) in the work dir (ContainerExec's workdir): env sets
// the variables and runs the command.
func (s *Sandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if len(spec.Args) == 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "modal: exec: no command")
	}
	env := cloud.Env(spec.Env)
	if _, ok := env["HOME"]; !ok && s.h.HomeDir != "" {
		env["HOME"] = s.h.HomeDir
	}
	dir := spec.Dir
	if dir == "" {
		dir = s.h.WorkDir
	}
	pidFile := pidDir + "/" + hangar.NewID("exec") + ".pid"
	argv := []string{"sh", "-c", wrapper, pidFile}
	if len(env) > 0 {
		argv = append(argv, "env")
		for _, k := range slices.Sorted(maps.Keys(env)) {
			argv = append(argv, k+"="+env[k])
		}
	}
	argv = append(argv, spec.Args...)
	e, err := s.start(ctx, argv, dir)
	if err != nil {
		return nil, err
	}
	signal := func(kill bool) error {
		c, done := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer done()
		sig := "TERM"
		if kill {
			sig = "KILL"
		}
		// The PID file may not be written yet when the signal comes right after Exec:
		// wait for it briefly (50 × 0.1 s) inside the sandbox.
		code, _, errOut, err := s.run(c, nil, "sh", "-c",
			`i=0; while [ ! -s "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; kill -s "$0" "$(cat "$1")" 2>/dev/null || true`,
			sig, pidFile)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("modal: signal %s: exit %d: %s", sig, code, errOut)
		}
		return nil
	}
	e.proc = cloud.NewProc(e.stdin(), signal)
	e.pump()
	// The process ends with ctx: Modal does not tie an exec to the client's calls.
	go func() {
		select {
		case <-ctx.Done():
			signal(true)
		case <-e.proc.Done():
		}
	}()
	return e.proc, nil
}

// pidDir holds the PID files of the commands Exec started and that still run, for
// Signal and Stop.
const pidDir = "/tmp/.hangar-exec"

// wrapper runs "$@" as a child (its stdin passed explicitly: an asynchronous command's
// would be /dev/null), records the child's PID in the file "$0" while it runs, and exits
// with its status. The file is removed when the command ends, so Stop never kills a
// PID that was reused.
const wrapper = `mkdir -p "${0%/*}" || exit 125
exec 3<&0
"$@" 0<&3 3<&- &
p=$!
exec 3<&-
echo $p > "$0"
wait $p
c=$?
rm -f "$0"
exit $c`

// run runs a command to completion with stdin and returns its exit code and output.
func (s *Sandbox) run(ctx context.Context, stdin []byte, args ...string) (int, string, string, error) {
	e, err := s.start(ctx, args, "")
	if err != nil {
		return 0, "", "", err
	}
	e.proc = cloud.NewProc(e.stdin(), nil)
	e.pump()
	// These commands take no signal: a cancelled ctx abandons them (ending the output
	// streams), and Wait reports the cancellation.
	go func() {
		select {
		case <-ctx.Done():
			e.stop()
		case <-e.proc.Done():
		}
	}()
	w := e.proc.Stdin()
	_, err = w.Write(stdin)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		select {
		case <-e.proc.Done():
			// The process's own failure (a broken output stream) says more than the input's.
			if _, perr := e.proc.Wait(); perr != nil {
				return 0, "", "", perr
			}
		default:
			e.stop() // abandon the command: it would wait for input forever
		}
		return 0, "", "", err
	}
	var out, errOut bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&errOut, e.proc.Stderr()); close(done) }()
	io.Copy(&out, e.proc.Stdout())
	<-done
	code, err := e.proc.Wait()
	return code, out.String(), errOut.String(), err
}

// PutFile streams data into the file through an exec'd shell (mkdir -p, cat, chmod):
// Modal's file RPCs open, write and close in three calls each, the exec is one.
func (s *Sandbox) PutFile(ctx context.Context, p string, data []byte, mode uint32) error {
	if err := s.alive(); err != nil {
		return err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	if mode == 0 {
		mode = 0o644
	}
	code, _, errOut, err := s.run(ctx, data, "sh", "-c", `mkdir -p -- "$(dirname -- "$0")" && cat > "$0" && chmod "$1" "$0"`,
		p, fmt.Sprintf("%o", mode&0o7777))
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("modal: write %s: exit %d: %s", p, code, errOut)
	}
	return nil
}

// missingFile is the exit code GetFile's command reports a missing file with.
const missingFile = 44

// GetFile reads the file with cat; a missing file is not_found.
func (s *Sandbox) GetFile(ctx context.Context, p string) ([]byte, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	p = cloud.Resolve(s.h.WorkDir, p)
	code, out, errOut, err := s.run(ctx, nil, "sh", "-c", fmt.Sprintf(`[ -f "$0" ] || exit %d; exec cat -- "$0"`, missingFile), p)
	if err != nil {
		return nil, err
	}
	switch code {
	case 0:
		return []byte(out), nil
	case missingFile:
		return nil, hangar.NotFound("file", p)
	}
	return nil, fmt.Errorf("modal: read %s: exit %d: %s", p, code, errOut)
}

// Stop kills every command Exec started (Modal cannot pause a sandbox): the files stay,
// and the sandbox idles on its entrypoint until Recover or its timeout.
func (s *Sandbox) Stop(ctx context.Context) error {
	if err := s.alive(); err != nil {
		return err
	}
	code, _, errOut, err := s.run(ctx, nil, "sh", "-c",
		`for f in "$0"/*.pid; do [ -f "$f" ] || continue; kill -s KILL "$(cat "$f")" 2>/dev/null; rm -f "$f"; done; true`, pidDir)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("modal: stop: exit %d: %s", code, errOut)
	}
	return nil
}

// Destroy terminates the sandbox and waits (briefly) for it to end; one that is already
// gone counts as destroyed.
func (s *Sandbox) Destroy(ctx context.Context) error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	s.mu.Unlock()
	if _, err := s.p.api.SandboxTerminate(ctx, &modalpb.SandboxTerminateRequest{SandboxId: s.h.ID}); err != nil {
		if err := grpcError("terminate sandbox "+s.h.ID, err); !hangar.IsKind(err, hangar.KindNotFound) {
			return err
		}
		return nil
	}
	_, err := s.p.api.SandboxWait(ctx, &modalpb.SandboxWaitRequest{SandboxId: s.h.ID, Timeout: 10})
	if err := grpcError("wait for sandbox "+s.h.ID, err); err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
		return err
	}
	return nil
}

func (s *Sandbox) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return hangar.Errorf(hangar.KindNotFound, "modal sandbox %s was destroyed", s.h.ID)
	}
	return nil
}
