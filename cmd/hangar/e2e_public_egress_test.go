package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/local"
)

// remoteLocal is the local bubblewrap provider dressed as a remote one: it reports
// Capabilities.Remote, and its sandboxes' only network path is a tunnel to the Hangar
// server's main HTTP port (the sandbox's forwarder at 127.0.0.1:4100 is connected to the
// tunnel's socket instead of the session's egress socket), as a cloud machine reaches a
// server only at its public URL. The request path under test, the public egress
// endpoint on the main server, is the real one.
type remoteLocal struct {
	provider.Provider
	tunnel string // unix socket relayed to the server's port

	mu    sync.Mutex
	execs []provider.ExecSpec
}

func (p *remoteLocal) Capabilities() provider.Capabilities {
	c := p.Provider.Capabilities()
	c.Remote = true
	return c
}

func (p *remoteLocal) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	spec.EgressSocket = p.tunnel // a remote machine cannot reach the session's socket
	sb, err := p.Provider.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &recordingSandbox{Sandbox: sb, p: p}, nil
}

// recordingSandbox records the commands the engine runs (their environment included).
type recordingSandbox struct {
	provider.Sandbox
	p *remoteLocal
}

// Isolated keeps the wrapped sandbox's answer (engine.Isolated), so the engine runs its
// CLI from the sandbox's mount as on a real isolated machine.
func (s *recordingSandbox) Isolated() bool { return true }

func (s *recordingSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	s.p.mu.Lock()
	s.p.execs = append(s.p.execs, spec)
	s.p.mu.Unlock()
	return s.Sandbox.Exec(ctx, spec)
}

// cliEnv returns the environment of the first command run with ANTHROPIC_BASE_URL set
// (the claude CLI).
func (p *remoteLocal) cliEnv() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.execs {
		env := map[string]string{}
		for _, kv := range x.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if env["ANTHROPIC_BASE_URL"] != "" {
			return env
		}
	}
	return nil
}

// tunnel relays connections on a new unix socket to addr (host:port) and returns the
// socket's path.
func tunnel(t *testing.T, addr func() string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "t.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	os.Chmod(path, 0o666)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr())
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return path
}

