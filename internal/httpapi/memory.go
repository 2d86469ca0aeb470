package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hangar-dev/hangar"
)

// Memory stores (§3.7): stores, memories (text files addressed by an absolute path) and
// the immutable versions every write records. "view" is basic (content null) by default on
// lists, create and update, full on retrieve. Writes through the API are made by an
// api_actor; writes synced back from a session's sandbox by a session_actor
// (internal/runner/memory.go).

// apiActor names the caller of the API in created_by / redacted_by. Hangar has one
// server API key, so it has one ID.
var apiActor = hangar.Actor{Type: "api_actor", APIKeyID: "apikey_hangar"}

type createMemoryStoreRequest struct {
	Name        *string           `json:"name"`
	Description *string           `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

type updateMemoryStoreRequest struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	Metadata    map[string]*string `json:"metadata"`
}

func memoryStoreResponse(m *hangar.MemoryStore) *hangar.MemoryStore {
	out := *m
	out.Type = "memory_store"
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return &out
}

func (s *Server) createMemoryStore(w http.ResponseWriter, r *http.Request) error {
	var req createMemoryStoreRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := requireString("name", req.Name, 1, 255); err != nil {
		return err
	}
	if err := checkOptLen("description", req.Description, 0, 1024); err != nil {
		return err
	}
	if err := validateMetadata("metadata", req.Metadata); err != nil {
		return err
	}
	now := s.now()
	m := &hangar.MemoryStore{Type: "memory_store", ID: s.newID(hangar.PrefixMemoryStore), Name: *req.Name,
		Metadata: orEmpty(req.Metadata), CreatedAt: now, UpdatedAt: now}
	if req.Description != nil {
		m.Description = *req.Description
	}
	if err := s.store.CreateMemoryStore(r.Context(), m); err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryStoreResponse(m))
	return nil
}

func (s *Server) listMemoryStores(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
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
	ms, pr, err := s.store.ListMemoryStores(r.Context(), hangar.MemoryStoreFilter{IncludeArchived: archived, Created: created, Page: page})
	if err != nil {
		return err
	}
	data := make([]*hangar.MemoryStore, len(ms))
	for i, m := range ms {
		data[i] = memoryStoreResponse(m)
	}
	encode(w, http.StatusOK, listEnvelope[*hangar.MemoryStore]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

func (s *Server) getMemoryStore(w http.ResponseWriter, r *http.Request) error {
	m, err := s.store.GetMemoryStore(r.Context(), pathID(r, "memory_store_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryStoreResponse(m))
	return nil
}

func (s *Server) updateMemoryStore(w http.ResponseWriter, r *http.Request) error {
	var req updateMemoryStoreRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Name != nil {
		if err := checkLen("name", *req.Name, 1, 255); err != nil {
			return err
		}
	}
	if err := checkOptLen("description", req.Description, 0, 1024); err != nil {
		return err
	}
	now := s.now()
	m, err := s.store.UpdateMemoryStore(r.Context(), pathID(r, "memory_store_id"), func(m *hangar.MemoryStore) error {
		if m.ArchivedAt != nil {
			return invalidf("memory store %s is archived", m.ID)
		}
		md, err := patchMetadata("metadata", m.Metadata, req.Metadata, true)
		if err != nil {
			return err
		}
		m.Metadata = md
		if req.Name != nil {
			m.Name = *req.Name
		}
		if req.Description != nil {
			m.Description = *req.Description
		}
		m.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryStoreResponse(m))
	return nil
}

func (s *Server) archiveMemoryStore(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	m, err := s.store.UpdateMemoryStore(r.Context(), pathID(r, "memory_store_id"), func(m *hangar.MemoryStore) error {
		if m.ArchivedAt == nil {
			m.ArchivedAt, m.UpdatedAt = &now, now
		}
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryStoreResponse(m))
	return nil
}

func (s *Server) deleteMemoryStore(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "memory_store_id")
	if err := s.store.DeleteMemoryStore(r.Context(), id); err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "memory_store_deleted"})
	return nil
}

// --- memories

// parseView reads ?view (basic or full), defaulting to def.
func parseView(q url.Values, def string) (full bool, err error) {
	v := q.Get("view")
	if v == "" {
		v = def
	}
	if err := checkOneOf("view", v, "basic", "full"); err != nil {
		return false, err
	}
	return v == "full", nil
}

func memoryResponse(m *hangar.Memory, full bool) *hangar.Memory {
	out := *m
	out.Type = "memory"
	if !full {
		out.Content = nil
	}
	return &out
}

func memoryVersionResponse(v *hangar.MemoryVersion, full bool) *hangar.MemoryVersion {
	out := *v
	out.Type = "memory_version"
	if !full {
		out.Content = nil
	}
	return &out
}

// checkMemoryPath validates a memory path: absolute, at most 1024 bytes of UTF-8, no empty,
// "." or ".." segments and no trailing slash.
func checkMemoryPath(field, p string) error {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/") || !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
		return invalidf("%s: must be an absolute path like /notes/today.md (got %q)", field, p)
	}
	if len(p) > hangar.MaxMemoryPath {
		return invalidf("%s: must be at most %d bytes", field, hangar.MaxMemoryPath)
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalidf("%s: must not contain empty, \".\" or \"..\" segments (got %q)", field, p)
		}
	}
	return nil
}

func checkMemoryContent(c string) error {
	if len(c) > hangar.MaxMemoryContent {
		return invalidf("content: must be at most %d bytes (got %d)", hangar.MaxMemoryContent, len(c))
	}
	return nil
}

func contentSum(c string) (string, int64) {
	sum := sha256.Sum256([]byte(c))
	return hex.EncodeToString(sum[:]), int64(len(c))
}

type createMemoryRequest struct {
	Path    *string `json:"path"`
	Content *string `json:"content"`
}

func (s *Server) createMemory(w http.ResponseWriter, r *http.Request) error {
	full, err := parseView(r.URL.Query(), "basic")
	if err != nil {
		return err
	}
	var req createMemoryRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Path == nil {
		return invalidf("path: field required")
	}
	if err := checkMemoryPath("path", *req.Path); err != nil {
		return err
	}
	if req.Content == nil {
		return invalidf("content: field required")
	}
	if err := checkMemoryContent(*req.Content); err != nil {
		return err
	}
	now := s.now()
	m := hangar.Memory{Type: "memory", ID: s.newID(hangar.PrefixMemory), Path: *req.Path, Content: req.Content, CreatedAt: now, UpdatedAt: now}
	m.ContentSHA256, m.ContentSizeBytes = contentSum(*req.Content)
	out, _, err := s.store.WriteMemory(r.Context(), hangar.MemoryWrite{
		StoreID: pathID(r, "memory_store_id"), Operation: hangar.MemoryCreated, Memory: m,
		Version: hangar.MemoryVersion{ID: s.newID(hangar.PrefixMemoryVersion), CreatedBy: s.memoryActor(r), CreatedAt: now},
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryResponse(out, full))
	return nil
}

// memoryPrefix is a list item rolling up the memories below a directory (?depth).
type memoryPrefix struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

func (s *Server) listMemories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, false)
	if err != nil {
		return err
	}
	full, err := parseView(q, "basic")
	if err != nil {
		return err
	}
	depth := -1
	if d := q.Get("depth"); d != "" {
		if depth, err = strconv.Atoi(d); err != nil || depth < 0 {
			return invalidf("depth: must be a non-negative integer")
		}
	}
	prefix := q.Get("path_prefix")
	ms, pr, err := s.store.ListMemories(r.Context(), pathID(r, "memory_store_id"), hangar.MemoryFilter{PathPrefix: prefix, Page: page})
	if err != nil {
		return err
	}
	data := []any{}
	seen := map[string]bool{}
	for _, m := range ms {
		if roll := rollup(prefix, m.Path, depth); roll != "" {
			if !seen[roll] {
				seen[roll] = true
				data = append(data, memoryPrefix{Type: "memory_prefix", Path: roll})
			}
			continue
		}
		data = append(data, memoryResponse(m, full))
	}
	encode(w, http.StatusOK, listEnvelope[any]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

// rollup returns the directory prefix that stands for path in a listing limited to depth
// levels below prefix's directory, or "" when path is shallow enough to list itself.
func rollup(prefix, path string, depth int) string {
	if depth < 0 {
		return ""
	}
	base := prefix[:strings.LastIndex(prefix, "/")+1] // the directory part of the prefix
	if base == "" {
		base = "/"
	}
	segs := strings.Split(strings.TrimPrefix(path, base), "/")
	if len(segs) <= depth+1 {
		return ""
	}
	return base + strings.Join(segs[:depth+1], "/") + "/"
}

func (s *Server) getMemory(w http.ResponseWriter, r *http.Request) error {
	full, err := parseView(r.URL.Query(), "full")
	if err != nil {
		return err
	}
	m, err := s.store.GetMemory(r.Context(), pathID(r, "memory_store_id"), pathID(r, "memory_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryResponse(m, full))
	return nil
}

type updateMemoryRequest struct {
	Path         *string `json:"path"`
	Content      *string `json:"content"`
	Precondition *struct {
		Type          string  `json:"type"`
		ContentSHA256 *string `json:"content_sha256"`
	} `json:"precondition"`
}

func (s *Server) updateMemory(w http.ResponseWriter, r *http.Request) error {
	full, err := parseView(r.URL.Query(), "basic")
	if err != nil {
		return err
	}
	var req updateMemoryRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	now := s.now()
	mw := hangar.MemoryWrite{StoreID: pathID(r, "memory_store_id"), Operation: hangar.MemoryModified, MemoryID: pathID(r, "memory_id"),
		Memory:  hangar.Memory{UpdatedAt: now},
		Version: hangar.MemoryVersion{ID: s.newID(hangar.PrefixMemoryVersion), CreatedBy: s.memoryActor(r), CreatedAt: now}}
	if req.Path != nil {
		if err := checkMemoryPath("path", *req.Path); err != nil {
			return err
		}
		mw.Memory.Path = *req.Path
	}
	if req.Content != nil {
		if err := checkMemoryContent(*req.Content); err != nil {
			return err
		}
		mw.Memory.Content = req.Content
		mw.Memory.ContentSHA256, mw.Memory.ContentSizeBytes = contentSum(*req.Content)
	}
	if p := req.Precondition; p != nil {
		if err := checkOneOf("precondition.type", p.Type, "content_sha256"); err != nil {
			return err
		}
		if p.ContentSHA256 == nil || *p.ContentSHA256 == "" {
			return invalidf("precondition.content_sha256: field required")
		}
		mw.IfSHA256 = strings.ToLower(*p.ContentSHA256)
	}
	m, _, err := s.store.WriteMemory(r.Context(), mw)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryResponse(m, full))
	return nil
}

func (s *Server) deleteMemory(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	id := pathID(r, "memory_id")
	_, _, err := s.store.WriteMemory(r.Context(), hangar.MemoryWrite{
		StoreID: pathID(r, "memory_store_id"), Operation: hangar.MemoryDeleted, MemoryID: id,
		IfSHA256: strings.ToLower(r.URL.Query().Get("expected_content_sha256")),
		Version:  hangar.MemoryVersion{ID: s.newID(hangar.PrefixMemoryVersion), CreatedBy: s.memoryActor(r), CreatedAt: now},
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "memory_deleted"})
	return nil
}

// --- memory versions

func (s *Server) listMemoryVersions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	full, err := parseView(q, "basic")
	if err != nil {
		return err
	}
	created, err := parseTimeRange(q, "created_at")
	if err != nil {
		return err
	}
	f := hangar.MemoryVersionFilter{MemoryID: q.Get("memory_id"), SessionID: q.Get("session_id"), Operation: q.Get("operation"), Created: created, Page: page}
	if f.Operation != "" {
		if err := checkOneOf("operation", f.Operation, hangar.MemoryCreated, hangar.MemoryModified, hangar.MemoryDeleted); err != nil {
			return err
		}
	}
	if k := q.Get("api_key_id"); k != "" && k != apiActor.APIKeyID {
		// Every API write is made with Hangar's one key: another key made none.
		encode(w, http.StatusOK, listEnvelope[*hangar.MemoryVersion]{Data: []*hangar.MemoryVersion{}})
		return nil
	}
	vs, pr, err := s.store.ListMemoryVersions(r.Context(), pathID(r, "memory_store_id"), f)
	if err != nil {
		return err
	}
	data := make([]*hangar.MemoryVersion, len(vs))
	for i, v := range vs {
		data[i] = memoryVersionResponse(v, full)
	}
	encode(w, http.StatusOK, listEnvelope[*hangar.MemoryVersion]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

func (s *Server) getMemoryVersion(w http.ResponseWriter, r *http.Request) error {
	full, err := parseView(r.URL.Query(), "full")
	if err != nil {
		return err
	}
	v, err := s.store.GetMemoryVersion(r.Context(), pathID(r, "memory_store_id"), pathID(r, "memory_version_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryVersionResponse(v, full))
	return nil
}

func (s *Server) redactMemoryVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.store.RedactMemoryVersion(r.Context(), pathID(r, "memory_store_id"), pathID(r, "memory_version_id"), apiActor, s.now())
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, memoryVersionResponse(v, true))
	return nil
}
