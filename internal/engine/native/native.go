// Package native is the "native" engine: Hangar's own agent loop over the Anthropic
// Messages API, run in the server process. It offers the model the agent's
// agent_toolset_20260401 tools (bash, read, write, edit, glob, grep; web_search and
// web_fetch as the API's server tools) and custom tools, and runs the toolset's calls in
// the session's sandbox, or, for sessions on a self_hosted environment
// (engine.Spec.Delegate), hands them to the customer's worker as agent.tool_use events
// and waits for its user.tool_result. docs/engines.md describes it.
package native

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Defaults of Config.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultMaxTokens = 16000
	DefaultMaxRounds = 200
)

// Config is the engine's JSON config (cmd/hangar fills it from the server's model
// upstream settings).
type Config struct {
	// BaseURL is the Messages API (DefaultBaseURL when empty).
	BaseURL string `json:"base_url,omitempty"`
	// APIKey (x-api-key) or AuthToken (Authorization: Bearer) is the server's model
	// credential; a session's vault ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN overrides it.
	APIKey    string `json:"api_key,omitempty"`
	AuthToken string `json:"auth_token,omitempty"`
	// StateDir is where earlier versions kept conversation transcripts; they are still
	// read for sessions whose resume token names one, and removed with their session.
	StateDir string `json:"state_dir,omitempty"`
	// MaxTokens is max_tokens of every model request (DefaultMaxTokens when 0).
	MaxTokens int `json:"max_tokens,omitempty"`
	// MaxRounds caps the model requests of one turn (DefaultMaxRounds when 0); a turn
	// that reaches it fails with tool_use_limit_reached_error.
	MaxRounds int `json:"max_rounds,omitempty"`
	// BashTimeoutMS is the timeout of bash calls that set none (120000 when 0).
	BashTimeoutMS int `json:"bash_timeout_ms,omitempty"`
	// CompactAtTokens is the estimated context size at which the conversation is
	// compacted (compact.go; DefaultCompactAtTokens when 0, never when negative).
	CompactAtTokens int `json:"compact_at_tokens,omitempty"`
}

// Engine is the native engine.
type Engine struct {
	cfg         Config
	log         *slog.Logger
	http        *http.Client
	transcripts *transcripts
}

// New is the engine.Factory of the native engine.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if t := bytes.TrimSpace(cfg); len(t) > 0 && string(t) != "null" {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("native engine config: %w", err)
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = DefaultMaxTokens
	}
	if c.MaxRounds <= 0 {
		c.MaxRounds = DefaultMaxRounds
	}
	if c.CompactAtTokens == 0 {
		c.CompactAtTokens = DefaultCompactAtTokens
	}
	if c.BashTimeoutMS <= 0 {
		c.BashTimeoutMS = defaultBashMS
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: c, log: log, http: &http.Client{}, transcripts: &transcripts{dir: c.StateDir}}, nil
}

// Capabilities implements engine.Engine. The sandbox is optional: without one (the
// self_hosted case) toolset calls are delegated, and a turn that would have to run one
// itself reports the call as failed.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{CustomTools: true, ToolConfirmation: true, Interrupt: true, Resume: true, HostModel: true, SystemMessages: true}
}

// Start implements engine.Engine.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if spec.Session == nil {
		return nil, fmt.Errorf("native: spec has no session")
	}
	c := &client{http: e.http, baseURL: e.cfg.BaseURL, apiKey: e.cfg.APIKey, authToken: e.cfg.AuthToken}
	if spec.ModelKey != "" || spec.ModelAuthToken != "" {
		c.apiKey, c.authToken = spec.ModelKey.Reveal(), spec.ModelAuthToken.Reveal()
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &run{
		e: e, spec: spec, client: c, cancel: cancel,
		tools:   resolveTools(spec.Session.Agent.Tools),
		events:  make(chan engine.Event),
		inputs:  make(chan engine.Input, 16),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: map[string]string{},
		mcp:     map[string]*mcpBinding{},
		log:     e.log.With("session", spec.Session.ID),
	}
	if sb != nil && !spec.Delegate {
		r.sandbox = &sandboxTools{sb: sb, workDir: spec.WorkDir, homeDir: spec.HomeDir,
			bashTimeout: time.Duration(e.cfg.BashTimeoutMS) * time.Millisecond}
	}
	go func() {
		defer close(r.done)
		defer cancel()
		defer close(r.events)
		r.err = r.main(ctx)
	}()
	return r, nil
}

// Forget implements engine.Forgetter: the conversation lives in the resume token, so
// only a legacy transcript file (transcript.go) can be left to remove.
func (e *Engine) Forget(ctx context.Context, sessionID string) error {
	return e.transcripts.forget(ctx, sessionID)
}

var (
	_ engine.Engine    = (*Engine)(nil)
	_ engine.Forgetter = (*Engine)(nil)
)
