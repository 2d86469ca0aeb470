// Package provider defines how Hangar gets a sandbox for a session: the Provider and
// Sandbox interfaces every sandbox backend implements (memory, local, docker...), their
// capabilities, and the Registry that cmd/hangar fills with the providers it ships.
package provider

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"

	"github.com/hangar-dev/hangar"
)

// Provider creates and recovers sandboxes.
type Provider interface {
	// Capabilities reports the optional features the provider supports.
	Capabilities() Capabilities
	// Create provisions a new sandbox for spec.SessionID. Errors are returned wrapped; a
	// provider that cannot satisfy spec (e.g. a networking policy it cannot enforce)
	// returns an invalid_request_error.
	Create(ctx context.Context, spec Spec) (Sandbox, error)
	// Recover reattaches to a sandbox created earlier (possibly by another process) from
	// its Handle. It returns a not_found_error when the sandbox no longer exists, and
	// errors.ErrUnsupported when the provider cannot recover sandboxes.
	Recover(ctx context.Context, h Handle) (Sandbox, error)
}

// Sandbox is one session's isolated execution environment.
type Sandbox interface {
	// Handle returns the opaque bytes Recover needs to reattach to this sandbox.
	Handle() Handle
	// Exec starts a process in the sandbox. The returned Process streams its stdin and
	// stdout/stderr; it ends when the command exits or ctx is done.
	Exec(ctx context.Context, spec ExecSpec) (Process, error)
	// PutFile writes data to path inside the sandbox, creating parent directories.
	PutFile(ctx context.Context, path string, data []byte, mode uint32) error
	// GetFile reads the file at path; not_found_error when it does not exist.
	GetFile(ctx context.Context, path string) ([]byte, error)
	// Stop ends every process of the sandbox but keeps its state (files), so that
	// Recover can reattach later. Stopping a stopped sandbox is a no-op.
	Stop(ctx context.Context) error
	// Destroy releases the sandbox and its state. Destroying twice is a no-op.
	Destroy(ctx context.Context) error
}

// Process is a running command in a sandbox.
type Process interface {
	// Stdin is the process's standard input; Close it to send EOF.
	Stdin() io.WriteCloser
	// Stdout streams standard output. It reaches EOF when the process has exited.
	Stdout() io.Reader
	// Stderr streams standard error.
	Stderr() io.Reader
	// Signal asks the process to stop: graceful when kill is false (SIGINT/SIGTERM),
	// forced otherwise. errors.ErrUnsupported when the provider cannot deliver signals.
	Signal(kill bool) error
	// Wait waits for the process to exit and returns its exit code. err is non-nil only
	// when the exit status could not be obtained.
	Wait() (exitCode int, err error)
}

// Spec describes the sandbox of one session.
type Spec struct {
	SessionID   string
	Environment hangar.EnvironmentConfig
	// WorkDir is the working directory inside the sandbox (where the agent works).
	WorkDir string
	// HomeDir is the HOME of the agent's processes, persisted with the sandbox so vendor
	// CLIs keep their session files across turns.
	HomeDir string
	// EgressSocket is the host path of the unix socket of the session's egress proxy
	// (internal/egress), "" when none. Isolated providers give the sandbox no network but
	// this socket, reachable inside at EgressAddr through Hangar's forwarder.
	EgressSocket string
	// Mounts are extra host paths bound into the sandbox (e.g. an engine's CLI install,
	// read-only).
	Mounts []Mount
	// Layer is the environment's prebuilt package layer, as returned by the provider's
	// Builder.Build; "" when the environment has no packages (see build.go).
	Layer string
}

// EgressAddr is where, inside an isolated sandbox, the forwarder to the egress proxy listens.
const EgressAddr = "127.0.0.1:4100"

// Mount binds a host path into the sandbox.
type Mount struct {
	Source   string // host path
	Target   string // path inside the sandbox
	ReadOnly bool
}

// ExecSpec describes a process to run in a sandbox.
type ExecSpec struct {
	Args []string // Args[0] is the program
	Env  []string // KEY=VALUE, added to the sandbox's environment
	Dir  string   // working directory; empty means the sandbox's WorkDir
}

// Handle is an opaque, persistable reference to a sandbox.
type Handle []byte

// Capabilities lists a provider's optional features.
type Capabilities struct {
	// Recover reports whether Recover can reattach after a restart.
	Recover bool `json:"recover"`
	// Files reports whether PutFile and GetFile work.
	Files bool `json:"files"`
	// Signals reports whether Process.Signal works.
	Signals bool `json:"signals"`
	// Network reports whether the provider enforces Environment.Networking "limited".
	Network bool `json:"network"`
	// Isolated reports whether sandboxes are isolated from the host (false for memory and
	// plain local processes).
	Isolated bool `json:"isolated"`
	// BufferedStdin reports that a process's stdin is delivered only once it is closed,
	// because the vendor API takes a command's input up front (the command starts at
	// Stdin().Close()): interactive stdin, such as claude's stream-json input or codex's
	// app server, does not work.
	BufferedStdin bool `json:"buffered_stdin,omitempty"`
	// Remote reports that sandboxes run on another machine, which cannot reach the
	// egress proxy's per-session socket or loopback listener: their CLIs reach the model
	// APIs through the server's public egress endpoint (HANGAR_PUBLIC_URL + "/egress").
	Remote bool `json:"remote,omitempty"`
}

// Deps are the server facilities a provider factory may use.
type Deps struct {
	Logger *slog.Logger
	Clock  hangar.Clock
	// DataDir is a directory the provider may keep state in ("" when none).
	DataDir string
}

// Factory builds a provider from its JSON config (nil when none was given). Factories
// decode cfg with DisallowUnknownFields.
type Factory func(cfg json.RawMessage, deps Deps) (Provider, error)

// Registry maps provider names to factories. Build it in cmd/hangar.
type Registry = hangar.Registry[Factory]

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return hangar.NewRegistry[Factory]("provider") }
