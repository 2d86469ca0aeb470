package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"

	"github.com/hangar-dev/hangar"
)

// Session updates (§3.3 UpdateSession) and their session.updated events. An update that
// changes something appends one session.updated event, carrying only the changed fields, in
// the transaction that saves the session: title (null when cleared), metadata (the whole
// bag; absent when it ends up empty), budget (null when removed) and agent (the full
// snapshot, when tools or mcp_servers changed). The new configuration applies from the
// session's next turn.

// SessionUpdater applies a session update together with its events and publishes them
// (internal/runner.Runner). Without one the server appends through the store, and open
// streams on this instance do not see the event live.
type SessionUpdater interface {
	UpdateSession(ctx context.Context, sessionID string, evs []hangar.Event, mutate func(*hangar.Session) error) (*hangar.Session, error)
}

type updateSessionRequest struct {
	Title    json.RawMessage    `json:"title"`
	Metadata map[string]*string `json:"metadata"`
	VaultIDs json.RawMessage    `json:"vault_ids"`
	Agent    json.RawMessage    `json:"agent"`
	Budget   json.RawMessage    `json:"budget"`
}

// sessionUpdate is a validated update.
type sessionUpdate struct {
	req      *updateSessionRequest
	title    *string
	titleSet bool
	budget   *hangar.Budget
	agent    *agentPatch // tools and mcp_servers only; nil when not updated
}

func (s *Server) updateSession(w http.ResponseWriter, r *http.Request) error {
	var req updateSessionRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	u, err := s.parseSessionUpdate(r.Context(), &req)
	if err != nil {
		return err
	}
	ctx, id := r.Context(), pathID(r, "session_id")
	now := s.now()
	ev := hangar.Event{ID: s.newID(hangar.PrefixEvent), Type: hangar.EventSessionUpdated, ProcessedAt: &now}
	evs := []hangar.Event{ev}
	changed := false
	mutate := func(sess *hangar.Session) error {
		body, c, err := s.applySessionUpdate(sess, u)
		if err != nil {
			return err
		}
		sess.UpdatedAt = now
		evs[0].Body, changed = body, c
		return nil
	}
	// Only an update that changes something gets an event: find out on the current state
	// first (the transaction below checks again and carries what changed then).
	cur, err := s.store.GetSession(ctx, id)
	if err != nil {
		return err
	}
	probe := *cur
	if err := mutate(&probe); err != nil {
		return err
	}
	var sess *hangar.Session
	switch up, ok := s.cfg.Runner.(SessionUpdater); {
	case !changed:
		sess, err = s.store.UpdateSession(ctx, id, mutate)
	case ok:
		sess, err = up.UpdateSession(ctx, id, evs, mutate)
	default:
		_, sess, err = s.store.AppendEvents(ctx, hangar.AppendRequest{SessionID: id, Events: evs, Mutate: mutate})
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, sessionOut(sess))
	return nil
}

// parseSessionUpdate validates an update request without the session.
func (s *Server) parseSessionUpdate(ctx context.Context, req *updateSessionRequest) (*sessionUpdate, error) {
	// CMA rejects vault changes on a live session (SDK: "Not yet supported; requests
	// setting this field are rejected"); so does Hangar.
	if present(req.VaultIDs) {
		return nil, invalidf("vault_ids: updating the vaults of a session is not yet supported")
	}
	u := &sessionUpdate{req: req}
	var err error
	if u.budget, err = parseBudget("budget", req.Budget); err != nil {
		return nil, err
	}
	if u.title, u.titleSet, err = nullableString("title", req.Title); err != nil {
		return nil, err
	}
	if err := checkOptLen("title", u.title, 1, maxSessionTitle); err != nil {
		return nil, err
	}
	if err := validateMetadataPatch("metadata", req.Metadata); err != nil {
		return nil, err
	}
	if present(req.Agent) {
		if jsonType(req.Agent) != "object" {
			return nil, invalidf("agent: expected object, got %s", jsonType(req.Agent))
		}
		var p struct {
			Tools      json.RawMessage `json:"tools"`
			MCPServers json.RawMessage `json:"mcp_servers"`
		}
		if err := decodeAt("agent", req.Agent, &p); err != nil {
			return nil, invalidf("%s (only tools and mcp_servers can be updated on a session)", clientMessage(err))
		}
		if u.agent, err = s.agentPatch(ctx, "", &agentUpdateRequest{Tools: p.Tools, MCPServers: p.MCPServers}); err != nil {
			return nil, prefixField("agent.", err)
		}
	}
	return u, nil
}