// TestE2EPublicEgress runs the real Claude Code CLI in a sandbox of a remote-style
// provider, reachable by the server only through HANGAR_PUBLIC_URL. The CLI's model calls,
// and a curl the agent runs in the sandbox with the CLI's own base URL and key, reach the
// fake model through the public egress endpoint with the real key; the sandbox sees only
// the session token, which stops working once the session is deleted.
func TestE2EPublicEgress(t *testing.T) {
	t.Parallel()
	// Inside the sandbox the public URL is the tunnel's end; the host reaches the same
	// server at srv.URL.
	public := "http://" + provider.EgressAddr
	var serverAddr atomic.Value
	remote := &remoteLocal{tunnel: tunnel(t, func() string { return serverAddr.Load().(string) })}
	srv, fake := claudeServer(t, func(c *Config) {
		c.PublicURL = public
		c.ExtraProviders = func(r *provider.Registry) {
			r.Register("remote-local", func(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
				p, err := local.New(cfg, deps)
				remote.Provider = p
				return remote, err
			})
		}
	})
	serverAddr.Store(strings.TrimPrefix(srv.URL, "http://"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("on failure: the fake model got %d requests; the CLI's ANTHROPIC_BASE_URL: %q", len(fake.Requests()), remote.cliEnv()["ANTHROPIC_BASE_URL"])
		}
	})
	c := srv.Client
	agent := claudeAgent(t, c)
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: "remote"},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "provider": "remote-local"}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)
	// The key is split in the command so the command's own text cannot match it.
	send(t, c, sess.ID, userMessage(`TOOL:bash curl -sS -X POST "$ANTHROPIC_BASE_URL/v1/messages" -H "x-api-key: $ANTHROPIC_API_KEY" -H "content-type: application/json" -H "anthropic-version: 2023-06-01" -d '{"model":"claude-sonnet-4-6","max_tokens":16,"messages":[{"role":"user","content":"ping from the sandbox"}]}'; echo; echo ---; env | grep -c "sk-ant-real-upstream""-key-for-tests"; echo end-of-scan`))
	var result string
	var errs []string
	for _, ev := range readUntil(t, stream, isIdle) {
		switch ev.Type {
		case "agent.tool_result":
			result = ev.RawJSON()
		case "session.error":
			errs = append(errs, ev.RawJSON())
		}
	}
	if len(errs) > 0 {
		t.Fatalf("session errors: %v", errs)
	}
	if !strings.Contains(result, "end-of-scan") {
		t.Fatalf("the command did not run: %s", result)
	}
	if !strings.Contains(result, `\"type\":\"message\"`) {
		t.Errorf("curl through the public endpoint did not get the model's answer: %s", result)
	}
	if strings.Contains(result, realUpstreamKey) || !strings.Contains(result, `---\n0\n`) {
		t.Errorf("the sandbox sees the real key: %s", result)
	}

	cli := remote.cliEnv()
	if cli == nil {
		t.Fatal("the claude CLI was not run in the remote sandbox")
	}
	if want := public + "/egress"; cli["ANTHROPIC_BASE_URL"] != want {
		t.Errorf("ANTHROPIC_BASE_URL = %q, want %q", cli["ANTHROPIC_BASE_URL"], want)
	}
	token := cli["ANTHROPIC_API_KEY"]
	if token == "" || token == realUpstreamKey || cli["HTTPS_PROXY"] != "" {
		t.Errorf("CLI env: ANTHROPIC_API_KEY=%q HTTPS_PROXY=%q", token, cli["HTTPS_PROXY"])
	}
	// The fake model saw only the real key: the CLI's calls and the curl.
	reqs := fake.Requests()
	if len(reqs) < 2 {
		t.Fatalf("the fake model got %d requests, want the CLI's and the curl's", len(reqs))
	}
	var sawPing bool
	for _, r := range reqs {
		if r.Header.Get("X-Api-Key") != realUpstreamKey {
			t.Errorf("the fake model got x-api-key %q, want the real key", r.Header.Get("X-Api-Key"))
		}
		sawPing = sawPing || strings.Contains(string(r.Body), "ping from the sandbox")
	}
	if !sawPing {
		t.Error("the sandbox's curl did not reach the fake model")
	}

	// Deleting the session destroys its sandbox and revokes the token.
	if _, err := c.Beta.Sessions.Delete(testContext(t), sess.ID, anthropic.BetaSessionDeleteParams{}); err != nil {
		t.Fatalf("delete session: %v", err)
	}
	req, _ := http.NewRequestWithContext(testContext(t), "POST", srv.URL+"/egress/v1/messages", strings.NewReader(`{}`))
	req.Header.Set("x-api-key", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "authentication_error") {
		t.Errorf("revoked token: %d %s", resp.StatusCode, body)
	}
}

// TestE2EPublicEgressRequiresPublicURL checks that a turn on a remote provider without
// HANGAR_PUBLIC_URL fails with a session.error that names it, and that the server then
// serves no /egress/ endpoint.
func TestE2EPublicEgressRequiresPublicURL(t *testing.T) {
	t.Parallel()
	remote := &remoteLocal{}
	srv, _ := claudeServer(t, func(c *Config) {
		c.ExtraProviders = func(r *provider.Registry) {
			r.Register("remote-local", func(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
				p, err := local.New(cfg, deps)
				remote.Provider = p
				return remote, err
			})
		}
	})
	c := srv.Client
	agent := claudeAgent(t, c)
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: "remote"},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "provider": "remote-local"}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)
	send(t, c, sess.ID, userMessage("hi"))
	var msg string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "session.error" {
			msg = ev.RawJSON()
		}
	}
	if !strings.Contains(msg, "HANGAR_PUBLIC_URL") {
		t.Errorf("session.error = %s, want it to name HANGAR_PUBLIC_URL", msg)
	}
	if remote.cliEnv() != nil {
		t.Error("the CLI ran without a way to reach the model")
	}
	resp, err := http.Post(srv.URL+"/egress/v1/messages", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
		t.Errorf("POST /egress/ without a public URL = %d, want it unrouted", resp.StatusCode)
	}
}
