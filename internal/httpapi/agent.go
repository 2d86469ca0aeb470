package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Limits of the agent resource (§3.1, §7.5).
const (
	maxAgentDescription = 2048
	maxAgentSystem      = 100_000
	maxAgentTools       = 128
	maxAgentMCPServers  = 20
	maxAgentSkills      = 64
	maxRosterEntries    = 20
)

// agentCreateRequest is BetaAgentNewParams plus Hangar's engine. Polymorphic and list fields
// stay raw so each element is validated with its path (tools[2].name).
type agentCreateRequest struct {
	Name              *string           `json:"name"`
	Model             json.RawMessage   `json:"model"`
	Description       *string           `json:"description"`
	System            *string           `json:"system"`
	Tools             []json.RawMessage `json:"tools"`
	MCPServers        []json.RawMessage `json:"mcp_servers"`
	Skills            []json.RawMessage `json:"skills"`
	Metadata          map[string]string `json:"metadata"`
	Multiagent        json.RawMessage   `json:"multiagent"`
	ExecutionIdentity json.RawMessage   `json:"execution_identity"`
	Engine            *string           `json:"engine"`
	WebhookURL        *string           `json:"webhook_url"`    // agent_webhook.go
	WebhookEvents     []string          `json:"webhook_events"` // agent_webhook.go
}

// agentUpdateRequest is BetaAgentUpdateParams plus engine. Raw fields distinguish omitted
// (nil: keep) from null ("null": clear, where clearing is allowed).
type agentUpdateRequest struct {
	Version           *int64             `json:"version"`
	Name              json.RawMessage    `json:"name"`
	Model             json.RawMessage    `json:"model"`
	Description       json.RawMessage    `json:"description"`
	System            json.RawMessage    `json:"system"`
	Tools             json.RawMessage    `json:"tools"`
	MCPServers        json.RawMessage    `json:"mcp_servers"`
	Skills            json.RawMessage    `json:"skills"`
	Metadata          map[string]*string `json:"metadata"`
	Multiagent        json.RawMessage    `json:"multiagent"`
	ExecutionIdentity json.RawMessage    `json:"execution_identity"`
	Engine            json.RawMessage    `json:"engine"`
	WebhookURL        json.RawMessage    `json:"webhook_url"`    // agent_webhook.go
	WebhookEvents     json.RawMessage    `json:"webhook_events"` // agent_webhook.go
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) error {
	var req agentCreateRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	a, err := s.newAgent(r.Context(), &req)
	if err != nil {
		return err
	}
	var secret *string
	if a.WebhookURL != "" {
		if secret, err = s.ensureAgentWebhookSecret(r.Context(), a.ID); err != nil {
			return err
		}
	}
	if err := s.store.CreateAgent(r.Context(), a); err != nil {
		if secret != nil {
			_ = s.store.DeleteWebhookEndpoint(r.Context(), a.ID)
		}
		return err
	}
	encode(w, http.StatusOK, agentResponse{Agent: agentOut(a), WebhookSecret: secret})
	return nil
}

// newAgent validates a create request and returns version 1 of the agent it describes.
func (s *Server) newAgent(ctx context.Context, req *agentCreateRequest) (*hangar.Agent, error) {
	if err := requireString("name", req.Name, 1, maxNameChars); err != nil {
		return nil, err
	}
	if isNull(req.Model) {
		return nil, invalidf("model: field required")
	}
	model, err := resolveModel("model", req.Model, nil)
	if err != nil {
		return nil, err
	}
	if err := checkOptLen("description", req.Description, 0, maxAgentDescription); err != nil {
		return nil, err
	}
	if err := checkOptLen("system", req.System, 0, maxAgentSystem); err != nil {
		return nil, err
	}
	tools, err := resolveTools(req.Tools)
	if err != nil {
		return nil, err
	}
	servers, err := resolveMCPServers(req.MCPServers)
	if err != nil {
		return nil, err
	}
	skills, err := resolveSkills(req.Skills)
	if err != nil {
		return nil, err
	}
	if err := validateMetadata("metadata", req.Metadata); err != nil {
		return nil, err
	}
	identity, err := resolveExecutionIdentity(req.ExecutionIdentity)
	if err != nil {
		return nil, err
	}
	engine, err := s.agentEngine(req.Engine, model.ID)
	if err != nil {
		return nil, err
	}
	id := s.newID(hangar.PrefixAgent)
	multi, err := s.resolveMultiagent(ctx, id, req.Multiagent)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a := &hangar.Agent{
		Type:              "agent",
		ID:                id,
		Version:           1,
		Name:              *req.Name,
		Description:       emptyAsNil(req.Description),
		Model:             model,
		System:            emptyAsNil(req.System),
		Tools:             tools,
		MCPServers:        servers,
		Skills:            skills,
		Multiagent:        multi,
		ExecutionIdentity: identity,
		Metadata:          orEmpty(req.Metadata),
		Engine:            engine,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	if req.WebhookURL != nil || req.WebhookEvents != nil {
		var events json.RawMessage
		if req.WebhookEvents != nil {
			events, _ = json.Marshal(req.WebhookEvents)
		}
		var u json.RawMessage
		if req.WebhookURL != nil {
			u, _ = json.Marshal(*req.WebhookURL)
		}
		wp, err := parseAgentWebhookPatch(u, events)
		if err != nil {
			return nil, err
		}
		if err := wp.apply(a); err != nil {
			return nil, err
		}
	}
	if err := checkMCPReferences(a); err != nil {
		return nil, err
	}
	if err := s.checkEngineFeatures(a); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, false)
	if err != nil {
		return err
	}
	archived, err := parseBool(q, "include_archived")
	if err != nil {
		return err
	}
	created, err := parseTimeRange(q, "created_at")
	if err != nil {
		return err
	}
	agents, res, err := s.store.ListAgents(r.Context(), hangar.AgentFilter{
		IncludeArchived: archived,
		CreatedAfter:    created.GTE,
		CreatedBefore:   created.LTE,
		Page:            page,
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, agentList(agents, res))
	return nil
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return invalidf("version: must be an integer of at least 1")
		}
		version = n
	}
	a, err := s.store.GetAgent(r.Context(), pathID(r, "agent_id"), version)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, agentOut(a))
	return nil
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "agent_id")
	var req agentUpdateRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	patch, err := s.agentPatch(r.Context(), id, &req)
	if err != nil {
		return err
	}
	a, err := s.store.UpdateAgent(r.Context(), id, s.now(), func(a *hangar.Agent) error {
		if a.ArchivedAt != nil {
			return conflictf("agent %s is archived and cannot be updated", a.ID)
		}
		if req.Version != nil && *req.Version != int64(a.Version) {
			return conflictf("agent version mismatch: the request names version %d but the latest version is %d", *req.Version, a.Version)
		}
		return s.applyAgentPatch(a, patch)
	})
	if err != nil {
		return err
	}
	var secret *string
	if a.WebhookURL != "" {
		if secret, err = s.ensureAgentWebhookSecret(r.Context(), a.ID); err != nil {
			return err
		}
	}
	encode(w, http.StatusOK, agentResponse{Agent: agentOut(a), WebhookSecret: secret})
	return nil
}

