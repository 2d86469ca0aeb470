package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// TestE2EWorkerMemory: a self_hosted session with a read_write and a read_only memory
// store, served by the official SDK EnvironmentWorker with the item's sessions token. The
// worker downloads both stores to their mount paths (/mnt/memory/<name>, as the agent is
// told); the agent's write into the read_write store syncs back as a memory version made
// by the session when the item ends, and its write into the read_only store is refused.
func TestE2EWorkerMemory(t *testing.T) {
	t.Parallel()
	// The SDK mounts a store at its mount_path verbatim, on the worker's host.
	if err := os.MkdirAll("/mnt/memory", 0o755); err != nil {
		t.Skipf("the SDK worker mounts memory stores under /mnt/memory, which this user cannot create: %v", err)
	}
	fake := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { t.Errorf("unexpected model request %s %s", r.Method, r.Path) }}
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	srv := startServer(t, func(c *Config) { c.UpstreamURL, c.UpstreamKey = upstream.URL, "sk-upstream" })
	c, ctx := srv.Client, testContext(t)
	ms := c.Beta.MemoryStores

	// Names unique to this run: the mounts are host paths.
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	rw, err := ms.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "sh notes " + suffix})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := ms.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "sh rules " + suffix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms.Memories.New(ctx, ro.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/rules.md", Content: anthropic.String("be kind\n")}); err != nil {
		t.Fatal(err)
	}
	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "self-hosted-memory",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, option.WithJSONSet("engine", "native"), option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}}))
	if err != nil {
		t.Fatal(err)
	}
	env, key := newSelfHostedEnvironment(t, c, "memory-workers")
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
	}, option.WithJSONSet("resources", []map[string]any{
		{"type": "memory_store", "memory_store_id": rw.ID},
		{"type": "memory_store", "memory_store_id": ro.ID, "access": "read_only"},
	}))
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	var rwMount, roMount string
	for _, res := range sess.Resources {
		switch res.MemoryStoreID {
		case rw.ID:
			rwMount = res.MountPath
		case ro.ID:
			roMount = res.MountPath
		}
	}
	if !strings.HasPrefix(rwMount, "/mnt/memory/") || !strings.HasPrefix(roMount, "/mnt/memory/") {
		t.Fatalf("mounts %q, %q", rwMount, roMount)
	}
	t.Cleanup(func() { os.RemoveAll(rwMount); os.RemoveAll(roMount) })

	msgs := make(chan string, 256)
	idle := 300 * time.Millisecond
	w := environments.NewEnvironmentWorker(newClient(srv.URL), environments.EnvironmentWorkerOptions{
		EnvironmentID: env.ID, EnvironmentKey: key, WorkerID: "memory-worker", Workdir: t.TempDir(), MaxIdle: &idle,
		Logger: slog.New(logWatch{msgs}),
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()

	stream := openStream(t, ctx, c, sess.ID)
	turn := func(prompt string) (isError bool, result string) {
		t.Helper()
		send(t, c, sess.ID, userMessage(prompt))
		evs := readUntil(t, stream, isIdle)
		for _, ev := range evs {
			if ev.Type == "user.tool_result" {
				return strings.Contains(ev.RawJSON(), `"is_error":true`), ev.RawJSON()
			}
		}
		t.Fatalf("no user.tool_result in %v", eventTypes(evs))
		return false, ""
	}
	if isErr, res := turn(`CUSTOM:write {"file_path":"` + rwMount + `/notes/new.md","content":"remembered-9"}`); isErr {
		t.Fatalf("write into the read_write store failed: %s", res)
	}
	if isErr, res := turn(`CUSTOM:write {"file_path":"` + roMount + `/hack.md","content":"nope"}`); !isErr {
		t.Fatalf("write into the read_only store succeeded: %s", res)
	}
	// Everything the worker logged so far is before this turn's item ends; the next
	// "idle; polling for work" follows the item's end, and with it the memory sync.
	for len(msgs) > 0 {
		<-msgs
	}
	waitLog(t, ctx, msgs, "idle; polling for work")

	var got string
	for it := ms.Memories.ListAutoPaging(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryListParams{View: "full"}); it.Next(); {
		if m := it.Current(); m.Path == "/notes/new.md" {
			got = m.Content
		}
	}
	if got != "remembered-9" {
		t.Errorf("memory /notes/new.md = %q, want the worker's write", got)
	}
	versions, err := ms.MemoryVersions.List(ctx, rw.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	bySession := false
	for _, v := range versions.Data {
		bySession = bySession || strings.Contains(v.RawJSON(), `"session_id":"`+sess.ID+`"`)
	}
	if !bySession {
		t.Errorf("no memory version made by the session: %s", versions.RawJSON())
	}
	var roPaths []string
	for it := ms.Memories.ListAutoPaging(ctx, ro.ID, anthropic.BetaMemoryStoreMemoryListParams{}); it.Next(); {
		roPaths = append(roPaths, it.Current().Path)
	}
	if strings.Join(roPaths, ",") != "/rules.md" {
		t.Errorf("read_only store memories = %v, want only /rules.md", roPaths)
	}
}
