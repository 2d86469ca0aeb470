package dream

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/sqlstore"
)

type fixture struct {
	st    *sqlstore.DB
	fm    *fakemodel.Server
	model *Messages
	store *hangar.MemoryStore
	sess  string
	now   time.Time
}

func (f *fixture) clock() time.Time { return f.now }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "hangar.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fm := &fakemodel.Server{Unexpected: func(r fakemodel.Request) { t.Errorf("unexpected model request %s %s", r.Method, r.Path) }}
	srv := httptest.NewServer(fm)
	t.Cleanup(srv.Close)
	f := &fixture{st: st, fm: fm, model: NewMessages(MessagesConfig{BaseURL: srv.URL, APIKey: "sk-test"}),
		now: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)}
	f.store = &hangar.MemoryStore{Type: "memory_store", ID: hangar.NewID(hangar.PrefixMemoryStore), Name: "Notes", Description: "team",
		Metadata: map[string]string{}, CreatedAt: f.now, UpdatedAt: f.now}
	if err := st.CreateMemoryStore(ctx, f.store); err != nil {
		t.Fatal(err)
	}
	r := New(Config{Store: st, Clock: f.clock})
	for _, m := range []File{{"/prefs.md", "tabs"}, {"/stale.md", "old news"}} {
		if err := r.write(ctx, f.store.ID, hangar.MemoryCreated, "", m.Path, m.Content); err != nil {
			t.Fatal(err)
		}
	}
	s := &hangar.Session{Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle,
		Agent: hangar.Agent{ID: "agent_x", Version: 1}, EnvironmentID: "env_x", Metadata: map[string]string{},
		Resources: json.RawMessage(`[]`), VaultIDs: []string{}, OutcomeEvaluations: json.RawMessage(`[]`), CreatedAt: f.now, UpdatedAt: f.now}
	if err := st.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	_, _, err = st.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: []hangar.Event{
		{ID: hangar.NewID("sevt_"), Type: "user.message", Body: json.RawMessage(`{"content":[{"type":"text","text":"I deploy with make ship"}]}`)},
		{ID: hangar.NewID("sevt_"), Type: "agent.tool_use", Body: json.RawMessage(`{"name":"bash","input":{"command":"make ship"}}`)},
		{ID: hangar.NewID("sevt_"), Type: "agent.tool_result", Body: json.RawMessage(`{"content":[{"type":"text","text":"shipped v2"}]}`)},
		{ID: hangar.NewID("sevt_"), Type: "session.status_idle", Body: json.RawMessage(`{}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.sess = s.ID
	return f
}

func (f *fixture) dream(t *testing.T, output string) *hangar.Dream {
	t.Helper()
	d := &hangar.Dream{ID: hangar.NewID(hangar.PrefixDream), Status: hangar.DreamPending, CreatedAt: f.now, MemoryStore: f.store.ID,
		SessionIDs: []string{f.sess}, Model: "claude-dream-test", Instructions: "keep it short", Output: output}
	if err := f.st.CreateDream(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) files(t *testing.T, storeID string) string {
	t.Helper()
	r := New(Config{Store: f.st})
	ms, err := r.memories(context.Background(), storeID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Path+"="+content(m))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

const reorganized = "```json\n" + `{"memories":[{"path":"/prefs/style.md","content":"tabs"},{"path":"/deploy.md","content":"deploy with make ship"}]}` + "\n```"

// TestCreateNew: the default behavior writes a new store that starts as a copy of the
// input and ends holding exactly the model's set; the input store is untouched; the model
// saw the memories, the transcript and the instructions.
func TestCreateNew(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.dream(t, hangar.DreamCreateNew)
	f.fm.Push(fakemodel.Text(reorganized))
	r := New(Config{Store: f.st, Model: f.model, Clock: f.clock, Owner: "inst_a"})
	if err := r.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.GetDream(ctx, d.ID)
	if got.Status != hangar.DreamCompleted || got.EndedAt == nil || got.Error != nil || got.OutputStore == "" || got.OutputStore == f.store.ID {
		t.Fatalf("dream = %+v", got)
	}
	if got.Usage.OutputTokens == 0 || got.Usage.InputTokens == 0 {
		t.Errorf("usage = %+v", got.Usage)
	}
	if files := f.files(t, got.OutputStore); files != "/deploy.md=deploy with make ship /prefs/style.md=tabs" {
		t.Errorf("output store = %s", files)
	}
	if files := f.files(t, f.store.ID); files != "/prefs.md=tabs /stale.md=old news" {
		t.Errorf("input store changed: %s", files)
	}
	out, _ := f.st.GetMemoryStore(ctx, got.OutputStore)
	if out.Name != "Notes" || out.Metadata["hangar.dream_id"] != d.ID {
		t.Errorf("output store = %+v", out)
	}
	reqs := f.fm.MessageRequests()
	if len(reqs) != 1 || reqs[0].Model != "claude-dream-test" || reqs[0].Stream {
		t.Fatalf("model requests = %+v", reqs)
	}
	for _, want := range []string{`<memory path="/stale.md">`, "old news", "user: I deploy with make ship", "tool call bash:", "tool result: shipped v2", "keep it short"} {
		if !strings.Contains(reqs[0].LastUserText(), want) {
			t.Errorf("prompt lacks %q:\n%s", want, reqs[0].LastUserText())
		}
	}
	// Final dreams are never claimed again.
	if err := r.Tick(ctx); err != nil || len(f.fm.MessageRequests()) != 1 {
		t.Errorf("a second tick ran the dream again (%v)", err)
	}
}

// TestUpdateExisting writes into the input store as a diff: versions for the deleted,
// modified and created memories only.
func TestUpdateExisting(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.dream(t, hangar.DreamUpdateExisting)
	f.fm.Push(fakemodel.Text(`{"memories":[{"path":"/prefs.md","content":"tabs, width 4"},{"path":"/deploy.md","content":"make ship"}]}`))
	r := New(Config{Store: f.st, Model: f.model, Clock: f.clock})
	if err := r.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.GetDream(ctx, d.ID)
	if got.Status != hangar.DreamCompleted || got.OutputStore != f.store.ID {
		t.Fatalf("dream = %+v", got)
	}
	if files := f.files(t, f.store.ID); files != "/deploy.md=make ship /prefs.md=tabs, width 4" {
		t.Errorf("store = %s", files)
	}
	vs, _, _ := f.st.ListMemoryVersions(ctx, f.store.ID, hangar.MemoryVersionFilter{Page: hangar.Page{Limit: 100}})
	var ops []string
	for _, v := range vs[2:] { // after the two fixture creations
		ops = append(ops, v.Operation)
	}
	sort.Strings(ops)
	if strings.Join(ops, ",") != "created,deleted,modified" {
		t.Errorf("dream versions = %v", ops)
	}
}

// TestFailures: an API error, an unusable reply and a missing model end the dream failed
// with the reason; nothing is written to the input store.
func TestFailures(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply *fakemodel.Response
		want  string
	}{
		{"overloaded", ptr(fakemodel.Overloaded()), "answered 529"},
		{"prose", ptr(fakemodel.Text("I tidied it up for you")), "no JSON object"},
		{"bad path", ptr(fakemodel.Text(`{"memories":[{"path":"../etc/passwd","content":"x"}]}`)), "invalid memory path"},
		{"file and dir", ptr(fakemodel.Text(`{"memories":[{"path":"/a","content":"x"},{"path":"/a/b","content":"y"}]}`)), "inside it"},
		{"no model", nil, "no model credential"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			d := f.dream(t, hangar.DreamUpdateExisting)
			cfg := Config{Store: f.st, Clock: f.clock}
			if tt.reply != nil {
				f.fm.Push(*tt.reply)
				cfg.Model = f.model
			}
			if err := New(cfg).Tick(ctx); err != nil {
				t.Fatal(err)
			}
			got, _ := f.st.GetDream(ctx, d.ID)
			if got.Status != hangar.DreamFailed || got.EndedAt == nil || got.Error == nil || !strings.Contains(got.Error.Message, tt.want) {
				t.Fatalf("dream = %+v, error %+v; want failed with %q", got, got.Error, tt.want)
			}
			if files := f.files(t, f.store.ID); files != "/prefs.md=tabs /stale.md=old news" {
				t.Errorf("store changed: %s", files)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestResume: a dream left running by an instance that died (its claim expired) is claimed
// and finished by another; one whose claim is live is left alone; canceled ones never run.
func TestResume(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.dream(t, hangar.DreamCreateNew)
	canceled := f.dream(t, hangar.DreamCreateNew)
	f.st.UpdateDream(ctx, canceled.ID, func(d *hangar.Dream) error { d.Status, d.EndedAt = hangar.DreamCanceled, &f.now; return nil })
	if ok, _ := f.st.ClaimDream(ctx, d.ID, "inst_dead", f.now, f.now.Add(time.Minute)); !ok {
		t.Fatal("claim failed")
	}
	f.st.UpdateDream(ctx, d.ID, func(d *hangar.Dream) error { d.Status = hangar.DreamRunning; return nil })
	r := New(Config{Store: f.st, Model: f.model, Clock: f.clock, Owner: "inst_b"})
	if err := r.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.st.GetDream(ctx, d.ID); got.Status != hangar.DreamRunning || len(f.fm.MessageRequests()) != 0 {
		t.Fatalf("a live claim was ignored: %+v", got)
	}
	f.now = f.now.Add(2 * time.Minute)
	f.fm.Push(fakemodel.Text(reorganized))
	if err := r.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.st.GetDream(ctx, d.ID); got.Status != hangar.DreamCompleted {
		t.Fatalf("resumed dream = %+v", got)
	}
	if got, _ := f.st.GetDream(ctx, canceled.ID); got.Status != hangar.DreamCanceled || len(f.fm.MessageRequests()) != 1 {
		t.Errorf("canceled dream = %+v (model requests %d)", got, len(f.fm.MessageRequests()))
	}
}

// modelFunc adapts a function to Model.
type modelFunc func(ctx context.Context, req Request) (Reply, error)

func (f modelFunc) Dream(ctx context.Context, req Request) (Reply, error) { return f(ctx, req) }

// TestCancelDuringModelCall: a cancel that lands while the model works keeps the dream
// canceled, and nothing is written; the tokens spent still count.
func TestCancelDuringModelCall(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := f.dream(t, hangar.DreamUpdateExisting)
	model := modelFunc(func(ctx context.Context, req Request) (Reply, error) {
		now := f.now
		if _, err := f.st.UpdateDream(ctx, d.ID, func(d *hangar.Dream) error { d.Status, d.EndedAt = hangar.DreamCanceled, &now; return nil }); err != nil {
			t.Error(err)
		}
		return Reply{Memories: []File{{"/new.md", "x"}}, Usage: hangar.DreamUsage{InputTokens: 7, OutputTokens: 3}}, nil
	})
	if err := New(Config{Store: f.st, Model: model, Clock: f.clock}).Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.GetDream(ctx, d.ID)
	if got.Status != hangar.DreamCanceled || got.Error != nil || got.Usage.OutputTokens != 3 {
		t.Fatalf("dream = %+v", got)
	}
	if files := f.files(t, f.store.ID); files != "/prefs.md=tabs /stale.md=old news" {
		t.Errorf("a canceled dream wrote: %s", files)
	}
}

// TestShutdownReleases: a runner stopped mid-dream gives its claim up, so that the dream
// is runnable at once (by another instance, or this one restarted), and a new runner
// finishes it.
func TestShutdownReleases(t *testing.T) {
	f := newFixture(t)
	d := f.dream(t, hangar.DreamCreateNew)
	ctx, cancel := context.WithCancel(context.Background())
	model := modelFunc(func(ctx context.Context, req Request) (Reply, error) {
		cancel() // the server shuts down while the model works
		<-ctx.Done()
		return Reply{}, ctx.Err()
	})
	if err := New(Config{Store: f.st, Model: model, Clock: f.clock, Owner: "inst_old"}).Tick(ctx); err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	if got, _ := f.st.GetDream(bg, d.ID); got.Status != hangar.DreamRunning {
		t.Fatalf("dream = %+v, want still running", got)
	}
	if ids, _ := f.st.RunnableDreams(bg, f.now, 10); len(ids) != 1 || ids[0] != d.ID {
		t.Fatalf("runnable = %v; the claim was not released", ids)
	}
	f.fm.Push(fakemodel.Text(reorganized))
	if err := New(Config{Store: f.st, Model: f.model, Clock: f.clock, Owner: "inst_new"}).Tick(bg); err != nil {
		t.Fatal(err)
	}
	got, _ := f.st.GetDream(bg, d.ID)
	if got.Status != hangar.DreamCompleted {
		t.Fatalf("dream = %+v", got)
	}
	// The store the first run made is reused, not a second one created.
	stores, _, _ := f.st.ListMemoryStores(bg, hangar.MemoryStoreFilter{Page: hangar.Page{Limit: 10}})
	if len(stores) != 2 {
		t.Errorf("%d memory stores, want the input and one output", len(stores))
	}
}