func (s *Server) archiveAgent(w http.ResponseWriter, r *http.Request) error {
	a, err := s.store.ArchiveAgent(r.Context(), pathID(r, "agent_id"), s.now())
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, agentOut(a))
	return nil
}

func (s *Server) listAgentVersions(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r.URL.Query(), 20, 100, false)
	if err != nil {
		return err
	}
	agents, res, err := s.store.ListAgentVersions(r.Context(), pathID(r, "agent_id"), page)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, agentList(agents, res))
	return nil
}

func agentList(agents []*hangar.Agent, res hangar.PageResult) listEnvelope[*hangar.Agent] {
	out := listEnvelope[*hangar.Agent]{Data: make([]*hangar.Agent, 0, len(agents)), NextPage: strOrNil(res.Next)}
	for _, a := range agents {
		out.Data = append(out.Data, agentOut(a))
	}
	return out
}

// agentOut fills the fields every agent response carries, so an agent stored without them
// (or by an older version) still answers with [] and {} rather than null.
func agentOut(a *hangar.Agent) *hangar.Agent {
	c := *a
	c.Type = "agent"
	if isNull(c.Tools) {
		c.Tools = json.RawMessage(`[]`)
	}
	if isNull(c.MCPServers) {
		c.MCPServers = json.RawMessage(`[]`)
	}
	if isNull(c.Skills) {
		c.Skills = json.RawMessage(`[]`)
	}
	if isNull(c.ExecutionIdentity) {
		c.ExecutionIdentity = defaultExecutionIdentity
	}
	if isNull(c.Multiagent) {
		c.Multiagent = nil
	}
	if c.Model.Speed == "" {
		c.Model.Speed = "standard"
	}
	c.Metadata = orEmpty(c.Metadata)
	return &c
}

// agentPatch is a validated update, resolved before the store's transaction (resolving the
// multiagent roster reads other agents). A nil field is kept.
type agentPatch struct {
	name        *string
	model       json.RawMessage // raw: the effort default depends on the current model
	description **string
	system      **string
	tools       json.RawMessage
	mcpServers  json.RawMessage
	skills      json.RawMessage
	multiagent  *json.RawMessage
	identity    json.RawMessage
	metadata    map[string]*string
	engine      *string
	webhook     agentWebhookPatch
}

func (s *Server) agentPatch(ctx context.Context, id string, req *agentUpdateRequest) (*agentPatch, error) {
	p := &agentPatch{metadata: req.Metadata}
	if req.Version != nil && *req.Version < 1 {
		return nil, invalidf("version: must be at least 1")
	}
	if present(req.Name) {
		name, _, err := nullableString("name", req.Name)
		if err != nil {
			return nil, err
		}
		if name == nil {
			return nil, invalidf("name: cannot be cleared")
		}
		if err := checkLen("name", *name, 1, maxNameChars); err != nil {
			return nil, err
		}
		p.name = name
	}
	if present(req.Model) {
		if isNull(req.Model) {
			return nil, invalidf("model: cannot be cleared")
		}
		if _, err := resolveModel("model", req.Model, nil); err != nil {
			return nil, err
		}
		p.model = req.Model
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		max  int
		dst  ***string
	}{
		{"description", req.Description, maxAgentDescription, &p.description},
		{"system", req.System, maxAgentSystem, &p.system},
	} {
		v, set, err := nullableString(f.name, f.raw)
		if err != nil {
			return nil, err
		}
		if !set {
			continue
		}
		if err := checkOptLen(f.name, v, 0, f.max); err != nil {
			return nil, err
		}
		v = emptyAsNil(v)
		*f.dst = &v
	}
	var err error
	if present(req.Tools) {
		if p.tools, err = resolveListField("tools", req.Tools, resolveTools); err != nil {
			return nil, err
		}
	}
	if present(req.MCPServers) {
		if p.mcpServers, err = resolveListField("mcp_servers", req.MCPServers, resolveMCPServers); err != nil {
			return nil, err
		}
	}
	if present(req.Skills) {
		if p.skills, err = resolveListField("skills", req.Skills, resolveSkills); err != nil {
			return nil, err
		}
	}
	if present(req.Multiagent) {
		m, err := s.resolveMultiagent(ctx, id, req.Multiagent)
		if err != nil {
			return nil, err
		}
		p.multiagent = &m
	}
	if present(req.ExecutionIdentity) {
		if p.identity, err = resolveExecutionIdentity(req.ExecutionIdentity); err != nil {
			return nil, err
		}
	}
	if err := validateMetadataPatch("metadata", req.Metadata); err != nil {
		return nil, err
	}
	if present(req.Engine) && !isNull(req.Engine) {
		e, _, err := nullableString("engine", req.Engine)
		if err != nil {
			return nil, err
		}
		if err := s.checkEngine(*e); err != nil {
			return nil, err
		}
		p.engine = e
	}
	if p.webhook, err = parseAgentWebhookPatch(req.WebhookURL, req.WebhookEvents); err != nil {
		return nil, err
	}
	return p, nil
}

