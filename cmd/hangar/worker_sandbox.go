package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/tools/agenttoolset"
)

// `hangar worker --sandbox bwrap`: the agent toolset's bash tool runs in a bubblewrap
// sandbox instead of on the host. The SDK's own bash tool starts /bin/bash on the host and
// cannot be pointed elsewhere, so this is a tool of the same name, input and behaviour (a
// persistent shell: cd and exports carry over between calls; restart; timeout_ms) whose
// shell runs in `bwrap`: the host's filesystem read-only, the workdir the only writable
// directory besides a private /tmp, its own PID, IPC and UTS namespaces, a clean
// environment. The network is shared (package installs keep working). The other tools of
// the set stay the SDK's: they are already confined to the workdir.

const (
	sandboxBashTimeout = 120 * time.Second
	sandboxOutputLimit = 100 << 10
)

// bwrapArgs are the bubblewrap arguments of the sandboxed shell for workdir.
func bwrapArgs(workdir string) []string {
	return []string{
		"--ro-bind", "/", "/",
		"--dev", "/dev",
		"--proc", "/proc",
		"--tmpfs", "/tmp",
		"--bind", workdir, workdir,
		"--chdir", workdir,
		"--unshare-pid", "--unshare-ipc", "--unshare-uts",
		"--die-with-parent",
		"--clearenv",
		"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "HOME", workdir,
		"--setenv", "TERM", "dumb",
		"--setenv", "LANG", "C.UTF-8",
		"--",
		"/bin/bash", "--noprofile", "--norc",
	}
}

// withSandboxedBash returns the standard toolset for env with bash replaced by the
// bubblewrap one.
func withSandboxedBash(bwrap string) func(env *agenttoolset.AgentToolContext) []anthropic.BetaTool {
	return func(env *agenttoolset.AgentToolContext) []anthropic.BetaTool {
		tools := agenttoolset.BetaAgentToolset20260401(env)
		for i, t := range tools {
			if t.Name() == "bash" {
				if c, ok := t.(io.Closer); ok {
					c.Close()
				}
				tools[i] = &sandboxBash{bwrap: bwrap, workdir: env.Workdir}
			}
		}
		return tools
	}
}

// sandboxBash is the bash tool whose persistent shell runs in bubblewrap.
type sandboxBash struct {
	bwrap, workdir string
	mu             sync.Mutex
	sh             *sandboxShell
}

func (t *sandboxBash) Name() string { return "bash" }

func (t *sandboxBash) Description() string {
	return "Run a bash command in a persistent shell. State (cwd, env vars) persists across calls."
}

func (t *sandboxBash) InputSchema() anthropic.BetaToolInputSchemaParam {
	prop := func(typ, desc string) map[string]any { return map[string]any{"type": typ, "description": desc} }
	return anthropic.BetaToolInputSchemaParam{Properties: map[string]any{
		"command":    prop("string", "The command to run"),
		"restart":    prop("boolean", "Restart the persistent shell before running"),
		"timeout_ms": prop("integer", "Per-call timeout in milliseconds"),
	}}
}

