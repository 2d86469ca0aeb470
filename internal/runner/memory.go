package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Memory stores attached to a session (docs/skills-memory.md). Each one is a host
// directory of the session, <data>/session-memory/<session>/<slug>, bound into the sandbox
// at the resource's mount_path (/mnt/memory/<slug>): read-only for access "read_only", so
// the agent truly cannot change it, read-write otherwise. Before each turn the directory
// is made equal to the store (one file per memory, at its path); after each turn the
// changes the agent made in a read_write mount are written back as memory versions made
// by a session_actor. Each write is conditional on the content the turn started from
// (content_sha256 precondition), so a change made through the API during the turn wins
// and the agent's conflicting change is dropped (and logged). Without a data dir memory
// stores are not mounted. On a remote provider's sandbox (no host bind mounts) the store
// is copied to mount_path instead, chmod'ed a-w when read_only, and the turn's changes are
// found by hashing the files inside the sandbox (content.go); the snapshot stays on the
// host all the same.

// memoryResource is the part of a stored memory_store session resource the runner needs.
type memoryResource struct {
	Type          string  `json:"type"`
	MemoryStoreID string  `json:"memory_store_id"`
	Access        string  `json:"access"`
	MountPath     string  `json:"mount_path"`
	Name          string  `json:"name"`
	Description   string  `json:"description"`
	Instructions  *string `json:"instructions"`
}

// memoryEntry is what the turn started from for one memory: the snapshot sync-out diffs
// against.
type memoryEntry struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
}

func (r *Runner) memoryResources(sess *hangar.Session) []memoryResource {
	var raws []json.RawMessage
	if len(sess.Resources) > 0 && json.Unmarshal(sess.Resources, &raws) != nil {
		return nil
	}
	var out []memoryResource
	for _, raw := range raws {
		var m memoryResource
		if json.Unmarshal(raw, &m) == nil && m.Type == "memory_store" && m.MemoryStoreID != "" && strings.HasPrefix(m.MountPath, "/") {
			out = append(out, m)
		}
	}
	return out
}

// memoryDir is the host directory of a session's memory mount; "" without a data dir.
func (r *Runner) memoryDir(sessionID string, m memoryResource) string {
	if r.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(r.cfg.DataDir, "session-memory", sessionID, path.Base(m.MountPath))
}

// memoryMounts creates the session's memory directories and returns their mounts.
func (r *Runner) memoryMounts(sess *hangar.Session) []provider.Mount {
	var out []provider.Mount
	for _, m := range r.memoryResources(sess) {
		dir := r.memoryDir(sess.ID, m)
		if dir == "" {
			r.log.Warn("memory store not mounted: no data dir", "session", sess.ID, "memory_store", m.MemoryStoreID)
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.log.Warn("create memory dir", "session", sess.ID, "err", err)
			continue
		}
		out = append(out, provider.Mount{Source: dir, Target: m.MountPath, ReadOnly: m.Access == "read_only"})
	}
	return out
}

// syncMemoryIn makes every mounted memory directory of the session equal to its store,
// records the snapshot the turn starts from, and tells the agent about the mounts: a
// section appended to the system prompt of this run's copy of the session (as CMA
// describes mounted stores to the model), with each store's description and instructions.
func (r *Runner) syncMemoryIn(ctx context.Context, sess *hangar.Session) error {
	var note strings.Builder
	defer func() {
		if note.Len() == 0 {
			return
		}
		sys := "# Memory\nPersistent memory stores are mounted as directories of text files. Read them when they are relevant; " +
			"to remember something for future sessions, create or edit files in a read_write store.\n" + note.String()
		if sess.Agent.System != nil && *sess.Agent.System != "" {
			sys = *sess.Agent.System + "\n\n" + sys
		}
		sess.Agent.System = &sys
	}()
	content, remote := r.contentFor(sess.ID)
	for _, m := range r.memoryResources(sess) {
		dir := r.memoryDir(sess.ID, m)
		if dir == "" {
			continue
		}
		if remote {
			if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil { // for the snapshot
				return err
			}
		} else if _, err := os.Stat(dir); err != nil {
			continue // not mounted in this sandbox
		}
		cd := contentDir{host: dir, sandbox: m.MountPath}
		readOnly := m.Access == "read_only"
		if remote {
			// The directory exists even for an empty store: the agent writes new
			// memories there.
			if err := content.ensure(ctx, cd); err != nil {
				return fmt.Errorf("memory store %s: %w", m.MemoryStoreID, err)
			}
		}
		mems, err := r.allMemories(ctx, m.MemoryStoreID)
		if hangar.IsKind(err, hangar.KindNotFound) {
			// Deleted since the session was created: the session goes on without it.
			r.log.Warn("memory store of the session is gone; not mounted", "session", sess.ID, "memory_store", m.MemoryStoreID)
			os.Remove(dir + ".snapshot.json")
			if err := content.replace(ctx, cd, nil, readOnly); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("memory store %s: %w", m.MemoryStoreID, err)
		}
		if err := content.replace(ctx, cd, memoryFiles(mems), readOnly); err != nil {
			return fmt.Errorf("memory store %s: %w", m.MemoryStoreID, err)
		}
		snap := map[string]memoryEntry{}
		for _, mem := range mems {
			snap[mem.Path] = memoryEntry{ID: mem.ID, SHA256: mem.ContentSHA256}
		}
		b, _ := json.Marshal(snap)
		if err := os.WriteFile(dir+".snapshot.json", b, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&note, "- %s (%s, store %q)", m.MountPath, m.Access, m.Name)
		if m.Description != "" {
			fmt.Fprintf(&note, ": %s", m.Description)
		}
		if m.Instructions != nil && *m.Instructions != "" {
			fmt.Fprintf(&note, " Instructions: %s", *m.Instructions)
		}
		note.WriteString("\n")
	}
	return nil
}

