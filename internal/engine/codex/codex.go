// Package codex is the "codex" engine: it runs OpenAI's Codex CLI in the session's
// sandbox through its control protocol, `codex app-server` (JSON-RPC 2.0 over stdio, one
// message per line), and translates its notifications into CMA events. Each turn starts
// the server, opens the thread (thread/start, or thread/resume of the thread ID reported
// by the previous turn, whose rollout lives in the session's persisted HOME, $HOME/.codex),
// runs one turn (turn/start) and closes stdin once turn/completed arrives, which makes the
// server exit.
//
// Interrupt sends turn/interrupt, which stops the turn at once and keeps the thread
// consistent; signals remain a fallback. Tools whose permission policy is always_ask make
// the thread's approval policy "untrusted": the server then asks before every command and
// file change (item/commandExecution/requestApproval, item/fileChange/requestApproval),
// and the run answers through Send once the client has decided.
//
// The CLI talks to the model only through the Responses API of a custom model provider
// ("hangar", set with -c flags) whose base URL is the egress proxy; analytics, plugins and
// the update check are off, so nothing else tries to leave the sandbox. Codex's own
// sandbox is off (sandbox "danger-full-access"): the session's sandbox is the boundary.
package codex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MountTarget is where Mounts binds the CLI's directory inside sandboxes; the binary is
// bin/codex under it.
const MountTarget = "/opt/hangar/engines/codex"

// ProviderName is the name of the model provider the engine configures in the CLI.
const ProviderName = "hangar"

// TokenEnv is the variable that carries Spec.Egress.Token to the CLI (the provider's
// env_key).
const TokenEnv = "HANGAR_MODEL_TOKEN"

// Config is the engine's JSON config.
type Config struct {
	// Binary is the host path of the codex binary; "" finds the pinned version in
	// CacheDir (Find).
	Binary string `json:"binary,omitempty"`
	// CacheDir is HANGAR_CACHE_DIR, where `hangar engines install codex` installs the CLI.
	CacheDir string `json:"cache_dir,omitempty"`
	// SandboxBinary overrides the path of the binary inside isolated sandboxes (default:
	// MountTarget/bin/codex).
	SandboxBinary string `json:"sandbox_binary,omitempty"`
	// SystemPrompt is how the agent's system prompt reaches the CLI: "append" (default,
	// the thread's developerInstructions, keeping Codex's own prompt) or "replace" (its
	// baseInstructions, replacing it).
	SystemPrompt string `json:"system_prompt,omitempty"`
	// MaxRetries sets the provider's request_max_retries and stream_max_retries, the CLI's
	// retries of failed model requests (0: the CLI's defaults).
	MaxRetries int `json:"max_retries,omitempty"`
	// InterruptGraceMS is how long each step of stopping an interrupted turn may take
	// before the next (turn/interrupt, closing stdin, SIGINT, SIGKILL; default 3000).
	InterruptGraceMS int `json:"interrupt_grace_ms,omitempty"`
}

// Engine is the codex engine.
type Engine struct {
	cfg    Config
	logger *slog.Logger
}

// New is the engine.Factory of the codex engine. It does not require the CLI to be
// installed: Start reports ErrNotInstalled as a session error.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if err := engine.DecodeConfig("codex", cfg, &c); err != nil {
		return nil, err
	}
	switch c.SystemPrompt {
	case "", "append", "replace":
	default:
		return nil, fmt.Errorf("codex engine config: system_prompt: want append or replace, got %q", c.SystemPrompt)
	}
	if c.InterruptGraceMS < 0 || c.MaxRetries < 0 {
		return nil, errors.New("codex engine config: interrupt_grace_ms and max_retries must not be negative")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, logger: logger}, nil
}

// Capabilities implements engine.Engine.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{ToolConfirmation: true, Interrupt: true, Resume: true, InteractiveStdin: true}
}

// cli returns the CLI's binary as configured.
func (e *Engine) cli() engine.CLIBinary {
	return engine.CLIBinary{Package: npmPackage, Binary: e.cfg.Binary, CacheDir: e.cfg.CacheDir,
		SandboxBinary: e.cfg.SandboxBinary, MountTarget: MountTarget, BinDir: "bin"}
}

// Mounts returns the bind mounts that make the CLI available inside isolated sandboxes:
// the host directory above the binary's bin/ (which also holds the CLI's helpers, such as
// codex-path/rg), read-only at MountTarget. It returns nil when the CLI is not installed
// (Start then fails the turn with ErrNotInstalled).
func (e *Engine) Mounts() []provider.Mount { return e.cli().Mounts() }

// Args returns the CLI's argv (without the program): `app-server` with the options that
// keep it offline and point it at the egress proxy. What varies per turn (model, system
// prompt, approval policy) goes in the thread's parameters (ThreadParams).
func (e *Engine) Args(spec engine.Spec) []string {
	args := []string{"app-server",
		"-c", "analytics.enabled=false", "-c", "check_for_update_on_startup=false", "--disable", "plugins",
		"-c", "model_provider=" + ProviderName,
		"-c", "model_providers." + ProviderName + ".name=" + ProviderName,
		"-c", "model_providers." + ProviderName + ".base_url=" + tomlString(strings.TrimSuffix(spec.Egress.ModelBaseURL, "/")+"/v1"),
		"-c", "model_providers." + ProviderName + ".env_key=" + TokenEnv,
		"-c", "model_providers." + ProviderName + ".wire_api=responses",
	}
	if n := e.cfg.MaxRetries; n > 0 {
		args = append(args,
			"-c", "model_providers."+ProviderName+".request_max_retries="+strconv.Itoa(n),
			"-c", "model_providers."+ProviderName+".stream_max_retries="+strconv.Itoa(n))
	}
	return append(args, mcpArgs(spec)...)
}

// tomlString quotes s as a TOML basic string, so -c parses it as a string whatever it
// holds.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Env returns the CLI's environment for a turn of spec. The CLI keeps its state in
// $HOME/.codex (its default CODEX_HOME, which it creates).
func (e *Engine) Env(spec engine.Spec) []string {
	env := []string{TokenEnv + "=" + spec.Egress.Token}
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

// Start implements engine.Engine: it runs the CLI's app server in sb for one turn.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if sb == nil {
		return nil, errors.New("codex: no sandbox")
	}
	bin, err := e.cli().For(sb)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: err.Error(), Err: err}
	}
	ctx, cancel := context.WithCancel(ctx)
	proc, err := sb.Exec(ctx, provider.ExecSpec{
		Args: append([]string{bin}, e.Args(spec)...),
		Env:  e.Env(spec),
		Dir:  spec.WorkDir,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("codex: exec: %w", err)
	}
	sid := ""
	var tools json.RawMessage
	if spec.Session != nil {
		sid, tools = spec.Session.ID, spec.Session.Agent.Tools
	}
	r := newRun(proc, cancel, runOptions{
		logger: e.logger.With("session_id", sid),
		grace:  engine.Grace(e.cfg.InterruptGraceMS),
		thread: e.ThreadParams(spec),
		resume: spec.Resume,
		input:  Input(spec.Content),
		ask:    asker(tools),
	})
	if err := r.start(); err != nil {
		proc.Signal(true)
		cancel()
		proc.Wait()
		return nil, err
	}
	go r.main(ctx)
	return r, nil
}

var _ engine.Engine = (*Engine)(nil)
