package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hangar-dev/hangar"
)

// --- fakes: a runner that appends through the store and publishes, and a hub

// fakeRunner stores sent events through the store and publishes them on its hub. For every
// user.message it also plays a short turn: session.status_running, an agent.message echoing
// the text, and session.status_idle. Sessions to archived or terminated sessions are
// refused with a conflict, as the real runner does.
type fakeRunner struct {
	store hangar.Store
	hub   *fakeHub
	now   hangar.Clock
	ids   hangar.IDGen

	mu   sync.Mutex
	keys []string // idempotency keys received, in order
}

func (fr *fakeRunner) Send(ctx context.Context, sessionID string, events []hangar.Event, key string) ([]hangar.Event, error) {
	fr.mu.Lock()
	fr.keys = append(fr.keys, key)
	fr.mu.Unlock()
	stored, _, err := fr.store.AppendEvents(ctx, hangar.AppendRequest{
		SessionID:      sessionID,
		Events:         events,
		IdempotencyKey: key,
		Mutate: func(s *hangar.Session) error {
			if s.ArchivedAt != nil {
				return hangar.Errorf(hangar.KindConflict, "session %s is archived", s.ID)
			}
			if s.Status == hangar.StatusTerminated {
				return hangar.Errorf(hangar.KindConflict, "session %s is terminated", s.ID)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	fr.publish(stored)
	for _, ev := range stored {
		if ev.Type != hangar.EventUserMessage || !fr.isNew(ev, events) {
			continue
		}
		var msg struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		_ = json.Unmarshal(ev.Body, &msg)
		text := ""
		if len(msg.Content) > 0 {
			text = msg.Content[0].Text
		}
		if _, err := fr.Emit(ctx, sessionID,
			hangar.NewEvent(hangar.EventStatusRunning, nil),
			hangar.NewEvent(hangar.EventAgentMessage, map[string]any{"content": []map[string]string{{"type": "text", "text": "echo: " + text}}}),
			hangar.NewEvent(hangar.EventStatusIdle, map[string]any{"stop_reason": hangar.StopReason{Type: "end_turn"}}),
		); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// isNew reports whether ev is one of the events of this call (not a replay of an earlier
// call with the same idempotency key).
func (fr *fakeRunner) isNew(ev hangar.Event, sent []hangar.Event) bool {
	for _, s := range sent {
		if s.ID == ev.ID {
			return true
		}
	}
	return false
}

// Emit appends server events (processed now) and publishes them.
func (fr *fakeRunner) Emit(ctx context.Context, sessionID string, events ...hangar.Event) ([]hangar.Event, error) {
	for i := range events {
		now := fr.now()
		events[i].ID = fr.ids(hangar.PrefixEvent)
		events[i].ProcessedAt = &now
	}
	stored, _, err := fr.store.AppendEvents(ctx, hangar.AppendRequest{SessionID: sessionID, Events: events})
	if err != nil {
		return nil, err
	}
	fr.publish(stored)
	return stored, nil
}

func (fr *fakeRunner) publish(evs []hangar.Event) {
	for _, ev := range evs {
		fr.hub.Publish(ev)
	}
}

func (fr *fakeRunner) Delete(ctx context.Context, sessionID string) error {
	if err := fr.store.DeleteSession(ctx, sessionID); err != nil {
		return err
	}
	ev := hangar.NewEvent(hangar.EventSessionDeleted, nil)
	ev.ID, ev.SessionID = fr.ids(hangar.PrefixEvent), sessionID
	now := fr.now()
	ev.ProcessedAt = &now
	fr.hub.Publish(ev)
	return nil
}

func (fr *fakeRunner) idempotencyKeys() []string {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return append([]string(nil), fr.keys...)
}

// fakeHub is an in-memory hub. Each subscriber buffers 64 events and is dropped (its
// channel closed) when full. onSubscribe, if set, runs after each subscription is
// registered; cancelled receives the session ID of each cancelled subscription.
type fakeHub struct {
	cancelled chan string

	mu          sync.Mutex
	subs        map[string]map[*fakeSub]bool
	onSubscribe func(sessionID string)
}

type fakeSub struct {
	ch     chan *hangar.Event
	closed bool
}

func newFakeHub() *fakeHub {
	return &fakeHub{cancelled: make(chan string, 16), subs: map[string]map[*fakeSub]bool{}}
}

// setOnSubscribe sets a hook run (outside the hub's lock) after each subscription.
func (h *fakeHub) setOnSubscribe(fn func(sessionID string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onSubscribe = fn
}

// subscribers counts open subscriptions.
func (h *fakeHub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.subs {
		n += len(set)
	}
	return n
}

func (h *fakeHub) Subscribe(sessionID string) (<-chan *hangar.Event, func()) {
	sub := &fakeSub{ch: make(chan *hangar.Event, 64)}
	h.mu.Lock()
	if h.subs[sessionID] == nil {
		h.subs[sessionID] = map[*fakeSub]bool{}
	}
	h.subs[sessionID][sub] = true
	hook := h.onSubscribe
	h.mu.Unlock()
	if hook != nil {
		hook(sessionID)
	}
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			h.drop(sessionID, sub)
			h.mu.Unlock()
			select {
			case h.cancelled <- sessionID:
			default:
			}
		})
	}
}

// drop removes and closes sub; the caller holds h.mu.
func (h *fakeHub) drop(sessionID string, sub *fakeSub) {
	delete(h.subs[sessionID], sub)
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
}

// Publish delivers ev to the subscribers of its session, dropping those that are full.
func (h *fakeHub) Publish(ev hangar.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[ev.SessionID] {
		select {
		case sub.ch <- &ev:
		default:
			h.drop(ev.SessionID, sub)
		}
	}
}

// DropAll closes every subscription of a session, as a hub does to slow subscribers.
func (h *fakeHub) DropAll(sessionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[sessionID] {
		h.drop(sessionID, sub)
	}
}

var (
	_ Runner = (*fakeRunner)(nil)
	_ Hub    = (*fakeHub)(nil)
)

// sessionEnv is a test server with a fake runner and hub, and fixtures to build sessions.
type sessionEnv struct {
	t      *testing.T
	srv    *Server
	store  hangar.Store
	runner *fakeRunner
	hub    *fakeHub
	clock  hangar.Clock
}

func newSessionEnv(t *testing.T, opts ...func(*Config)) *sessionEnv {
	t.Helper()
	e := &sessionEnv{t: t, hub: newFakeHub()}
	srv, st := newTestServer(t, append([]func(*Config){func(c *Config) {
		e.runner = &fakeRunner{store: c.Store, hub: e.hub, now: c.Clock, ids: c.NewID}
		c.Runner, c.Hub = e.runner, e.hub
		e.clock = c.Clock
	}}, opts...)...)
	e.srv, e.store = srv, st
	return e
}

func (e *sessionEnv) ctx() context.Context { return context.Background() }

// agent stores version 1 of an agent (and version 2 with another system prompt when
// versions > 1).
func (e *sessionEnv) agent(name string, versions int) *hangar.Agent {
	e.t.Helper()
	now := e.clock()
	a := &hangar.Agent{
		Type: "agent", ID: e.srv.newID(hangar.PrefixAgent), Version: 1, Name: name,
		Model:             hangar.Model{ID: "claude-sonnet-4-6", Speed: "standard"},
		Tools:             json.RawMessage(`[]`),
		MCPServers:        json.RawMessage(`[]`),
		Skills:            json.RawMessage(`[]`),
		ExecutionIdentity: json.RawMessage(`{"type":"service_account"}`),
		Metadata:          map[string]string{},
		Engine:            hangar.EngineScripted,
		CreatedAt:         now, UpdatedAt: now,
	}
	if err := e.store.CreateAgent(e.ctx(), a); err != nil {
		e.t.Fatalf("create agent: %v", err)
	}
	for v := 2; v <= versions; v++ {
		var err error
		a, err = e.store.UpdateAgent(e.ctx(), a.ID, e.clock(), func(a *hangar.Agent) error {
			sys := fmt.Sprintf("prompt v%d", v)
			a.System = &sys
			return nil
		})
		if err != nil {
			e.t.Fatalf("update agent: %v", err)
		}
	}
	return a
}

func (e *sessionEnv) environment(name string) *hangar.Environment {
	e.t.Helper()
	now := e.clock()
	env := &hangar.Environment{
		Type: "environment", ID: e.srv.newID(hangar.PrefixEnvironment), Name: name,
		Config:   hangar.EnvironmentConfig{Type: "cloud", Networking: &hangar.Networking{Type: "unrestricted"}},
		Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.store.CreateEnvironment(e.ctx(), env); err != nil {
		e.t.Fatalf("create environment: %v", err)
	}
	return env
}

func (e *sessionEnv) file(name string) *hangar.File {
	e.t.Helper()
	f := &hangar.File{Type: "file", ID: e.srv.newID(hangar.PrefixFile), Filename: name, MimeType: "text/plain", SizeBytes: 3, CreatedAt: e.clock()}
	if err := e.store.CreateFile(e.ctx(), f); err != nil {
		e.t.Fatalf("create file: %v", err)
	}
	return f
}

func (e *sessionEnv) vault(name string) *hangar.Vault {
	e.t.Helper()
	now := e.clock()
	v := &hangar.Vault{Type: "vault", ID: e.srv.newID(hangar.PrefixVault), DisplayName: name, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateVault(e.ctx(), v); err != nil {
		e.t.Fatalf("create vault: %v", err)
	}
	return v
}

// session creates a session through the API and returns it decoded.
func (e *sessionEnv) session(body string) sessionJSON {
	e.t.Helper()
	var s sessionJSON
	apiOK(e.t, e.srv, "POST", "/v1/sessions", body, &s)
	return s
}

// setStatus forces a session's status in the store.
func (e *sessionEnv) setStatus(id, status string) {
	e.t.Helper()
	if _, err := e.store.UpdateSession(e.ctx(), id, func(s *hangar.Session) error {
		s.Status = status
		return nil
	}); err != nil {
		e.t.Fatalf("set status: %v", err)
	}
}

// sessionJSON is the part of a session response the tests read.
type sessionJSON struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Agent  struct {
		ID      string  `json:"id"`
		Version int     `json:"version"`
		System  *string `json:"system"`
	} `json:"agent"`
	EnvironmentID string            `json:"environment_id"`
	Title         *string           `json:"title"`
	Metadata      map[string]string `json:"metadata"`
	Resources     []map[string]any  `json:"resources"`
	VaultIDs      []string          `json:"vault_ids"`
	CreatedAt     time.Time         `json:"created_at"`
	ArchivedAt    *time.Time        `json:"archived_at"`
}

type sessionPage struct {
	Data     []sessionJSON `json:"data"`
	NextPage *string       `json:"next_page"`
	PrevPage *string       `json:"prev_page"`
}

func ids(ss []sessionJSON) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// --- create

func TestSessionCreate(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("pinned", 2)
	env := e.environment("env")
	f := e.file("notes.txt")
	v := e.vault("keys")

	t.Run("minimal", func(t *testing.T) {
		body := apiOK(t, e.srv, "POST", "/v1/sessions", fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, env.ID), nil)
		checkGolden(t, "session_create_minimal", body)
	})
	t.Run("full", func(t *testing.T) {
		body := apiOK(t, e.srv, "POST", "/v1/sessions", fmt.Sprintf(`{
			"agent":{"type":"agent","id":%q,"version":1},
			"environment_id":%q,
			"title":"Refactor",
			"metadata":{"team":"infra"},
			"resources":[{"type":"file","file_id":%q},{"type":"file","file_id":%q,"mount_path":"/data/notes.txt"}],
			"vault_ids":[%q]}`, a.ID, env.ID, f.ID, f.ID, v.ID), nil)
		checkGolden(t, "session_create_full", body)
	})

	versions := []struct {
		name        string
		agent       string
		wantVersion int
		wantSystem  string
	}{
		{"id string takes the latest version", fmt.Sprintf("%q", a.ID), 2, "prompt v2"},
		{"object without version takes the latest", fmt.Sprintf(`{"type":"agent","id":%q}`, a.ID), 2, "prompt v2"},
		{"object pins a version", fmt.Sprintf(`{"type":"agent","id":%q,"version":1}`, a.ID), 1, ""},
	}
	for _, tt := range versions {
		t.Run(tt.name, func(t *testing.T) {
			s := e.session(fmt.Sprintf(`{"agent":%s,"environment_id":%q}`, tt.agent, env.ID))
			sys := ""
			if s.Agent.System != nil {
				sys = *s.Agent.System
			}
			if s.Agent.ID != a.ID || s.Agent.Version != tt.wantVersion || sys != tt.wantSystem {
				t.Errorf("agent = %s v%d %q, want %s v%d %q", s.Agent.ID, s.Agent.Version, sys, a.ID, tt.wantVersion, tt.wantSystem)
			}
		})
	}

	t.Run("initial_events start the conversation", func(t *testing.T) {
		s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q,"initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]}`, a.ID, env.ID))
		var page struct {
			Data []struct {
				Type string `json:"type"`
			} `json:"data"`
		}
		apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID+"/events", "", &page)
		var got []string
		for _, ev := range page.Data {
			got = append(got, ev.Type)
		}
		want := []string{"user.message", "session.status_running", "agent.message", "session.status_idle"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	archivedAgent := e.agent("retired", 1)
	if _, err := e.store.ArchiveAgent(e.ctx(), archivedAgent.ID, e.clock()); err != nil {
		t.Fatal(err)
	}
	archivedEnv := e.environment("old")
	if _, err := e.store.ArchiveEnvironment(e.ctx(), archivedEnv.ID, e.clock()); err != nil {
		t.Fatal(err)
	}
	archivedVault := e.vault("old")
	if _, err := e.store.UpdateVault(e.ctx(), archivedVault.ID, func(v *hangar.Vault) error {
		now := e.clock()
		v.ArchivedAt = &now
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	errs := []struct {
		name    string
		body    string
		status  int
		errType string
		want    string
	}{
		{"missing agent", fmt.Sprintf(`{"environment_id":%q}`, env.ID), 400, "invalid_request_error", "agent: field required"},
		{"agent of the wrong type", fmt.Sprintf(`{"agent":7,"environment_id":%q}`, env.ID), 400, "invalid_request_error", "agent: expected an agent id or object"},
		{"unknown agent", fmt.Sprintf(`{"agent":"agent_missing","environment_id":%q}`, env.ID), 404, "not_found_error", "agent_missing"},
		{"unknown agent version", fmt.Sprintf(`{"agent":{"type":"agent","id":%q,"version":9},"environment_id":%q}`, a.ID, env.ID), 404, "not_found_error", a.ID},
		{"version zero", fmt.Sprintf(`{"agent":{"type":"agent","id":%q,"version":0},"environment_id":%q}`, a.ID, env.ID), 400, "invalid_request_error", "agent.version: must be at least 1"},
		{"archived agent", fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, archivedAgent.ID, env.ID), 400, "invalid_request_error", "is archived"},
		{"agent_with_overrides bad tools", fmt.Sprintf(`{"agent":{"type":"agent_with_overrides","id":%q,"tools":{}},"environment_id":%q}`, a.ID, env.ID), 400, "invalid_request_error", "agent.tools: expected array"},
		{"agent object extra field", fmt.Sprintf(`{"agent":{"type":"agent","id":%q,"model":"x"},"environment_id":%q}`, a.ID, env.ID), 400, "invalid_request_error", "agent.model: extra inputs are not permitted"},
		{"missing environment", fmt.Sprintf(`{"agent":%q}`, a.ID), 400, "invalid_request_error", "environment_id: field required"},
		{"unknown environment", fmt.Sprintf(`{"agent":%q,"environment_id":"env_missing"}`, a.ID), 404, "not_found_error", "env_missing"},
		{"archived environment", fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, archivedEnv.ID), 400, "invalid_request_error", "is archived"},
		{"title too long", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"title":%q}`, a.ID, env.ID, strings.Repeat("t", 501)), 400, "invalid_request_error", "title: must be at most 500 characters"},
		{"too much metadata", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"metadata":{%s}}`, a.ID, env.ID, manyPairs(17)), 400, "invalid_request_error", "metadata: at most 16"},
		{"github repository over ftp", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"github_repository","url":"ftp://github.com/a/b","authorization_token":"ghp_x"}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].url: must use https"},
		{"github repository without token", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"github_repository","url":"https://github.com/a/b"}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].authorization_token"},
		{"github repository bad commit", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"github_repository","url":"https://github.com/a/b","authorization_token":"ghp_x","checkout":{"type":"commit","sha":"xyz"}}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].checkout.sha"},
		{"memory store not found", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"memory_store","memory_store_id":"memstore_1"}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].memory_store_id: memory store memstore_1 not found"},
		{"unknown resource type", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"disk"}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].type: must be one of"},
		{"unknown file", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"file","file_id":"file_missing"}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].file_id: file file_missing not found"},
		{"file without id", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"file"}]}`, a.ID, env.ID), 400, "invalid_request_error", "resources[0].file_id: field required"},
		{"relative mount path", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"file","file_id":%q,"mount_path":"data/x"}]}`, a.ID, env.ID, f.ID), 400, "invalid_request_error", "resources[0].mount_path: must be an absolute path"},
		{"mount path escaping", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"file","file_id":%q,"mount_path":"/data/../etc"}]}`, a.ID, env.ID, f.ID), 400, "invalid_request_error", "must not contain . or .. segments"},
		{"duplicate mount path", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"resources":[{"type":"file","file_id":%q},{"type":"file","file_id":%q}]}`, a.ID, env.ID, f.ID, f.ID), 400, "invalid_request_error", "resources[1].mount_path"},
		{"unknown vault", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"vault_ids":["vlt_missing"]}`, a.ID, env.ID), 400, "invalid_request_error", "vault_ids[0]: vault vlt_missing not found"},
		{"archived vault", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"vault_ids":[%q]}`, a.ID, env.ID, archivedVault.ID), 400, "invalid_request_error", "vault_ids[0]: vault " + archivedVault.ID + " is archived"},
		{"duplicate vault", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"vault_ids":[%q,%q]}`, a.ID, env.ID, v.ID, v.ID), 400, "invalid_request_error", "vault_ids[1]"},
		{"initial agent event", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"initial_events":[{"type":"agent.message","content":[]}]}`, a.ID, env.ID), 400, "invalid_request_error", "initial_events[0].type"},
		{"initial interrupt", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"initial_events":[{"type":"user.interrupt"}]}`, a.ID, env.ID), 400, "invalid_request_error", "initial_events[0].type"},
		{"budget without max_list_cost", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"budget":{"type":"limit"}}`, a.ID, env.ID), 400, "invalid_request_error", "budget.max_list_cost: field required"},
		{"budget in euros", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"budget":{"type":"limit","max_list_cost":{"amount":"100","currency":"EUR"}}}`, a.ID, env.ID), 400, "invalid_request_error", "budget.max_list_cost.currency"},
		{"budget amount not an integer", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"budget":{"type":"limit","max_list_cost":{"amount":"1.5","currency":"USD"}}}`, a.ID, env.ID), 400, "invalid_request_error", "budget.max_list_cost.amount"},
		{"unknown field", fmt.Sprintf(`{"agent":%q,"environment_id":%q,"colour":"red"}`, a.ID, env.ID), 400, "invalid_request_error", "colour: extra inputs are not permitted"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions", tt.body), tt.status, tt.errType)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}

	t.Run("failed creates store nothing", func(t *testing.T) {
		var page sessionPage
		apiOK(t, e.srv, "GET", "/v1/sessions?limit=100&include_archived=true", "", &page)
		if len(page.Data) != 6 {
			t.Errorf("%d sessions stored, want 6 (the successful creates)", len(page.Data))
		}
	})
}

