package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// waitDream polls a dream until its status is final and returns it.
func waitDream(t *testing.T, c anthropic.Client, id string) *anthropic.BetaDream {
	t.Helper()
	ctx := testContext(t)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := c.Beta.Dreams.Get(ctx, id, anthropic.BetaDreamGetParams{})
		if err != nil {
			t.Fatalf("get dream: %v", err)
		}
		switch d.Status {
		case anthropic.BetaDreamStatusCompleted, anthropic.BetaDreamStatusFailed, anthropic.BetaDreamStatusCanceled:
			return d
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dream %s still %s", id, d.Status)
		case <-tick.C:
		}
	}
}

// storeFiles lists a memory store as "path=content" through the SDK.
func storeFiles(t *testing.T, c anthropic.Client, storeID string) string {
	t.Helper()
	var out []string
	for it := c.Beta.MemoryStores.Memories.ListAutoPaging(testContext(t), storeID, anthropic.BetaMemoryStoreMemoryListParams{View: "full"}); it.Next(); {
		m := it.Current()
		out = append(out, m.Path+"="+m.Content)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func dreamParams(storeID string, sessions ...string) anthropic.BetaDreamNewParams {
	return anthropic.BetaDreamNewParams{
		Inputs: []anthropic.BetaDreamInputUnionParam{anthropic.BetaDreamInputParamOfMemoryStore(storeID), anthropic.BetaDreamInputParamOfSessions(sessions)},
		Model:  anthropic.BetaDreamNewParamsModelUnion{OfString: anthropic.String("claude-opus-4-7")},
	}
}

// TestE2EDreams drives every method of client.Beta.Dreams against a real server whose
// model upstream is fakemodel: a create_new dream reads the store and a session's
// transcript and leaves a new store with the model's set; update_existing rewrites the
// input store; a model error fails the dream; a cancel during the model call stops it
// before it writes; lists are newest first with statuses and include_archived.
func TestE2EDreams(t *testing.T) {
	t.Parallel()
	fm := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { t.Errorf("unexpected model request %s %s", r.Method, r.Path) }}
	// The upstream holds a request whose prompt says HOLD until release closes.
	release, held := make(chan struct{}), make(chan struct{}, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bytes.Contains(b, []byte("HOLD-THIS-DREAM")) {
			held <- struct{}{}
			<-release
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		fm.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	srv := startServer(t, func(c *Config) { c.UpstreamURL, c.UpstreamKey = upstream.URL, "sk-upstream" })
	c := srv.Client
	ctx := testContext(t)

	store, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Team notes"})
	if err != nil {
		t.Fatal(err)
	}
	c.Beta.MemoryStores.Memories.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/scratch.md", Content: anthropic.String("use tabs; deploy = make ship")})
	a := newAgent(t, c, "dreamer", nil)
	env := newEnvironment(t, c, "dream-env")
	sess := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("remember: the staging database is db-stage-7"))
	readUntil(t, stream, isIdle)

	// create_new.
	fm.Push(fakemodel.Text(`{"memories":[{"path":"/style.md","content":"use tabs"},{"path":"/ops/deploy.md","content":"deploy with make ship; staging db is db-stage-7"}]}`))
	p := dreamParams(store.ID, sess.ID)
	p.Instructions = anthropic.String("one topic per file")
	d, err := c.Beta.Dreams.New(ctx, p)
	if err != nil {
		t.Fatalf("create dream: %v", err)
	}
	if !strings.HasPrefix(d.ID, hangar.PrefixDream) || d.Type != "dream" || d.Model.ID != "claude-opus-4-7" || d.Model.Speed != "standard" ||
		d.OutputBehavior.Type != "create_new" || d.Instructions != "one topic per file" || len(d.Inputs) != 2 || d.Inputs[1].SessionIDs[0] != sess.ID {
		t.Fatalf("created %s", d.RawJSON())
	}
	done := waitDream(t, c, d.ID)
	if done.Status != anthropic.BetaDreamStatusCompleted || len(done.Outputs) != 1 || done.Outputs[0].MemoryStoreID == store.ID ||
		done.EndedAt.IsZero() || done.Usage.OutputTokens == 0 || done.JSON.Error.Raw() != "null" {
		t.Fatalf("dream = %s", done.RawJSON())
	}
	out := done.Outputs[0].MemoryStoreID
	if got := storeFiles(t, c, out); got != "/ops/deploy.md=deploy with make ship; staging db is db-stage-7 /style.md=use tabs" {
		t.Errorf("output store = %s", got)
	}
	if got := storeFiles(t, c, store.ID); got != "/scratch.md=use tabs; deploy = make ship" {
		t.Errorf("input store changed: %s", got)
	}
	reqs := fm.MessageRequests()
	prompt := reqs[len(reqs)-1].LastUserText()
	for _, want := range []string{"use tabs; deploy = make ship", "user: remember: the staging database is db-stage-7", "one topic per file"} {
		if !strings.Contains(prompt, want) {
			t.Errorf("the dream's prompt lacks %q:\n%s", want, prompt)
		}
	}
	_, err = c.Beta.Dreams.Cancel(ctx, d.ID, anthropic.BetaDreamCancelParams{})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")

	// update_existing, failing at the model.
	fm.Push(fakemodel.Overloaded())
	p = dreamParams(store.ID, sess.ID)
	p.OutputBehavior = anthropic.BetaOutputBehaviorParamOfUpdateExisting(store.ID)
	failed, err := c.Beta.Dreams.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if f := waitDream(t, c, failed.ID); f.Status != anthropic.BetaDreamStatusFailed || !strings.Contains(f.Error.Message, "529") {
		t.Fatalf("failed dream = %s", f.RawJSON())
	}

	// update_existing, succeeding.
	fm.Push(fakemodel.Text(`{"memories":[{"path":"/scratch.md","content":"tabs"}]}`))
	upd, err := c.Beta.Dreams.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if u := waitDream(t, c, upd.ID); u.Status != anthropic.BetaDreamStatusCompleted || u.Outputs[0].MemoryStoreID != store.ID {
		t.Fatalf("update_existing dream = %s", u.RawJSON())
	}
	if got := storeFiles(t, c, store.ID); got != "/scratch.md=tabs" {
		t.Errorf("input store after update_existing = %s", got)
	}

	// Cancel while the model works: the dream never writes.
	fm.Push(fakemodel.Text(`{"memories":[]}`))
	p = dreamParams(store.ID, sess.ID)
	p.OutputBehavior = anthropic.BetaOutputBehaviorParamOfUpdateExisting(store.ID)
	p.Instructions = anthropic.String("HOLD-THIS-DREAM")
	held1, err := c.Beta.Dreams.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	<-held
	_, err = c.Beta.Dreams.Archive(ctx, held1.ID, anthropic.BetaDreamArchiveParams{})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	_, err = c.Beta.Dreams.New(ctx, p) // one update_existing dream per store at a time
	wantStatus(t, err, http.StatusConflict, "invalid_request_error")
	canceled, err := c.Beta.Dreams.Cancel(ctx, held1.ID, anthropic.BetaDreamCancelParams{})
	if err != nil || canceled.Status != anthropic.BetaDreamStatusCanceled {
		t.Fatalf("cancel = %v, %v", canceled, err)
	}
	if again, err := c.Beta.Dreams.Cancel(ctx, held1.ID, anthropic.BetaDreamCancelParams{}); err != nil || again.Status != anthropic.BetaDreamStatusCanceled {
		t.Fatalf("second cancel = %v, %v", again, err)
	}
	close(release)
	waitModelRequests(t, fm, len(reqs)+3)
	if got := storeFiles(t, c, store.ID); got != "/scratch.md=tabs" {
		t.Errorf("a canceled dream wrote the store: %s", got)
	}

	// Lists and archive.
	if _, err := c.Beta.Dreams.Archive(ctx, d.ID, anthropic.BetaDreamArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	page, err := c.Beta.Dreams.List(ctx, anthropic.BetaDreamListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range page.Data {
		ids = append(ids, x.ID)
	}
	if strings.Join(ids, " ") != strings.Join([]string{held1.ID, upd.ID, failed.ID}, " ") {
		t.Errorf("list = %v; want newest first, archived left out", ids)
	}
	page, _ = c.Beta.Dreams.List(ctx, anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true), Statuses: []anthropic.BetaDreamStatus{anthropic.BetaDreamStatusCompleted}})
	if len(page.Data) != 2 || page.Data[1].ID != d.ID || page.Data[1].ArchivedAt.IsZero() {
		t.Errorf("completed dreams incl. archived = %d", len(page.Data))
	}
	n := 0
	for it := c.Beta.Dreams.ListAutoPaging(ctx, anthropic.BetaDreamListParams{IncludeArchived: anthropic.Bool(true), Limit: anthropic.Int(1)}); it.Next(); {
		n++
	}
	if n != 4 {
		t.Errorf("auto-paging saw %d dreams, want 4", n)
	}
	_, err = c.Beta.Dreams.Get(ctx, "drm_missing", anthropic.BetaDreamGetParams{})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
}

// waitModelRequests waits until the fake upstream has answered n message requests.
func waitModelRequests(t *testing.T, fm *fakemodel.Server, n int) {
	t.Helper()
	ctx := testContext(t)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(fm.MessageRequests()) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d model requests, want %d", len(fm.MessageRequests()), n)
		case <-tick.C:
		}
	}
}

