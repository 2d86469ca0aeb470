package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// Sessions (§3.3): a conversation with a pinned agent version in an environment. The
// session's agent is a snapshot taken at creation; later agent updates do not move it.

// Session limits of the Managed Agents API.
const (
	maxSessionTitle      = 500
	maxFileResources     = 999
	maxSessionVaults     = 20
	maxMountPathChars    = 1024
	defaultUploadsPrefix = "/mnt/session/uploads/"
)

type createSessionRequest struct {
	Agent         json.RawMessage   `json:"agent"`
	EnvironmentID *string           `json:"environment_id"`
	Title         *string           `json:"title"`
	Metadata      map[string]string `json:"metadata"`
	Resources     []json.RawMessage `json:"resources"`
	VaultIDs      []string          `json:"vault_ids"`
	InitialEvents []json.RawMessage `json:"initial_events"`
	Budget        json.RawMessage   `json:"budget"`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req createSessionRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	sess, initial, err := s.newSession(ctx, &req)
	if err != nil {
		return err
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return err
	}
	if err := s.enqueueSessionWork(ctx, sess); err != nil { // work_queue.go
		return err
	}
	if len(initial) > 0 {
		if _, err := s.runner().Send(ctx, sess.ID, s.storedEvents(initial), ""); err != nil {
			return err
		}
		if sess, err = s.store.GetSession(ctx, sess.ID); err != nil {
			return err
		}
	}
	encode(w, http.StatusOK, sessionOut(sess))
	return nil
}

// newSession validates a create request and builds the session, with its agent snapshot and
// resolved resources, plus the validated initial events (sent after the session is stored).
func (s *Server) newSession(ctx context.Context, req *createSessionRequest) (*hangar.Session, []clientEvent, error) {
	budget, err := parseBudget("budget", req.Budget)
	if err != nil {
		return nil, nil, err
	}
	if err := requireString("environment_id", req.EnvironmentID, 1, maxIDParamChars); err != nil {
		return nil, nil, err
	}
	if err := checkOptLen("title", req.Title, 0, maxSessionTitle); err != nil {
		return nil, nil, err
	}
	if err := validateMetadata("metadata", req.Metadata); err != nil {
		return nil, nil, err
	}
	var initial []clientEvent
	if req.InitialEvents != nil {
		evs, err := validateEvents("initial_events", req.InitialEvents, initialEvents)
		if err != nil {
			return nil, nil, err
		}
		if err := s.resolveRubrics(ctx, "initial_events", evs); err != nil { // outcome.go
			return nil, nil, err
		}
		initial = evs
	}
	agent, err := s.sessionAgent(ctx, req.Agent)
	if err != nil {
		return nil, nil, err
	}
	env, err := s.store.GetEnvironment(ctx, *req.EnvironmentID)
	if err != nil {
		return nil, nil, err
	}
	if env.ArchivedAt != nil {
		return nil, nil, invalidf("environment_id: environment %s is archived and cannot start new sessions", env.ID)
	}
	if err := rejectSelfHostedResources(env, req.Resources); err != nil { // work_resources.go
		return nil, nil, err
	}
	vaults, err := s.sessionVaults(ctx, req.VaultIDs)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	resources, err := s.sessionResources(ctx, req.Resources, now)
	if err != nil {
		return nil, nil, err
	}
	sess := &hangar.Session{
		Type:               "session",
		ID:                 s.newID(hangar.PrefixSession),
		Status:             hangar.StatusIdle,
		Agent:              *agent,
		EnvironmentID:      env.ID,
		Title:              req.Title,
		Metadata:           orEmpty(req.Metadata),
		Resources:          resources,
		VaultIDs:           vaults,
		OutcomeEvaluations: json.RawMessage(`[]`),
		Budget:             budget,
		CreatedAt:          now,
		UpdatedAt:          now,
	}
	return sess, initial, nil
}