func manyPairs(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"v"`, i)
	}
	return b.String()
}

// --- list

func TestSessionList(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("a", 2)
	b := e.agent("b", 1)
	env := e.environment("env")

	// 45 sessions: the first 30 on agent a (10 pinned to v1), the rest on agent b.
	var all []sessionJSON // in creation order
	for i := range 45 {
		agent := fmt.Sprintf("%q", a.ID)
		switch {
		case i < 10:
			agent = fmt.Sprintf(`{"type":"agent","id":%q,"version":1}`, a.ID)
		case i >= 30:
			agent = fmt.Sprintf("%q", b.ID)
		}
		all = append(all, e.session(fmt.Sprintf(`{"agent":%s,"environment_id":%q,"title":"s%02d"}`, agent, env.ID, i)))
	}
	reversed := func(ss []sessionJSON) []string {
		out := ids(ss)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	list := func(t *testing.T, query string) sessionPage {
		t.Helper()
		var p sessionPage
		apiOK(t, e.srv, "GET", "/v1/sessions"+query, "", &p)
		return p
	}

	t.Run("pages forward and back", func(t *testing.T) {
		for _, order := range []string{"desc", "asc"} {
			t.Run(order, func(t *testing.T) {
				want := reversed(all)
				if order == "asc" {
					want = ids(all)
				}
				q := "?limit=20"
				if order == "asc" {
					q += "&order=asc"
				}
				p1 := list(t, q)
				if p1.PrevPage != nil {
					t.Errorf("first page prev_page = %q, want null", *p1.PrevPage)
				}
				if p1.NextPage == nil {
					t.Fatal("first page has no next_page")
				}
				p2 := list(t, "?limit=20&page="+url.QueryEscape(*p1.NextPage))
				if p2.NextPage == nil {
					t.Fatal("second page has no next_page")
				}
				p3 := list(t, "?limit=20&page="+url.QueryEscape(*p2.NextPage))
				if p3.NextPage != nil {
					t.Errorf("last page next_page = %q, want null", *p3.NextPage)
				}
				var got []string
				for _, p := range []sessionPage{p1, p2, p3} {
					got = append(got, ids(p.Data)...)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("forward walk (-want +got):\n%s", diff)
				}
				if p3.PrevPage == nil {
					t.Fatal("last page has no prev_page")
				}
				back2 := list(t, "?limit=20&page="+url.QueryEscape(*p3.PrevPage))
				if diff := cmp.Diff(ids(p2.Data), ids(back2.Data)); diff != "" {
					t.Errorf("prev_page of page 3 (-want page 2 +got):\n%s", diff)
				}
				if back2.PrevPage == nil {
					t.Fatal("page 2 reached backwards has no prev_page")
				}
				back1 := list(t, "?limit=20&page="+url.QueryEscape(*back2.PrevPage))
				if diff := cmp.Diff(ids(p1.Data), ids(back1.Data)); diff != "" {
					t.Errorf("prev_page of page 2 (-want page 1 +got):\n%s", diff)
				}
				if back1.PrevPage != nil {
					t.Errorf("page 1 reached backwards has prev_page %q, want null", *back1.PrevPage)
				}
			})
		}
	})

	t.Run("default page", func(t *testing.T) {
		p := list(t, "")
		if diff := cmp.Diff(reversed(all)[:20], ids(p.Data)); diff != "" {
			t.Errorf("default page is the newest 20 (-want +got):\n%s", diff)
		}
	})

	// Statuses and archival for the filter cases.
	e.setStatus(all[40].ID, hangar.StatusRunning)
	e.setStatus(all[41].ID, hangar.StatusTerminated)
	e.setStatus(all[42].ID, hangar.StatusRescheduling)
	apiOK(t, e.srv, "POST", "/v1/sessions/"+all[44].ID+"/archive", "", nil)
	notArchived := all[:44]

	filters := []struct {
		name  string
		query string
		want  []string
	}{
		{"agent_id", "?order=asc&limit=100&agent_id=" + b.ID, ids(all[30:44])},
		{"agent_id and version", "?order=asc&limit=100&agent_id=" + a.ID + "&agent_version=1", ids(all[:10])},
		{"agent_version alone is ignored", "?order=asc&limit=100&agent_version=1", ids(notArchived)},
		{"statuses[]", "?order=asc&statuses[]=running&statuses[]=terminated", ids(all[40:42])},
		{"statuses without brackets", "?order=asc&statuses=rescheduling", ids(all[42:43])},
		{"include_archived", "?order=asc&limit=100&include_archived=true", ids(all)},
		{"created_at range", "?order=asc&created_at[gte]=" + url.QueryEscape(all[5].CreatedAt.Format(time.RFC3339Nano)) + "&created_at[lt]=" + url.QueryEscape(all[8].CreatedAt.Format(time.RFC3339Nano)), ids(all[5:8])},
		{"created_at gt and lte", "?order=asc&created_at[gt]=" + url.QueryEscape(all[5].CreatedAt.Format(time.RFC3339Nano)) + "&created_at[lte]=" + url.QueryEscape(all[8].CreatedAt.Format(time.RFC3339Nano)), ids(all[6:9])},
		{"memory_store_id matches nothing", "?memory_store_id=memstore_1", nil},
		{"beta=true is ignored", "?order=asc&limit=100&beta=true", ids(notArchived)},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			p := list(t, tt.query)
			if diff := cmp.Diff(tt.want, ids(p.Data), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	bad := []struct {
		name, query, want string
	}{
		{"limit 0", "?limit=0", "limit: must be an integer between 1 and 100"},
		{"limit 101", "?limit=101", "limit: must be an integer between 1 and 100"},
		{"order", "?order=up", "order: must be asc or desc"},
		{"status", "?statuses[]=sleeping", "statuses: must be one of"},
		{"agent_version", "?agent_id=x&agent_version=zero", "agent_version"},
		{"include_archived", "?include_archived=maybe", "include_archived"},
		{"created_at", "?created_at[gte]=yesterday", "created_at[gte]"},
		{"cursor", "?page=page_bogus", "page: invalid cursor"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, e.srv, "GET", "/v1/sessions"+tt.query, ""), 400, "invalid_request_error")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}

	t.Run("cursor reused with another order", func(t *testing.T) {
		p := list(t, "?limit=5")
		apiError(t, apiDo(t, e.srv, "GET", "/v1/sessions?order=asc&page="+url.QueryEscape(*p.NextPage), ""), 400, "invalid_request_error")
	})
}

// --- get, update, archive, delete

func TestSessionGetUpdateArchiveDelete(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("a", 1)
	env := e.environment("env")
	create := func() sessionJSON {
		return e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q,"title":"first","metadata":{"keep":"1","drop":"2"}}`, a.ID, env.ID))
	}

	t.Run("get", func(t *testing.T) {
		s := create()
		body := apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID, "", nil)
		checkGolden(t, "session_get", body)
		apiError(t, apiDo(t, e.srv, "GET", "/v1/sessions/sesn_missing", ""), 404, "not_found_error")
	})

	t.Run("update", func(t *testing.T) {
		s := create()
		body := apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID, `{"title":"second","metadata":{"drop":null,"add":"3"}}`, nil)
		checkGolden(t, "session_update", body)

		var got sessionJSON
		apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID, `{"metadata":{"keep":"one"}}`, &got)
		if got.Title == nil || *got.Title != "second" {
			t.Errorf("title = %v, want kept", got.Title)
		}
		if diff := cmp.Diff(map[string]string{"keep": "one", "add": "3"}, got.Metadata); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
		apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID, `{"title":null}`, &got)
		if got.Title != nil {
			t.Errorf("title = %q, want null", *got.Title)
		}
	})

	t.Run("update errors", func(t *testing.T) {
		s := create()
		cases := []struct {
			name, body string
			status     int
			want       string
		}{
			{"vault_ids", `{"vault_ids":["vlt_1"]}`, 400, "vault_ids: updating the vaults of a session is not yet supported"},
			{"agent", `{"agent":{"model":"claude-opus-4-6"}}`, 400, "only tools and mcp_servers can be updated"},
			{"empty title", `{"title":""}`, 400, "title: must not be empty"},
			{"long title", fmt.Sprintf(`{"title":%q}`, strings.Repeat("x", 501)), 400, "title: must be at most 500"},
			{"title number", `{"title":5}`, 400, "title: expected string or null"},
			{"metadata too many", fmt.Sprintf(`{"metadata":{%s}}`, manyPairs(17)), 400, "metadata: at most 16"},
			{"unknown field", `{"status":"idle"}`, 400, "status: extra inputs are not permitted"},
		}
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID, tt.body), tt.status, "invalid_request_error")
				if !strings.Contains(msg, tt.want) {
					t.Errorf("message %q does not contain %q", msg, tt.want)
				}
			})
		}
		apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/sesn_missing", `{"title":"x"}`), 404, "not_found_error")
	})

	t.Run("archive", func(t *testing.T) {
		s := create()
		body := apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/archive", "", nil)
		checkGolden(t, "session_archive", body)
		var first, again sessionJSON
		_ = json.Unmarshal(body, &first)
		apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/archive", "", &again)
		if first.ArchivedAt == nil || again.ArchivedAt == nil || !first.ArchivedAt.Equal(*again.ArchivedAt) {
			t.Errorf("archived_at %v then %v, want set once", first.ArchivedAt, again.ArchivedAt)
		}
		msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/events", `{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]}`), 409, "invalid_request_error")
		if !strings.Contains(msg, "archived") {
			t.Errorf("message %q", msg)
		}
		apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID, `{"title":"x"}`), 409, "invalid_request_error")
		apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID, "", nil)
	})

	t.Run("archive refuses active sessions", func(t *testing.T) {
		for _, status := range []string{hangar.StatusRunning, hangar.StatusRescheduling} {
			s := create()
			e.setStatus(s.ID, status)
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/archive", ""), 409, "invalid_request_error")
			if !strings.Contains(msg, status) {
				t.Errorf("message %q does not name the status %s", msg, status)
			}
		}
		s := create()
		e.setStatus(s.ID, hangar.StatusTerminated)
		apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/archive", "", nil)
		apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/sesn_missing/archive", ""), 404, "not_found_error")
	})

	t.Run("delete", func(t *testing.T) {
		s := create()
		apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID+"/events", `{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]}]}`, nil)
		body := apiOK(t, e.srv, "DELETE", "/v1/sessions/"+s.ID, "", nil)
		checkGolden(t, "session_delete", body)
		apiError(t, apiDo(t, e.srv, "GET", "/v1/sessions/"+s.ID, ""), 404, "not_found_error")
		apiError(t, apiDo(t, e.srv, "GET", "/v1/sessions/"+s.ID+"/events", ""), 404, "not_found_error")
		apiError(t, apiDo(t, e.srv, "DELETE", "/v1/sessions/"+s.ID, ""), 404, "not_found_error")
	})
}

func TestSessionWithoutRunner(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t, func(c *Config) { c.Runner = nil })
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, e.agent("a", 1).ID, e.environment("env").ID))
	apiError(t, apiDo(t, e.srv, "DELETE", "/v1/sessions/"+s.ID, ""), 529, "overloaded_error")
	apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID, "", nil)
}
