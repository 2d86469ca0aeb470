// Package anthropic is the "anthropic" engine: it runs an agent's turns on a remote Claude
// Managed Agents API (Anthropic's hosted service, or another Hangar) instead of a local
// CLI. Each local agent version becomes a version of one remote agent, found again by a
// hash of its configuration kept in the remote agent's metadata; each local session gets
// one remote session, carried from turn to turn by the resume token. A turn opens the
// remote session's event stream, posts the user.message, and translates the remote events
// back into engine events until the remote session goes idle. docs/engines.md describes
// the configuration and the limits.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// DefaultBaseURL is Anthropic's API.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultEnvironmentName names the remote environment the engine creates when none is
// configured.
const DefaultEnvironmentName = "hangar"

// Config is the engine's JSON config (cmd/hangar fills it from HANGAR_CMA_* variables).
type Config struct {
	// BaseURL is the remote API (default DefaultBaseURL).
	BaseURL string `json:"base_url,omitempty"`
	// APIKey is the remote API key. It is a plain string here because hangar.Secret
	// marshals as REDACTED; the engine keeps it as a hangar.Secret.
	APIKey string `json:"api_key,omitempty"`
	// EnvironmentID, when set, is the remote environment every session runs in; else the
	// engine finds or creates one named EnvironmentName (default DefaultEnvironmentName).
	EnvironmentID   string `json:"environment_id,omitempty"`
	EnvironmentName string `json:"environment_name,omitempty"`
	// AgentEngine, when set, is sent as the remote agent's engine field: a Hangar-only
	// extension for a remote that is another Hangar. Anthropic's API rejects it.
	AgentEngine string `json:"agent_engine,omitempty"`
}

// Engine is the anthropic engine. It caches the remote agent versions and environment it
// has ensured, so only a session's first turn calls more than the session endpoints.
type Engine struct {
	cfg Config
	c   *client
	log *slog.Logger

	mu           sync.Mutex        // guards the caches; held across the calls that fill them
	remoteAgents map[string]string // local agent ID → remote agent ID
	versions     map[string]agentRef
	envID        string
}

// New is the engine.Factory of the anthropic engine. A missing API key is not an error
// here (the server must start without one); turns fail with a session error instead.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if t := bytes.TrimSpace(cfg); len(t) > 0 && string(t) != "null" {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("anthropic engine config: %w", err)
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("anthropic engine config: base_url: want an absolute http or https URL without credentials")
	}
	if c.EnvironmentName == "" {
		c.EnvironmentName = DefaultEnvironmentName
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := hangar.Secret(c.APIKey)
	c.APIKey = "" // only the Secret keeps it
	return &Engine{
		cfg:          c,
		c:            &client{base: strings.TrimRight(c.BaseURL, "/"), key: key, http: &http.Client{}},
		log:          log,
		remoteAgents: map[string]string{},
		versions:     map[string]agentRef{},
	}, nil
}

// Capabilities implements engine.Engine: the remote runs the tools, so no local sandbox is
// needed; custom tools and confirmations are forwarded to the remote, which honours them.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{CustomTools: true, ToolConfirmation: true, Interrupt: true, Resume: true, NoSandbox: true}
}

// Start implements engine.Engine. The sandbox is not used. Remote calls happen in the
// run's goroutine, so an interrupt can stop a turn that is still being set up.
func (e *Engine) Start(ctx context.Context, _ provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if spec.Session == nil {
		return nil, errors.New("anthropic: spec has no session")
	}
	if e.c.key == "" {
		return nil, &engine.Error{Type: "unknown_error", Message: "the anthropic engine has no API key configured on this server"}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &run{
		e:       e,
		spec:    spec,
		events:  make(chan engine.Event),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		cancel:  cancel,
		pending: map[string]pendingUse{},
		emitted: map[string]bool{},
		seen:    map[string]bool{},
	}
	go func() {
		defer close(r.done)
		defer cancel()
		defer close(r.events)
		r.err = r.main(ctx)
	}()
	return r, nil
}

var _ engine.Engine = (*Engine)(nil)
