package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

// TestMemorySync checks the turn-end diff of a read_write memory mount: the agent's
// changes become session_actor versions, a memory changed through the API during the turn
// keeps the API's content, and read_only mounts are never written back.
func TestMemorySync(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New(Config{Store: st, DataDir: t.TempDir()})

	now := hangar.Now()
	newStore := func(name string) string {
		m := &hangar.MemoryStore{Type: "memory_store", ID: hangar.NewID(hangar.PrefixMemoryStore), Name: name, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateMemoryStore(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	write := func(storeID, op, memID, path, content string, by hangar.Actor) *hangar.Memory {
		t.Helper()
		sum := sha256.Sum256([]byte(content))
		m := hangar.Memory{Type: "memory", Path: path, Content: &content, ContentSHA256: hex.EncodeToString(sum[:]), ContentSizeBytes: int64(len(content)), CreatedAt: now, UpdatedAt: now}
		if op == hangar.MemoryCreated {
			m.ID = hangar.NewID(hangar.PrefixMemory)
		}
		out, _, err := st.WriteMemory(ctx, hangar.MemoryWrite{StoreID: storeID, Operation: op, MemoryID: memID, Memory: m,
			Version: hangar.MemoryVersion{ID: hangar.NewID(hangar.PrefixMemoryVersion), CreatedBy: by, CreatedAt: now}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	api := hangar.Actor{Type: "api_actor", APIKeyID: "k"}
	rw, ro := newStore("Notes"), newStore("Rules")
	write(rw, hangar.MemoryCreated, "", "/a.md", "1", api)
	b := write(rw, hangar.MemoryCreated, "", "/b.md", "2", api)
	write(ro, hangar.MemoryCreated, "", "/r.md", "rule", api)

	agent := &hangar.Agent{Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "a", Engine: "claude", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateAgent(ctx, agent); err != nil {
		t.Fatal(err)
	}
	env := &hangar.Environment{Type: "environment", ID: hangar.NewID(hangar.PrefixEnvironment), Name: "e", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	res, _ := json.Marshal([]map[string]any{
		{"type": "memory_store", "memory_store_id": rw, "access": "read_write", "mount_path": "/mnt/memory/notes", "name": "Notes"},
		{"type": "memory_store", "memory_store_id": ro, "access": "read_only", "mount_path": "/mnt/memory/rules", "name": "Rules"},
	})
	sess := &hangar.Session{Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle, Agent: *agent,
		EnvironmentID: env.ID, Metadata: map[string]string{}, Resources: res, OutcomeEvaluations: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}

	mounts := r.memoryMounts(sess)
	if len(mounts) != 2 || !mounts[1].ReadOnly || mounts[0].ReadOnly || mounts[0].Target != "/mnt/memory/notes" {
		t.Fatalf("mounts = %+v", mounts)
	}
	run := *sess
	if err := r.syncMemoryIn(ctx, &run); err != nil {
		t.Fatal(err)
	}
	if run.Agent.System == nil || !strings.Contains(*run.Agent.System, "/mnt/memory/rules (read_only") {
		t.Errorf("system prompt = %v", run.Agent.System)
	}
	notes, rules := mounts[0].Source, mounts[1].Source
	if got, _ := os.ReadFile(filepath.Join(notes, "a.md")); string(got) != "1" {
		t.Fatalf("a.md = %q", got)
	}

	// The agent edits a.md and b.md, adds c/d.md, edits the read-only store's file (as if
	// the mount allowed it); meanwhile the API changes b.md.
	os.WriteFile(filepath.Join(notes, "a.md"), []byte("agent"), 0o644)
	os.WriteFile(filepath.Join(notes, "b.md"), []byte("agent-b"), 0o644)
	os.MkdirAll(filepath.Join(notes, "c"), 0o755)
	os.WriteFile(filepath.Join(notes, "c", "d.md"), []byte("new"), 0o644)
	os.WriteFile(filepath.Join(rules, "r.md"), []byte("hacked"), 0o644)
	write(rw, hangar.MemoryModified, b.ID, "/b.md", "api", api)

	r.syncMemoryOut(ctx, sess.ID)

	mems, err := r.allMemories(ctx, rw)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range mems {
		got[m.Path] = *m.Content
	}
	want := map[string]string{"/a.md": "agent", "/b.md": "api", "/c/d.md": "new"}
	if len(got) != len(want) || got["/a.md"] != want["/a.md"] || got["/b.md"] != want["/b.md"] || got["/c/d.md"] != want["/c/d.md"] {
		t.Errorf("store after sync = %v, want %v", got, want)
	}
	vs, _, err := st.ListMemoryVersions(ctx, rw, hangar.MemoryVersionFilter{SessionID: sess.ID})
	if err != nil || len(vs) != 2 {
		t.Errorf("session versions = %d, %v; want 2 (a.md modified, c/d.md created)", len(vs), err)
	}
	if rm, _ := r.allMemories(ctx, ro); len(rm) != 1 || *rm[0].Content != "rule" {
		t.Errorf("read-only store changed: %v", rm)
	}

	// The next turn starts from the store again: the agent's dropped b.md edit is gone.
	if err := r.syncMemoryIn(ctx, &run); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(notes, "b.md")); string(got) != "api" {
		t.Errorf("b.md at next turn = %q, want the API's", got)
	}
	if got, _ := os.ReadFile(filepath.Join(rules, "r.md")); string(got) != "rule" {
		t.Errorf("r.md at next turn = %q, want the store's", got)
	}
}
