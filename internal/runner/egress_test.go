package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/runner"
)

// fakeEgress records attachments.
type fakeEgress struct {
	err error

	mu       sync.Mutex
	attached []attachCall
	closed   map[string]int
}

type attachCall struct {
	Session string
	Policy  hangar.Networking
	Opts    runner.EgressOptions
}

func (f *fakeEgress) Attach(ctx context.Context, sessionID string, policy hangar.Networking, opts runner.EgressOptions) (*runner.EgressAttachment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached = append(f.attached, attachCall{sessionID, policy, opts})
	if f.err != nil {
		return nil, f.err
	}
	return &runner.EgressAttachment{
		Socket: "/run/egress/" + sessionID + ".sock", TCPAddr: "127.0.0.1:5555", Token: "tok-" + sessionID,
		Close: func() error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.closed == nil {
				f.closed = map[string]int{}
			}
			f.closed[sessionID]++
			return nil
		},
	}, nil
}

func (f *fakeEgress) calls() []attachCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]attachCall(nil), f.attached...)
}

func (f *fakeEgress) closes(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed[id]
}

// isolated reports the memory provider as isolated, like bubblewrap or docker.
type isolated struct{ *memory.Provider }

func (p isolated) Capabilities() provider.Capabilities {
	c := p.Provider.Capabilities()
	c.Isolated = true
	return c
}

// startWithEgress starts the env's runner with eg as its egress proxy and prov as the
// "memory" provider.
func (e *env) startWithEgress(eg runner.Egress, prov provider.Provider) *runner.Runner {
	e.t.Helper()
	engines := engine.NewRegistry()
	engines.Register("fake", func(json.RawMessage, engine.Deps) (engine.Engine, error) { return e.fake, nil })
	providers := provider.NewRegistry()
	providers.Register("memory", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return prov, nil })
	e.runner = runner.New(runner.Config{Store: e.store, Hub: e.hub, Engines: engines, Providers: providers, Egress: eg, Secrets: fakeSecrets{}})
	if err := e.runner.Start(e.ctx); err != nil {
		e.t.Fatalf("start runner: %v", err)
	}
	return e.runner
}

// useEnvironment creates an environment with cfg and makes it the env's default.
func (e *env) useEnvironment(cfg hangar.EnvironmentConfig) {
	e.t.Helper()
	e.envID = hangar.NewID(hangar.PrefixEnvironment)
	now := hangar.Now()
	if err := e.store.CreateEnvironment(e.ctx, &hangar.Environment{Type: "environment", ID: e.envID, Name: "env-" + e.envID, Config: cfg, CreatedAt: now, UpdatedAt: now}); err != nil {
		e.t.Fatalf("create environment: %v", err)
	}
}

func (e *env) turn(id, msg string) []hangar.Event {
	e.t.Helper()
	s := e.subscribe(id)
	e.send(id, userMessage(msg))
	return s.until(hangar.EventStatusIdle)
}

