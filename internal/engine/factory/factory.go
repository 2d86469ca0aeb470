// Package factory is the "factory" engine: it runs Factory's droid CLI (`droid exec` in its
// stream-jsonrpc mode) inside the session's sandbox against a BYOK custom model that
// points at the egress proxy, and translates its output into CMA events. Each turn is one
// process driven over JSON-RPC on stdin: open (or load) the session, name it, send the
// user message; an interrupt is a droid.interrupt_session request, not a signal. Later
// turns load the CLI's own session, which lives in the session's persisted HOME.
//
// The CLI is installed by `hangar engines install factory` (NPM) into the cache
// directory; the runner bind-mounts its directory read-only into sandboxes (Mounts).
package factory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MountTarget is where Mounts binds the CLI's directory inside sandboxes.
const MountTarget = "/opt/hangar/engines/factory"

// DefaultModel is the model of agents that name none.
const DefaultModel = "claude-sonnet-4-6"

// displayName is the custom model's name in droid's settings; droid calls the model
// "custom:Hangar-0" in its output.
const displayName = "Hangar"

// Config is the engine's JSON config.
type Config struct {
	// Binary is the host path of the droid binary; "" finds the pinned version in
	// CacheDir (Find).
	Binary string `json:"binary,omitempty"`
	// CacheDir is HANGAR_CACHE_DIR, where `hangar engines install factory` installs the CLI.
	CacheDir string `json:"cache_dir,omitempty"`
	// SandboxBinary overrides the path of the binary inside isolated sandboxes (default:
	// the binary under MountTarget).
	SandboxBinary string `json:"sandbox_binary,omitempty"`
	// Auto is droid's autonomy level, --auto: low, medium or high (default high; the
	// sandbox is the security boundary).
	Auto string `json:"auto,omitempty"`
	// MaxOutputTokens is the custom model's maxOutputTokens (default 8192).
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
	// InterruptGraceMS is how long an interrupted CLI may take to stop after the
	// droid.interrupt_session request, and then after SIGINT, before it is killed (default
	// 3000).
	InterruptGraceMS int `json:"interrupt_grace_ms,omitempty"`
}

// Engine is the factory engine.
type Engine struct {
	cfg    Config
	logger *slog.Logger
	record io.Writer // tests: a copy of droid's stdout (export_test.go)
}

// New is the engine.Factory of the factory engine. It does not require the CLI to be
// installed: Start reports ErrNotInstalled as a session error.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if err := engine.DecodeConfig("factory", cfg, &c); err != nil {
		return nil, err
	}
	switch c.Auto {
	case "":
		c.Auto = "high"
	case "low", "medium", "high":
	default:
		return nil, fmt.Errorf("factory engine config: auto: want low, medium or high, got %q", c.Auto)
	}
	if c.InterruptGraceMS < 0 || c.MaxOutputTokens < 0 {
		return nil, errors.New("factory engine config: interrupt_grace_ms and max_output_tokens must not be negative")
	}
	if c.MaxOutputTokens == 0 {
		c.MaxOutputTokens = 8192
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, logger: logger}, nil
}

// Capabilities implements engine.Engine.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{Interrupt: true, Resume: true, InteractiveStdin: true}
}

// cli returns the CLI's binary as configured.
func (e *Engine) cli() engine.CLIBinary {
	return engine.CLIBinary{Package: npmPackage, Binary: e.cfg.Binary, CacheDir: e.cfg.CacheDir,
		SandboxBinary: e.cfg.SandboxBinary, MountTarget: MountTarget}
}

// Mounts returns the bind mounts that make the CLI available inside isolated sandboxes:
// the host directory of the binary, read-only at MountTarget. It returns nil when the CLI
// is not installed (Start then fails the turn with ErrNotInstalled).
func (e *Engine) Mounts() []provider.Mount { return e.cli().Mounts() }

func model(spec engine.Spec) string {
	if spec.Session != nil && spec.Session.Agent.Model.ID != "" {
		return spec.Session.Agent.Model.ID
	}
	return DefaultModel
}

// SettingsPath returns where Start writes droid's settings for spec: $HOME/.factory/settings.json.
func SettingsPath(spec engine.Spec) string {
	return path.Join(spec.HomeDir, ".factory", "settings.json")
}

// Settings returns droid's settings.json for a turn of spec: one BYOK custom model, the
// agent's, served by the Anthropic Messages API at the egress proxy.
func (e *Engine) Settings(spec engine.Spec) []byte {
	b, _ := json.MarshalIndent(map[string]any{
		"customModels": []map[string]any{{
			"model":           model(spec),
			"displayName":     displayName,
			"baseUrl":         spec.Egress.ModelBaseURL,
			"apiKey":          spec.Egress.Token,
			"provider":        "anthropic",
			"maxOutputTokens": e.cfg.MaxOutputTokens,
		}},
	}, "", "  ")
	return append(b, '\n')
}

