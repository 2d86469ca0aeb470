package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// publicEndpoint listens before the server exists, so its address can be the server's
// HANGAR_PUBLIC_URL, and forwards to the server once target is set: what a remote machine
// reaches the server through.
func publicEndpoint(t *testing.T) (publicURL string, target *atomic.Value) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target = &atomic.Value{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		u, _ := url.Parse(target.Load().(string))
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}, FlushInterval: -1}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), target
}

// TestE2ERemoteSessionContent runs the claude CLI on a remote provider (cloudtest's:
// no host bind mounts for session content, only exec and the file API, real processes; the
// CLI itself is in the "image") and checks that a file resource is readable under
// /mnt/session/uploads and read-only, that a memory the agent writes in its read_write
// store is saved as a version made by the session, and that an output file is captured
// and downloadable through the Files API.
func TestE2ERemoteSessionContent(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	t.Parallel()
	public, target := publicEndpoint(t)
	boxes := &cloudtest.Provider{Dir: t.TempDir(), BindMounts: true}
	srv, _ := claudeServer(t, func(c *Config) {
		c.PublicURL = public
		c.ExtraProviders = func(r *provider.Registry) {
			r.Register("remote-box", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return boxes, nil })
		}
	})
	target.Store(srv.URL)
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "remote"},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "provider": "remote-box"}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	plan := uploadText(t, c, "plan.txt", "plan-content-remote-42\n")
	store, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Notes"})
	if err != nil {
		t.Fatalf("create memory store: %v", err)
	}
	if _, err := c.Beta.MemoryStores.Memories.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/old.md", Content: anthropic.String("from-the-api")}); err != nil {
		t.Fatalf("create memory: %v", err)
	}
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
	}, option.WithJSONSet("resources", []map[string]any{
		{"type": "file", "file_id": plan.ID, "mount_path": "/mnt/session/uploads/plan.txt"},
		{"type": "memory_store", "memory_store_id": store.ID},
	}))
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("TOOL:bash cat /mnt/session/uploads/plan.txt; stat -c 'mode=%a' /mnt/session/uploads/plan.txt; "+
		"cat /mnt/memory/notes/old.md; echo; echo remembered-7 > /mnt/memory/notes/new.md; echo report-remote-3 > /mnt/session/outputs/report.txt"))
	evs := readUntil(t, stream, isIdle)
	result := toolResults(evs)
	for _, want := range []string{"plan-content-remote-42", "mode=444", "from-the-api"} {
		if !strings.Contains(result, want) {
			t.Errorf("tool_result lacks %q: %s", want, result)
		}
	}
	var announced string
	for _, ev := range evs {
		switch ev.Type {
		case "session.outputs_synced":
			announced = ev.RawJSON()
		case "session.error":
			t.Errorf("session.error: %s", ev.RawJSON())
		}
	}

	// The memory write is a version made by the session.
	var newMem string
	for it := c.Beta.MemoryStores.Memories.ListAutoPaging(ctx, store.ID, anthropic.BetaMemoryStoreMemoryListParams{View: "full"}); it.Next(); {
		if m := it.Current(); strings.Contains(m.RawJSON(), `"/new.md"`) {
			newMem = m.RawJSON()
		}
	}
	if !strings.Contains(newMem, "remembered-7") {
		t.Errorf("memory /new.md = %q, want the agent's write", newMem)
	}
	versions, err := c.Beta.MemoryStores.MemoryVersions.List(ctx, store.ID, anthropic.BetaMemoryStoreMemoryVersionListParams{})
	if err != nil {
		t.Fatalf("list memory versions: %v", err)
	}
	var bySession bool
	for _, v := range versions.Data {
		bySession = bySession || strings.Contains(v.RawJSON(), `"session_id":"`+sess.ID+`"`)
	}
	if !bySession {
		t.Errorf("no memory version made by the session: %s", versions.RawJSON())
	}

	// The output file is a session-scoped, downloadable file.
	files, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{ScopeID: anthropic.String(sess.ID)})
	if err != nil {
		t.Fatalf("list files: %v", err)
	}
	if len(files.Data) != 1 || files.Data[0].Filename != "report.txt" || !strings.Contains(announced, files.Data[0].ID) {
		t.Fatalf("session files = %s; announced %q", files.RawJSON(), announced)
	}
	resp, err := c.Beta.Files.Download(ctx, files.Data[0].ID, anthropic.BetaFileDownloadParams{})
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "report-remote-3\n" {
		t.Errorf("downloaded %q", body)
	}
	for _, spec := range boxes.Specs() {
		for _, m := range spec.Mounts {
			if strings.HasPrefix(m.Target, "/mnt/") {
				t.Errorf("the remote sandbox was given the host mount %+v", m)
			}
		}
	}
}
