package hangar

import (
	"encoding/json"
	"time"
)

// Engines Hangar can run an agent with. The agent's Engine field holds one of these.
const (
	EngineClaude    = "claude"
	EngineCodex     = "codex"
	EngineGemini    = "gemini"
	EngineOpenCode  = "opencode"
	EnginePi        = "pi"
	EngineFactory   = "factory"
	EngineAnthropic = "anthropic"
	EngineScripted  = "scripted"
	// EngineNative is Hangar's own agent loop over the Messages API (docs/engines.md);
	// sessions on self_hosted environments always run it.
	EngineNative = "native"
)

// Engines lists every engine name an agent may choose.
var Engines = []string{EngineAnthropic, EngineClaude, EngineCodex, EngineFactory, EngineGemini, EngineNative, EngineOpenCode, EnginePi, EngineScripted}

// Model is the resolved model of an agent: always the object form on the wire.
type Model struct {
	ID           string          `json:"id"`
	Speed        string          `json:"speed"`
	Effort       json.RawMessage `json:"effort,omitempty"`
	InferenceGeo string          `json:"inference_geo,omitempty"`
}

// Agent is one immutable version of an agent. Tools, MCP servers, skills and the multiagent
// roster are stored as resolved wire JSON: the runner and engines read them, the store does not.
type Agent struct {
	Type              string            `json:"type"`
	ID                string            `json:"id"`
	Version           int               `json:"version"`
	Name              string            `json:"name"`
	Description       *string           `json:"description"`
	Model             Model             `json:"model"`
	System            *string           `json:"system"`
	Tools             json.RawMessage   `json:"tools"`
	MCPServers        json.RawMessage   `json:"mcp_servers"`
	Skills            json.RawMessage   `json:"skills"`
	Multiagent        json.RawMessage   `json:"multiagent"`
	ExecutionIdentity json.RawMessage   `json:"execution_identity"`
	Metadata          map[string]string `json:"metadata"`
	Engine            string            `json:"engine"`
	// WebhookURL and WebhookEvents are Hangar's agent-level webhooks (docs/webhooks.md):
	// session events of these types, on sessions of this agent version, are POSTed to
	// WebhookURL, signed with the agent's secret. Omitted from the JSON when unset.
	WebhookURL    string     `json:"webhook_url,omitempty"`
	WebhookEvents []string   `json:"webhook_events,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	ArchivedAt    *time.Time `json:"archived_at"`
}

// SameConfig reports whether a and b describe the same agent configuration, ignoring
// identity, version and timestamps. An update that changes nothing creates no version.
func (a *Agent) SameConfig(b *Agent) bool {
	strip := func(x *Agent) []byte {
		c := *x
		c.ID, c.Version = "", 0
		c.CreatedAt, c.UpdatedAt, c.ArchivedAt = time.Time{}, time.Time{}, nil
		out, _ := json.Marshal(c)
		return out
	}
	return string(strip(a)) == string(strip(b))
}

// AgentFilter selects agents for ListAgents.
type AgentFilter struct {
	IncludeArchived bool
	CreatedAfter    *time.Time // created_at >= (gte)
	CreatedBefore   *time.Time // created_at <= (lte)
	Page            Page
}

// DefaultAgentWebhookEvents are the session event types an agent webhook delivers when
// webhook_events is not given (the seed's default).
var DefaultAgentWebhookEvents = []string{EventStatusIdle, EventStatusRunning, EventSessionError}
