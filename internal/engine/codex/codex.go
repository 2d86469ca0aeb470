// Package codex is the "codex" engine: it runs OpenAI's Codex CLI (`codex exec --json`)
// inside the session's sandbox and translates its JSONL output into CMA events. Later
// turns resume the CLI's own thread (`codex exec resume <thread id>`), which lives in the
// session's persisted HOME ($HOME/.codex).
//
// The CLI talks to the model only through the Responses API of a custom model provider
// ("hangar", set with -c flags) whose base URL is the egress proxy; analytics, plugins and
// the update check are off, so nothing else tries to leave the sandbox. Codex's own
// sandbox is bypassed: the session's sandbox is the boundary.
//
// `codex exec` has no control protocol, so Interrupt signals the process (SIGINT, then
// SIGKILL after a grace period). A future version could drive `codex app-server`, whose
// turn/interrupt stops a turn cleanly and keeps the process between turns.
package codex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
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
	// -c developer_instructions, keeping Codex's own prompt) or "replace" (-c
	// instructions, replacing it).
	SystemPrompt string `json:"system_prompt,omitempty"`
	// MaxRetries sets the provider's request_max_retries and stream_max_retries, the CLI's
	// retries of failed model requests (0: the CLI's defaults).
	MaxRetries int `json:"max_retries,omitempty"`
	// InterruptGraceMS is how long an interrupted CLI may take to exit after SIGINT before
	// it is killed (default 3000).
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
	return engine.Capabilities{Interrupt: true, Resume: true}
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

// Args returns the CLI's argv (without the program) for a turn of spec: `exec` with the
// options, then `resume <thread id>` when spec.Resume is set, then the prompt (the user
// message's text).
func (e *Engine) Args(spec engine.Spec) []string {
	args := []string{"exec", "--json", "--skip-git-repo-check",
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
	var a hangar.Agent
	if spec.Session != nil {
		a = spec.Session.Agent
	}
	if a.Model.ID != "" {
		args = append(args, "-m", a.Model.ID)
	}
	if a.System != nil && *a.System != "" {
		key := "developer_instructions"
		if e.cfg.SystemPrompt == "replace" {
			key = "instructions"
		}
		args = append(args, "-c", key+"="+tomlString(*a.System))
	}
	args = append(args, "--dangerously-bypass-approvals-and-sandbox")
	if spec.Resume != "" {
		args = append(args, "resume", "--", spec.Resume)
	} else {
		args = append(args, "--")
	}
	return append(args, prompt(spec))
}

// prompt returns the text of the turn's user message. Codex reads a prompt that is "-" or
// missing from stdin, which is closed, so an empty message is sent as a single space.
func prompt(spec engine.Spec) string {
	text := engine.Text(spec.Content)
	if strings.TrimSpace(text) == "" || text == "-" {
		return " " + text
	}
	return text
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

// Start implements engine.Engine: it runs the CLI in sb for one turn.
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
	// The prompt is an argument; with stdin open the CLI would wait to append it.
	proc.Stdin().Close()
	grace := engine.Grace(e.cfg.InterruptGraceMS)
	sid := ""
	if spec.Session != nil {
		sid = spec.Session.ID
	}
	logger := e.logger.With("session_id", sid)
	t := &Translator{Unknown: engine.LogSkipped(logger, "codex")}
	return engine.StartCLI(ctx, proc, cancel, lines{t}, engine.CLIOptions{
		Name:   "codex",
		Grace:  grace,
		Logger: logger,
		Done:   func(int) bool { return t.Done() },
		OnExit: func(code int, stderr string) error {
			msg := fmt.Sprintf("codex exited with code %d before finishing the turn", code)
			if s := t.LastError(); s != "" {
				msg += ": " + s
			} else if s := strings.TrimSpace(stderr); s != "" {
				msg += ": " + s
			}
			return &engine.Error{Type: "unknown_error", Message: msg}
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

var _ engine.Engine = (*Engine)(nil)
