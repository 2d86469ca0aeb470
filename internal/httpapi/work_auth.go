package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/hangar-dev/hangar"
)

// Scoped credentials of self-hosted workers (docs/self-hosted.md). Besides the server's API
// key, which works everywhere, /v1 accepts two narrower bearer credentials:
//
//   - an environment key (hangar.PrefixEnvironmentKey): its environment's worker endpoints
//     only — poll, list, ack, heartbeat, stop. Get, update and stats take the API key, as
//     CMA's do.
//   - a work item's sessions token (hangar.PrefixSessionsToken, inside the poll's secret):
//     that item's heartbeat and stop, and the calls the SDK worker makes for its session —
//     get the session, list/stream/send its events, download its agent's skills, and the
//     memory endpoints of the memory stores attached to it (read-only stores: reads only).
//     The token dies when the item stops or is claimed again.
//
// Both are looked up by their SHA-256 (hangar.HashToken); the store keeps no plaintext.

// presentedKey is the credential of a request: x-api-key, or an Authorization bearer token.
func presentedKey(r *http.Request) string {
	if key := r.Header.Get("x-api-key"); key != "" {
		return key
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// authorizeScoped authorizes a /v1 request that did not present the API key. It returns
// an authentication_error for an unknown credential and a permission_error for a known one
// used outside its scope.
func (s *Server) authorizeScoped(r *http.Request) error {
	unknown := hangar.Errorf(hangar.KindAuthentication, "invalid x-api-key")
	key := presentedKey(r)
	segs, ok := pathSegments(r)
	if !ok {
		return unknown
	}
	ctx := r.Context()
	switch {
	case strings.HasPrefix(key, hangar.PrefixEnvironmentKey):
		envID, err := s.store.EnvironmentForKey(ctx, hangar.HashToken(key))
		if hangar.IsKind(err, hangar.KindNotFound) {
			return unknown
		} else if err != nil {
			return err
		}
		if envKeyAllows(r.Method, segs, envID) {
			return nil
		}
		return hangar.Errorf(hangar.KindPermission, "an environment key authorizes only the work endpoints of its environment")
	case strings.HasPrefix(key, hangar.PrefixSessionsToken):
		w, err := s.store.WorkForToken(ctx, hangar.HashToken(key))
		if hangar.IsKind(err, hangar.KindNotFound) {
			return unknown
		} else if err != nil {
			return err
		}
		ok, err := s.sessionsTokenAllows(ctx, r.Method, segs, w)
		if err != nil || ok {
			return err
		}
		return hangar.Errorf(hangar.KindPermission, "a work item's sessions token authorizes only that item and its session")
	}
	return unknown
}

// pathSegments splits the path after /v1/ into unescaped segments, as the mux sees them.
func pathSegments(r *http.Request) ([]string, bool) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/")
	if !ok {
		return nil, false
	}
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil || u == "" {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

// envKeyAllows: GET environments/{env}/work, GET .../work/poll, POST .../work/{id}/{ack,heartbeat,stop}.
func envKeyAllows(method string, segs []string, envID string) bool {
	if len(segs) < 3 || segs[0] != "environments" || segs[1] != envID || segs[2] != "work" {
		return false
	}
	switch len(segs) {
	case 3:
		return method == http.MethodGet
	case 4:
		return method == http.MethodGet && segs[3] == "poll"
	case 5:
		return method == http.MethodPost && (segs[4] == "ack" || segs[4] == "heartbeat" || segs[4] == "stop")
	}
	return false
}

// sessionsTokenAllows decides the scope of item w's sessions token.
func (s *Server) sessionsTokenAllows(ctx context.Context, method string, segs []string, w *hangar.Work) (bool, error) {
	if len(segs) < 2 {
		return false, nil
	}
	switch segs[0] {
	case "environments":
		return len(segs) == 5 && method == http.MethodPost && segs[1] == w.EnvironmentID && segs[2] == "work" &&
			segs[3] == w.ID && (segs[4] == "heartbeat" || segs[4] == "stop"), nil
	case "sessions":
		if w.Data.Type != hangar.WorkDataSession || segs[1] != w.Data.ID {
			return false, nil
		}
		switch {
		case len(segs) == 2:
			return method == http.MethodGet, nil
		case len(segs) == 3 && segs[2] == "events":
			return method == http.MethodGet || method == http.MethodPost, nil
		case len(segs) == 4 && segs[2] == "events" && segs[3] == "stream":
			return method == http.MethodGet, nil
		}
		return false, nil
	case "skills", "memory_stores":
	default:
		return false, nil
	}
	if w.Data.Type != hangar.WorkDataSession {
		return false, nil
	}
	sess, err := s.store.GetSession(ctx, w.Data.ID)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if segs[0] == "skills" {
		return method == http.MethodGet && agentHasSkill(sess.Agent.Skills, segs[1]), nil
	}
	// memory_stores/{id}[/...]: the store must be attached; read_only allows reads only.
	for _, ms := range attachedMemoryStores(sess.Resources) {
		if ms.MemoryStoreID == segs[1] {
			return method == http.MethodGet || ms.Access != "read_only", nil
		}
	}
	return false, nil
}

func agentHasSkill(skills json.RawMessage, id string) bool {
	var list []struct {
		SkillID string `json:"skill_id"`
	}
	if json.Unmarshal(skills, &list) != nil {
		return false
	}
	for _, sk := range list {
		if sk.SkillID == id {
			return true
		}
	}
	return false
}

func attachedMemoryStores(resources json.RawMessage) []memoryStoreResource {
	var all []memoryStoreResource
	if json.Unmarshal(resources, &all) != nil {
		return nil
	}
	out := all[:0]
	for _, r := range all {
		if r.Type == "memory_store" {
			out = append(out, r)
		}
	}
	return out
}

// memoryActor names who writes a memory through the API: the session of a work item whose
// sessions token authorized the request (a self-hosted worker syncing the session's
// memory folder back, as a sandbox's sync is), else the API key. The middleware already
// checked the token's scope; a token that stopped since falls back to the API actor.
func (s *Server) memoryActor(r *http.Request) hangar.Actor {
	key := presentedKey(r)
	if !strings.HasPrefix(key, hangar.PrefixSessionsToken) {
		return apiActor
	}
	w, err := s.store.WorkForToken(r.Context(), hangar.HashToken(key))
	if err != nil || w.Data.Type != hangar.WorkDataSession {
		return apiActor
	}
	return hangar.Actor{Type: "session_actor", SessionID: w.Data.ID}
}
