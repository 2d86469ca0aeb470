// Package gemini is the "gemini" engine: it runs Google's Gemini CLI (`gemini -p` with
// stream-json output, --yolo) inside the session's sandbox and translates its output into
// CMA events. Later turns resume the CLI's own session (--resume <session id>), which
// lives in the session's persisted HOME (~/.gemini/tmp/<project>/chats).
//
// The CLI is a Node.js program (Node 20 or later) installed by `hangar engines install
// gemini` (Install) into the cache directory. The runner bind-mounts its directory and the
// host's node binary read-only into isolated sandboxes (Mounts), so sandbox images need no
// Node of their own (Debian's Node 18 cannot run it).
//
// Each turn, Start writes $HOME/.gemini/settings.json (API-key auth, which a custom base
// URL otherwise breaks; usage statistics, telemetry and updates off) and the agent's
// system prompt as $HOME/.gemini/GEMINI.md, the CLI's global context file, which it adds
// to its own system prompt.
package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MountTarget is where Mounts binds the CLI's install directory inside sandboxes.
const MountTarget = "/opt/hangar/engines/gemini"

// NodeTarget is where Mounts binds the host's node binary inside sandboxes.
const NodeTarget = "/opt/hangar/node/bin/node"

// DefaultModel is the model of agents that name none.
const DefaultModel = "gemini-2.5-flash"

// Config is the engine's JSON config.
type Config struct {
	// Entry is the host path of the CLI's JavaScript entry point; "" finds the pinned
	// version in CacheDir (Find).
	Entry string `json:"entry,omitempty"`
	// CacheDir is HANGAR_CACHE_DIR, where `hangar engines install gemini` installs the CLI.
	CacheDir string `json:"cache_dir,omitempty"`
	// Node is the host path of the node binary (Node 20 or later); "" looks up "node" in
	// PATH.
	Node string `json:"node,omitempty"`
	// SandboxNode and SandboxEntry override the paths of node and of the entry point
	// inside isolated sandboxes (default: under NodeTarget and MountTarget), for images
	// that bring their own.
	SandboxNode  string `json:"sandbox_node,omitempty"`
	SandboxEntry string `json:"sandbox_entry,omitempty"`
	// InterruptGraceMS is how long an interrupted CLI may take to exit after SIGINT before
	// it is killed (default 3000).
	InterruptGraceMS int `json:"interrupt_grace_ms,omitempty"`
}

// Engine is the gemini engine.
type Engine struct {
	cfg    Config
	logger *slog.Logger
}

// New is the engine.Factory of the gemini engine. It does not require the CLI to be
// installed: Start reports ErrNotInstalled as a session error.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if err := engine.DecodeConfig("gemini", cfg, &c); err != nil {
		return nil, err
	}
	if c.InterruptGraceMS < 0 {
		return nil, errors.New("gemini engine config: interrupt_grace_ms must not be negative")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, logger: logger}, nil
}

// Capabilities implements engine.Engine.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{Interrupt: true, Resume: true}
}

// entry returns the host path of the CLI's entry point.
func (e *Engine) entry() (string, error) {
	return engine.CLIBinary{Package: npmPackage, Binary: e.cfg.Entry, CacheDir: e.cfg.CacheDir}.HostPath()
}

// node returns the host path of the node binary, symlinks resolved.
func (e *Engine) node() (string, error) {
	n := e.cfg.Node
	if n == "" {
		var err error
		if n, err = exec.LookPath("node"); err != nil {
			return "", fmt.Errorf("gemini needs Node.js 20 or later: %w", err)
		}
	}
	if real, err := filepath.EvalSymlinks(n); err == nil {
		n = real
	}
	return n, nil
}

