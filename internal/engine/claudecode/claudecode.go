// Package claudecode is the "claude" engine: it runs Anthropic's Claude Code CLI
// (`claude -p` with stream-json input and output) inside the session's sandbox and
// translates its output into CMA events. Later turns resume the CLI's own session
// (--resume), which lives in the session's persisted HOME.
//
// The CLI is installed by `hangar engines install claude` (Install) into the cache
// directory; the runner bind-mounts its directory read-only into sandboxes (Mounts).
package claudecode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MountTarget is where Mounts binds the CLI's directory inside sandboxes.
const MountTarget = "/opt/hangar/engines/claude"

// Config is the engine's JSON config.
type Config struct {
	// Binary is the host path of the claude binary; "" finds the pinned version in
	// CacheDir (Find).
	Binary string `json:"binary,omitempty"`
	// CacheDir is HANGAR_CACHE_DIR, where `hangar engines install claude` installs the CLI.
	CacheDir string `json:"cache_dir,omitempty"`
	// SandboxBinary overrides the path of the binary inside isolated sandboxes (default:
	// the binary under MountTarget).
	SandboxBinary string `json:"sandbox_binary,omitempty"`
	// PermissionMode overrides the --permission-mode the engine derives from the agent's
	// permission policies (bypassPermissions, default, acceptEdits, dontAsk, plan).
	PermissionMode string `json:"permission_mode,omitempty"`
	// SystemPrompt is how the agent's system prompt reaches the CLI: "append" (default,
	// --append-system-prompt, keeping Claude Code's own prompt) or "replace"
	// (--system-prompt).
	SystemPrompt string `json:"system_prompt,omitempty"`
	// PartialMessages passes --include-partial-messages (default true), so model request
	// spans start when the response starts and usage is exact.
	PartialMessages *bool `json:"partial_messages,omitempty"`
	// MaxRetries sets CLAUDE_CODE_MAX_RETRIES, the CLI's retries of failed model
	// requests (0: the CLI's default).
	MaxRetries int `json:"max_retries,omitempty"`
	// InterruptGraceMS is how long an interrupted CLI may take to stop before it is
	// signalled, and then killed (default 3000).
	InterruptGraceMS int `json:"interrupt_grace_ms,omitempty"`
}

// Engine is the claude engine.
type Engine struct {
	cfg    Config
	logger *slog.Logger
}

// New is the engine.Factory of the claude engine. It does not require the CLI to be
// installed: Start reports ErrNotInstalled as a session error.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if err := engine.DecodeConfig("claude", cfg, &c); err != nil {
		return nil, err
	}
	switch c.SystemPrompt {
	case "", "append", "replace":
	default:
		return nil, fmt.Errorf("claude engine config: system_prompt: want append or replace, got %q", c.SystemPrompt)
	}
	if c.InterruptGraceMS < 0 || c.MaxRetries < 0 {
		return nil, errors.New("claude engine config: interrupt_grace_ms and max_retries must not be negative")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, logger: logger}, nil
}

// Capabilities implements engine.Engine.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{CustomTools: true, ToolConfirmation: true, Interrupt: true, Resume: true, InteractiveStdin: true, SystemMessages: true}
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

