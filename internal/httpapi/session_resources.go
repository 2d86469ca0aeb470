package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar"
)

// Session resources (§3.4): files mounted into a session's sandbox, given at creation or
// added later. They live inside the session's stored resources list, so they travel with the
// session in every store without a table of their own; the runner writes them into the
// sandbox before each run (internal/runner/session_resources.go).

const maxResourcesPage = 1000

// fileResourceParams is the body of a file resource param (create or add).
type fileResourceParams struct {
	Type      string  `json:"type"`
	FileID    *string `json:"file_id"`
	MountPath *string `json:"mount_path"`
}

// newFileResource validates one file resource param and resolves it: the file must exist,
// and the mount path defaults to /mnt/session/uploads/<file_id>.
func (s *Server) newFileResource(ctx context.Context, field string, raw json.RawMessage, now time.Time) (*fileResource, error) {
	var p fileResourceParams
	if err := decodeAt(field, raw, &p); err != nil {
		return nil, err
	}
	if err := requireString(joinPath(field, "file_id"), p.FileID, 1, maxIDParamChars); err != nil {
		return nil, err
	}
	f, err := s.liveFile(ctx, *p.FileID) // file_expiry.go
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil, invalidf("%s: file %s not found", joinPath(field, "file_id"), *p.FileID)
	}
	if err != nil {
		return nil, err
	}
	mount := defaultUploadsPrefix + f.ID
	if p.MountPath != nil {
		if mount, err = checkMountPath(joinPath(field, "mount_path"), *p.MountPath); err != nil {
			return nil, err
		}
	}
	return &fileResource{
		Type:      "file",
		ID:        s.newID(hangar.PrefixResource),
		FileID:    f.ID,
		MountPath: mount,
		CreatedAt: now,
		UpdatedAt: now,
	}, nil
}

// storedResources decodes a session's resources list (each entry kept as stored JSON).
func storedResources(raw json.RawMessage) ([]json.RawMessage, error) {
	var out []json.RawMessage
	if isNull(raw) {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, hangar.Errorf(hangar.KindInternal, "stored session resources: %v", err)
	}
	return out, nil
}

// resourceHead is the part of a stored resource the handlers look at.
type resourceHead struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	MountPath string `json:"mount_path"`
}

func headOf(raw json.RawMessage) resourceHead {
	var h resourceHead
	_ = json.Unmarshal(raw, &h)
	return h
}

// addSessionResource mounts one more file in a session. Only file resources can be added
// (as in the SDK's BetaSessionResourceAddParams); the mount path must be free.
func (s *Server) addSessionResource(w http.ResponseWriter, r *http.Request) error {
	var raw json.RawMessage
	if err := s.decode(w, r, &raw); err != nil {
		return err
	}
	typ, err := objectType("request body", raw)
	if err != nil {
		return err
	}
	switch typ {
	case "file":
	case "":
		return invalidf("type: field required")
	default:
		return invalidf("type: only \"file\" resources can be added to a session (got %q)", typ)
	}
	ctx := r.Context()
	if err := s.rejectSelfHostedAdd(ctx, pathID(r, "session_id"), typ); err != nil { // work_resources.go
		return err
	}
	now := s.now()
	res, err := s.newFileResource(ctx, "", raw, now)
	if err != nil {
		return err
	}
	_, err = s.store.UpdateSession(ctx, pathID(r, "session_id"), func(sess *hangar.Session) error {
		if sess.ArchivedAt != nil {
			return conflictf("session %s is archived and cannot be updated", sess.ID)
		}
		list, err := storedResources(sess.Resources)
		if err != nil {
			return err
		}
		files := 0
		for _, e := range list {
			h := headOf(e)
			if h.MountPath == res.MountPath {
				return invalidf("mount_path: %s is already used by resource %s", res.MountPath, h.ID)
			}
			if h.Type == "file" {
				files++
			}
		}
		if files >= maxFileResources {
			return invalidf("resources: at most %d file resources are allowed", maxFileResources)
		}
		sess.Resources = mustJSON(append(list, mustJSON(res)))
		sess.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, res)
	return nil
}

// listSessionResources lists a session's resources in the order they were added. Without
// limit it returns them all; page is the ID of the last resource of the previous page.
func (s *Server) listSessionResources(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxResourcesPage {
			return invalidf("limit: must be an integer between 1 and %d", maxResourcesPage)
		}
		limit = n
	}
	sess, err := s.store.GetSession(r.Context(), pathID(r, "session_id"))
	if err != nil {
		return err
	}
	list, err := storedResources(sess.Resources)
	if err != nil {
		return err
	}
	start := 0
	if after := q.Get("page"); after != "" {
		start = -1
		for i, e := range list {
			if headOf(e).ID == after {
				start = i + 1
			}
		}
		if start < 0 {
			return invalidf("page: invalid page cursor")
		}
	}
	list = list[start:]
	out := listEnvelope[json.RawMessage]{Data: []json.RawMessage{}}
	if limit > 0 && len(list) > limit {
		list = list[:limit]
		out.NextPage = strOrNil(headOf(list[limit-1]).ID)
	}
	for _, e := range list {
		out.Data = append(out.Data, publicResource(e))
	}
	encode(w, http.StatusOK, out)
	return nil
}

// findResource returns the session's resource with the given ID; not_found_error otherwise.
func (s *Server) findResource(ctx context.Context, sessionID, id string) (json.RawMessage, error) {
	sess, err := s.store.GetSession(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	list, err := storedResources(sess.Resources)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		if headOf(e).ID == id {
			return e, nil
		}
	}
	return nil, hangar.Errorf(hangar.KindNotFound, "session resource %s not found in session %s", id, sessionID)
}

func (s *Server) getSessionResource(w http.ResponseWriter, r *http.Request) error {
	res, err := s.findResource(r.Context(), pathID(r, "session_id"), pathID(r, "resource_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, publicResource(res))
	return nil
}

// updateSessionResource rotates a resource's authorization token, which only
// github_repository resources have.
func (s *Server) updateSessionResource(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		AuthorizationToken *string `json:"authorization_token"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := requireString("authorization_token", req.AuthorizationToken, 1, 8192); err != nil {
		return err
	}
	return s.rotateRepoToken(r.Context(), w, pathID(r, "session_id"), pathID(r, "resource_id"), *req.AuthorizationToken)
}

// deleteSessionResource removes a resource from the session. The runner removes a file
// resource's copy from the sandbox before the next run.
func (s *Server) deleteSessionResource(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "resource_id")
	now := s.now()
	_, err := s.store.UpdateSession(r.Context(), pathID(r, "session_id"), func(sess *hangar.Session) error {
		if sess.ArchivedAt != nil {
			return conflictf("session %s is archived and cannot be updated", sess.ID)
		}
		list, err := storedResources(sess.Resources)
		if err != nil {
			return err
		}
		for i, e := range list {
			if headOf(e).ID == id {
				list = append(list[:i:i], list[i+1:]...)
				sess.Resources = mustJSON(list)
				sess.UpdatedAt = now
				return nil
			}
		}
		return hangar.Errorf(hangar.KindNotFound, "session resource %s not found in session %s", id, sess.ID)
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "session_resource_deleted"})
	return nil
}