// sessionAgent resolves the agent param: an agent id (latest version) or
// {type:"agent", id, version?}. The agent must exist and not be archived.
func (s *Server) sessionAgent(ctx context.Context, raw json.RawMessage) (*hangar.Agent, error) {
	var id string
	version := 0
	switch jsonType(raw) {
	case "null":
		return nil, invalidf("agent: field required")
	case "string":
		_ = json.Unmarshal(raw, &id)
	case "object":
		typ, err := objectType("agent", raw)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "agent":
		case "agent_with_overrides":
			return s.agentWithOverrides(ctx, raw) // session_overrides.go
		case "":
			return nil, invalidf("agent.type: field required")
		default:
			return nil, invalidf("agent.type: must be one of \"agent\", \"agent_with_overrides\" (got %q)", typ)
		}
		var p struct {
			Type    string  `json:"type"`
			ID      *string `json:"id"`
			Version *int    `json:"version"`
		}
		if err := decodeAt("agent", raw, &p); err != nil {
			return nil, err
		}
		if p.ID == nil {
			return nil, invalidf("agent.id: field required")
		}
		id = *p.ID
		if p.Version != nil {
			if *p.Version < 1 {
				return nil, invalidf("agent.version: must be at least 1")
			}
			version = *p.Version
		}
	default:
		return nil, invalidf("agent: expected an agent id or object, got %s", jsonType(raw))
	}
	if err := checkLen("agent.id", id, 1, maxIDParamChars); err != nil {
		return nil, err
	}
	a, err := s.store.GetAgent(ctx, id, version)
	if err != nil {
		return nil, err
	}
	if a.ArchivedAt != nil {
		return nil, invalidf("agent: agent %s is archived and cannot start new sessions", a.ID)
	}
	return a, nil
}

// sessionVaults checks that each vault exists and is not archived. The result is never nil.
func (s *Server) sessionVaults(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) > maxSessionVaults {
		return nil, invalidf("vault_ids: at most %d vaults are allowed (got %d)", maxSessionVaults, len(ids))
	}
	out := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for i, id := range ids {
		field := "vault_ids[" + strconv.Itoa(i) + "]"
		if err := checkLen(field, id, 1, maxIDParamChars); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, invalidf("%s: vault %s is listed twice", field, id)
		}
		seen[id] = true
		v, err := s.store.GetVault(ctx, id)
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, invalidf("%s: vault %s not found", field, id)
		}
		if err != nil {
			return nil, err
		}
		if v.ArchivedAt != nil {
			return nil, invalidf("%s: vault %s is archived", field, id)
		}
		out = append(out, id)
	}
	return out, nil
}

