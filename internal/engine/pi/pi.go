// Package pi is the "pi" engine: it runs the pi coding agent (npm
// @mariozechner/pi-coding-agent) in RPC mode (`pi --mode rpc`) inside the session's
// sandbox, one process per turn, and translates its events into CMA events. RPC mode is
// pi's control protocol: Hangar writes the prompt as a command on stdin, interrupts with
// an abort command, and closes stdin once pi reports agent_end, which makes pi exit.
//
// Each turn, Start writes pi's agent directory in the session's HOME ($HOME/.pi/agent):
// models.json with one provider, "hangar", that speaks the Anthropic Messages API to the
// egress proxy with the session token (read from the environment, never written to a
// file), and settings.json with install telemetry and pi's own retries off. Every
// startup network check is off (PI_OFFLINE). Later turns continue pi's own session file
// (--session), which lives in the persisted HOME. The agent's custom tools, always_ask
// policies and URL MCP servers go through a small pi extension Hangar ships (bridge.go,
// mcp.go).
//
// pi is a Node.js program (Node 20.6 or later) installed by `hangar engines install pi`
// into the cache directory. The runner bind-mounts its install directory and the host's
// node binary read-only into isolated sandboxes (Mounts).
package pi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MountTarget is where Mounts binds the CLI's install directory inside sandboxes.
const MountTarget = "/opt/hangar/engines/pi"

// NodeTarget is where Mounts binds the host's node binary inside sandboxes.
const NodeTarget = "/opt/hangar/node/bin/node"

// DefaultModel is the model of agents that name none.
const DefaultModel = "claude-sonnet-4-6"

// ProviderID is the pi provider Hangar configures in models.json.
const ProviderID = "hangar"

// Config is the engine's JSON config.
type Config struct {
	// Entry is the host path of the CLI's JavaScript entry point; "" finds the pinned
	// version in CacheDir (Find).
	Entry string `json:"entry,omitempty"`
	// CacheDir is HANGAR_CACHE_DIR, where `hangar engines install pi` installs the CLI.
	CacheDir string `json:"cache_dir,omitempty"`
	// Node is the host path of the node binary (Node 20.6 or later); "" looks up "node"
	// in PATH.
	Node string `json:"node,omitempty"`
	// SandboxNode and SandboxEntry override the paths of node and of the entry point
	// inside isolated sandboxes (default: under NodeTarget and MountTarget), for images
	// that bring their own.
	SandboxNode  string `json:"sandbox_node,omitempty"`
	SandboxEntry string `json:"sandbox_entry,omitempty"`
	// InterruptGraceMS is how long an interrupted CLI may take to end its turn after the
	// abort command, then to exit after SIGINT, before it is killed (default 3000).
	InterruptGraceMS int `json:"interrupt_grace_ms,omitempty"`
}

// Engine is the pi engine.
type Engine struct {
	cfg    Config
	logger *slog.Logger
}

// New is the engine.Factory of the pi engine. It does not require the CLI to be
// installed: Start reports ErrNotInstalled as a session error.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if err := engine.DecodeConfig("pi", cfg, &c); err != nil {
		return nil, err
	}
	if c.InterruptGraceMS < 0 {
		return nil, errors.New("pi engine config: interrupt_grace_ms must not be negative")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, logger: logger}, nil
}

// Capabilities implements engine.Engine. Custom tools, tool confirmation and MCP servers
// go through Hangar's bridge extension (bridge.go, mcp.go).
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{Interrupt: true, Resume: true, CustomTools: true, ToolConfirmation: true, InteractiveStdin: true}
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
			return "", fmt.Errorf("pi needs Node.js 20.6 or later: %w", err)
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

// home returns the CLI's HOME in the sandbox.
func home(spec engine.Spec) string {
	if spec.HomeDir != "" {
		return spec.HomeDir
	}
	return "/tmp/hangar-pi"
}

// AgentDir returns pi's agent directory (PI_CODING_AGENT_DIR), where Start writes
// models.json and settings.json.
func AgentDir(spec engine.Spec) string { return path.Join(home(spec), ".pi", "agent") }

// SystemPath returns where Start writes the agent's system prompt, which pi appends to
// its own (--append-system-prompt reads a file path).
func SystemPath(spec engine.Spec) string { return path.Join(home(spec), ".pi", "hangar", "system.md") }

// SessionFile returns the pi session file of a turn of spec: the one the previous turn
// reported (Spec.Resume), else one named after the Hangar session in the agent
// directory, so a turn after a server restart still continues the conversation.
func SessionFile(spec engine.Spec) string {
	if spec.Resume != "" {
		return spec.Resume
	}
	id := sessionID(spec)
	if id == "" {
		id = "session"
	}
	return path.Join(AgentDir(spec), "sessions", "hangar", id+".jsonl")
}

// Model returns the model ID pi asks the provider for: the agent's model without an
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

// ModelsFile returns pi's models.json for a turn of spec: the "hangar" provider on the
// Anthropic Messages API at the egress proxy. apiKey names the environment variable that
// holds the session token (pi resolves it at request time), so no secret is written.
func ModelsFile(spec engine.Spec) []byte {
	model := Model(spec)
	cfg := map[string]any{"providers": map[string]any{ProviderID: map[string]any{
		"baseUrl": strings.TrimSuffix(spec.Egress.ModelBaseURL, "/"),
		"api":     "anthropic-messages",
		"apiKey":  "HANGAR_MODEL_TOKEN",
		"models": []map[string]any{{
			"id": model, "name": model, "reasoning": true, "input": []string{"text", "image"},
			"contextWindow": 200000, "maxTokens": 32000,
		}},
	}}}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return append(b, '\n')
}

