package anthropic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hangar-dev/hangar"
)

// Metadata keys the engine keeps on remote resources. metaAgent and metaSession name the
// local resource a remote one stands for, so a restarted server finds them again;
// metaConfig is the hash of the agent configuration a remote agent version carries.
const (
	metaAgent   = "hangar.agent"
	metaConfig  = "hangar.config"
	metaSession = "hangar.session"
	metaManaged = "hangar.managed"
	// maxMetadata is the API's limit on metadata pairs (managed-agents-api.md §1.3).
	maxMetadata = 16
)

// remoteAgent is the part of a remote agent the engine reads.
type remoteAgent struct {
	ID       string            `json:"id"`
	Version  int               `json:"version"`
	Metadata map[string]string `json:"metadata"`
}

// agentRef pins one version of a remote agent.
type agentRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// agentSpec is what the engine sends to create a remote agent: the local agent's
// configuration in CreateAgent form, and its hash.
type agentSpec struct {
	body map[string]any
	meta map[string]string // metadata including metaAgent and metaConfig
	hash string
}

// specOf translates a local agent version into the remote agent's configuration. The
// multiagent roster and execution identity are not forwarded: they name local agents and
// identities the remote does not have. engineName, when set, is sent as Hangar's engine
// field (for a remote that is another Hangar).
func specOf(a *hangar.Agent, engineName string) (agentSpec, error) {
	model := map[string]any{"id": a.Model.ID}
	if a.Model.Speed != "" {
		model["speed"] = a.Model.Speed
	}
	if len(a.Model.Effort) > 0 && string(a.Model.Effort) != "null" {
		model["effort"] = a.Model.Effort
	}
	if a.Model.InferenceGeo != "" {
		model["inference_geo"] = a.Model.InferenceGeo
	}
	tools, err := toolParams(a.Tools)
	if err != nil {
		return agentSpec{}, fmt.Errorf("agent tools: %w", err)
	}
	body := map[string]any{
		"name":        a.Name,
		"model":       model,
		"description": deref(a.Description),
		"system":      deref(a.System),
		"tools":       tools,
		"mcp_servers": listOrEmpty(a.MCPServers),
		"skills":      listOrEmpty(a.Skills),
	}
	if engineName != "" {
		body["engine"] = engineName
	}
	meta := map[string]string{}
	for k, v := range a.Metadata {
		if k != metaAgent && k != metaConfig {
			meta[k] = v
		}
	}
	if len(meta)+2 > maxMetadata {
		return agentSpec{}, fmt.Errorf("agent metadata has %d pairs; the anthropic engine needs 2 of the %d the remote allows", len(meta), maxMetadata)
	}
	// The hash covers everything sent, so any change makes a new remote version.
	b, err := json.Marshal(map[string]any{"body": body, "metadata": meta})
	if err != nil {
		return agentSpec{}, err
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:16])
	meta[metaAgent], meta[metaConfig] = a.ID, hash
	return agentSpec{body: body, meta: meta, hash: hash}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func listOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`[]`)
	}
	return raw
}

// toolParams turns resolved tools back into create params: the per-tool configs of the
// agent toolset lose the "type" echo that only responses carry.
func toolParams(raw json.RawMessage) (json.RawMessage, error) {
	var tools []map[string]json.RawMessage
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`[]`), nil
	}
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, err
	}
	for _, t := range tools {
		var typ string
		_ = json.Unmarshal(t["type"], &typ)
		if typ != "agent_toolset_20260401" || len(t["configs"]) == 0 {
			continue
		}
		var configs []map[string]json.RawMessage
		if err := json.Unmarshal(t["configs"], &configs); err != nil {
			return nil, err
		}
		for _, c := range configs {
			delete(c, "type")
		}
		b, err := json.Marshal(configs)
		if err != nil {
			return nil, err
		}
		t["configs"] = b
	}
	return json.Marshal(tools)
}