func TestEgressAttachedWithSandbox(t *testing.T) {
	t.Parallel()
	yes := true
	tests := []struct {
		name       string
		isolated   bool
		networking *hangar.Networking
		mcp        string
		wantPolicy hangar.Networking
		wantAddr   string
	}{
		{
			name:       "host provider, default networking",
			wantPolicy: hangar.Networking{Type: "unrestricted"},
			wantAddr:   "http://127.0.0.1:5555",
		},
		{
			name:       "isolated provider, limited networking with MCP servers",
			isolated:   true,
			networking: &hangar.Networking{Type: "limited", AllowedHosts: []string{"docs.example.com"}, AllowMCPServers: &yes},
			mcp:        `[{"type":"url","name":"a","url":"https://mcp.example.com/sse"},{"type":"url","name":"b","url":"http://10.0.0.2:8080/mcp"},{"type":"url","name":"c","url":"https://mcp.example.com/other"}]`,
			wantPolicy: hangar.Networking{Type: "limited", AllowedHosts: []string{"docs.example.com", "mcp.example.com", "10.0.0.2:8080"}, AllowMCPServers: &yes},
			wantAddr:   "http://" + provider.EgressAddr,
		},
		{
			name:       "limited networking without MCP servers allowed",
			networking: &hangar.Networking{Type: "limited", AllowedHosts: []string{"docs.example.com"}},
			mcp:        `[{"type":"url","name":"a","url":"https://mcp.example.com/sse"}]`,
			wantPolicy: hangar.Networking{Type: "limited", AllowedHosts: []string{"docs.example.com"}},
			wantAddr:   "http://127.0.0.1:5555",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.useEnvironment(hangar.EnvironmentConfig{Type: "cloud", Networking: tt.networking})
			eg := &fakeEgress{}
			mem := &memory.Provider{}
			var prov provider.Provider = mem
			if tt.isolated {
				prov = isolated{mem}
			}
			e.startWithEgress(eg, prov)
			id := e.session("fake", nil, "")
			if tt.mcp != "" {
				if _, err := e.store.UpdateSession(e.ctx, id, func(s *hangar.Session) error {
					s.Agent.MCPServers = json.RawMessage(tt.mcp)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			e.turn(id, "one")
			e.turn(id, "two")

			calls := eg.calls()
			for i := range calls {
				calls[i].Opts.MCPServers = nil // TestEgressMCPServers checks them
			}
			if diff := cmp.Diff([]attachCall{{Session: id, Policy: tt.wantPolicy}}, calls); diff != "" {
				t.Errorf("Attach calls mismatch (-want +got):\n%s", diff)
			}
			specs := e.fake.Specs()
			if len(specs) != 2 {
				t.Fatalf("%d runs, want 2", len(specs))
			}
			want := engine.Egress{ModelBaseURL: tt.wantAddr, Token: "tok-" + id, HTTPProxy: tt.wantAddr}
			for i, s := range specs {
				if diff := cmp.Diff(want, s.Egress); diff != "" {
					t.Errorf("run %d: engine egress mismatch (-want +got):\n%s", i, diff)
				}
			}
			if got := e.sandboxSpec(mem).EgressSocket; got != "/run/egress/"+id+".sock" {
				t.Errorf("provider EgressSocket = %q", got)
			}
			if n := eg.closes(id); n != 0 {
				t.Errorf("detached %d times before delete", n)
			}
			if err := e.runner.Delete(e.ctx, id); err != nil {
				t.Fatal(err)
			}
			if n := eg.closes(id); n != 1 {
				t.Errorf("detached %d times after delete, want 1", n)
			}
		})
	}
}

// sandboxSpec returns the spec of the memory provider's only sandbox.
func (e *env) sandboxSpec(mem *memory.Provider) provider.Spec {
	e.t.Helper()
	sb, err := mem.Recover(e.ctx, provider.Handle("mem-1-"+e.lastSession()))
	if err != nil {
		e.t.Fatalf("find sandbox: %v", err)
	}
	return sb.(*memory.Sandbox).Spec()
}

func (e *env) lastSession() string {
	e.t.Helper()
	list, _, err := e.store.ListSessions(e.ctx, hangar.SessionFilter{Page: hangar.Page{Limit: 1}})
	if err != nil || len(list) == 0 {
		e.t.Fatalf("list sessions: %v", err)
	}
	return list[0].ID
}

func TestEgressDetachedOnClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eg := &fakeEgress{}
	r := e.startWithEgress(eg, &memory.Provider{})
	id := e.session("fake", nil, "")
	e.turn(id, "hi")
	r.Close()
	if n := eg.closes(id); n != 1 {
		t.Errorf("detached %d times after Close, want 1", n)
	}
}

func TestEgressAttachFailureFailsTurn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eg := &fakeEgress{err: errors.New("no sockets today")}
	mem := &memory.Provider{}
	e.startWithEgress(eg, mem)
	id := e.session("fake", nil, "")
	evs := e.turn(id, "hi")
	if got := stopReason(t, evs[len(evs)-1]).Type; got != "retries_exhausted" {
		t.Errorf("stop reason = %q, want retries_exhausted", got)
	}
	var msg string
	for _, ev := range evs {
		if ev.Type == hangar.EventSessionError {
			msg = field[hangar.SessionError](t, ev, "error").Message
		}
	}
	if msg != "the session's network egress could not be set up" {
		t.Errorf("session.error message = %q", msg)
	}
	if mem.Sandboxes() != 0 {
		t.Errorf("a sandbox was created without egress")
	}
}

func TestEgressDetachedWhenSandboxCreationFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eg := &fakeEgress{}
	e.startWithEgress(eg, &memory.Provider{CreateErr: errors.New("boom")})
	id := e.session("fake", nil, "")
	e.turn(id, "hi")
	if n := eg.closes(id); n != 1 {
		t.Errorf("detached %d times after a failed Create, want 1", n)
	}
}

func TestNoEgressWithoutConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withFake(&enginetest.Scripted{}))
	mem := &memory.Provider{}
	e.startWithEgress(nil, mem)
	id := e.session("fake", nil, "")
	e.turn(id, "hi")
	if s := e.fake.Specs(); len(s) != 1 || s[0].Egress != (engine.Egress{}) {
		t.Errorf("engine egress = %+v, want none", s)
	}
	if got := e.sandboxSpec(mem).EgressSocket; got != "" {
		t.Errorf("EgressSocket = %q, want none", got)
	}
}

// fakeSecrets "seals" by prefixing the plaintext; it opens only what it sealed under its
// key ID.
type fakeSecrets struct{}

const fakeKeyID = "kfake"

func (fakeSecrets) Open(sealed []byte, keyID string) ([]byte, error) {
	rest, ok := bytes.CutPrefix(sealed, []byte("sealed:"))
	if !ok || keyID != fakeKeyID {
		return nil, errors.New("fake secrets: cannot open")
	}
	return bytes.Clone(rest), nil
}

// credSpec is a vault credential for the model credential tests.
type credSpec struct {
	authType, key, value string
	archived             bool
	keyID                string // default fakeKeyID
}