// applySessionUpdate applies u to sess and returns the body of its session.updated event
// (the changed fields) and whether anything changed. Metadata cleared to empty is a change
// the body does not show (the SDK: metadata is "absent when ... cleared to empty").
func (s *Server) applySessionUpdate(sess *hangar.Session, u *sessionUpdate) (json.RawMessage, bool, error) {
	body, mdCleared, err := s.applySessionChanges(sess, u)
	if err != nil {
		return nil, false, err
	}
	return mustJSON(body), len(body) > 0 || mdCleared, nil
}

func (s *Server) applySessionChanges(sess *hangar.Session, u *sessionUpdate) (changed map[string]any, mdCleared bool, err error) {
	if sess.ArchivedAt != nil {
		return nil, false, conflictf("session %s is archived and cannot be updated", sess.ID)
	}
	changed = map[string]any{}
	md, err := patchMetadata("metadata", sess.Metadata, u.req.Metadata, false)
	if err != nil {
		return nil, false, err
	}
	if !maps.Equal(md, orEmpty(sess.Metadata)) {
		if len(md) > 0 {
			changed["metadata"] = md
		} else {
			mdCleared = true
		}
	}
	sess.Metadata = md
	if u.titleSet && !sameString(u.title, sess.Title) {
		changed["title"] = u.title
		sess.Title = u.title
	}
	if present(u.req.Budget) {
		// CMA: a budget is replaced or removed, never added to a session without one, and
		// a new limit must stay above what the session already spent.
		if sess.Budget == nil && u.budget != nil {
			return nil, false, invalidf("budget: a budget can only be set when the session is created")
		}
		if u.budget.ReachedCost(sess.ListCost()) {
			return nil, false, invalidf("budget.max_list_cost.amount: must be above the session's list cost so far (%.0f cents)", sess.ListCost())
		}
		if !sameBudget(sess.Budget, u.budget) {
			changed["budget"] = u.budget
		}
		sess.Budget = u.budget
	}
	if u.agent != nil {
		if sess.Status == hangar.StatusRunning || sess.Status == hangar.StatusRescheduling {
			return nil, false, conflictf("session %s is %s; its agent can be updated only while it is idle", sess.ID, sess.Status)
		}
		if sess.Status == hangar.StatusTerminated {
			return nil, false, conflictf("session %s is terminated", sess.ID)
		}
		a := sess.Agent
		before := string(mustJSON(sessionOut(sess).Agent))
		if err := s.applyAgentPatch(&a, u.agent); err != nil {
			return nil, false, prefixField("agent.", err)
		}
		a.Metadata = sess.Agent.Metadata
		sess.Agent = a
		if snap := sessionOut(sess).Agent; string(mustJSON(snap)) != before {
			changed["agent"] = snap
		}
	}
	return changed, mdCleared, nil
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameBudget(a, b *hangar.Budget) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// prefixField prefixes the message of a client error with field, so that errors of shared
// validators name the field as the client sent it ("agent.tools[0]...").
func prefixField(field string, err error) error {
	var e *hangar.Error
	if errors.As(err, &e) && e.Kind == hangar.KindInvalidRequest {
		return invalidf("%s%s", field, e.Message)
	}
	return err
}