// Args returns the CLI's argv (without the program) for a turn of spec: droid exec driven
// over JSON-RPC on stdin and stdout. In this mode the session's model and autonomy level
// come from the initialize request (SessionRequest); droid still validates -m and --auto,
// and honours --append-system-prompt.
func (e *Engine) Args(spec engine.Spec) []string {
	args := []string{"exec", "--input-format", "stream-jsonrpc", "--output-format", "stream-jsonrpc",
		"--auto", e.cfg.Auto, "-m", "custom:" + model(spec)}
	if spec.Session != nil && spec.Session.Agent.System != nil && *spec.Session.Agent.System != "" {
		args = append(args, "--append-system-prompt", *spec.Session.Agent.System)
	}
	return args
}

// SessionRequest returns the request that opens the turn's droid session: a new session
// on the first turn, else the previous turn's session, loaded from the persisted HOME
// (droid.load_session reads the local transcript; airgap mode allows it).
func (e *Engine) SessionRequest(spec engine.Spec) []byte {
	if spec.Resume != "" {
		return request(reqLoad, "droid.load_session", map[string]string{"sessionId": spec.Resume})
	}
	return e.newSessionRequest(spec)
}

// newSessionRequest returns the request that opens a new droid session.
func (e *Engine) newSessionRequest(spec engine.Spec) []byte {
	// cwd "." is the process's directory, spec.WorkDir as the sandbox maps it.
	return request(reqSession, "droid.initialize_session", map[string]string{
		"machineId": "hangar", "cwd": ".", "modelId": "custom:" + model(spec), "autonomyLevel": e.cfg.Auto,
	})
}

// TitleRequest returns the request that names a new droid session. Without a title droid
// asks the model for one: an extra model request per session, billed to the agent's key.
func TitleRequest(spec engine.Spec) []byte {
	title := "Hangar session"
	if spec.Session != nil {
		if spec.Session.Title != nil && strings.TrimSpace(*spec.Session.Title) != "" {
			title = *spec.Session.Title
		} else if spec.Session.ID != "" {
			title = "Hangar " + spec.Session.ID
		}
	}
	return request(reqTitle, "droid.rename_session", map[string]string{"title": title})
}

// MessageRequest returns the request that starts the turn with the user message's text.
func MessageRequest(spec engine.Spec) []byte {
	return request(reqMessage, "droid.add_user_message", map[string]string{"text": prompt(spec)})
}

// prompt returns the text of the turn's user message.
func prompt(spec engine.Spec) string {
	return engine.Text(spec.Content)
}

// Env returns the CLI's environment for a turn of spec.
func (e *Engine) Env(spec engine.Spec) []string {
	// Airgap mode stops droid's calls to Factory (auth, telemetry, OTLP); BYOK model
	// requests still go out.
	env := []string{"FACTORY_AIRGAP_ENABLED=1"}
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

// Start implements engine.Engine: it writes droid's settings into the sandbox's HOME and
// runs the CLI in sb for one turn.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if sb == nil {
		return nil, errors.New("factory: no sandbox")
	}
	if spec.HomeDir == "" {
		return nil, errors.New("factory: the spec has no HOME directory for droid's settings")
	}
	if strings.TrimSpace(prompt(spec)) == "" {
		return nil, &engine.Error{Type: "unknown_error", Message: "factory: droid takes text messages only; the message has no text"}
	}
	bin, err := e.cli().For(sb)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: err.Error(), Err: err}
	}
	if err := sb.PutFile(ctx, SettingsPath(spec), e.Settings(spec), 0o600); err != nil {
		return nil, fmt.Errorf("factory: write settings: %w", err)
	}
	if mcp := MCPFile(spec); mcp != nil {
		if err := sb.PutFile(ctx, MCPPath(spec), mcp, 0o600); err != nil {
			return nil, fmt.Errorf("factory: write mcp.json: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	proc, err := sb.Exec(ctx, provider.ExecSpec{
		Args: append([]string{bin}, e.Args(spec)...),
		Env:  e.Env(spec),
		Dir:  spec.WorkDir,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("factory: exec: %w", err)
	}
	sid := ""
	if spec.Session != nil {
		sid = spec.Session.ID
	}
	r := &run{
		proc:    proc,
		cancel:  cancel,
		logger:  e.logger.With("session_id", sid),
		grace:   engine.Grace(e.cfg.InterruptGraceMS),
		record:  e.record,
		mcp:     mcpServerNames(spec),
		waitFor: reqSession,
		steps:   []step{{reqTitle, TitleRequest(spec)}, {reqMessage, MessageRequest(spec)}},
		reopen:  []step{{reqSession, e.newSessionRequest(spec)}, {reqTitle, TitleRequest(spec)}},
		events:  make(chan engine.Event),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if spec.Resume != "" {
		r.waitFor, r.steps = reqLoad, r.steps[1:] // a loaded session has its title
	}
	r.writeStdin(e.SessionRequest(spec))
	go r.main(ctx)
	return r, nil
}

var _ engine.Engine = (*Engine)(nil)