// TestE2EDreamSessionMemory is the session-level proof with the real Claude Code CLI: a
// session writes a memory into its mounted store; a dream reads that memory (and the
// session's transcript) and writes the reorganized set into a new store; a later session
// that mounts the new store reads the reorganized memory from its sandbox.
func TestE2EDreamSessionMemory(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	store, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Project Notes"})
	if err != nil {
		t.Fatal(err)
	}
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	newSess := func(storeID string) *anthropic.BetaManagedAgentsSession {
		s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
			EnvironmentID: env.ID,
		}, option.WithJSONSet("resources", []map[string]any{{"type": "memory_store", "memory_store_id": storeID}}))
		if err != nil {
			t.Fatalf("create session: %v", err)
		}
		return s
	}
	s1 := newSess(store.ID)
	stream := openStream(t, ctx, c, s1.ID)
	send(t, c, s1.ID, userMessage("TOOL:bash mkdir -p /mnt/memory/project-notes/inbox && echo 'user likes tabs; deploy target is fly-west-3' > /mnt/memory/project-notes/inbox/raw.md"))
	readUntil(t, stream, isIdle)
	if got := storeFiles(t, c, store.ID); got != "/inbox/raw.md=user likes tabs; deploy target is fly-west-3\n" {
		t.Fatalf("store after session 1 = %q", got)
	}

	before := len(fake.MessageRequests())
	fake.Push(fakemodel.Text(`{"memories":[{"path":"/preferences/editor.md","content":"The user likes tabs.\n"},{"path":"/deploy/target.md","content":"Deploy target: fly-west-3\n"}]}`))
	d, err := c.Beta.Dreams.New(ctx, dreamParams(store.ID, s1.ID))
	if err != nil {
		t.Fatal(err)
	}
	done := waitDream(t, c, d.ID)
	if done.Status != anthropic.BetaDreamStatusCompleted {
		t.Fatalf("dream = %s", done.RawJSON())
	}
	reqs := fake.MessageRequests()
	if len(reqs) != before+1 || !strings.Contains(reqs[before].LastUserText(), `<memory path="/inbox/raw.md">`) ||
		!strings.Contains(reqs[before].LastUserText(), "fly-west-3") || !strings.Contains(reqs[before].LastUserText(), "tool call bash") {
		t.Fatalf("the dream did not read the session's memory and transcript: %d requests", len(reqs)-before)
	}

	s2 := newSess(done.Outputs[0].MemoryStoreID)
	stream2 := openStream(t, ctx, c, s2.ID)
	send(t, c, s2.ID, userMessage("TOOL:bash cat /mnt/memory/project-notes/deploy/target.md; ls /mnt/memory/project-notes/inbox 2>&1"))
	var result string
	for _, ev := range readUntil(t, stream2, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "Deploy target: fly-west-3") || !strings.Contains(result, "No such file") {
		t.Errorf("session 2 tool_result = %s; want the reorganized memory and no inbox", result)
	}
}

