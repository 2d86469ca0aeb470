package hangar

import (
	"context"
	"time"
)

// ID prefixes of memory stores (§3.7 of the API reference).
const (
	PrefixMemoryStore   = "memstore_"
	PrefixMemory        = "mem_"
	PrefixMemoryVersion = "memver_"
)

// Memory version operations.
const (
	MemoryCreated  = "created"
	MemoryModified = "modified"
	MemoryDeleted  = "deleted"
)

// Limits of memories (Anthropic's).
const (
	MaxMemoryContent = 100 << 10
	MaxMemoryPath    = 1024
)

// MemoryStore is a named set of memories (small text files addressed by path) that
// sessions mount into their sandbox and that agents may update.
type MemoryStore struct {
	Type        string            `json:"type"`
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ArchivedAt  *time.Time        `json:"archived_at"`
}

// Memory is the current state of one file of a memory store. Content is always loaded;
// the API shows it in the "full" view only.
type Memory struct {
	Type             string    `json:"type"`
	ID               string    `json:"id"`
	MemoryStoreID    string    `json:"memory_store_id"`
	Path             string    `json:"path"`
	Content          *string   `json:"content"`
	ContentSHA256    string    `json:"content_sha256"`
	ContentSizeBytes int64     `json:"content_size_bytes"`
	MemoryVersionID  string    `json:"memory_version_id"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Actor is who made a memory version: {type:"api_actor", api_key_id} or
// {type:"session_actor", session_id}.
type Actor struct {
	Type      string `json:"type"`
	APIKeyID  string `json:"api_key_id,omitempty"`
	SessionID string `json:"session_id,omitempty"`
}

// MemoryVersion is one immutable change of a memory. A redacted version keeps its
// metadata but loses path and content.
type MemoryVersion struct {
	Type             string     `json:"type"`
	ID               string     `json:"id"`
	MemoryID         string     `json:"memory_id"`
	MemoryStoreID    string     `json:"memory_store_id"`
	Operation        string     `json:"operation"`
	Path             *string    `json:"path"`
	Content          *string    `json:"content"`
	ContentSHA256    *string    `json:"content_sha256"`
	ContentSizeBytes *int64     `json:"content_size_bytes"`
	CreatedBy        Actor      `json:"created_by"`
	CreatedAt        time.Time  `json:"created_at"`
	RedactedAt       *time.Time `json:"redacted_at"`
	RedactedBy       *Actor     `json:"redacted_by"`
}

// MemoryStoreFilter selects memory stores for ListMemoryStores.
type MemoryStoreFilter struct {
	IncludeArchived bool
	Created         TimeRange
	Page            Page
}

// MemoryFilter selects memories for ListMemories: PathPrefix is a plain string prefix.
type MemoryFilter struct {
	PathPrefix string
	Page       Page
}

// MemoryVersionFilter selects versions for ListMemoryVersions.
type MemoryVersionFilter struct {
	MemoryID  string
	SessionID string
	Operation string
	Created   TimeRange
	Page      Page
}

// MemoryWrite is one change for Store.WriteMemory.
type MemoryWrite struct {
	StoreID   string
	Operation string // MemoryCreated, MemoryModified or MemoryDeleted
	// MemoryID names the memory to modify or delete (ignored on create).
	MemoryID string
	// Memory holds the new state: on create ID, Path, Content, SHA256/size and times; on
	// modify the new Path and Content (nil: unchanged) and UpdatedAt.
	Memory Memory
	// IfSHA256, when set, makes the write fail with KindMemoryPrecondition unless the
	// memory's current content_sha256 equals it.
	IfSHA256 string
	// Version is the version to record (ID, CreatedBy, CreatedAt); the store fills the rest.
	Version MemoryVersion
}

// Error kinds of WriteMemory: 409s with their own wire types.
const (
	// KindMemoryPathConflict: the path, an ancestor or a descendant of it is taken.
	KindMemoryPathConflict Kind = "memory_path_conflict_error"
	// KindMemoryPrecondition: the content_sha256 precondition did not hold.
	KindMemoryPrecondition Kind = "memory_precondition_failed_error"
)

// MemoryStoreStore persists memory stores, memories and their versions; Store includes
// it. storetest's "Memory" case pins it.
type MemoryStoreStore interface {
	CreateMemoryStore(ctx context.Context, m *MemoryStore) error
	GetMemoryStore(ctx context.Context, id string) (*MemoryStore, error)
	ListMemoryStores(ctx context.Context, f MemoryStoreFilter) ([]*MemoryStore, PageResult, error)
	// UpdateMemoryStore calls fn with the current store in a transaction and saves it.
	UpdateMemoryStore(ctx context.Context, id string, fn func(m *MemoryStore) error) (*MemoryStore, error)
	// DeleteMemoryStore deletes a store with its memories and versions.
	DeleteMemoryStore(ctx context.Context, id string) error

	// WriteMemory applies one change in a transaction and records its version. Create and
	// a modify that changes the path fail with KindMemoryPathConflict when the path, an
	// ancestor or a descendant of it is a memory of the store; IfSHA256 mismatches fail
	// with KindMemoryPrecondition. It returns the memory (nil after a delete) and the version.
	WriteMemory(ctx context.Context, w MemoryWrite) (*Memory, *MemoryVersion, error)
	GetMemory(ctx context.Context, storeID, id string) (*Memory, error)
	// ListMemories lists a store's memories in creation order.
	ListMemories(ctx context.Context, storeID string, f MemoryFilter) ([]*Memory, PageResult, error)

	GetMemoryVersion(ctx context.Context, storeID, id string) (*MemoryVersion, error)
	// ListMemoryVersions lists a store's versions (Page.Desc: newest first).
	ListMemoryVersions(ctx context.Context, storeID string, f MemoryVersionFilter) ([]*MemoryVersion, PageResult, error)
	// RedactMemoryVersion clears a version's path and content and records who and when.
	RedactMemoryVersion(ctx context.Context, storeID, id string, by Actor, at time.Time) (*MemoryVersion, error)
}

// MemoryVersionFor completes the version v of an operation on m (its state after a create
// or modify, before a delete): a deleted version carries no content.
func MemoryVersionFor(v MemoryVersion, op string, m *Memory) *MemoryVersion {
	v.Type, v.Operation, v.MemoryID, v.MemoryStoreID = "memory_version", op, m.ID, m.MemoryStoreID
	path := m.Path
	v.Path = &path
	if op != MemoryDeleted {
		sum, size := m.ContentSHA256, m.ContentSizeBytes
		v.Content, v.ContentSHA256, v.ContentSizeBytes = m.Content, &sum, &size
	}
	return &v
}

// Redact clears the version's path and content and records who redacted it and when.
func (v *MemoryVersion) Redact(by Actor, at time.Time) {
	if v.RedactedAt != nil {
		return
	}
	v.Path, v.Content, v.ContentSHA256, v.ContentSizeBytes = nil, nil, nil, nil
	v.RedactedAt, v.RedactedBy = &at, &by
}
