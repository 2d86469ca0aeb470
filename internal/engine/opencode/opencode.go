// Package opencode is the "opencode" engine: it runs the opencode CLI (`opencode run
// --format json`) inside the session's sandbox and translates its output into CMA
// events. Hangar writes the CLI's config into the session's HOME: one provider,
// "hangar", that speaks the Anthropic Messages API to the egress proxy. Later turns
// continue the CLI's own session (--session), which lives in the persisted HOME.
//
// The CLI is installed by `hangar engines install opencode` (NPM) into the cache
// directory; the runner bind-mounts its directory read-only into sandboxes (Mounts).
package opencode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MountTarget is where Mounts binds the CLI's directory inside sandboxes.
const MountTarget = "/opt/hangar/engines/opencode"

// DefaultModel is the model of agents that name none.
const DefaultModel = "claude-sonnet-4-6"

// ProviderID is the opencode provider Hangar configures; models are "hangar/<model>".
const ProviderID = "hangar"

// Config is the engine's JSON config.
type Config struct {
	// Binary is the host path of the opencode binary; "" finds the pinned version in
	// CacheDir (Find).
	Binary string `json:"binary,omitempty"`
	// CacheDir is HANGAR_CACHE_DIR, where `hangar engines install opencode` installs the CLI.
	CacheDir string `json:"cache_dir,omitempty"`
	// SandboxBinary overrides the path of the binary inside isolated sandboxes (default:
	// the binary under MountTarget).
	SandboxBinary string `json:"sandbox_binary,omitempty"`
	// InterruptGraceMS is how long an interrupted CLI may take to exit after SIGINT
	// before it is killed (default 3000).
	InterruptGraceMS int `json:"interrupt_grace_ms,omitempty"`
}

// Engine is the opencode engine.
type Engine struct {
	cfg    Config
	logger *slog.Logger
}

// New is the engine.Factory of the opencode engine. It does not require the CLI to be
// installed: Start reports ErrNotInstalled as a session error.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if err := engine.DecodeConfig("opencode", cfg, &c); err != nil {
		return nil, err
	}
	if c.InterruptGraceMS < 0 {
		return nil, errors.New("opencode engine config: interrupt_grace_ms must not be negative")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, logger: logger}, nil
}

// Capabilities implements engine.Engine. opencode runs every tool it is given without
// asking (run --auto) and has no way to call the client's custom tools.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{Interrupt: true, Resume: true}
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

// home returns the CLI's HOME in the sandbox.
func home(spec engine.Spec) string {
	if spec.HomeDir != "" {
		return spec.HomeDir
	}
	return "/tmp/hangar-opencode"
}

// ConfigPath returns where Start writes the CLI's config (opencode's global config file
// under XDG_CONFIG_HOME=$HOME/.config).
func ConfigPath(spec engine.Spec) string {
	return path.Join(home(spec), ".config", "opencode", "opencode.json")
}

// SystemPath returns where Start writes the agent's system prompt, which the config lists
// in its instructions (opencode appends them to its own system prompt).
func SystemPath(spec engine.Spec) string {
	return path.Join(home(spec), ".config", "opencode", "hangar-system.md")
}

// Model returns the model ID the CLI asks the provider for: the agent's model without an
// "anthropic/" prefix, DefaultModel when it names none.
func Model(spec engine.Spec) string {
	var id string
	if spec.Session != nil {
		id = spec.Session.Agent.Model.ID
	}
	id = strings.TrimPrefix(id, "anthropic/")
	if id == "" {
		return DefaultModel
	}
	return id
}

