// Package engine defines how Hangar runs an agent for one turn: the Engine and Run
// interfaces every agent engine implements (scripted, claude, codex...), the normalized
// events engines emit, and the Registry that cmd/hangar fills with the engines it ships.
//
// An engine translates its agent's native output into CMA event types. It never stores or
// publishes events and never invents event IDs: the runner assigns sevt_ IDs, stores and
// publishes, and links references between events through the engine-local IDs of
// Event.ID and Event.Ref.
package engine

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Engine starts agent runs.
type Engine interface {
	// Capabilities reports the optional features the engine supports.
	Capabilities() Capabilities
	// Start begins one turn of spec.Session in sandbox sb (nil when the engine declared
	// Capabilities.NoSandbox and the runner has none). The run lives until its Events
	// channel is closed; cancelling ctx kills it. Errors returned here fail the turn like
	// an error from Run.Wait.
	Start(ctx context.Context, sb provider.Sandbox, spec Spec) (Run, error)
}

// Run is one running turn.
type Run interface {
	// Events returns the run's normalized events. The channel is closed when the run ends;
	// the runner reads it until then.
	Events() <-chan Event
	// Send delivers the client's answer to an event of this run that had RequiresAction.
	// It returns an invalid_request_error when in.ToolUseID is not awaiting an answer.
	Send(ctx context.Context, in Input) error
	// Interrupt asks the run to stop as soon as possible; the Events channel is then
	// closed. Interrupting an ended run is a no-op.
	Interrupt(ctx context.Context) error
	// Wait waits for the run to end and returns why it failed: nil for a completed or
	// interrupted turn, an *Error for a classified failure, anything else otherwise.
	Wait() error
}

// Spec is what a turn starts from.
type Spec struct {
	// Session is the session at the start of the turn, with its pinned agent snapshot
	// (Session.Agent: system prompt, tools JSON, metadata...).
	Session *hangar.Session
	// Message is the user.message event that started the turn; Content is its content
	// blocks (a JSON array).
	Message hangar.Event
	Content json.RawMessage
	// System holds the text of each client system.message that accompanies this turn
	// (or accompanied input since the previous turn), oldest first: privileged context
	// for this turn and every later one. Set only for engines that declare
	// Capabilities.SystemMessages.
	System []string
	// Turn is the number of user.message turns the session completed before this one.
	Turn int
	// Resume is the token the previous run of the session reported with EventResume (""
	// for the first turn or after a server restart).
	Resume string
	// WorkDir and HomeDir are the agent's working directory and HOME in the sandbox.
	WorkDir string
	HomeDir string
	// Egress tells the engine how its CLI reaches the outside from inside the sandbox.
	Egress Egress
	// Delegate, set for sessions on a self_hosted environment, means the agent toolset's
	// calls run in the customer's worker: the engine emits them with AwaitsResult and
	// gets their results as user.tool_result inputs. There is no sandbox.
	Delegate bool
	// ModelKey or ModelAuthToken is the session's own Anthropic credential from its
	// vaults (ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN), set only for engines that declare
	// Capabilities.HostModel; both empty means the server's credential.
	ModelKey       hangar.Secret
	ModelAuthToken hangar.Secret
	// HostEgress is the session's egress proxy as the server process reaches it (its
	// host loopback listener and session token), set for engines that declare
	// Capabilities.HostModel when the server has a proxy. Such an engine reaches the
	// agent's MCP servers through it (MCPEndpoints), so the proxy injects their vault
	// credentials as it does for a sandbox.
	HostEgress Egress
}

// Egress is what an engine needs to route a CLI's traffic through the egress proxy. The
// real model credential never appears here: Token is a session-scoped stand-in that the
// proxy swaps for it.
type Egress struct {
	// ModelBaseURL is the base URL for model API calls (e.g. ANTHROPIC_BASE_URL).
	ModelBaseURL string
	// Token is the session-scoped token the CLI presents as its API key.
	Token string
	// HTTPProxy is the proxy URL for all other traffic (HTTP_PROXY/HTTPS_PROXY), "" when
	// the sandbox may not reach anything else.
	HTTPProxy string
}

// EventResume is a control event, never stored: its Resume field is the token the runner
// passes as Spec.Resume to the session's next run (e.g. a CLI's conversation ID).
const EventResume = "hangar.resume"

// Event is one normalized event of a run.
type Event struct {
	// Type is a CMA event type (agent.message, agent.thinking, agent.tool_use,
	// agent.tool_result, agent.custom_tool_use, agent.mcp_tool_use, agent.mcp_tool_result,
	// span.model_request_start, span.model_request_end, session.error) or EventResume.
	Type string
	// ID is an optional engine-local ID, unique within the run, that later events refer to
	// through Ref and that comes back in Input.ToolUseID.
	ID string
	// Ref is the engine-local ID of the event this one answers: the tool use of an
	// agent.tool_result / agent.mcp_tool_result, the start of a span.model_request_end.
	// The runner writes the stored ID of that event into the body (tool_use_id,
	// mcp_tool_use_id, model_request_start_id).
	Ref string
	// Body holds the event's fields beyond type/id/processed_at; it must marshal to a JSON
	// object (json.RawMessage, a struct or a map). nil means no fields.
	Body any
	// Usage, on span.model_request_end, is the model usage the runner adds to the session.
	Usage *hangar.Usage
	// RequiresAction marks an agent.custom_tool_use, or an agent.tool_use awaiting
	// confirmation: the run waits for its answer through Run.Send. After such events the
	// run emits nothing else until every pending one has been answered.
	RequiresAction bool
	// AwaitsResult marks an agent.tool_use whose result the client sends as
	// user.tool_result (a self_hosted worker, Spec.Delegate): the run waits for it
	// through Run.Send while the session stays running. With RequiresAction as well, the
	// call first needs the client's user.tool_confirmation; once allowed, its result is
	// awaited the same way.
	AwaitsResult bool
	// Resume is the token of an EventResume event.
	Resume string
}