// Args returns the CLI's argv (without the program) for a turn of spec.
func (e *Engine) Args(spec engine.Spec) []string {
	args := []string{"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"}
	if e.cfg.PartialMessages == nil || *e.cfg.PartialMessages {
		args = append(args, "--include-partial-messages")
	}
	var a hangar.Agent
	if spec.Session != nil {
		a = spec.Session.Agent
	}
	if a.Model.ID != "" {
		args = append(args, "--model", a.Model.ID)
	}
	if a.System != nil && *a.System != "" {
		flag := "--append-system-prompt"
		if e.cfg.SystemPrompt == "replace" {
			flag = "--system-prompt"
		}
		args = append(args, flag, *a.System)
	}
	if spec.Resume != "" {
		args = append(args, "--resume", spec.Resume)
	}
	p := toolPolicy(a.Tools)
	allowed := slices.Clone(p.allowed)
	custom := customTools(a.Tools)
	server := ""
	if len(custom) > 0 {
		// The custom tools are tools of the in-process MCP server, which never asks.
		server = customServerName(a.MCPServers)
		for _, c := range custom {
			allowed = append(allowed, "mcp__"+server+"__"+c.Name)
		}
	}
	if len(allowed) > 0 {
		args = append(args, "--allowedTools", strings.Join(allowed, ","))
	}
	if len(p.disallowed) > 0 {
		args = append(args, "--disallowedTools", strings.Join(p.disallowed, ","))
	}
	if cfg := mcpConfig(a.MCPServers, server, spec.Egress); cfg != "" {
		args = append(args, "--mcp-config", cfg, "--strict-mcp-config")
	}
	if rules := askRules(a.Tools, p); len(rules) > 0 {
		// The CLI sends a can_use_tool control request before each use of these tools
		// (the ask rules make it ask even for uses it deems safe, like a read-only
		// command) and waits for the control_response on stdin.
		settings, _ := json.Marshal(map[string]any{"permissions": map[string]any{"ask": rules}})
		args = append(args, "--permission-prompt-tool", "stdio", "--settings", string(settings))
	}
	mode := e.cfg.PermissionMode
	if mode == "" {
		mode = "default"
		if p.allAllow {
			mode = "bypassPermissions"
		}
	}
	return append(args, "--permission-mode", mode)
}