// ConfigFile returns the CLI's opencode.json for a turn of spec. It holds no secret: the
// model endpoint and token come from the environment (Env) through opencode's
// {env:NAME} substitution.
func (e *Engine) ConfigFile(spec engine.Spec) []byte {
	model := Model(spec)
	var tools json.RawMessage
	var system string
	if spec.Session != nil {
		tools = spec.Session.Agent.Tools
		if s := spec.Session.Agent.System; s != nil {
			system = *s
		}
	}
	cfg := map[string]any{
		"$schema": "https://opencode.ai/config.json",
		"provider": map[string]any{ProviderID: map[string]any{
			"npm":  "@ai-sdk/anthropic",
			"name": "Hangar",
			"options": map[string]any{
				"baseURL": "{env:HANGAR_MODEL_BASE_URL}/v1",
				"apiKey":  "{env:HANGAR_MODEL_TOKEN}",
			},
			"models": map[string]any{model: map[string]any{"name": model, "tool_call": true}},
		}},
		"enabled_providers": []string{ProviderID},
		"model":             ProviderID + "/" + model,
		"small_model":       ProviderID + "/" + model,
		"autoupdate":        false,
		"share":             "disabled",
	}
	// opencode turns "tools" into permissions and lets "permission" override them, so a
	// disabled tool is denied in both. write has no permission of its own: edit's covers
	// it, so edit stays allowed (and only hidden) while write is enabled.
	perm := map[string]string{"bash": "allow", "edit": "allow", "webfetch": "allow"}
	if off := disabledTools(tools); len(off) > 0 {
		m := map[string]bool{}
		for _, n := range off {
			m[n] = false
			perm[n] = "deny"
		}
		delete(perm, "write")
		if _, writeOff := m["write"]; !writeOff {
			perm["edit"] = "allow"
		}
		cfg["tools"] = m
	}
	cfg["permission"] = perm
	if mcp := mcpConfig(spec); mcp != nil {
		cfg["mcp"] = mcp
	}
	if system != "" {
		cfg["instructions"] = []string{"{env:HOME}/.config/opencode/hangar-system.md"}
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return append(b, '\n')
}

// disabledTools returns the opencode tools an agent's tools JSON disables: those of the
// agent_toolset_20260401 with enabled false, all of them when the agent has no toolset.
func disabledTools(tools json.RawMessage) []string {
	type cfg struct {
		Name    string `json:"name"`
		Enabled *bool  `json:"enabled"`
	}
	var list []struct {
		Type          string `json:"type"`
		DefaultConfig *cfg   `json:"default_config"`
		Configs       []cfg  `json:"configs"`
	}
	_ = json.Unmarshal(tools, &list)
	names := make([]string, 0, len(toolNames))
	for n := range toolNames {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, t := range list {
		if t.Type != "agent_toolset_20260401" {
			continue
		}
		var off []string
		for _, n := range names {
			enabled := true
			if t.DefaultConfig != nil && t.DefaultConfig.Enabled != nil {
				enabled = *t.DefaultConfig.Enabled
			}
			for _, c := range t.Configs {
				if c.Name == n && c.Enabled != nil {
					enabled = *c.Enabled
				}
			}
			if !enabled {
				off = append(off, toolNames[n])
			}
		}
		return off
	}
	off := make([]string, len(names))
	for i, n := range names {
		off[i] = toolNames[n]
	}
	return off
}

// Args returns the CLI's argv (without the program) for a turn of spec. The prompt goes
// to stdin: `opencode run` quotes message arguments that contain spaces.
func (e *Engine) Args(spec engine.Spec) []string {
	args := []string{"run", "--format", "json", "--auto", "--thinking", "--model", ProviderID + "/" + Model(spec)}
	if spec.Session != nil && spec.Session.ID != "" {
		// A title of its own spares the CLI the small-model request that names a session.
		args = append(args, "--title", spec.Session.ID)
	}
	if spec.Resume != "" {
		args = append(args, "--session", spec.Resume)
	}
	return args
}

// Env returns the CLI's environment for a turn of spec.
func (e *Engine) Env(spec engine.Spec) []string {
	h := home(spec)
	env := []string{
		"HOME=" + h,
		"XDG_CONFIG_HOME=" + path.Join(h, ".config"),
		"XDG_DATA_HOME=" + path.Join(h, ".local", "share"),
		"XDG_STATE_HOME=" + path.Join(h, ".local", "state"),
		"XDG_CACHE_HOME=" + path.Join(h, ".cache"),
		"HANGAR_MODEL_BASE_URL=" + strings.TrimSuffix(spec.Egress.ModelBaseURL, "/"),
		"HANGAR_MODEL_TOKEN=" + spec.Egress.Token,
		"OPENCODE_DISABLE_MODELS_FETCH=1",
		"OPENCODE_DISABLE_AUTOUPDATE=1",
		"OPENCODE_DISABLE_DEFAULT_PLUGINS=1",
		"OPENCODE_DISABLE_LSP_DOWNLOAD=1",
		"OPENCODE_DISABLE_SHARE=1",
	}
	if spec.Egress.HTTPProxy != "" {
		env = append(env,
			"HTTPS_PROXY="+spec.Egress.HTTPProxy, "HTTP_PROXY="+spec.Egress.HTTPProxy,
			"https_proxy="+spec.Egress.HTTPProxy, "http_proxy="+spec.Egress.HTTPProxy,
			"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	}
	return env
}

// prompt returns the text the CLI gets for the turn's user message.
func prompt(spec engine.Spec) string {
	if s := engine.Text(spec.Content); strings.TrimSpace(s) != "" {
		return s
	}
	return "(the user sent no text)"
}

// Start implements engine.Engine: it writes the CLI's config into sb and runs the CLI
// for one turn.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if sb == nil {
		return nil, errors.New("opencode: no sandbox")
	}
	bin, err := e.cli().For(sb)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: err.Error(), Err: err}
	}
	if err := sb.PutFile(ctx, ConfigPath(spec), e.ConfigFile(spec), 0o600); err != nil {
		return nil, fmt.Errorf("opencode: write config: %w", err)
	}
	if spec.Session != nil && spec.Session.Agent.System != nil && *spec.Session.Agent.System != "" {
		if err := sb.PutFile(ctx, SystemPath(spec), []byte(*spec.Session.Agent.System), 0o600); err != nil {
			return nil, fmt.Errorf("opencode: write system prompt: %w", err)
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
		return nil, fmt.Errorf("opencode: exec: %w", err)
	}
	grace := engine.Grace(e.cfg.InterruptGraceMS)
	// The prompt is the CLI's whole stdin; EOF tells it there is no more.
	_, werr := io.WriteString(proc.Stdin(), prompt(spec))
	if cerr := proc.Stdin().Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		proc.Signal(true)
		cancel()
		proc.Wait()
		return nil, fmt.Errorf("opencode: write prompt: %w", werr)
	}
	logger := e.logger.With("session_id", sessionID(spec))
	t := &Translator{Unknown: engine.LogSkipped(logger, "opencode"), MCPServers: mcpServerNames(spec)}
	return engine.StartCLI(ctx, proc, cancel, lines{t}, engine.CLIOptions{
		Name:   "opencode",
		Grace:  grace,
		Logger: logger,
		// opencode run has no final line: a turn is finished when the CLI exits 0.
		Done: func(code int) bool { return code == 0 },
		OnExit: func(code int, stderr string) error {
			msg := fmt.Sprintf("opencode exited with code %d", code)
			if s := strings.TrimSpace(stderr); s != "" {
				msg += ": " + s
			}
			return &engine.Error{Type: "unknown_error", Message: msg}
		},
	}), nil
}

// lines adapts a Translator to engine.LineTranslator: a turn that reported an error ends
// as failed.
type lines struct{ *Translator }

func (l lines) Finish(failed bool) []engine.Event {
	return l.Translator.Finish(failed || l.Translator.Err() != nil)
}

func (l lines) Err() error {
	if err := l.Translator.Err(); err != nil {
		return err
	}
	return nil
}

func sessionID(spec engine.Spec) string {
	if spec.Session == nil {
		return ""
	}
	return spec.Session.ID
}

var _ engine.Engine = (*Engine)(nil)