// vault creates a vault holding creds and returns its ID.
func (e *env) vault(creds ...credSpec) string {
	e.t.Helper()
	now := hangar.Now()
	v := &hangar.Vault{Type: "vault", ID: hangar.NewID(hangar.PrefixVault), DisplayName: "v", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateVault(e.ctx, v); err != nil {
		e.t.Fatalf("create vault: %v", err)
	}
	for _, c := range creds {
		sec := hangar.CredentialSecrets{SecretValue: c.value}
		if c.authType == hangar.AuthStaticBearer {
			sec = hangar.CredentialSecrets{Token: c.value}
		}
		plain, err := json.Marshal(sec)
		if err != nil {
			e.t.Fatal(err)
		}
		cred := &hangar.Credential{
			Type: "vault_credential", ID: hangar.NewID(hangar.PrefixCredential), VaultID: v.ID, Metadata: map[string]string{},
			Auth: json.RawMessage(`{}`), CreatedAt: now, UpdatedAt: now,
			AuthType: c.authType, Key: c.key, Sealed: append([]byte("sealed:"), plain...), KeyID: c.keyID,
		}
		if cred.KeyID == "" {
			cred.KeyID = fakeKeyID
		}
		if c.archived {
			cred.ArchivedAt = &now
		}
		if err := e.store.CreateCredential(e.ctx, cred); err != nil {
			e.t.Fatalf("create credential: %v", err)
		}
	}
	return v.ID
}

// TestEgressModelCredential checks how the runner picks a session's model credential from
// its vaults and hands it to Egress.Attach.
func TestEgressModelCredential(t *testing.T) {
	t.Parallel()
	apiKey := func(v string) credSpec {
		return credSpec{authType: hangar.AuthEnvVar, key: "ANTHROPIC_API_KEY", value: v}
	}
	authToken := func(v string) credSpec {
		return credSpec{authType: hangar.AuthEnvVar, key: "ANTHROPIC_AUTH_TOKEN", value: v}
	}
	tests := []struct {
		name   string
		vaults func(e *env) []string
		want   runner.EgressOptions
	}{
		{
			name:   "no vault",
			vaults: func(e *env) []string { return nil },
			want:   runner.EgressOptions{},
		},
		{
			name: "found in the second vault",
			vaults: func(e *env) []string {
				return []string{
					e.vault(
						credSpec{authType: hangar.AuthEnvVar, key: "GITHUB_TOKEN", value: "ghp-not-a-model-key"},
						credSpec{authType: hangar.AuthStaticBearer, key: "ANTHROPIC_API_KEY", value: "wrong-auth-type"},
					),
					e.vault(apiKey("sk-vault-2")),
				}
			},
			want: runner.EgressOptions{APIKey: "sk-vault-2"},
		},
		{
			name: "archived credential skipped",
			vaults: func(e *env) []string {
				archived := credSpec{authType: hangar.AuthEnvVar, key: "ANTHROPIC_API_KEY", value: "sk-archived", archived: true}
				return []string{e.vault(archived), e.vault(archived, authToken("oauth-vault-2"))}
			},
			want: runner.EgressOptions{AuthToken: "oauth-vault-2"},
		},
		{
			name: "first vault wins",
			vaults: func(e *env) []string {
				return []string{e.vault(authToken("oauth-vault-1")), e.vault(apiKey("sk-vault-2"))}
			},
			want: runner.EgressOptions{AuthToken: "oauth-vault-1"},
		},
		{
			name: "api key preferred within a vault",
			vaults: func(e *env) []string {
				return []string{e.vault(authToken("oauth-vault-1"), apiKey("sk-vault-1"))}
			},
			want: runner.EgressOptions{APIKey: "sk-vault-1"},
		},
		{
			name: "each model API from the first vault that has its key",
			vaults: func(e *env) []string {
				return []string{
					e.vault(credSpec{authType: hangar.AuthEnvVar, key: "OPENAI_API_KEY", value: "sk-openai-1"}),
					e.vault(apiKey("sk-vault-2"), credSpec{authType: hangar.AuthEnvVar, key: "OPENAI_API_KEY", value: "sk-openai-2"},
						credSpec{authType: hangar.AuthEnvVar, key: "GEMINI_API_KEY", value: "gemini-2"}),
					e.vault(credSpec{authType: hangar.AuthEnvVar, key: "GEMINI_API_KEY", value: "gemini-3"}),
				}
			},
			want: runner.EgressOptions{APIKey: "sk-vault-2", OpenAIKey: "sk-openai-1", GeminiKey: "gemini-2"},
		},
		{
			name: "openai key alone",
			vaults: func(e *env) []string {
				return []string{e.vault(credSpec{authType: hangar.AuthEnvVar, key: "OPENAI_API_KEY", value: "sk-openai-1"})}
			},
			want: runner.EgressOptions{OpenAIKey: "sk-openai-1"},
		},
		{
			name: "deleted vault skipped",
			vaults: func(e *env) []string {
				return []string{hangar.NewID(hangar.PrefixVault), e.vault(apiKey("sk-vault-2"))}
			},
			want: runner.EgressOptions{APIKey: "sk-vault-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			eg := &fakeEgress{}
			e.startWithEgress(eg, &memory.Provider{})
			id := e.sessionWithVaults(tt.vaults(e))
			e.turn(id, "hi")
			calls := eg.calls()
			if len(calls) != 1 {
				t.Fatalf("%d Attach calls, want 1", len(calls))
			}
			if diff := cmp.Diff(tt.want, calls[0].Opts); diff != "" {
				t.Errorf("Attach options mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEgressModelCredentialUnreadable fails the turn, without attaching or creating a
// sandbox, when the session's model credential cannot be opened: it never falls back to
// the server's credential.
func TestEgressModelCredentialUnreadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	eg := &fakeEgress{}
	mem := &memory.Provider{}
	e.startWithEgress(eg, mem)
	bad := credSpec{authType: hangar.AuthEnvVar, key: "ANTHROPIC_API_KEY", value: "sk-lost", keyID: "kgone"}
	id := e.sessionWithVaults([]string{e.vault(bad)})
	evs := e.turn(id, "hi")
	var msg string
	for _, ev := range evs {
		if ev.Type == hangar.EventSessionError {
			msg = field[hangar.SessionError](t, ev, "error").Message
		}
	}
	if msg != "the session's model credential could not be read from its vaults" {
		t.Errorf("session.error message = %q", msg)
	}
	if n := len(eg.calls()); n != 0 {
		t.Errorf("%d Attach calls, want none", n)
	}
	if mem.Sandboxes() != 0 {
		t.Errorf("a sandbox was created without the session's credential")
	}
}

// sessionWithVaults creates a session on the fake engine naming vaultIDs.
func (e *env) sessionWithVaults(vaultIDs []string) string {
	e.t.Helper()
	id := e.session("fake", nil, "")
	if _, err := e.store.UpdateSession(e.ctx, id, func(s *hangar.Session) error {
		s.VaultIDs = append([]string{}, vaultIDs...)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return id
}