// Env returns the CLI's environment for a turn of spec.
func (e *Engine) Env(spec engine.Spec) []string {
	env := []string{
		"ANTHROPIC_BASE_URL=" + spec.Egress.ModelBaseURL,
		"ANTHROPIC_API_KEY=" + spec.Egress.Token,
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_AUTOUPDATER=1",
		// bypassPermissions refuses to run as root unless told it is sandboxed; it is.
		"IS_SANDBOX=1",
	}
	if spec.Egress.HTTPProxy != "" {
		env = append(env,
			"HTTPS_PROXY="+spec.Egress.HTTPProxy, "HTTP_PROXY="+spec.Egress.HTTPProxy,
			"https_proxy="+spec.Egress.HTTPProxy, "http_proxy="+spec.Egress.HTTPProxy,
			"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	}
	if spec.HomeDir != "" {
		env = append(env, "HOME="+spec.HomeDir, "CLAUDE_CONFIG_DIR="+path.Join(spec.HomeDir, ".claude"))
	}
	if e.cfg.MaxRetries > 0 {
		env = append(env, "CLAUDE_CODE_MAX_RETRIES="+strconv.Itoa(e.cfg.MaxRetries))
	}
	return env
}

type policy struct {
	allowed, disallowed []string
	// ask lists the tools with always_ask, which await the client's confirmation.
	ask      []string
	allAllow bool
}

// toolPolicy maps an agent's agent_toolset_20260401 to Claude Code tool flags: enabled
// always_allow (or auto) tools are allowed, disabled ones disallowed; with no toolset the
// agent has no built-in tools. allAllow is false when a tool asks for confirmation, which
// the CLI then refuses in print mode.
func toolPolicy(tools json.RawMessage) policy {
	type cfg struct {
		Name             string `json:"name"`
		Enabled          *bool  `json:"enabled"`
		PermissionPolicy *struct {
			Type string `json:"type"`
		} `json:"permission_policy"`
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
	p := policy{allAllow: true}
	found := false
	for _, t := range list {
		if t.Type != "agent_toolset_20260401" {
			continue
		}
		found = true
		for _, n := range names {
			enabled, pol := true, "always_allow"
			if d := t.DefaultConfig; d != nil {
				if d.Enabled != nil {
					enabled = *d.Enabled
				}
				if d.PermissionPolicy != nil && d.PermissionPolicy.Type != "" {
					pol = d.PermissionPolicy.Type
				}
			}
			for _, c := range t.Configs {
				if c.Name != n {
					continue
				}
				if c.Enabled != nil {
					enabled = *c.Enabled
				}
				if c.PermissionPolicy != nil && c.PermissionPolicy.Type != "" {
					pol = c.PermissionPolicy.Type
				}
			}
			switch {
			case !enabled:
				p.disallowed = append(p.disallowed, toolNames[n])
			case pol == "always_ask":
				p.allAllow = false
				p.ask = append(p.ask, toolNames[n])
			default:
				p.allowed = append(p.allowed, toolNames[n])
			}
		}
		break
	}
	if !found {
		for _, n := range names {
			p.disallowed = append(p.disallowed, toolNames[n])
		}
	}
	return p
}

// mcpAsk returns the Claude Code permission rules of an agent's MCP toolsets with
// always_ask: mcp__<server> for a server whose default asks, mcp__<server>__<tool> for a
// tool that asks. Tools of a server that asks but whose own policy allows are listed in
// except.
func mcpAsk(tools json.RawMessage) (rules []string, except map[string]bool) {
	type cfg struct {
		Name             string `json:"name"`
		PermissionPolicy *struct {
			Type string `json:"type"`
		} `json:"permission_policy"`
	}
	var list []struct {
		Type          string `json:"type"`
		MCPServerName string `json:"mcp_server_name"`
		DefaultConfig *cfg   `json:"default_config"`
		Configs       []cfg  `json:"configs"`
	}
	_ = json.Unmarshal(tools, &list)
	except = map[string]bool{}
	for _, t := range list {
		if t.Type != "mcp_toolset" || t.MCPServerName == "" {
			continue
		}
		server := "mcp__" + t.MCPServerName
		serverAsks := t.DefaultConfig != nil && t.DefaultConfig.PermissionPolicy != nil && t.DefaultConfig.PermissionPolicy.Type == "always_ask"
		if serverAsks {
			rules = append(rules, server)
		}
		for _, c := range t.Configs {
			if c.Name == "" || c.PermissionPolicy == nil || c.PermissionPolicy.Type == "" {
				continue
			}
			switch name := server + "__" + c.Name; {
			case c.PermissionPolicy.Type == "always_ask" && !serverAsks:
				rules = append(rules, name)
			case c.PermissionPolicy.Type != "always_ask" && serverAsks:
				except[name] = true
			}
		}
	}
	return rules, except
}

// askRules returns the permission rules (--settings permissions.ask) of the tools that
// ask for confirmation under an agent's tools JSON and its toolset policy p.
func askRules(tools json.RawMessage, p policy) []string {
	mcp, _ := mcpAsk(tools)
	return append(slices.Clone(p.ask), mcp...)
}

// asker returns the Translator.Ask of an agent's tools JSON, nil when no tool asks.
func asker(tools json.RawMessage) func(tool string) bool {
	p := toolPolicy(tools)
	mcp, except := mcpAsk(tools)
	if len(p.ask) == 0 && len(mcp) == 0 {
		return nil
	}
	return func(tool string) bool {
		if slices.Contains(p.ask, tool) {
			return true
		}
		if except[tool] {
			return false
		}
		for _, r := range mcp {
			if tool == r || strings.HasPrefix(tool, r+"__") {
				return true
			}
		}
		return false
	}
}

// mcpConfig returns the --mcp-config JSON of an agent's URL MCP servers and, when
// customServer is set, of the SDK MCP server of its custom tools; "" when none.
//
// When the sandbox has the egress proxy (eg.HTTPProxy), each URL server is reached through
// the proxy's /mcp/<name>/ route with the session token as its bearer: the proxy forwards
// to the real URL with the vault credential, which never enters the sandbox (the token in
// these arguments is the session token, already the CLI's model API key). Without the
// proxy (remote sandboxes) the CLI connects to the URL directly, without credentials.
func mcpConfig(servers json.RawMessage, customServer string, eg engine.Egress) string {
	var list []struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	_ = json.Unmarshal(servers, &list)
	out := map[string]any{}
	for _, s := range list {
		if s.Name == "" || s.URL == "" {
			continue
		}
		if eg.HTTPProxy != "" {
			out[s.Name] = map[string]any{"type": "http", "url": strings.TrimSuffix(eg.HTTPProxy, "/") + "/mcp/" + url.PathEscape(s.Name) + "/",
				"headers": map[string]string{"Authorization": "Bearer " + eg.Token}}
			continue
		}
		out[s.Name] = map[string]string{"type": "http", "url": s.URL}
	}
	if customServer != "" {
		out[customServer] = map[string]string{"type": "sdk", "name": customServer}
	}
	if len(out) == 0 {
		return ""
	}
	b, _ := json.Marshal(map[string]any{"mcpServers": out})
	return string(b)
}

// Start implements engine.Engine: it runs the CLI in sb for one turn.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if sb == nil {
		return nil, errors.New("claude: no sandbox")
	}
	bin, err := e.cli().For(sb)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: err.Error(), Err: err}
	}
	content := spec.Content
	if len(bytes.TrimSpace(content)) == 0 || string(bytes.TrimSpace(content)) == "null" {
		content = json.RawMessage(`[]`)
	}
	content = withSystem(content, spec.System) // system.go
	input, err := json.Marshal(map[string]any{
		"type":    "user",
		"message": map[string]any{"role": "user", "content": content},
	})
	if err != nil {
		return nil, fmt.Errorf("claude: encode user message: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	proc, err := sb.Exec(ctx, provider.ExecSpec{
		Args: append([]string{bin}, e.Args(spec)...),
		Env:  e.Env(spec),
		Dir:  spec.WorkDir,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("claude: exec: %w", err)
	}
	grace := engine.Grace(e.cfg.InterruptGraceMS)
	r := &run{
		proc:   proc,
		cancel: cancel,
		logger: e.logger.With("session_id", sessionID(spec)),
		grace:  grace,
		ask:    asker(agentTools(spec)),
		events: make(chan engine.Event),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		perms:  map[string]Permission{},
		calls:  map[string]CustomCall{},
	}
	if r.custom = customTools(agentTools(spec)); len(r.custom) > 0 {
		r.customServer = customServerName(spec.Session.Agent.MCPServers)
	}
	if _, err := proc.Stdin().Write(append(input, '\n')); err != nil {
		proc.Signal(true)
		cancel()
		proc.Wait()
		return nil, fmt.Errorf("claude: write user message: %w", err)
	}
	go r.main(ctx)
	return r, nil
}