// ensureAgent returns the remote agent version matching spec of local agent localID, creating the remote
// agent or publishing a new version of it when needed. It is idempotent: a remote version
// is found again by its metaConfig hash, in the cache or on the remote.
func (e *Engine) ensureAgent(ctx context.Context, localID string, spec agentSpec) (agentRef, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := localID + "/" + spec.hash
	if ref, ok := e.versions[key]; ok {
		return ref, nil
	}
	cur, err := e.findAgent(ctx, localID)
	if err != nil {
		return agentRef{}, err
	}
	var ref agentRef
	switch {
	case cur == nil:
		ref, err = e.createAgent(ctx, spec)
	case cur.Metadata[metaConfig] == spec.hash:
		ref = agentRef{ID: cur.ID, Version: cur.Version}
	default:
		ref, err = e.matchOrUpdate(ctx, cur, spec)
	}
	if err != nil {
		return agentRef{}, err
	}
	e.remoteAgents[localID] = ref.ID
	e.versions[key] = ref
	return ref, nil
}

// findAgent returns the remote agent standing for local agent localID, or nil.
func (e *Engine) findAgent(ctx context.Context, localID string) (*remoteAgent, error) {
	if id := e.remoteAgents[localID]; id != "" {
		var a remoteAgent
		err := e.c.do(ctx, http.MethodGet, "/v1/agents/"+url.PathEscape(id), nil, nil, &a)
		if err == nil {
			return &a, nil
		}
		if !isStatus(err, http.StatusNotFound) {
			return nil, err
		}
		delete(e.remoteAgents, localID)
	}
	var found *remoteAgent
	err := list(ctx, e.c, "/v1/agents", nil, func(a remoteAgent) bool {
		if a.Metadata[metaAgent] == localID {
			found = &a
			return true
		}
		return false
	})
	return found, err
}

func (e *Engine) createAgent(ctx context.Context, spec agentSpec) (agentRef, error) {
	body := map[string]any{"metadata": spec.meta}
	for k, v := range spec.body {
		body[k] = v
	}
	var a remoteAgent
	if err := e.c.do(ctx, http.MethodPost, "/v1/agents", nil, body, &a); err != nil {
		return agentRef{}, err
	}
	e.log.Info("created remote agent", "remote_agent", a.ID, "version", a.Version)
	return agentRef{ID: a.ID, Version: a.Version}, nil
}

// matchOrUpdate returns an earlier version of remote agent cur carrying spec's hash (a
// session pinned to an older local version), else publishes spec as a new version.
func (e *Engine) matchOrUpdate(ctx context.Context, cur *remoteAgent, spec agentSpec) (agentRef, error) {
	var ref agentRef
	err := list(ctx, e.c, "/v1/agents/"+url.PathEscape(cur.ID)+"/versions", nil, func(a remoteAgent) bool {
		if a.Metadata[metaConfig] == spec.hash {
			ref = agentRef{ID: a.ID, Version: a.Version}
			return true
		}
		return false
	})
	if err != nil || ref.ID != "" {
		return ref, err
	}
	for attempt := 0; ; attempt++ {
		body := map[string]any{"version": cur.Version}
		for k, v := range spec.body {
			body[k] = v
		}
		// Metadata is a patch on update: set ours, delete what the remote has beyond it.
		patch := map[string]*string{}
		for k := range cur.Metadata {
			patch[k] = nil
		}
		for k, v := range spec.meta {
			patch[k] = &v
		}
		body["metadata"] = patch
		var a remoteAgent
		err := e.c.do(ctx, http.MethodPost, "/v1/agents/"+url.PathEscape(cur.ID), nil, body, &a)
		if err == nil {
			e.log.Info("updated remote agent", "remote_agent", a.ID, "version", a.Version)
			return agentRef{ID: a.ID, Version: a.Version}, nil
		}
		if !isStatus(err, http.StatusConflict) || attempt > 0 {
			return agentRef{}, err
		}
		// Someone else published a version meanwhile: update on top of it.
		if err := e.c.do(ctx, http.MethodGet, "/v1/agents/"+url.PathEscape(cur.ID), nil, nil, cur); err != nil {
			return agentRef{}, err
		}
		if cur.Metadata[metaConfig] == spec.hash {
			return agentRef{ID: cur.ID, Version: cur.Version}, nil
		}
	}
}

