package httpapi

import (
	"context"
	"encoding/json"

	"github.com/hangar-dev/hangar"
)

// agent_with_overrides (§3.3 CreateSession): a session of an agent version with some of its
// fields replaced for this session only. Overrides replace whole fields (model, system,
// tools, mcp_servers, skills), are validated exactly as an agent update would validate them
// (including the engine's features and MCP references), and change only the session's
// snapshot: the agent and its versions are untouched, and the snapshot keeps the agent's
// id and version.

type agentOverridesParam struct {
	Type       string          `json:"type"`
	ID         *string         `json:"id"`
	Version    *int            `json:"version"`
	Model      json.RawMessage `json:"model"`
	System     json.RawMessage `json:"system"`
	Tools      json.RawMessage `json:"tools"`
	MCPServers json.RawMessage `json:"mcp_servers"`
	Skills     json.RawMessage `json:"skills"`
}

// agentWithOverrides resolves an agent_with_overrides param to the session's snapshot.
func (s *Server) agentWithOverrides(ctx context.Context, raw json.RawMessage) (*hangar.Agent, error) {
	var p agentOverridesParam
	if err := decodeAt("agent", raw, &p); err != nil {
		return nil, err
	}
	if p.ID == nil {
		return nil, invalidf("agent.id: field required")
	}
	if err := checkLen("agent.id", *p.ID, 1, maxIDParamChars); err != nil {
		return nil, err
	}
	version := 0
	if p.Version != nil {
		if *p.Version < 1 {
			return nil, invalidf("agent.version: must be at least 1")
		}
		version = *p.Version
	}
	if present(p.Model) && isNull(p.Model) {
		return nil, invalidf("agent.model: cannot be null")
	}
	patch, err := s.agentPatch(ctx, *p.ID, &agentUpdateRequest{
		Model: p.Model, System: p.System, Tools: p.Tools, MCPServers: p.MCPServers, Skills: p.Skills,
	})
	if err != nil {
		return nil, prefixField("agent.", err)
	}
	a, err := s.store.GetAgent(ctx, *p.ID, version)
	if err != nil {
		return nil, err
	}
	if a.ArchivedAt != nil {
		return nil, invalidf("agent: agent %s is archived and cannot start new sessions", a.ID)
	}
	snap := *a
	if err := s.applyAgentPatch(&snap, patch); err != nil {
		return nil, prefixField("agent.", err)
	}
	snap.Metadata = a.Metadata
	return &snap, nil
}