// SettingsFile returns pi's settings.json for a turn of spec. pi's own retries are off
// so that agent_end always ends the prompt (a retry would follow it); the Anthropic
// client still retries failed requests itself.
func SettingsFile(spec engine.Spec) []byte {
	cfg := map[string]any{
		"defaultProvider":        ProviderID,
		"defaultModel":           Model(spec),
		"enableInstallTelemetry": false,
		"quietStartup":           true,
		"collapseChangelog":      true,
		"retry":                  map[string]any{"enabled": false},
		"packages":               []string{},
		"extensions":             []string{},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	return append(b, '\n')
}

// Tools returns pi's built-in tools that an agent's tools JSON enables: those of the
// agent_toolset_20260401 not disabled (bash, read, write, edit, grep, and find and ls for
// glob), none when the agent has no toolset.
func Tools(tools json.RawMessage) []string {
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
	pi := map[string][]string{
		"bash": {"bash"}, "read": {"read"}, "write": {"write"}, "edit": {"edit"},
		"glob": {"find", "ls"}, "grep": {"grep"},
	}
	var out []string
	for _, t := range list {
		if t.Type != "agent_toolset_20260401" {
			continue
		}
		for _, n := range []string{"bash", "read", "write", "edit", "glob", "grep"} {
			enabled := true
			if t.DefaultConfig != nil && t.DefaultConfig.Enabled != nil {
				enabled = *t.DefaultConfig.Enabled
			}
			for _, c := range t.Configs {
				if c.Name == n && c.Enabled != nil {
					enabled = *c.Enabled
				}
			}
			if enabled {
				out = append(out, pi[n]...)
			}
		}
		return out
	}
	return nil
}

// Args returns the CLI's argv after the entry point for a turn of spec: RPC mode, the
// hangar provider and model, the session file, no extensions but Hangar's bridge (when
// the agent needs it; others could install packages or ask questions nobody answers),
// the enabled tools, and the agent's system prompt (when it has one). With the bridge,
// no built-in tool is active at startup (--no-builtin-tools) and the bridge activates the
// enabled ones with the custom and MCP tools (BridgeConfig), so a bridge that fails to
// load leaves pi without built-in tools rather than with unconfirmed ones.
func Args(spec engine.Spec) []string {
	args := []string{"--mode", "rpc", "--provider", ProviderID, "--model", Model(spec),
		"--session", SessionFile(spec), "--no-extensions"}
	tools := Tools(agentTools(spec))
	switch {
	case BridgeConfig(spec) != nil:
		args = append(args, "-e", BridgePath(spec), "--no-builtin-tools")
	case len(tools) > 0:
		args = append(args, "--tools", strings.Join(tools, ","))
	default:
		args = append(args, "--no-tools")
	}
	if system(spec) != "" {
		args = append(args, "--append-system-prompt", SystemPath(spec))
	}
	return args
}

func system(spec engine.Spec) string {
	if spec.Session != nil && spec.Session.Agent.System != nil {
		return *spec.Session.Agent.System
	}
	return ""
}

// Env returns the CLI's environment for a turn of spec.
func Env(spec engine.Spec) []string {
	h := home(spec)
	env := []string{
		"HOME=" + h,
		"PI_CODING_AGENT_DIR=" + AgentDir(spec),
		"HANGAR_MODEL_TOKEN=" + spec.Egress.Token,
		// No update check, package update check, install telemetry or tool download.
		"PI_OFFLINE=1",
		"PI_SKIP_VERSION_CHECK=1",
		"PI_TELEMETRY=0",
		"NO_COLOR=1",
	}
	if BridgeConfig(spec) != nil {
		env = append(env, "HANGAR_PI_BRIDGE="+BridgeConfigPath(spec))
	}
	if spec.Egress.HTTPProxy != "" {
		env = append(env,
			"HTTPS_PROXY="+spec.Egress.HTTPProxy, "HTTP_PROXY="+spec.Egress.HTTPProxy,
			"https_proxy="+spec.Egress.HTTPProxy, "http_proxy="+spec.Egress.HTTPProxy,
			"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	}
	return env
}

// Prompt returns the RPC prompt command of a turn of spec: the text of the user message
// and its base64 images.
func Prompt(spec engine.Spec) []byte {
	text := engine.Text(spec.Content)
	if strings.TrimSpace(text) == "" {
		text = "(the user sent no text)"
	}
	cmd := map[string]any{"id": "hangar_prompt", "type": "prompt", "message": text}
	var blocks []struct {
		Type   string `json:"type"`
		Source struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
		} `json:"source"`
	}
	_ = json.Unmarshal(spec.Content, &blocks)
	var images []map[string]string
	for _, b := range blocks {
		if b.Type == "image" && b.Source.Type == "base64" && b.Source.Data != "" {
			images = append(images, map[string]string{"type": "image", "data": b.Source.Data, "mimeType": b.Source.MediaType})
		}
	}
	if len(images) > 0 {
		cmd["images"] = images
	}
	b, _ := json.Marshal(cmd)
	return append(b, '\n')
}

// stateCommand asks pi for its state, whose sessionFile is the turn's resume token.
const stateCommand = `{"id":"hangar_state","type":"get_state"}` + "\n"

// abortCommand stops the running prompt; pi then reports agent_end.
const abortCommand = `{"id":"hangar_abort","type":"abort"}` + "\n"

func sessionID(spec engine.Spec) string {
	if spec.Session == nil {
		return ""
	}
	return spec.Session.ID
}

var _ engine.Engine = (*Engine)(nil)
