// Package httpapi serves the Claude Managed Agents API over HTTP. Handlers decode, call the
// store or runner, and encode; errors are mapped to the Anthropic envelope in one place
// (errors.go).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar"
)

// Runner is what the API needs of the session runner (internal/runner).
type Runner interface {
	// Send appends client events to a session (one transaction, idempotent per key) and
	// schedules the work they ask for. It returns the stored events.
	Send(ctx context.Context, sessionID string, events []hangar.Event, idempotencyKey string) ([]hangar.Event, error)
	// Delete stops any running turn of the session, deletes it and ends its streams.
	Delete(ctx context.Context, sessionID string) error
}

// Hub delivers live events of a session (internal/pubsub).
type Hub interface {
	// Subscribe returns a channel of the session's events published from now on. The
	// channel is closed when cancel is called or when the subscriber falls too far behind
	// (it must then reconnect and resume from the store).
	Subscribe(sessionID string) (events <-chan *hangar.Event, cancel func())
}

// Sealer encrypts and decrypts credential secrets (internal/vault.Keyring). Open is needed
// to re-seal a credential when only some of its secrets change.
type Sealer interface {
	Seal(plaintext []byte) (sealed []byte, keyID string, err error)
	Open(sealed []byte, keyID string) ([]byte, error)
}

// Config holds the server's dependencies.
type Config struct {
	Store  hangar.Store
	Blobs  hangar.BlobStore
	Runner Runner
	Hub    Hub
	Sealer Sealer
	Logger *slog.Logger
	Clock  hangar.Clock
	NewID  hangar.IDGen
	// APIKey is the admin key every request must present.
	APIKey string
	// Engines lists the engine names agents may use (validated on create/update).
	Engines []string
	// EngineFeatures maps engine names to the agent features they support; agent create and
	// update refuse an agent that needs a feature its engine lacks. An engine missing from
	// the map, or a nil map, is not checked.
	EngineFeatures map[string]EngineFeatures
	// MaxBodyBytes caps JSON request bodies; MaxFileBytes caps uploads.
	MaxBodyBytes int64
	MaxFileBytes int64
	// Ready reports readiness for /healthz; nil means always ready.
	Ready func() bool
	// SSEPing is the keep-alive interval of event streams; 0 means 15 seconds.
	SSEPing time.Duration
	// Console serves every path outside /v1 and /healthz without auth: the web console
	// (internal/console). nil leaves those paths unrouted (404).
	Console http.Handler
	// Builds reports and starts environment builds (internal/envbuild); nil means
	// environments show no build state.
	Builds Builds
	// Providers reports the sandbox providers for GET /v1/providers (internal/runner);
	// nil lists none.
	Providers Providers
	// Dreams is woken when a dream is created (internal/dream); nil: the runner polls.
	Dreams DreamRunner
	// PublicURL is where end customers reach this server (HANGAR_PUBLIC_URL): user
	// profile enrollment URLs point at it. "" uses the host of the API request.
	PublicURL string
	// CredentialValidator probes mcp_oauth credentials for POST
	// .../credentials/{id}/mcp_oauth_validate (internal/egress.OAuth); nil answers 400.
	CredentialValidator hangar.CredentialValidator
}

// EngineFeatures are the agent features an engine supports. cmd/hangar fills them from each
// engine's Capabilities, which this package cannot import.
type EngineFeatures struct {
	// CustomTools: the engine can call the agent's custom tools.
	CustomTools bool
	// ToolConfirmation: the engine honours always_ask permission policies.
	ToolConfirmation bool
	// SystemMessages: the engine takes system.message events (system_message.go).
	SystemMessages bool
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	store   hangar.Store
	log     *slog.Logger
	now     hangar.Clock
	newID   hangar.IDGen
	handler http.Handler
	// patterns are the registered route patterns, in order; openapi.go documents them.
	patterns []string
	// workWake wakes long polls of the self-hosted work queue (work_queue.go).
	workWake workWaiters
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = hangar.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = hangar.NewID
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = 500 << 20
	}
	if len(cfg.Engines) == 0 {
		cfg.Engines = hangar.Engines
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Clock, newID: cfg.NewID}
	s.handler = s.middleware(s.routes())
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