// fileResource is a mounted file resource as stored and returned.
type fileResource struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	FileID    string    `json:"file_id"`
	MountPath string    `json:"mount_path"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// sessionResources validates the resources param and resolves it to the stored list: file
// resources and GitHub repositories (session_resources.go, session_repos.go); memory
// stores do not exist yet.
func (s *Server) sessionResources(ctx context.Context, raws []json.RawMessage, now time.Time) (json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(raws))
	files := 0
	mounts := map[string]int{}
	for i, raw := range raws {
		field := "resources[" + strconv.Itoa(i) + "]"
		typ, err := objectType(field, raw)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "file":
		case "github_repository":
			res, err := s.newRepoResource(field, raw, now)
			if err != nil {
				return nil, err
			}
			if j, dup := mounts[res.MountPath]; dup {
				return nil, invalidf("%s.mount_path: %s is already used by resources[%d]", field, res.MountPath, j)
			}
			mounts[res.MountPath] = i
			out = append(out, mustJSON(res))
			continue
		case "memory_store":
			res, err := s.newMemoryStoreResource(ctx, field, raw, mounts) // memory_resource.go
			if err != nil {
				return nil, err
			}
			mounts[res.MountPath] = i
			out = append(out, mustJSON(res))
			continue
		case "":
			return nil, invalidf("%s.type: field required", field)
		default:
			return nil, invalidf("%s.type: must be one of \"file\", \"github_repository\", \"memory_store\" (got %q)", field, typ)
		}
		if files == maxFileResources {
			return nil, invalidf("resources: at most %d file resources are allowed", maxFileResources)
		}
		res, err := s.newFileResource(ctx, field, raw, now)
		if err != nil {
			return nil, err
		}
		if j, dup := mounts[res.MountPath]; dup {
			return nil, invalidf("%s.mount_path: %s is already used by resources[%d]", field, res.MountPath, j)
		}
		mounts[res.MountPath] = i
		out = append(out, mustJSON(res))
		files++
	}
	return mustJSON(out), nil
}

// checkMountPath checks an absolute container path without "." or ".." segments and
// returns it cleaned.
func checkMountPath(field, p string) (string, error) {
	if err := checkLen(field, p, 1, maxMountPathChars); err != nil {
		return "", err
	}
	if !strings.HasPrefix(p, "/") {
		return "", invalidf("%s: must be an absolute path", field)
	}
	if strings.ContainsRune(p, 0) {
		return "", invalidf("%s: must not contain NUL", field)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", invalidf("%s: must not contain . or .. segments", field)
		}
	}
	clean := path.Clean(p)
	if clean == "/" {
		return "", invalidf("%s: cannot mount at /", field)
	}
	return clean, nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	f := hangar.SessionFilter{Page: page, AgentID: q.Get("agent_id"), DeploymentID: q.Get("deployment_id")}
	if f.IncludeArchived, err = parseBool(q, "include_archived"); err != nil {
		return err
	}
	if f.CreatedAt, err = parseTimeRange(q, "created_at"); err != nil {
		return err
	}
	if v := q.Get("agent_version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return invalidf("agent_version: must be an integer of at least 1")
		}
		// The version filter applies only together with agent_id.
		if f.AgentID != "" {
			f.AgentVersion = n
		}
	}
	for _, st := range queryValues(q, "statuses") {
		if err := checkOneOf("statuses", st, hangar.StatusIdle, hangar.StatusRunning, hangar.StatusRescheduling, hangar.StatusTerminated); err != nil {
			return err
		}
		if !contains(f.Statuses, st) {
			f.Statuses = append(f.Statuses, st)
		}
	}
	out := bidiEnvelope[*sessionWire]{Data: []*sessionWire{}}
	// No session has a memory store (not indexed yet), so that filter matches nothing.
	if q.Get("memory_store_id") != "" {
		encode(w, http.StatusOK, out)
		return nil
	}
	sessions, pr, err := s.store.ListSessions(r.Context(), f)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		out.Data = append(out.Data, sessionOut(sess))
	}
	out.NextPage, out.PrevPage = strOrNil(pr.Next), strOrNil(pr.Prev)
	encode(w, http.StatusOK, out)
	return nil
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.store.GetSession(r.Context(), pathID(r, "session_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, sessionOut(sess))
	return nil
}

// updateSession: session_update.go.

// archiveSession makes a session read-only. Archiving twice is a no-op; an active session
// (running or rescheduling) must go idle first.
func (s *Server) archiveSession(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	sess, err := s.store.UpdateSession(r.Context(), pathID(r, "session_id"), func(sess *hangar.Session) error {
		if sess.ArchivedAt != nil {
			return nil
		}
		if sess.Status == hangar.StatusRunning || sess.Status == hangar.StatusRescheduling {
			return conflictf("session %s is %s; interrupt it or wait until it is idle before archiving", sess.ID, sess.Status)
		}
		sess.ArchivedAt = &now
		sess.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.stopSessionWork(r.Context(), sess.ID, false); err != nil { // work_queue.go
		return err
	}
	encode(w, http.StatusOK, sessionOut(sess))
	return nil
}

// deleteSession deletes a session through the runner, which stops its work and ends its
// open streams with session.deleted.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "session_id")
	if err := s.runner().Delete(r.Context(), id); err != nil {
		return err
	}
	if err := s.stopSessionWork(r.Context(), id, true); err != nil { // work_queue.go
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "session_deleted"})
	return nil
}

// runner returns the configured Runner, or one that refuses every call when the server was
// built without one.
func (s *Server) runner() Runner {
	if s.cfg.Runner == nil {
		return noRunner{}
	}
	return s.cfg.Runner
}

type noRunner struct{}

func (noRunner) Send(context.Context, string, []hangar.Event, string) ([]hangar.Event, error) {
	return nil, hangar.Errorf(hangar.KindUnavailable, "no session runner is configured")
}

func (noRunner) Delete(context.Context, string) error {
	return hangar.Errorf(hangar.KindUnavailable, "no session runner is configured")
}

// sessionWire is the wire form of a session.
type sessionWire struct {
	Type               string               `json:"type"`
	ID                 string               `json:"id"`
	Status             string               `json:"status"`
	Agent              sessionAgentWire     `json:"agent"`
	EnvironmentID      string               `json:"environment_id"`
	Title              *string              `json:"title"`
	Metadata           map[string]string    `json:"metadata"`
	Resources          json.RawMessage      `json:"resources"`
	VaultIDs           []string             `json:"vault_ids"`
	OutcomeEvaluations json.RawMessage      `json:"outcome_evaluations"`
	Usage              hangar.UsageSnapshot `json:"usage"`
	Stats              hangar.Stats         `json:"stats"`
	CreatedAt          time.Time            `json:"created_at"`
	UpdatedAt          time.Time            `json:"updated_at"`
	ArchivedAt         *time.Time           `json:"archived_at"`
	Budget             *hangar.Budget       `json:"budget,omitempty"`
	DeploymentID       *string              `json:"deployment_id"`
}

// sessionAgentWire is the agent snapshot of a session (SessionAgent): the agent's
// configuration without its metadata and timestamps, plus Hangar's engine.
type sessionAgentWire struct {
	Type              string          `json:"type"`
	ID                string          `json:"id"`
	Version           int             `json:"version"`
	Name              string          `json:"name"`
	Description       *string         `json:"description"`
	Model             hangar.Model    `json:"model"`
	System            *string         `json:"system"`
	Tools             json.RawMessage `json:"tools"`
	MCPServers        json.RawMessage `json:"mcp_servers"`
	Skills            json.RawMessage `json:"skills"`
	Multiagent        json.RawMessage `json:"multiagent"`
	ExecutionIdentity json.RawMessage `json:"execution_identity"`
	Engine            string          `json:"engine,omitempty"`
}

// sessionOut converts a stored session to its wire form, filling [] and {} for empty lists
// and maps so responses never carry null where the API promises a value.
func sessionOut(sess *hangar.Session) *sessionWire {
	a := agentOut(&sess.Agent)
	multiagent := a.Multiagent
	if isNull(multiagent) {
		multiagent = json.RawMessage(`null`)
	}
	out := &sessionWire{
		Type:          "session",
		ID:            sess.ID,
		Status:        sess.Status,
		EnvironmentID: sess.EnvironmentID,
		Title:         sess.Title,
		Metadata:      orEmpty(sess.Metadata),
		Resources:     publicResources(sess.Resources),
		VaultIDs:      sess.VaultIDs,
		Usage:         sess.UsageSnapshot(0),
		DeploymentID:  strOrNil(sess.DeploymentID),
		Stats:         sess.Stats,
		CreatedAt:     sess.CreatedAt,
		UpdatedAt:     sess.UpdatedAt,
		ArchivedAt:    sess.ArchivedAt,
		Budget:        sess.Budget,
		Agent: sessionAgentWire{
			Type:              "agent",
			ID:                a.ID,
			Version:           a.Version,
			Name:              a.Name,
			Description:       a.Description,
			Model:             a.Model,
			System:            a.System,
			Tools:             a.Tools,
			MCPServers:        a.MCPServers,
			Skills:            a.Skills,
			Multiagent:        multiagent,
			ExecutionIdentity: a.ExecutionIdentity,
			Engine:            a.Engine,
		},
		OutcomeEvaluations: sess.OutcomeEvaluations,
	}
	if out.Status == "" {
		out.Status = hangar.StatusIdle
	}
	if isNull(out.Resources) {
		out.Resources = json.RawMessage(`[]`)
	}
	if out.VaultIDs == nil {
		out.VaultIDs = []string{}
	}
	if isNull(out.OutcomeEvaluations) {
		out.OutcomeEvaluations = json.RawMessage(`[]`)
	}
	return out
}
