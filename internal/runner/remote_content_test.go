package runner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/blob"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/runner"
)

// shEngine runs each user message's text as a shell script in the sandbox and says what
// it printed: an agent whose only tool is the sandbox.
type shEngine struct{}

func (shEngine) Capabilities() engine.Capabilities { return engine.Capabilities{} }

func (shEngine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	var blocks []struct{ Text string }
	json.Unmarshal(spec.Content, &blocks)
	var script strings.Builder
	for _, b := range blocks {
		script.WriteString(b.Text)
	}
	pr, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"/bin/sh", "-c", script.String()}})
	if err != nil {
		return nil, err
	}
	pr.Stdin().Close()
	run := &shRun{events: make(chan engine.Event, 1)}
	run.wg.Go(func() {
		defer close(run.events)
		var out bytes.Buffer
		go io.Copy(io.Discard, pr.Stderr())
		io.Copy(&out, pr.Stdout())
		pr.Wait()
		run.events <- engine.Event{Type: "agent.message", Body: map[string]any{"content": engine.TextContent(out.String())}}
	})
	return run, nil
}

type shRun struct {
	events chan engine.Event
	wg     sync.WaitGroup
}

func (r *shRun) Events() <-chan engine.Event                    { return r.events }
func (r *shRun) Send(context.Context, engine.Input) error       { return nil }
func (r *shRun) Interrupt(context.Context) error                { return nil }
func (r *shRun) Wait() error                                    { r.wg.Wait(); return nil }
func newSh(json.RawMessage, engine.Deps) (engine.Engine, error) { return shEngine{}, nil }