// remoteEnvironment is the part of a remote environment the engine reads.
type remoteEnvironment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ensureEnvironment returns the remote environment sessions run in: the configured one, or
// the one named Config.EnvironmentName, created (cloud, unrestricted networking) if missing.
func (e *Engine) ensureEnvironment(ctx context.Context) (string, error) {
	if e.cfg.EnvironmentID != "" {
		return e.cfg.EnvironmentID, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.envID != "" {
		return e.envID, nil
	}
	for attempt := 0; ; attempt++ {
		var found string
		err := list(ctx, e.c, "/v1/environments", nil, func(env remoteEnvironment) bool {
			if env.Name == e.cfg.EnvironmentName {
				found = env.ID
				return true
			}
			return false
		})
		if err != nil {
			return "", err
		}
		if found != "" {
			e.envID = found
			return found, nil
		}
		var env remoteEnvironment
		err = e.c.do(ctx, http.MethodPost, "/v1/environments", nil, map[string]any{
			"name":     e.cfg.EnvironmentName,
			"config":   map[string]any{"type": "cloud", "networking": map[string]string{"type": "unrestricted"}},
			"metadata": map[string]string{metaManaged: "true"},
		}, &env)
		if err == nil {
			e.log.Info("created remote environment", "remote_environment", env.ID)
			e.envID = env.ID
			return env.ID, nil
		}
		// A 409 is a concurrent create of the same name: find it on the next pass.
		if !isStatus(err, http.StatusConflict) || attempt > 0 {
			return "", err
		}
	}
}

// remoteSession is the part of a remote session the engine reads.
type remoteSession struct {
	ID       string            `json:"id"`
	Status   string            `json:"status"`
	Metadata map[string]string `json:"metadata"`
	Agent    struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	} `json:"agent"`
	ArchivedAt *string `json:"archived_at"`
}

// createSession starts a remote session of agent ref for local session s.
func (e *Engine) createSession(ctx context.Context, ref agentRef, envID string, s *hangar.Session) (string, error) {
	body := map[string]any{
		"agent":          map[string]any{"type": "agent", "id": ref.ID, "version": ref.Version},
		"environment_id": envID,
		"metadata":       map[string]string{metaSession: s.ID},
	}
	if s.Title != nil && *s.Title != "" {
		body["title"] = *s.Title
	}
	var rs remoteSession
	if err := e.c.do(ctx, http.MethodPost, "/v1/sessions", nil, body, &rs); err != nil {
		return "", err
	}
	e.log.Info("created remote session", "session", s.ID, "remote_session", rs.ID)
	return rs.ID, nil
}

// findSession returns the remote session of local session localID pinned to ref, or "".
// It lets a restarted server, which lost the resume token, continue the conversation.
func (e *Engine) findSession(ctx context.Context, ref agentRef, localID string) (string, error) {
	var found string
	q := url.Values{"agent_id": {ref.ID}}
	err := list(ctx, e.c, "/v1/sessions", q, func(s remoteSession) bool {
		if s.Metadata[metaSession] == localID && s.Agent.Version == ref.Version && s.ArchivedAt == nil && s.Status != "terminated" {
			found = s.ID
			return true
		}
		return false
	})
	return found, err
}

// token is the resume token a run reports: the remote session and what it was made from.
type token struct {
	Session     string `json:"session"`
	Agent       string `json:"agent,omitempty"`
	Version     int    `json:"version,omitempty"`
	Environment string `json:"environment,omitempty"`
	Config      string `json:"config"`
}

func parseToken(s string) token {
	var t token
	if s != "" && json.Unmarshal([]byte(s), &t) != nil {
		return token{}
	}
	return t
}

func (t token) String() string {
	b, _ := json.Marshal(t)
	return string(b)
}

// errNoSession is returned when a remote session the token named is gone.
var errNoSession = errors.New("remote session not found")