// applyAgentPatch applies p to a copy of the latest version; the store decides whether the
// result is a new version.
func (s *Server) applyAgentPatch(a *hangar.Agent, p *agentPatch) error {
	prevEngine := a.Engine
	if p.name != nil {
		a.Name = *p.name
	}
	if p.model != nil {
		prev := a.Model
		m, err := resolveModel("model", p.model, &prev)
		if err != nil {
			return err
		}
		if p.engine == nil && a.Engine == s.defaultEngine(prev.ID) {
			a.Engine = s.defaultEngine(m.ID)
		}
		a.Model = m
	}
	if p.engine != nil {
		a.Engine = *p.engine
	}
	if p.description != nil {
		a.Description = *p.description
	}
	if p.system != nil {
		a.System = *p.system
	}
	if p.tools != nil {
		a.Tools = p.tools
	}
	if p.mcpServers != nil {
		a.MCPServers = p.mcpServers
	}
	if p.skills != nil {
		a.Skills = p.skills
	}
	if p.multiagent != nil {
		a.Multiagent = *p.multiagent
	}
	if p.identity != nil {
		a.ExecutionIdentity = p.identity
	}
	md, err := patchMetadata("metadata", a.Metadata, p.metadata, false)
	if err != nil {
		return err
	}
	a.Metadata = md
	if err := p.webhook.apply(a); err != nil {
		return err
	}
	if err := checkMCPReferences(a); err != nil {
		return err
	}
	// Only a change of tools or engine is checked, so that an agent stored before its
	// engine's features were known can still be edited otherwise.
	if p.tools != nil || a.Engine != prevEngine {
		return s.checkEngineFeatures(a)
	}
	return nil
}

// resolveListField resolves a full-replacement list field of an update: null clears it.
func resolveListField(field string, raw json.RawMessage, resolve func([]json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	var items []json.RawMessage
	if !isNull(raw) {
		if jsonType(raw) != "array" {
			return nil, invalidf("%s: expected array or null, got %s", field, jsonType(raw))
		}
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, invalidf("%s: invalid array", field)
		}
	}
	return resolve(items)
}

func emptyAsNil(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

// --- engine

// defaultEngine infers the engine from a model id: "provider/model" runs on opencode, OpenAI
// models on codex, Gemini models on gemini, anything else on claude. If that engine is not
// enabled on this server, the first enabled engine is used.
func (s *Server) defaultEngine(model string) string {
	e := inferEngine(model)
	if s.checkEngine(e) == nil || len(s.cfg.Engines) == 0 {
		return e
	}
	return s.cfg.Engines[0]
}

func inferEngine(model string) string {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "/"):
		return hangar.EngineOpenCode
	case strings.HasPrefix(m, "gpt-"), strings.HasPrefix(m, "o1"), strings.HasPrefix(m, "o3"),
		strings.HasPrefix(m, "o4"), strings.HasPrefix(m, "codex-"):
		return hangar.EngineCodex
	case strings.HasPrefix(m, "gemini-"):
		return hangar.EngineGemini
	}
	return hangar.EngineClaude
}

func (s *Server) checkEngine(e string) error {
	for _, x := range s.cfg.Engines {
		if x == e {
			return nil
		}
	}
	return invalidf("engine: must be one of %s (got %q)", quoteList(s.cfg.Engines), e)
}

func (s *Server) agentEngine(explicit *string, model string) (string, error) {
	if explicit == nil {
		return s.defaultEngine(model), nil
	}
	if err := s.checkEngine(*explicit); err != nil {
		return "", err
	}
	return *explicit, nil
}

// checkEngineFeatures refuses an agent whose tools need a feature its engine lacks
// (Config.EngineFeatures): a custom tool, or an always_ask permission policy. Engines missing
// from Config.EngineFeatures are not checked.
func (s *Server) checkEngineFeatures(a *hangar.Agent) error {
	f, ok := s.cfg.EngineFeatures[a.Engine]
	if ok && !f.CustomTools && isCoordinatorSession(&hangar.Session{Agent: *a}) {
		// The coordinator delegates through custom tools (docs/threads.md).
		return invalidf("multiagent: engine %q cannot run a coordinator (delegation needs custom tools); %s", a.Engine,
			s.enginesWith(func(f EngineFeatures) bool { return f.CustomTools }))
	}
	if !ok || (f.CustomTools && f.ToolConfirmation) || isNull(a.Tools) {
		return nil
	}
	type toolConfig struct {
		PermissionPolicy policyOut `json:"permission_policy"`
	}
	var tools []struct {
		Type          string       `json:"type"`
		DefaultConfig *toolConfig  `json:"default_config"`
		Configs       []toolConfig `json:"configs"`
	}
	if err := json.Unmarshal(a.Tools, &tools); err != nil {
		return err
	}
	for i, t := range tools {
		path := "tools[" + strconv.Itoa(i) + "]"
		if t.Type == "custom" {
			if !f.CustomTools {
				return invalidf("%s: engine %q does not support custom tools; %s", path, a.Engine,
					s.enginesWith(func(f EngineFeatures) bool { return f.CustomTools }))
			}
			continue
		}
		if f.ToolConfirmation {
			continue
		}
		field := ""
		if t.DefaultConfig != nil && t.DefaultConfig.PermissionPolicy.Type == "always_ask" {
			field = path + ".default_config.permission_policy"
		}
		for j, c := range t.Configs {
			if field == "" && c.PermissionPolicy.Type == "always_ask" {
				field = path + ".configs[" + strconv.Itoa(j) + "].permission_policy"
			}
		}
		if field != "" {
			return invalidf("%s: engine %q does not support always_ask permission policies (tool confirmation); %s", field, a.Engine,
				s.enginesWith(func(f EngineFeatures) bool { return f.ToolConfirmation }))
		}
	}
	return nil
}