// TestRemoteSessionContent runs turns on a remote provider's sandbox (no host bind
// mounts, real processes): a file resource is copied under /mnt/session/uploads without
// write bits, memory stores are copied to their mount paths and the agent's changes to
// the read_write one are saved as session_actor versions while the read_only one stays,
// and what the agent writes under /mnt/session/outputs is captured to the Files API —
// again only when it changes.
func TestRemoteSessionContent(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	t.Parallel()
	boxes := &cloudtest.Provider{Dir: t.TempDir()}
	blobs, err := blob.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(e *env) {
		e.tune = func(c *runner.Config) {
			c.Providers.Register("box", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return boxes, nil })
			c.Engines.Register("sh", newSh)
			c.DefaultProvider, c.DataDir, c.Blobs = "box", t.TempDir(), blobs
		}
	})
	e.start()
	ctx := e.ctx
	now := hangar.Now()

	// A file resource.
	fileID := hangar.NewID(hangar.PrefixFile)
	size, sum, err := blobs.Put(ctx, fileID, strings.NewReader("uploaded data\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateFile(ctx, &hangar.File{Type: "file", ID: fileID, Filename: "data.txt", MimeType: "text/plain", SizeBytes: size, SHA256: sum, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	// Two memory stores.
	api := hangar.Actor{Type: "api_actor", APIKeyID: "k"}
	newStore := func(name string, files map[string]string) string {
		m := &hangar.MemoryStore{Type: "memory_store", ID: hangar.NewID(hangar.PrefixMemoryStore), Name: name, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
		if err := e.store.CreateMemoryStore(ctx, m); err != nil {
			t.Fatal(err)
		}
		for p, content := range files {
			s := sha256.Sum256([]byte(content))
			mem := hangar.Memory{Type: "memory", ID: hangar.NewID(hangar.PrefixMemory), Path: p, Content: &content, ContentSHA256: hex.EncodeToString(s[:]), ContentSizeBytes: int64(len(content)), CreatedAt: now, UpdatedAt: now}
			if _, _, err := e.store.WriteMemory(ctx, hangar.MemoryWrite{StoreID: m.ID, Operation: hangar.MemoryCreated, Memory: mem,
				Version: hangar.MemoryVersion{ID: hangar.NewID(hangar.PrefixMemoryVersion), CreatedBy: api, CreatedAt: now}}); err != nil {
				t.Fatal(err)
			}
		}
		return m.ID
	}
	rw := newStore("Notes", map[string]string{"/a.md": "1", "/b.md": "2"})
	ro := newStore("Rules", map[string]string{"/r.md": "rule"})
	res, _ := json.Marshal([]map[string]any{
		{"type": "file", "id": "sesrsc_1", "file_id": fileID, "mount_path": "/mnt/session/uploads/data.txt"},
		{"type": "memory_store", "memory_store_id": rw, "access": "read_write", "mount_path": "/mnt/memory/notes", "name": "Notes"},
		{"type": "memory_store", "memory_store_id": ro, "access": "read_only", "mount_path": "/mnt/memory/rules", "name": "Rules"},
	})
	sess := &hangar.Session{Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle, EnvironmentID: e.envID,
		Agent:    hangar.Agent{Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "a", Engine: "sh", Model: hangar.Model{ID: "m"}, Tools: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now},
		Metadata: map[string]string{}, Resources: res, VaultIDs: []string{}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	s := e.subscribe(sess.ID)
	turn := func(script string) (said string, synced []map[string]any) {
		t.Helper()
		e.send(sess.ID, userMessage(script))
		for _, ev := range s.until(hangar.EventStatusIdle) {
			switch ev.Type {
			case "agent.message":
				said = text(t, ev)
			case "session.error":
				t.Fatalf("session.error: %s", ev.Body)
			case runner.EventOutputsSynced:
				synced = field[[]map[string]any](t, ev, "files")
			}
		}
		return said, synced
	}

	said, synced := turn(`cat /mnt/session/uploads/data.txt
stat -c 'upload mode %a' /mnt/session/uploads/data.txt
stat -c 'rules mode %a' /mnt/memory/rules/r.md
cat /mnt/memory/notes/a.md; echo
echo agent > /mnt/memory/notes/a.md
rm /mnt/memory/notes/b.md
mkdir -p /mnt/memory/notes/c && echo new > /mnt/memory/notes/c/d.md
chmod u+w /mnt/memory/rules/r.md && echo hacked > /mnt/memory/rules/r.md
mkdir -p /mnt/session/outputs/sub && echo report > /mnt/session/outputs/sub/report.txt`)
	for _, want := range []string{"uploaded data\n", "upload mode 444", "rules mode 444", "\n1\n"} {
		if !strings.Contains(said, want) {
			t.Errorf("the agent saw %q, want it to contain %q", said, want)
		}
	}
	if specs := boxes.Specs(); len(specs) != 1 {
		t.Fatalf("%d sandboxes created, want 1", len(specs))
	} else {
		for _, m := range specs[0].Mounts {
			if strings.HasPrefix(m.Target, "/mnt/") {
				t.Errorf("a remote sandbox was given the host mount %+v", m)
			}
		}
	}

	// Memory: the read_write store has the agent's changes as session versions.
	mems, _, err := e.store.ListMemories(ctx, rw, hangar.MemoryFilter{Page: hangar.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range mems {
		full, err := e.store.GetMemory(ctx, rw, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		got[full.Path] = *full.Content
	}
	if len(got) != 2 || got["/a.md"] != "agent\n" || got["/c/d.md"] != "new\n" {
		t.Errorf("read_write store after the turn = %q, want a.md and c/d.md changed, b.md deleted", got)
	}
	vs, _, err := e.store.ListMemoryVersions(ctx, rw, hangar.MemoryVersionFilter{SessionID: sess.ID})
	if err != nil || len(vs) != 3 {
		t.Errorf("session versions = %d (%v), want 3 (modified, created, deleted)", len(vs), err)
	}
	rmems, _, _ := e.store.ListMemories(ctx, ro, hangar.MemoryFilter{Page: hangar.Page{Limit: 100}})
	if len(rmems) != 1 {
		t.Errorf("read_only store = %d memories", len(rmems))
	} else if m, _ := e.store.GetMemory(ctx, ro, rmems[0].ID); *m.Content != "rule" {
		t.Errorf("read_only store changed to %q", *m.Content)
	}

	// Outputs: captured to the Files API, scoped to the session.
	if len(synced) != 1 || synced[0]["path"] != "/mnt/session/outputs/sub/report.txt" {
		t.Fatalf("outputs synced = %v", synced)
	}
	rc, err := blobs.Open(ctx, synced[0]["file_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "report\n" {
		t.Errorf("captured output = %q", data)
	}

	// Next turn: the read-only store is restored, nothing new is captured until an
	// output changes, and a deleted memory stays deleted.
	said, synced = turn(`cat /mnt/memory/rules/r.md; ls /mnt/memory/notes; echo report2 > /mnt/session/outputs/sub/report.txt`)
	if !strings.Contains(said, "rule") || strings.Contains(said, "hacked") || strings.Contains(said, "b.md") {
		t.Errorf("second turn saw %q, want the store's rule and no b.md", said)
	}
	if len(synced) != 1 || synced[0]["path"] != "/mnt/session/outputs/sub/report.txt" {
		t.Errorf("outputs synced after a change = %v, want the report again", synced)
	}
	_, synced = turn(`true`)
	if len(synced) != 0 {
		t.Errorf("outputs synced with no change = %v", synced)
	}
	if _, err := os.Stat(boxes.Dir); err != nil {
		t.Fatal(err)
	}
}
