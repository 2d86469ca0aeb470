package httpapi

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hangar-dev/hangar"
)

// memoryStoreResource is a memory_store session resource as stored and returned: the store
// is mounted at /mnt/memory/<slug of its name> (internal/runner/memory.go).
type memoryStoreResource struct {
	Type string `json:"type"`
	// ID is not in the SDK's shape; it lets the session resources routes address and
	// page through memory_store resources like the others.
	ID            string  `json:"id"`
	MemoryStoreID string  `json:"memory_store_id"`
	Access        string  `json:"access"`
	Instructions  *string `json:"instructions"`
	Name          string  `json:"name"`
	Description   string  `json:"description"`
	MountPath     string  `json:"mount_path"`
}

type memoryStoreResourceParam struct {
	Type          string  `json:"type"`
	MemoryStoreID *string `json:"memory_store_id"`
	Access        *string `json:"access"`
	Instructions  *string `json:"instructions"`
}

// newMemoryStoreResource validates a memory_store resource param. mounts holds the mount
// paths taken so far: two stores with the same slug get distinct mounts.
func (s *Server) newMemoryStoreResource(ctx context.Context, field string, raw json.RawMessage, mounts map[string]int) (*memoryStoreResource, error) {
	var p memoryStoreResourceParam
	if err := decodeBytes(raw, &p); err != nil {
		return nil, invalidf("%s: %v", field, err)
	}
	if err := requireString(field+".memory_store_id", p.MemoryStoreID, 1, 128); err != nil {
		return nil, err
	}
	access := "read_write"
	if p.Access != nil {
		if err := checkOneOf(field+".access", *p.Access, "read_write", "read_only"); err != nil {
			return nil, err
		}
		access = *p.Access
	}
	if err := checkOptLen(field+".instructions", p.Instructions, 0, 4096); err != nil {
		return nil, err
	}
	ms, err := s.store.GetMemoryStore(ctx, *p.MemoryStoreID)
	if err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, invalidf("%s.memory_store_id: memory store %s not found", field, *p.MemoryStoreID)
		}
		return nil, err
	}
	if ms.ArchivedAt != nil {
		return nil, invalidf("%s.memory_store_id: memory store %s is archived", field, ms.ID)
	}
	mount := "/mnt/memory/" + memorySlug(ms.Name, ms.ID)
	if _, taken := mounts[mount]; taken {
		mount = "/mnt/memory/" + memorySlug(ms.ID, ms.ID)
	}
	return &memoryStoreResource{Type: "memory_store", ID: s.newID(hangar.PrefixResource), MemoryStoreID: ms.ID, Access: access, Instructions: p.Instructions,
		Name: ms.Name, Description: ms.Description, MountPath: mount}, nil
}

// memorySlug turns a store name into a directory name: lowercase letters, digits and
// single hyphens; fallback when nothing is left.
func memorySlug(name, fallback string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.TrimSuffix(b.String(), "-")
	if len(slug) > 64 {
		slug = strings.TrimSuffix(slug[:64], "-")
	}
	if slug == "" {
		return strings.ToLower(fallback)
	}
	return slug
}