// enginesWith lists the enabled engines whose features satisfy has, for error messages.
func (s *Server) enginesWith(has func(EngineFeatures) bool) string {
	var names []string
	for name, f := range s.cfg.EngineFeatures {
		if has(f) && s.checkEngine(name) == nil {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "no enabled engine does"
	}
	slices.Sort(names)
	return "engines that do: " + strings.Join(names, ", ")
}

// --- model

var effortLevels = []string{"low", "medium", "high", "xhigh", "max"}

type modelParam struct {
	ID           *string         `json:"id"`
	Speed        *string         `json:"speed"`
	Effort       json.RawMessage `json:"effort"`
	InferenceGeo *string         `json:"inference_geo"`
}

// resolveModel resolves a model string or object to the object form. On update, prev is the
// current model: an omitted effort keeps prev's (the SDK documents that), everything else is
// replaced.
func resolveModel(field string, raw json.RawMessage, prev *hangar.Model) (hangar.Model, error) {
	var m hangar.Model
	switch jsonType(raw) {
	case "string":
		var id string
		_ = json.Unmarshal(raw, &id)
		if err := checkLen(field, id, 1, maxNameChars); err != nil {
			return m, err
		}
		m = hangar.Model{ID: id, Speed: "standard"}
		if prev != nil {
			m.Effort = prev.Effort
		}
		return m, nil
	case "object":
	default:
		return m, invalidf("%s: expected a model id string or a model config object, got %s", field, jsonType(raw))
	}
	var p modelParam
	if err := decodeAt(field, raw, &p); err != nil {
		return m, err
	}
	if err := requireString(field+".id", p.ID, 1, maxNameChars); err != nil {
		return m, err
	}
	m = hangar.Model{ID: *p.ID, Speed: "standard"}
	if p.Speed != nil {
		if err := checkOneOf(field+".speed", *p.Speed, "standard", "fast"); err != nil {
			return m, err
		}
		m.Speed = *p.Speed
	}
	switch {
	case !present(p.Effort):
		if prev != nil {
			m.Effort = prev.Effort
		}
	case isNull(p.Effort):
	default:
		level := ""
		switch jsonType(p.Effort) {
		case "string":
			_ = json.Unmarshal(p.Effort, &level)
		case "object":
			var e struct {
				Type string `json:"type"`
			}
			if err := decodeAt(field+".effort", p.Effort, &e); err != nil {
				return m, err
			}
			level = e.Type
		default:
			return m, invalidf("%s.effort: expected a level string or object, got %s", field, jsonType(p.Effort))
		}
		if err := checkOneOf(field+".effort", level, effortLevels...); err != nil {
			return m, err
		}
		m.Effort = mustJSON(map[string]string{"type": level})
	}
	if p.InferenceGeo != nil {
		if err := checkLen(field+".inference_geo", *p.InferenceGeo, 1, 64); err != nil {
			return m, err
		}
		m.InferenceGeo = *p.InferenceGeo
	}
	return m, nil
}

// --- tools

// Built-in tool names of agent_toolset_20260401.
var agentToolNames = []string{"bash", "edit", "read", "write", "glob", "grep", "web_fetch", "web_search"}

var permissionPolicyTypes = []string{"always_allow", "always_ask", "auto"}

type policyOut struct {
	Type string `json:"type"`
}

type toolDefaultOut struct {
	Enabled          bool      `json:"enabled"`
	PermissionPolicy policyOut `json:"permission_policy"`
}

type toolDefaultParam struct {
	Enabled          *bool           `json:"enabled"`
	PermissionPolicy json.RawMessage `json:"permission_policy"`
}

type agentToolsetParam struct {
	Type          string            `json:"type"`
	DefaultConfig json.RawMessage   `json:"default_config"`
	Configs       []json.RawMessage `json:"configs"`
}

type agentToolsetOut struct {
	Type          string               `json:"type"`
	DefaultConfig toolDefaultOut       `json:"default_config"`
	Configs       []agentToolConfigOut `json:"configs"`
}

type agentToolConfigParam struct {
	Name             *string         `json:"name"`
	Type             *string         `json:"type"`
	Enabled          *bool           `json:"enabled"`
	PermissionPolicy json.RawMessage `json:"permission_policy"`
	AllowedDomains   []string        `json:"allowed_domains"`
	BlockedDomains   []string        `json:"blocked_domains"`
	MaxContentTokens *int64          `json:"max_content_tokens"`
	URLSources       json.RawMessage `json:"url_sources"`
	UserLocation     json.RawMessage `json:"user_location"`
}

type agentToolConfigOut struct {
	Name             string          `json:"name"`
	Type             string          `json:"type"`
	Enabled          bool            `json:"enabled"`
	PermissionPolicy policyOut       `json:"permission_policy"`
	AllowedDomains   []string        `json:"allowed_domains,omitempty"`
	BlockedDomains   []string        `json:"blocked_domains,omitempty"`
	MaxContentTokens *int64          `json:"max_content_tokens,omitempty"`
	URLSources       json.RawMessage `json:"url_sources,omitempty"`
	UserLocation     json.RawMessage `json:"user_location,omitempty"`
}

type mcpToolsetParam struct {
	Type          string            `json:"type"`
	MCPServerName *string           `json:"mcp_server_name"`
	DefaultConfig json.RawMessage   `json:"default_config"`
	Configs       []json.RawMessage `json:"configs"`
}

type mcpToolsetOut struct {
	Type          string             `json:"type"`
	MCPServerName string             `json:"mcp_server_name"`
	DefaultConfig toolDefaultOut     `json:"default_config"`
	Configs       []mcpToolConfigOut `json:"configs"`
}

type mcpToolConfigParam struct {
	Name             *string         `json:"name"`
	Enabled          *bool           `json:"enabled"`
	PermissionPolicy json.RawMessage `json:"permission_policy"`
}

type mcpToolConfigOut struct {
	Name             string    `json:"name"`
	Enabled          bool      `json:"enabled"`
	PermissionPolicy policyOut `json:"permission_policy"`
}

type customToolParam struct {
	Type        string          `json:"type"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type customToolOut struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// resolveTools validates the tools list and returns its resolved wire form: every toolset
// gets its default_config and configs filled in.
func resolveTools(items []json.RawMessage) (json.RawMessage, error) {
	if len(items) > maxAgentTools {
		return nil, invalidf("tools: at most %d tools are allowed (got %d)", maxAgentTools, len(items))
	}
	out := make([]any, 0, len(items))
	seenToolset := false
	servers := map[string]bool{}
	customs := map[string]bool{}
	for i, raw := range items {
		path := "tools[" + strconv.Itoa(i) + "]"
		typ, err := objectType(path, raw)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "agent_toolset_20260401":
			if seenToolset {
				return nil, invalidf("%s: only one agent_toolset_20260401 entry is allowed", path)
			}
			seenToolset = true
			t, err := resolveAgentToolset(path, raw)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		case "mcp_toolset":
			t, err := resolveMCPToolset(path, raw)
			if err != nil {
				return nil, err
			}
			if servers[t.MCPServerName] {
				return nil, invalidf("%s.mcp_server_name: duplicate mcp_toolset for server %q", path, t.MCPServerName)
			}
			servers[t.MCPServerName] = true
			out = append(out, t)
		case "custom":
			t, err := resolveCustomTool(path, raw)
			if err != nil {
				return nil, err
			}
			if customs[t.Name] {
				return nil, invalidf("%s.name: duplicate tool name %q", path, t.Name)
			}
			customs[t.Name] = true
			out = append(out, t)
		case "":
			return nil, invalidf("%s.type: field required", path)
		default:
			return nil, invalidf("%s.type: must be one of \"agent_toolset_20260401\", \"mcp_toolset\", \"custom\" (got %q)", path, typ)
		}
	}
	return mustJSON(out), nil
}

// resolvePolicy resolves an optional permission_policy object; null gives def.
func resolvePolicy(path string, raw json.RawMessage, def string) (policyOut, error) {
	if isNull(raw) {
		return policyOut{Type: def}, nil
	}
	if jsonType(raw) != "object" {
		return policyOut{}, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	var p struct {
		Type *string `json:"type"`
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return policyOut{}, err
	}
	if p.Type == nil {
		return policyOut{}, invalidf("%s.type: field required", path)
	}
	if err := checkOneOf(path+".type", *p.Type, permissionPolicyTypes...); err != nil {
		return policyOut{}, err
	}
	return policyOut{Type: *p.Type}, nil
}

// resolveDefaultConfig resolves a toolset's default_config: enabled true and always_allow
// unless given.
func resolveDefaultConfig(path string, raw json.RawMessage) (toolDefaultOut, error) {
	out := toolDefaultOut{Enabled: true, PermissionPolicy: policyOut{Type: "always_allow"}}
	if isNull(raw) {
		return out, nil
	}
	var p toolDefaultParam
	if err := decodeAt(path, raw, &p); err != nil {
		return out, err
	}
	if p.Enabled != nil {
		out.Enabled = *p.Enabled
	}
	pol, err := resolvePolicy(path+".permission_policy", p.PermissionPolicy, out.PermissionPolicy.Type)
	if err != nil {
		return out, err
	}
	out.PermissionPolicy = pol
	return out, nil
}

func resolveAgentToolset(path string, raw json.RawMessage) (agentToolsetOut, error) {
	var p agentToolsetParam
	if err := decodeAt(path, raw, &p); err != nil {
		return agentToolsetOut{}, err
	}
	def, err := resolveDefaultConfig(path+".default_config", p.DefaultConfig)
	if err != nil {
		return agentToolsetOut{}, err
	}
	out := agentToolsetOut{Type: p.Type, DefaultConfig: def, Configs: []agentToolConfigOut{}}
	seen := map[string]bool{}
	for i, c := range p.Configs {
		cp := path + ".configs[" + strconv.Itoa(i) + "]"
		cfg, err := resolveAgentToolConfig(cp, c, def)
		if err != nil {
			return agentToolsetOut{}, err
		}
		if seen[cfg.Name] {
			return agentToolsetOut{}, invalidf("%s.name: duplicate config for tool %q", cp, cfg.Name)
		}
		seen[cfg.Name] = true
		out.Configs = append(out.Configs, cfg)
	}
	return out, nil
}

func resolveAgentToolConfig(path string, raw json.RawMessage, def toolDefaultOut) (agentToolConfigOut, error) {
	var p agentToolConfigParam
	if jsonType(raw) != "object" {
		return agentToolConfigOut{}, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return agentToolConfigOut{}, err
	}
	if p.Name == nil {
		return agentToolConfigOut{}, invalidf("%s.name: field required", path)
	}
	name := *p.Name
	if err := checkOneOf(path+".name", name, agentToolNames...); err != nil {
		return agentToolConfigOut{}, err
	}
	if p.Type != nil && *p.Type != name {
		return agentToolConfigOut{}, invalidf("%s.type: must equal name %q (got %q)", path, name, *p.Type)
	}
	out := agentToolConfigOut{Name: name, Type: name, Enabled: def.Enabled, PermissionPolicy: def.PermissionPolicy}
	if p.Enabled != nil {
		out.Enabled = *p.Enabled
	}
	pol, err := resolvePolicy(path+".permission_policy", p.PermissionPolicy, def.PermissionPolicy.Type)
	if err != nil {
		return out, err
	}
	out.PermissionPolicy = pol
	web := name == "web_fetch" || name == "web_search"
	for _, f := range []struct {
		field string
		set   bool
		ok    bool
	}{
		{"allowed_domains", p.AllowedDomains != nil, web},
		{"blocked_domains", p.BlockedDomains != nil, web},
		{"max_content_tokens", p.MaxContentTokens != nil, name == "web_fetch"},
		{"url_sources", !isNull(p.URLSources), name == "web_fetch"},
		{"user_location", !isNull(p.UserLocation), name == "web_search"},
	} {
		if f.set && !f.ok {
			return out, invalidf("%s.%s: not supported for tool %q", path, f.field, name)
		}
	}
	for field, list := range map[string][]string{"allowed_domains": p.AllowedDomains, "blocked_domains": p.BlockedDomains} {
		if len(list) > 64 {
			return out, invalidf("%s.%s: at most 64 domains are allowed", path, field)
		}
		for j, d := range list {
			if err := checkHost(path+"."+field+"["+strconv.Itoa(j)+"]", d); err != nil {
				return out, err
			}
		}
	}
	out.AllowedDomains, out.BlockedDomains = p.AllowedDomains, p.BlockedDomains
	if p.MaxContentTokens != nil {
		if *p.MaxContentTokens < 1 {
			return out, invalidf("%s.max_content_tokens: must be at least 1", path)
		}
		out.MaxContentTokens = p.MaxContentTokens
	}
	if !isNull(p.URLSources) {
		if out.URLSources, err = resolveURLSources(path+".url_sources", p.URLSources); err != nil {
			return out, err
		}
	}
	if !isNull(p.UserLocation) {
		if out.UserLocation, err = resolveUserLocation(path+".user_location", p.UserLocation); err != nil {
			return out, err
		}
	}
	return out, nil
}

// resolveURLSources validates web_fetch url_sources and expands the "all"/"none" shorthands
// to their object form.
func resolveURLSources(path string, raw json.RawMessage) (json.RawMessage, error) {
	var p struct {
		UserInput         json.RawMessage `json:"user_input"`
		ClientToolResults json.RawMessage `json:"client_tool_results"`
		ServerToolResults json.RawMessage `json:"server_tool_results"`
	}
	if jsonType(raw) != "object" {
		return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		bare bool // user_input takes only all/none
	}{
		{"user_input", p.UserInput, true},
		{"client_tool_results", p.ClientToolResults, false},
		{"server_tool_results", p.ServerToolResults, false},
	} {
		if isNull(f.raw) {
			continue
		}
		fp := path + "." + f.name
		allowed := []string{"all", "none", "only", "except"}
		if f.bare {
			allowed = allowed[:2]
		}
		if jsonType(f.raw) == "string" {
			var v string
			_ = json.Unmarshal(f.raw, &v)
			if err := checkOneOf(fp, v, "all", "none"); err != nil {
				return nil, err
			}
			out[f.name] = map[string]string{"type": v}
			continue
		}
		var filter struct {
			Type  string `json:"type"`
			Tools []struct {
				Type string `json:"type"`
				Name string `json:"name"`
			} `json:"tools"`
		}
		if jsonType(f.raw) != "object" {
			return nil, invalidf("%s: expected string or object, got %s", fp, jsonType(f.raw))
		}
		if err := decodeAt(fp, f.raw, &filter); err != nil {
			return nil, err
		}
		if err := checkOneOf(fp+".type", filter.Type, allowed...); err != nil {
			return nil, err
		}
		if filter.Type == "only" || filter.Type == "except" {
			if len(filter.Tools) == 0 {
				return nil, invalidf("%s.tools: at least one tool reference is required", fp)
			}
			for j, t := range filter.Tools {
				if t.Type != "" && t.Type != "tool_reference" {
					return nil, invalidf("%s.tools[%d].type: must be \"tool_reference\"", fp, j)
				}
				if err := checkLen(fp+".tools["+strconv.Itoa(j)+"].name", t.Name, 1, 128); err != nil {
					return nil, err
				}
				filter.Tools[j].Type = "tool_reference"
			}
			out[f.name] = filter
		} else {
			out[f.name] = map[string]string{"type": filter.Type}
		}
	}
	return mustJSON(out), nil
}

func resolveUserLocation(path string, raw json.RawMessage) (json.RawMessage, error) {
	var p struct {
		Type     *string `json:"type"`
		City     *string `json:"city"`
		Country  *string `json:"country"`
		Region   *string `json:"region"`
		Timezone *string `json:"timezone"`
	}
	if jsonType(raw) != "object" {
		return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	if p.Type != nil {
		if err := checkOneOf(path+".type", *p.Type, "approximate"); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"city", p.City}, {"country", p.Country}, {"region", p.Region}, {"timezone", p.Timezone}} {
		if err := checkOptLen(path+"."+f.name, f.v, 1, 255); err != nil {
			return nil, err
		}
	}
	return mustJSON(map[string]any{"type": "approximate", "city": p.City, "country": p.Country, "region": p.Region, "timezone": p.Timezone}), nil
}

// checkHost checks a host name or domain pattern (no scheme, path or spaces).
func checkHost(field, h string) error {
	if err := checkLen(field, h, 1, 253); err != nil {
		return err
	}
	if strings.ContainsAny(h, " \t\r\n/\\@") || strings.Contains(h, "://") {
		return invalidf("%s: must be a host name such as \"example.com\" (got %q)", field, h)
	}
	return nil
}

func resolveMCPToolset(path string, raw json.RawMessage) (mcpToolsetOut, error) {
	var p mcpToolsetParam
	if err := decodeAt(path, raw, &p); err != nil {
		return mcpToolsetOut{}, err
	}
	if err := requireString(path+".mcp_server_name", p.MCPServerName, 1, 255); err != nil {
		return mcpToolsetOut{}, err
	}
	def, err := resolveDefaultConfig(path+".default_config", p.DefaultConfig)
	if err != nil {
		return mcpToolsetOut{}, err
	}
	out := mcpToolsetOut{Type: p.Type, MCPServerName: *p.MCPServerName, DefaultConfig: def, Configs: []mcpToolConfigOut{}}
	seen := map[string]bool{}
	for i, c := range p.Configs {
		cp := path + ".configs[" + strconv.Itoa(i) + "]"
		var cfg mcpToolConfigParam
		if jsonType(c) != "object" {
			return out, invalidf("%s: expected object, got %s", cp, jsonType(c))
		}
		if err := decodeAt(cp, c, &cfg); err != nil {
			return out, err
		}
		if err := requireString(cp+".name", cfg.Name, 1, 128); err != nil {
			return out, err
		}
		if seen[*cfg.Name] {
			return out, invalidf("%s.name: duplicate config for tool %q", cp, *cfg.Name)
		}
		seen[*cfg.Name] = true
		o := mcpToolConfigOut{Name: *cfg.Name, Enabled: def.Enabled}
		if cfg.Enabled != nil {
			o.Enabled = *cfg.Enabled
		}
		if o.PermissionPolicy, err = resolvePolicy(cp+".permission_policy", cfg.PermissionPolicy, def.PermissionPolicy.Type); err != nil {
			return out, err
		}
		out.Configs = append(out.Configs, o)
	}
	return out, nil
}

func resolveCustomTool(path string, raw json.RawMessage) (customToolOut, error) {
	var p customToolParam
	if err := decodeAt(path, raw, &p); err != nil {
		return customToolOut{}, err
	}
	if err := requireString(path+".name", p.Name, 1, 128); err != nil {
		return customToolOut{}, err
	}
	if !validToolName(*p.Name) {
		return customToolOut{}, invalidf("%s.name: may contain only letters, digits, '_' and '-' (got %q)", path, *p.Name)
	}
	if err := requireString(path+".description", p.Description, 1, 1024); err != nil {
		return customToolOut{}, err
	}
	schema, err := checkInputSchema(path+".input_schema", p.InputSchema)
	if err != nil {
		return customToolOut{}, err
	}
	return customToolOut{Type: "custom", Name: *p.Name, Description: *p.Description, InputSchema: schema}, nil
}

func validToolName(n string) bool {
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkInputSchema checks a custom tool's JSON Schema: an object schema whose properties, if
// any, are an object and whose required, if any, is a list of strings.
func checkInputSchema(path string, raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, invalidf("%s: field required", path)
	}
	if jsonType(raw) != "object" {
		return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
	}
	var schema map[string]json.RawMessage
	if err := json.Unmarshal(raw, &schema); err != nil {
		return nil, invalidf("%s: invalid object", path)
	}
	var typ string
	if err := json.Unmarshal(schema["type"], &typ); err != nil || typ != "object" {
		return nil, invalidf("%s.type: must be \"object\"", path)
	}
	if p, ok := schema["properties"]; ok && !isNull(p) && jsonType(p) != "object" {
		return nil, invalidf("%s.properties: expected object, got %s", path, jsonType(p))
	}
	if req, ok := schema["required"]; ok && !isNull(req) {
		var names []string
		if err := json.Unmarshal(req, &names); err != nil {
			return nil, invalidf("%s.required: expected an array of strings", path)
		}
	}
	return mustJSON(schema), nil
}

// --- MCP servers and skills

type mcpServerParam struct {
	Type *string `json:"type"`
	Name *string `json:"name"`
	URL  *string `json:"url"`
}

type mcpServerOut struct {
	Type string `json:"type"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

func resolveMCPServers(items []json.RawMessage) (json.RawMessage, error) {
	if len(items) > maxAgentMCPServers {
		return nil, invalidf("mcp_servers: at most %d servers are allowed (got %d)", maxAgentMCPServers, len(items))
	}
	out := make([]mcpServerOut, 0, len(items))
	seen := map[string]bool{}
	for i, raw := range items {
		path := "mcp_servers[" + strconv.Itoa(i) + "]"
		var p mcpServerParam
		if jsonType(raw) != "object" {
			return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return nil, err
		}
		if p.Type != nil {
			if err := checkOneOf(path+".type", *p.Type, "url"); err != nil {
				return nil, err
			}
		}
		if err := requireString(path+".name", p.Name, 1, 255); err != nil {
			return nil, err
		}
		if p.URL == nil {
			return nil, invalidf("%s.url: field required", path)
		}
		if err := checkURL(path+".url", *p.URL); err != nil {
			return nil, err
		}
		if seen[*p.Name] {
			return nil, invalidf("%s.name: duplicate server name %q", path, *p.Name)
		}
		seen[*p.Name] = true
		out = append(out, mcpServerOut{Type: "url", Name: *p.Name, URL: *p.URL})
	}
	return mustJSON(out), nil
}

// checkMCPReferences checks that every MCP server is used by an mcp_toolset and every
// mcp_toolset names a declared server.
func checkMCPReferences(a *hangar.Agent) error {
	var tools []struct {
		Type          string `json:"type"`
		MCPServerName string `json:"mcp_server_name"`
	}
	var servers []struct {
		Name string `json:"name"`
	}
	if !isNull(a.Tools) {
		if err := json.Unmarshal(a.Tools, &tools); err != nil {
			return err
		}
	}
	if !isNull(a.MCPServers) {
		if err := json.Unmarshal(a.MCPServers, &servers); err != nil {
			return err
		}
	}
	declared := map[string]bool{}
	for _, sv := range servers {
		declared[sv.Name] = true
	}
	used := map[string]bool{}
	for i, t := range tools {
		if t.Type != "mcp_toolset" {
			continue
		}
		if !declared[t.MCPServerName] {
			return invalidf("tools[%d].mcp_server_name: no entry of mcp_servers is named %q", i, t.MCPServerName)
		}
		used[t.MCPServerName] = true
	}
	for i, sv := range servers {
		if !used[sv.Name] {
			return invalidf("mcp_servers[%d]: server %q is not referenced by any mcp_toolset in tools", i, sv.Name)
		}
	}
	return nil
}

type skillParam struct {
	Type    *string `json:"type"`
	SkillID *string `json:"skill_id"`
	Version *string `json:"version"`
}

type skillOut struct {
	Type    string `json:"type"`
	SkillID string `json:"skill_id"`
	Version string `json:"version"`
}

func resolveSkills(items []json.RawMessage) (json.RawMessage, error) {
	if len(items) > maxAgentSkills {
		return nil, invalidf("skills: at most %d skills are allowed (got %d)", maxAgentSkills, len(items))
	}
	out := make([]skillOut, 0, len(items))
	seen := map[string]bool{}
	for i, raw := range items {
		path := "skills[" + strconv.Itoa(i) + "]"
		var p skillParam
		if jsonType(raw) != "object" {
			return nil, invalidf("%s: expected object, got %s", path, jsonType(raw))
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return nil, err
		}
		if p.Type == nil {
			return nil, invalidf("%s.type: field required", path)
		}
		if err := checkOneOf(path+".type", *p.Type, "anthropic", "custom"); err != nil {
			return nil, err
		}
		if err := requireString(path+".skill_id", p.SkillID, 1, 64); err != nil {
			return nil, err
		}
		if err := checkOptLen(path+".version", p.Version, 1, 64); err != nil {
			return nil, err
		}
		key := *p.Type + "/" + *p.SkillID
		if seen[key] {
			return nil, invalidf("%s.skill_id: duplicate skill %q", path, *p.SkillID)
		}
		seen[key] = true
		o := skillOut{Type: *p.Type, SkillID: *p.SkillID, Version: "latest"}
		if p.Version != nil {
			o.Version = *p.Version
		}
		out = append(out, o)
	}
	return mustJSON(out), nil
}

// --- execution identity and multiagent

var defaultExecutionIdentity = json.RawMessage(`{"type":"service_account"}`)

func resolveExecutionIdentity(raw json.RawMessage) (json.RawMessage, error) {
	const path = "execution_identity"
	if isNull(raw) {
		return defaultExecutionIdentity, nil
	}
	typ, err := objectType(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "service_account":
		var p struct {
			Type string `json:"type"`
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return nil, err
		}
		return defaultExecutionIdentity, nil
	case "aws_role":
		var p struct {
			Type    string  `json:"type"`
			RoleARN *string `json:"role_arn"`
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return nil, err
		}
		if err := requireString(path+".role_arn", p.RoleARN, 1, 2048); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(*p.RoleARN, "arn:") {
			return nil, invalidf("%s.role_arn: must be an ARN (arn:...)", path)
		}
		return mustJSON(map[string]string{"type": "aws_role", "role_arn": *p.RoleARN}), nil
	case "":
		return nil, invalidf("%s.type: field required", path)
	}
	return nil, invalidf("%s.type: must be one of \"service_account\", \"aws_role\" (got %q)", path, typ)
}

type agentRef struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// resolveMultiagent validates a multiagent configuration. A coordinator roster is resolved:
// agent ids become {type:"agent", id, version} pinned to the latest version; the agents must
// exist, not be archived and not be coordinators themselves. selfID is the agent being
// written. The newer multiagent_20261001 form is checked for shape only and kept as sent.
func (s *Server) resolveMultiagent(ctx context.Context, selfID string, raw json.RawMessage) (json.RawMessage, error) {
	const path = "multiagent"
	if isNull(raw) {
		return nil, nil
	}
	typ, err := objectType(path, raw)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "coordinator":
	case "multiagent_20261001":
		var p struct {
			Type      string          `json:"type"`
			Advisor   json.RawMessage `json:"advisor"`
			Subagents json.RawMessage `json:"subagents"`
			Workflows json.RawMessage `json:"workflows"`
		}
		if err := decodeAt(path, raw, &p); err != nil {
			return nil, err
		}
		for name, v := range map[string]json.RawMessage{"advisor": p.Advisor, "subagents": p.Subagents, "workflows": p.Workflows} {
			if isNull(v) {
				continue
			}
			t, err := objectType(path+"."+name, v)
			if err != nil {
				return nil, err
			}
			if err := checkOneOf(path+"."+name+".type", t, "enabled", "disabled"); err != nil {
				return nil, err
			}
		}
		var compact map[string]json.RawMessage
		_ = json.Unmarshal(raw, &compact)
		return mustJSON(compact), nil
	case "":
		return nil, invalidf("%s.type: field required", path)
	default:
		return nil, invalidf("%s.type: must be one of \"coordinator\", \"multiagent_20261001\" (got %q)", path, typ)
	}
	var p struct {
		Type   string            `json:"type"`
		Agents []json.RawMessage `json:"agents"`
	}
	if err := decodeAt(path, raw, &p); err != nil {
		return nil, err
	}
	if len(p.Agents) < 1 || len(p.Agents) > maxRosterEntries {
		return nil, invalidf("%s.agents: must list between 1 and %d agents (got %d)", path, maxRosterEntries, len(p.Agents))
	}
	roster := make([]any, 0, len(p.Agents))
	seen := map[string]bool{}
	for i, entry := range p.Agents {
		ep := path + ".agents[" + strconv.Itoa(i) + "]"
		var ref struct {
			Type    string `json:"type"`
			ID      string `json:"id"`
			Version *int   `json:"version"`
			Model   string `json:"model"`
		}
		switch jsonType(entry) {
		case "string":
			_ = json.Unmarshal(entry, &ref.ID)
			ref.Type = "agent"
		case "object":
			if err := decodeAt(ep, entry, &ref); err != nil {
				return nil, err
			}
		default:
			return nil, invalidf("%s: expected an agent id or object, got %s", ep, jsonType(entry))
		}
		switch ref.Type {
		case "self":
			if seen[selfID] {
				return nil, invalidf("%s: the roster may reference each agent (and self) only once", ep)
			}
			seen[selfID] = true
			roster = append(roster, map[string]string{"type": "self"})
		case "advisor":
			if err := checkLen(ep+".model", ref.Model, 1, maxNameChars); err != nil {
				return nil, err
			}
			roster = append(roster, map[string]string{"type": "advisor", "model": ref.Model})
		case "agent":
			if err := checkLen(ep+".id", ref.ID, 1, maxIDParamChars); err != nil {
				return nil, err
			}
			if seen[ref.ID] {
				return nil, invalidf("%s: the roster may reference each agent (and self) only once", ep)
			}
			seen[ref.ID] = true
			version := 0
			if ref.Version != nil {
				if *ref.Version < 1 {
					return nil, invalidf("%s.version: must be at least 1", ep)
				}
				version = *ref.Version
			}
			sub, err := s.store.GetAgent(ctx, ref.ID, version)
			if hangar.IsKind(err, hangar.KindNotFound) {
				return nil, invalidf("%s: agent %s not found", ep, ref.ID)
			}
			if err != nil {
				return nil, err
			}
			if sub.ArchivedAt != nil {
				return nil, invalidf("%s: agent %s is archived", ep, ref.ID)
			}
			if !isNull(sub.Multiagent) {
				return nil, invalidf("%s: agent %s has a multiagent configuration itself; rosters are one level deep", ep, ref.ID)
			}
			roster = append(roster, agentRef{Type: "agent", ID: sub.ID, Version: sub.Version})
		default:
			return nil, invalidf("%s.type: must be one of \"agent\", \"self\", \"advisor\" (got %q)", ep, ref.Type)
		}
	}
	return mustJSON(map[string]any{"type": "coordinator", "agents": roster}), nil
}