// installRoot returns the directory that holds the node_modules of entry (the npm
// prefix), which Mounts binds at MountTarget.
func installRoot(entry string) string {
	dir := filepath.Dir(entry)
	for d := dir; ; {
		if filepath.Base(d) == "node_modules" {
			return filepath.Dir(d)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// Mounts returns the bind mounts that make the CLI available inside isolated sandboxes:
// its install directory read-only at MountTarget and the host's node binary read-only at
// NodeTarget. It returns nil when the CLI or node is missing (Start then fails the turn).
func (e *Engine) Mounts() []provider.Mount {
	entry, err := e.entry()
	if err != nil {
		return nil
	}
	if real, err := filepath.EvalSymlinks(entry); err == nil {
		entry = real
	}
	node, err := e.node()
	if err != nil {
		return nil
	}
	return []provider.Mount{
		{Source: installRoot(entry), Target: MountTarget, ReadOnly: true},
		{Source: node, Target: NodeTarget, ReadOnly: true},
	}
}

// command returns node and the entry point as seen by processes of sb.
func (e *Engine) command(sb provider.Sandbox) (node, entry string, err error) {
	host, err := e.entry()
	if err != nil {
		return "", "", err
	}
	if real, err := filepath.EvalSymlinks(host); err == nil {
		host = real
	}
	if !engine.Isolated(sb) {
		node, err = e.node()
		return node, host, err
	}
	node, entry = NodeTarget, e.cfg.SandboxEntry
	if e.cfg.SandboxNode != "" {
		node = e.cfg.SandboxNode
	}
	if entry == "" {
		rel, err := filepath.Rel(installRoot(host), host)
		if err != nil {
			return "", "", err
		}
		entry = path.Join(MountTarget, filepath.ToSlash(rel))
	}
	return node, entry, nil
}

// Model returns the model of a turn of spec: the agent's, else DefaultModel. The CLI's
// own default ("auto") routes every prompt through a classifier request first.
func Model(spec engine.Spec) string {
	if spec.Session != nil && spec.Session.Agent.Model.ID != "" {
		return spec.Session.Agent.Model.ID
	}
	return DefaultModel
}

// Args returns the CLI's argv after the entry point for a turn of spec: headless mode
// with the user's text as the prompt, stream-json output, every tool allowed (--yolo, the
// only mode that offers the shell tool headless), and --resume of the previous turn's
// CLI session.
func Args(spec engine.Spec) []string {
	args := []string{"-m", Model(spec), "--yolo", "--output-format", "stream-json"}
	if spec.Resume != "" {
		args = append(args, "--resume", spec.Resume)
	}
	// --prompt=TEXT: a prompt starting with "-" must not read as a flag.
	return append(args, "--prompt="+prompt(spec))
}

// prompt returns the turn's prompt: the text of the user message (the CLI takes no
// other content).
func prompt(spec engine.Spec) string {
	text := engine.Text(spec.Content)
	if strings.TrimSpace(text) == "" {
		text = "(empty message)"
	}
	return text
}

// Env returns the CLI's environment for a turn of spec.
func Env(spec engine.Spec) []string {
	env := []string{
		"GEMINI_API_KEY=" + spec.Egress.Token,
		"GOOGLE_GEMINI_BASE_URL=" + spec.Egress.ModelBaseURL,
		// The sandbox's workspace is the agent's; without this headless runs exit 55.
		"GEMINI_CLI_TRUST_WORKSPACE=true",
		// One process: no relaunch under a bigger heap, so signals reach the CLI itself.
		"GEMINI_CLI_NO_RELAUNCH=true",
		"GEMINI_TELEMETRY_ENABLED=false",
		"NO_COLOR=1",
	}
	if spec.Egress.HTTPProxy != "" {
		env = append(env,
			"HTTPS_PROXY="+spec.Egress.HTTPProxy, "HTTP_PROXY="+spec.Egress.HTTPProxy,
			"https_proxy="+spec.Egress.HTTPProxy, "http_proxy="+spec.Egress.HTTPProxy,
			"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	}
	if spec.HomeDir != "" {
		env = append(env, "HOME="+spec.HomeDir)
	}
	return env
}

// Settings is the CLI's $HOME/.gemini/settings.json Hangar writes: API-key auth (a
// custom base URL otherwise makes the CLI pick "gateway" auth, which headless mode
// rejects), and no usage statistics, telemetry, update checks or update nags.
var Settings = []byte(`{
  "security": {"auth": {"selectedType": "gemini-api-key"}},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false, "logPrompts": false},
  "general": {"disableAutoUpdate": true, "disableUpdateNag": true}
}
`)

// Start implements engine.Engine: it runs the CLI in sb for one turn.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if sb == nil {
		return nil, errors.New("gemini: no sandbox")
	}
	if spec.HomeDir == "" {
		return nil, errors.New("gemini: no home directory for the CLI's settings")
	}
	node, entry, err := e.command(sb)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: err.Error(), Err: err}
	}
	var system string
	if spec.Session != nil && spec.Session.Agent.System != nil {
		system = *spec.Session.Agent.System
	}
	dir := path.Join(spec.HomeDir, ".gemini")
	for _, f := range []struct {
		name string
		data []byte
	}{{"settings.json", SettingsFor(spec)}, {"GEMINI.md", []byte(system)}} {
		if err := putFile(ctx, sb, path.Join(dir, f.name), f.data); err != nil {
			return nil, fmt.Errorf("gemini: write %s: %w", f.name, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	proc, err := sb.Exec(ctx, provider.ExecSpec{
		Args: append([]string{node, entry}, Args(spec)...),
		Env:  Env(spec),
		Dir:  spec.WorkDir,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gemini: exec: %w", err)
	}
	proc.Stdin().Close()
	grace := engine.Grace(e.cfg.InterruptGraceMS)
	logger := e.logger.With("session_id", sessionID(spec))
	t := &Translator{Unknown: engine.LogSkipped(logger, "gemini"), MCPServers: mcpServerNames(spec)}
	return engine.StartCLI(ctx, proc, cancel, lines{t}, engine.CLIOptions{
		Name:   "gemini",
		Grace:  grace,
		Logger: logger,
		Done:   func(int) bool { return t.Result() != nil },
		OnExit: func(code int, stderr string) error {
			return engine.ExitedEarly("gemini", code, lastLines(stderr, 5))
		},
	}), nil
}

// lines adapts a Translator to engine.LineTranslator.
type lines struct{ *Translator }

func (l lines) Err() error {
	if err := l.Translator.Err(); err != nil {
		return err
	}
	return nil
}

// putFile writes a file of the sandbox, through a shell when the sandbox cannot write
// files itself.
func putFile(ctx context.Context, sb provider.Sandbox, p string, data []byte) error {
	err := sb.PutFile(ctx, p, data, 0o644)
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	proc, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"/bin/sh", "-c", `mkdir -p "$(dirname "$1")" && cat > "$1"`, "sh", p}})
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, proc.Stdout())
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&stderr, proc.Stderr())
		close(done)
	}()
	_, werr := proc.Stdin().Write(data)
	proc.Stdin().Close()
	code, err := proc.Wait()
	<-done
	switch {
	case err != nil:
		return err
	case code != 0:
		return fmt.Errorf("sh exited with code %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return werr
}

func sessionID(spec engine.Spec) string {
	if spec.Session == nil {
		return ""
	}
	return spec.Session.ID
}

// lastLines returns the last n non-empty lines of s, joined by newlines.
func lastLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}

var _ engine.Engine = (*Engine)(nil)