func (r *Runner) allMemories(ctx context.Context, storeID string) ([]*hangar.Memory, error) {
	var out []*hangar.Memory
	page := hangar.Page{Limit: 100}
	for {
		ms, pr, err := r.store.ListMemories(ctx, storeID, hangar.MemoryFilter{Page: page})
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		if pr.Next == "" {
			return out, nil
		}
		c, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return nil, err
		}
		page.Cursor = &c
	}
}

// memoryFiles maps mems to the files of their mount: relative path → content.
func memoryFiles(mems []*hangar.Memory) map[string][]byte {
	files := make(map[string][]byte, len(mems))
	for _, m := range mems {
		content := ""
		if m.Content != nil {
			content = *m.Content
		}
		files[strings.TrimPrefix(m.Path, "/")] = []byte(content)
	}
	return files
}

// syncMemoryOut writes the changes the agent made in the session's read_write memory
// mounts back to their stores.
func (r *Runner) syncMemoryOut(ctx context.Context, sessionID string) {
	sess, err := r.store.GetSession(ctx, sessionID)
	if err != nil {
		return
	}
	content, _ := r.contentFor(sessionID)
	for _, m := range r.memoryResources(sess) {
		if m.Access == "read_only" {
			continue
		}
		dir := r.memoryDir(sessionID, m)
		if dir == "" {
			continue
		}
		if err := r.syncMemoryStore(ctx, sessionID, m.MemoryStoreID, dir, content, contentDir{host: dir, sandbox: m.MountPath}); err != nil {
			r.log.Warn("sync memory store", "session", sessionID, "memory_store", m.MemoryStoreID, "err", err)
		}
	}
}

func (r *Runner) syncMemoryStore(ctx context.Context, sessionID, storeID, dir string, content sessionContent, cd contentDir) error {
	b, err := os.ReadFile(dir + ".snapshot.json")
	if err != nil {
		return nil // never synced in: nothing to compare with
	}
	var snap map[string]memoryEntry
	if err := json.Unmarshal(b, &snap); err != nil {
		return err
	}
	// Only new and changed files are read: unchanged ones keep their snapshot entry.
	files, err := content.list(ctx, cd, int64(hangar.MaxMemoryContent))
	if err != nil {
		return err
	}
	local := map[string][]byte{}
	for rel, sum := range files {
		p := "/" + rel
		if sum.TooLarge {
			r.log.Warn("memory file too large; not saved", "session", sessionID, "path", p)
			continue
		}
		if old, ok := snap[p]; ok && old.SHA256 == sum.SHA256 {
			continue
		}
		data, err := content.read(ctx, cd, rel)
		if err != nil {
			return err
		}
		local[p] = data
	}
	actor := hangar.Actor{Type: "session_actor", SessionID: sessionID}
	write := func(w hangar.MemoryWrite) {
		now := r.now()
		w.StoreID = storeID
		w.Version = hangar.MemoryVersion{ID: r.newID(hangar.PrefixMemoryVersion), CreatedBy: actor, CreatedAt: now}
		w.Memory.CreatedAt, w.Memory.UpdatedAt = now, now
		if _, _, err := r.store.WriteMemory(ctx, w); err != nil {
			r.log.Warn("memory change from the session not saved", "session", sessionID, "memory_store", storeID,
				"operation", w.Operation, "path", w.Memory.Path, "err", err)
		}
	}
	for p, data := range local {
		if len(data) > hangar.MaxMemoryContent || len(p) > hangar.MaxMemoryPath {
			r.log.Warn("memory file too large; not saved", "session", sessionID, "path", p)
			continue
		}
		sum := sha256.Sum256(data)
		sha := hex.EncodeToString(sum[:])
		text := string(data)
		mem := hangar.Memory{Type: "memory", Path: p, Content: &text, ContentSHA256: sha, ContentSizeBytes: int64(len(data))}
		old, existed := snap[p]
		switch {
		case existed && old.SHA256 == sha:
		case existed:
			write(hangar.MemoryWrite{Operation: hangar.MemoryModified, MemoryID: old.ID, IfSHA256: old.SHA256, Memory: mem})
		default:
			mem.ID = r.newID(hangar.PrefixMemory)
			write(hangar.MemoryWrite{Operation: hangar.MemoryCreated, Memory: mem})
		}
	}
	for p, old := range snap {
		if _, ok := files[strings.TrimPrefix(p, "/")]; !ok {
			write(hangar.MemoryWrite{Operation: hangar.MemoryDeleted, MemoryID: old.ID, IfSHA256: old.SHA256, Memory: hangar.Memory{Path: p}})
		}
	}
	return nil
}