// TestE2EDreamSurvivesKill: a dream whose server is killed (SIGKILL) while the model works
// is resumed by the next server on the same data directory once the dead process's claim
// expires (HANGAR_LEASE_TTL), and completes.
func TestE2EDreamSurvivesKill(t *testing.T) {
	t.Parallel()
	fm := &fakemodel.Server{}
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	first := true
	var mu sync.Mutex
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hold := first
		first = false
		mu.Unlock()
		if hold {
			held <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fm.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() { close(release) })
	dir := t.TempDir()
	env := []string{"ANTHROPIC_BASE_URL=" + upstream.URL, "ANTHROPIC_API_KEY=sk-upstream", "HANGAR_LEASE_TTL=2s"}
	p1 := startProc(t, "first", dir, env...)
	c := p1.Client
	ctx := testContext(t)
	store, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Notes"})
	if err != nil {
		t.Fatal(err)
	}
	c.Beta.MemoryStores.Memories.New(ctx, store.ID, anthropic.BetaMemoryStoreMemoryNewParams{Path: "/a.md", Content: anthropic.String("alpha")})
	a := newAgent(t, c, "dreamer", nil)
	e := newEnvironment(t, c, "dream-env")
	s := newSession(t, c, a.ID, e.ID)
	d, err := c.Beta.Dreams.New(ctx, dreamParams(store.ID, s.ID))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatalf("the dream never called the model:\n%s", p1.logs())
	}
	p1.kill()

	fm.Push(fakemodel.Text(`{"memories":[{"path":"/topics/alpha.md","content":"alpha"}]}`))
	p2 := startProc(t, "second", dir, env...)
	done := waitDream(t, p2.Client, d.ID)
	if done.Status != anthropic.BetaDreamStatusCompleted || len(done.Outputs) != 1 {
		t.Fatalf("dream after the restart = %s\n%s", done.RawJSON(), p2.logs())
	}
	if got := storeFiles(t, p2.Client, done.Outputs[0].MemoryStoreID); got != "/topics/alpha.md=alpha" {
		t.Errorf("output store = %s", got)
	}
	stores, _ := p2.Client.Beta.MemoryStores.List(ctx, anthropic.BetaMemoryStoreListParams{})
	if len(stores.Data) != 2 {
		t.Errorf("%d memory stores; want the input and one output (the first run's reused)", len(stores.Data))
	}
}