func agentTools(spec engine.Spec) json.RawMessage {
	if spec.Session == nil {
		return nil
	}
	return spec.Session.Agent.Tools
}

func sessionID(spec engine.Spec) string {
	if spec.Session == nil {
		return ""
	}
	return spec.Session.ID
}

// run is one turn of the CLI.
type run struct {
	proc   provider.Process
	cancel context.CancelFunc
	logger *slog.Logger
	grace  time.Duration
	ask    func(tool string) bool
	// custom are the agent's custom tools, served as the SDK MCP server customServer.
	custom       []CustomTool
	customServer string

	events chan engine.Event
	stop   chan struct{} // closed by Interrupt
	once   sync.Once
	done   chan struct{}
	err    error

	stdinMu     sync.Mutex
	stdinClosed bool

	mu    sync.Mutex
	perms map[string]Permission // engine-local tool use ID → permission request awaiting the client
	calls map[string]CustomCall // engine-local tool use ID → custom tool call awaiting the client
}

func (r *run) Events() <-chan engine.Event { return r.events }

// Send implements engine.Run: it answers the CLI's permission request behind an
// agent.tool_use that awaits the client's user.tool_confirmation, or the MCP tools/call
// behind an agent.custom_tool_use that awaits its user.custom_tool_result.
func (r *run) Send(ctx context.Context, in engine.Input) error {
	var line []byte
	r.mu.Lock()
	switch in.Type {
	case hangar.EventUserToolConfirmation:
		if p, ok := r.perms[in.ToolUseID]; ok {
			delete(r.perms, in.ToolUseID)
			line = p.Response(in.Allow, in.DenyMessage)
		}
	case hangar.EventUserCustomToolResult:
		if c, ok := r.calls[in.ToolUseID]; ok {
			delete(r.calls, in.ToolUseID)
			line = c.Response(in.Content, in.IsError)
		}
	}
	r.mu.Unlock()
	if line == nil {
		return hangar.Errorf(hangar.KindInvalidRequest, "claude: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
	}
	select {
	case <-r.done:
		return errors.New("claude: run ended")
	default:
	}
	r.writeStdin(line)
	return nil
}

// Interrupt implements engine.Run: it asks the CLI to stop through its control protocol,
// then signals it and finally kills it if it is still running after the grace periods.
func (r *run) Interrupt(ctx context.Context) error {
	r.once.Do(func() {
		close(r.stop)
		r.writeStdin([]byte(`{"type":"control_request","request_id":"hangar_interrupt","request":{"subtype":"interrupt"}}` + "\n"))
		go engine.Escalate(r.done, r.proc, r.grace, r.cancel, r.logger)
	})
	return nil
}

func (r *run) Wait() error {
	<-r.done
	return r.err
}

func (r *run) interrupted() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *run) writeStdin(b []byte) {
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if r.stdinClosed {
		return
	}
	if _, err := r.proc.Stdin().Write(b); err != nil {
		r.logger.Debug("claude: write stdin", "err", err)
	}
}