// Execute runs one command. A failing command is an error result with its output and exit
// code, as the SDK's bash reports it; a timeout or a broken shell restarts the shell.
func (t *sandboxBash) Execute(ctx context.Context, raw json.RawMessage) ([]anthropic.BetaToolResultBlockParamContentUnion, error) {
	var in struct {
		Command   string `json:"command"`
		Restart   bool   `json:"restart"`
		TimeoutMS int64  `json:"timeout_ms"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, &agenttoolset.ToolError{Content: "invalid bash input: " + err.Error()}
	}
	if in.Restart {
		t.Close()
		if in.Command == "" {
			return text("bash session restarted"), nil
		}
	}
	if in.Command == "" {
		return nil, &agenttoolset.ToolError{Content: "bash: command is required"}
	}
	sh, err := t.shell()
	if err != nil {
		return nil, &agenttoolset.ToolError{Content: "bash: " + err.Error()}
	}
	timeout := sandboxBashTimeout
	if in.TimeoutMS > 0 {
		timeout = time.Duration(in.TimeoutMS) * time.Millisecond
	}
	out, code, err := sh.run(ctx, in.Command, timeout)
	if err != nil {
		t.Close() // the shell's state is unknown now
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &agenttoolset.ToolError{Content: out + "\nsession restarted after timeout"}
		}
		return nil, &agenttoolset.ToolError{Content: "bash: " + err.Error()}
	}
	if code != 0 {
		return nil, &agenttoolset.ToolError{Content: fmt.Sprintf("%s\nexit code: %d", out, code)}
	}
	return text(out), nil
}

func text(s string) []anthropic.BetaToolResultBlockParamContentUnion {
	return []anthropic.BetaToolResultBlockParamContentUnion{{OfText: &anthropic.BetaTextBlockParam{Text: s}}}
}

func (t *sandboxBash) shell() (*sandboxShell, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sh == nil {
		sh, err := startSandboxShell(t.bwrap, t.workdir)
		if err != nil {
			return nil, err
		}
		t.sh = sh
	}
	return t.sh, nil
}

// Close ends the shell, if any (agenttoolset.CloseAll calls it when the session ends).
func (t *sandboxBash) Close() error {
	t.mu.Lock()
	sh := t.sh
	t.sh = nil
	t.mu.Unlock()
	if sh != nil {
		sh.kill()
	}
	return nil
}

// sandboxShell is one bash process in bwrap, fed commands on stdin. Its stdout and stderr
// go to one pipe; each command is followed by a line with a random marker and the exit
// code, which tells where the command's output ends.
type sandboxShell struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu     sync.Mutex
	buf    bytes.Buffer
	eof    bool
	notify chan struct{} // a wake-up per read; capacity 1
}

func startSandboxShell(bwrap, workdir string) (*sandboxShell, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bwrap, bwrapArgs(workdir)...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("start bwrap: %w", err)
	}
	w.Close()
	sh := &sandboxShell{cmd: cmd, stdin: stdin, notify: make(chan struct{}, 1)}
	go sh.drain(r)
	return sh, nil
}

func (sh *sandboxShell) drain(r *os.File) {
	defer r.Close()
	b := make([]byte, 32<<10)
	for {
		n, err := r.Read(b)
		sh.mu.Lock()
		sh.buf.Write(b[:n])
		if err != nil {
			sh.eof = true
		}
		sh.mu.Unlock()
		select {
		case sh.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// run runs command in the shell and returns its output and exit code. Its stdin is
// /dev/null, so it cannot swallow the marker line.
func (sh *sandboxShell) run(ctx context.Context, command string, timeout time.Duration) (string, int, error) {
	var m [12]byte
	rand.Read(m[:])
	marker := "__hangar_done_" + hex.EncodeToString(m[:])
	sh.mu.Lock()
	sh.buf.Reset()
	sh.mu.Unlock()
	// eval keeps a syntax error from ending the (non-interactive) shell.
	quoted := "'" + strings.ReplaceAll(command, "'", `'\''`) + "'"
	script := "{ eval " + quoted + "; } </dev/null\nprintf '\\n%s %d\\n' " + marker + " $?\n"
	if _, err := io.WriteString(sh.stdin, script); err != nil {
		return "", 0, fmt.Errorf("the shell is gone: %w", err)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tail := []byte("\n" + marker + " ")
	for {
		sh.mu.Lock()
		data, eof := sh.buf.Bytes(), sh.eof
		if i := bytes.Index(data, tail); i >= 0 {
			rest := data[i+len(tail):]
			if j := bytes.IndexByte(rest, '\n'); j >= 0 {
				code, _ := strconv.Atoi(string(rest[:j]))
				out := limitOutput(string(data[:i]))
				sh.mu.Unlock()
				return out, code, nil
			}
		}
		partial := limitOutput(string(data))
		sh.mu.Unlock()
		if eof {
			return partial, 0, errors.New("the shell exited")
		}
		select {
		case <-sh.notify:
		case <-deadline.C:
			return partial, 0, context.DeadlineExceeded
		case <-ctx.Done():
			return partial, 0, ctx.Err()
		}
	}
}

func limitOutput(s string) string {
	if len(s) > sandboxOutputLimit {
		return s[:sandboxOutputLimit] + "\n[output truncated]"
	}
	return s
}

// kill ends the shell and everything it started (its process group; the sandbox's PID
// namespace dies with bwrap).
func (sh *sandboxShell) kill() {
	sh.stdin.Close()
	if sh.cmd.Process != nil {
		syscall.Kill(-sh.cmd.Process.Pid, syscall.SIGKILL)
	}
	sh.cmd.Wait()
}