// Input is the client's answer to an event that had RequiresAction.
type Input struct {
	// Type is hangar.EventUserCustomToolResult, hangar.EventUserToolConfirmation or
	// hangar.EventUserToolResult (the answer to an event with AwaitsResult).
	Type string
	// ToolUseID is the engine-local Event.ID of the answered event.
	ToolUseID string
	// Event is the stored client event.
	Event hangar.Event

	// Allow and DenyMessage are the decision of a user.tool_confirmation.
	Allow       bool
	DenyMessage string
	// Content (a JSON array of content blocks) and IsError are a user.custom_tool_result
	// or a user.tool_result.
	Content json.RawMessage
	IsError bool
}

// Error is a classified run failure; the runner reports it as a session.error.
type Error struct {
	// Type is a CMA session error type: model_overloaded_error, model_rate_limited_error,
	// model_request_failed_error, unknown_error...
	Type string
	// Message is safe to show to API clients.
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Type + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Type + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Capabilities lists an engine's optional features.
type Capabilities struct {
	// CustomTools: the engine can call the agent's custom tools (agent.custom_tool_use).
	CustomTools bool `json:"custom_tools"`
	// ToolConfirmation: the engine honours always_ask permission policies.
	ToolConfirmation bool `json:"tool_confirmation"`
	// Interrupt: Run.Interrupt stops the run mid-turn (rather than only killing it).
	Interrupt bool `json:"interrupt"`
	// Resume: the engine continues a conversation across runs (EventResume / Spec.Resume).
	Resume bool `json:"resume"`
	// NoSandbox: the engine does not use the sandbox; the runner may pass nil.
	NoSandbox bool `json:"no_sandbox"`
	// InteractiveStdin: the CLI reads stdin while it runs (a stream-json, JSON-RPC or app
	// server protocol), so it cannot run on a provider whose stdin is delivered only at
	// close (provider Capabilities.BufferedStdin).
	InteractiveStdin bool `json:"interactive_stdin,omitempty"`
	// HostModel: the engine calls the model API from the server process (not from the
	// sandbox through the egress proxy), so the runner passes the session's vault model
	// credential in Spec.ModelKey / Spec.ModelAuthToken.
	HostModel bool `json:"host_model,omitempty"`
	// SystemMessages: the engine takes the client's system.message events (Spec.System)
	// as a mid-conversation system turn. Sessions of other engines refuse them.
	SystemMessages bool `json:"system_messages,omitempty"`
}

// Deps are the server facilities an engine factory may use.
type Deps struct {
	Logger *slog.Logger
	Clock  hangar.Clock
}

// Factory builds an engine from its JSON config (nil when none was given). Factories
// decode cfg with DisallowUnknownFields.
type Factory func(cfg json.RawMessage, deps Deps) (Engine, error)

// Registry maps engine names (the agent's engine field) to factories. Build it in cmd/hangar.
type Registry = hangar.Registry[Factory]

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return hangar.NewRegistry[Factory]("engine") }

// Text returns the concatenated text blocks of a JSON array of content blocks (user
// message or tool result content). Non-text blocks are skipped.
func Text(content json.RawMessage) string {
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(content, &blocks) != nil {
		return ""
	}
	var s string
	for _, b := range blocks {
		if b.Type == "text" {
			s += b.Text
		}
	}
	return s
}

// TextContent returns content blocks holding one text block.
func TextContent(text string) []map[string]string {
	return []map[string]string{{"type": "text", "text": text}}
}

// PermissionPolicy returns the permission policy type ("always_allow", "always_ask" or
// "auto") that an agent's resolved tools JSON sets for the agent toolset tool name. Tools
// not configured default to always_allow, the CMA default.
func PermissionPolicy(tools json.RawMessage, name string) string {
	type policy struct {
		Type string `json:"type"`
	}
	var list []struct {
		Type          string `json:"type"`
		DefaultConfig *struct {
			PermissionPolicy *policy `json:"permission_policy"`
		} `json:"default_config"`
		Configs []struct {
			Name             string  `json:"name"`
			PermissionPolicy *policy `json:"permission_policy"`
		} `json:"configs"`
	}
	if json.Unmarshal(tools, &list) != nil {
		return "always_allow"
	}
	for _, t := range list {
		if t.Type != "agent_toolset_20260401" {
			continue
		}
		for _, c := range t.Configs {
			if c.Name == name && c.PermissionPolicy != nil && c.PermissionPolicy.Type != "" {
				return c.PermissionPolicy.Type
			}
		}
		if t.DefaultConfig != nil && t.DefaultConfig.PermissionPolicy != nil && t.DefaultConfig.PermissionPolicy.Type != "" {
			return t.DefaultConfig.PermissionPolicy.Type
		}
	}
	return "always_allow"
}