func (r *run) closeStdin() {
	r.stdinMu.Lock()
	defer r.stdinMu.Unlock()
	if !r.stdinClosed {
		r.stdinClosed = true
		r.proc.Stdin().Close()
	}
}

// emit sends ev; it reports false when the run's context is done.
func (r *run) emit(ctx context.Context, ev engine.Event) bool {
	select {
	case r.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *run) main(ctx context.Context) {
	defer close(r.done)
	defer r.cancel()
	defer close(r.events)

	stderr := &engine.Tail{Max: 4 << 10}
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		io.Copy(stderr, r.proc.Stderr())
	}()

	t := &Translator{
		Unknown: func(typ string, line []byte) {
			r.logger.Debug("claude: skipped output line", "type", typ, "line", truncate(line, 512))
		},
		Ask:          r.ask,
		Respond:      r.writeStdin,
		Custom:       r.custom,
		CustomServer: r.customServer,
		Forget: func(id string) {
			r.mu.Lock()
			delete(r.calls, id)
			r.mu.Unlock()
		},
	}
	live := true
	rd := bufio.NewReaderSize(r.proc.Stdout(), 64<<10)
	for {
		line, err := rd.ReadBytes('\n')
		if len(line) > 0 && live {
			for _, ev := range t.Line(line) {
				if ev.RequiresAction {
					// Register the request before the runner can see the event and answer.
					r.mu.Lock()
					if p, ok := t.Permission(ev.ID); ok {
						r.perms[ev.ID] = p
					}
					if c, ok := t.CustomCall(ev.ID); ok {
						r.calls[ev.ID] = c
					}
					r.mu.Unlock()
				}
				if live = r.emit(ctx, ev); !live {
					break
				}
			}
			if t.Result() != nil {
				// The turn is over: EOF on stdin lets the CLI exit.
				r.closeStdin()
			}
		}
		if err != nil {
			break
		}
	}
	r.closeStdin()
	code, werr := r.proc.Wait()
	<-stderrDone
	failed := t.Result() == nil && !r.interrupted() && ctx.Err() == nil
	if live {
		for _, ev := range t.Finish(failed) {
			if !r.emit(ctx, ev) {
				break
			}
		}
	}
	r.err = engine.Ending{
		Name: "claude", Interrupted: r.interrupted(), Ctx: ctx.Err(), Translate: engine.ErrOf(t.Err()), Wait: werr, Finished: t.Result() != nil,
		Exit: func() error { return engine.ExitedEarly("claude", code, strings.TrimSpace(stderr.String())) },
	}.Err()
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

var (
	_ engine.Engine = (*Engine)(nil)
	_ engine.Run    = (*run)(nil)
)
