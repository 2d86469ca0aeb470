package main

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// realUpstreamKey is what the egress proxy adds to model requests. It must reach the fake
// model and never the sandbox.
const realUpstreamKey = "sk-ant-real-upstream-key-for-tests"

// claudeServer starts Hangar wired to a fake Anthropic API, with the real Claude Code CLI
// in the local bubblewrap sandbox. It skips when the CLI or bubblewrap is not installed
// (scripts/install-test-deps installs both).
func claudeServer(t *testing.T, opts ...func(*Config)) (*testServer, *fakemodel.Server) {
	t.Helper()
	cache, err := cacheDir(os.Getenv)
	if err != nil {
		t.Skipf("no cache dir: %v", err)
	}
	if _, err := claudecode.Find(cache); errors.Is(err, claudecode.ErrNotInstalled) {
		t.Skipf("the claude CLI is not installed in %s (run scripts/install-test-deps): %v", cache, err)
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (run scripts/install-test-deps)")
	}
	fake := &fakemodel.Server{}
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	srv := startServer(t, append([]func(*Config){func(c *Config) {
		c.CacheDir = cache
		c.UpstreamURL = upstream.URL
		c.UpstreamKey = hangar.Secret(realUpstreamKey)
	}}, opts...)...)
	return srv, fake
}

// claudeAgent creates an agent on the claude engine (inferred from the model) with the
// given tools, by default the agent toolset with every tool allowed.
func claudeAgent(t *testing.T, c anthropic.Client, tools ...map[string]any) *anthropic.BetaManagedAgentsAgent {
	t.Helper()
	if len(tools) == 0 {
		tools = []map[string]any{{"type": "agent_toolset_20260401"}}
	}
	a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
		Name:   "coder",
		Model:  anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
		System: anthropic.String("You are a careful coding agent."),
	}, option.WithJSONSet("tools", tools))
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	if got := a.JSON.ExtraFields["engine"].Raw(); got != `"claude"` {
		t.Fatalf("engine = %s, want \"claude\" inferred from the model", got)
	}
	return a
}

// TestE2EClaudeToolRoundAndResume runs two turns of the real Claude Code CLI in a bubblewrap
// sandbox: the first writes a file with the bash tool, the second reads it back. It proves
// the event translation, the persisted workspace, --resume of the CLI's own session, and
// that the egress proxy swaps the session token for the real key.
func TestE2EClaudeToolRoundAndResume(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	c := srv.Client
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	send(t, c, sess.ID, userMessage("TOOL:bash echo hello > out.txt"))
	raw1 := readUntil(t, stream, isIdle)
	checkUsage(t, c, sess.ID, raw1)
	turn1 := withoutSpans(raw1)
	wantTypes := []string{"user.message", "session.status_running", "agent.tool_use", "agent.tool_result", "agent.message", "session.status_idle"}
	if got := eventTypes(turn1); strings.Join(got, " ") != strings.Join(wantTypes, " ") {
		for _, ev := range turn1 {
			t.Log(ev.RawJSON())
		}
		t.Fatalf("turn 1 events = %v, want %v", got, wantTypes)
	}
	use, result := turn1[2], turn1[3]
	input, _ := use.Input.(map[string]any)
	if cmd, _ := input["command"].(string); use.Name != "bash" || !strings.Contains(cmd, "echo hello > out.txt") {
		t.Errorf("tool_use = %s", use.RawJSON())
	}
	if result.ToolUseID != use.ID {
		t.Errorf("tool_result.tool_use_id = %q, want the tool_use event id %q", result.ToolUseID, use.ID)
	}
	if idle := turn1[len(turn1)-1]; idle.StopReason.Type != "end_turn" {
		t.Errorf("idle = %s", idle.RawJSON())
	}
	out, err := os.ReadFile(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "out.txt"))
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Fatalf("workspace out.txt = %q, %v; want hello", out, err)
	}

	send(t, c, sess.ID, userMessage("TOOL:bash cat out.txt"))
	turn2 := withoutSpans(readUntil(t, stream, isIdle))
	var got string
	for _, ev := range turn2 {
		if ev.Type == "agent.tool_result" {
			got = ev.RawJSON()
		}
	}
	if !strings.Contains(got, "hello") {
		t.Errorf("turn 2 tool_result = %s; want the file written in turn 1", got)
	}

	reqs := fake.MessageRequests()
	if len(reqs) < 4 {
		t.Fatalf("fake model saw %d message requests, want at least 4", len(reqs))
	}
	last := reqs[len(reqs)-1]
	var history strings.Builder
	for _, m := range last.Messages {
		for _, b := range m.Content {
			history.WriteString(b.Text + b.ResultText() + "\n")
		}
	}
	if !strings.Contains(history.String(), "echo hello > out.txt") {
		t.Errorf("turn 2 did not resume the CLI's conversation; last request history:\n%s", history.String())
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != realUpstreamKey {
			t.Errorf("upstream saw x-api-key %q, want the real key swapped in by the egress proxy", got)
		}
	}
}

// TestE2EClaudeKeyNeverInSandbox asks the agent to dump what it can see inside the sandbox
// (its environment and every file it can write or read in its own directories) and checks
// that the real upstream key is nowhere, while the session token stands in for it.
func TestE2EClaudeKeyNeverInSandbox(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	// The key is split in the command so the command's own text (kept in the CLI's
	// transcript under HOME) cannot match it.
	send(t, c, sess.ID, userMessage(`TOOL:bash env; echo ---; grep -rl "sk-ant-real-upstream""-key-for-tests" $HOME /workspace /tmp /etc /run 2>/dev/null; echo end-of-scan`))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "end-of-scan") || !strings.Contains(result, "ANTHROPIC_API_KEY=") {
		t.Fatalf("the scan did not run: %s", result)
	}
	if strings.Contains(result, realUpstreamKey) {
		t.Fatalf("the real upstream key is visible inside the sandbox: %s", result)
	}
	// Nothing under the session's host directories either.
	root := filepath.Join(srv.DataDir, "sandboxes", sess.ID)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), realUpstreamKey) {
			t.Errorf("%s contains the real upstream key", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestE2EClaudeVaultCredential gives a session its own model key through a vault: an
// environment_variable credential named ANTHROPIC_API_KEY. The egress proxy sends that key
// upstream for the session, never the server's, and the key stays out of the sandbox; a
// session without vaults on the same server still uses the server's key.
func TestE2EClaudeVaultCredential(t *testing.T) {
	t.Parallel()
	const vaultKey = "sk-vault-key-for-tests"
	srv, fake := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")

	empty, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "no model key"})
	if err != nil {
		t.Fatalf("create vault: %v", err)
	}
	v, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "team"})
	if err != nil {
		t.Fatalf("create vault: %v", err)
	}
	if _, err := c.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfEnvironmentVariable: &anthropic.BetaManagedAgentsEnvironmentVariableCreateParams{
			SecretName:  "ANTHROPIC_API_KEY",
			SecretValue: vaultKey,
			Networking: anthropic.BetaManagedAgentsCredentialNetworkingParamsUnion{
				OfUnrestricted: &anthropic.BetaManagedAgentsUnrestrictedCredentialNetworkingParams{},
			},
		}},
	}); err != nil {
		t.Fatalf("create credential: %v", err)
	}
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
		VaultIDs:      []string{empty.ID, v.ID},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}

	// The command splits the key so its own text cannot match.
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage(`TOOL:bash env; grep -rl "sk-vault-key""-for-tests" $HOME /workspace /tmp 2>/dev/null; echo end-of-scan`))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "end-of-scan") || !strings.Contains(result, "ANTHROPIC_API_KEY=") {
		t.Fatalf("the scan did not run: %s", result)
	}
	if strings.Contains(result, vaultKey) {
		t.Errorf("the vault key is visible inside the sandbox: %s", result)
	}
	reqs := fake.MessageRequests()
	if len(reqs) == 0 {
		t.Fatal("the fake model saw no message request")
	}
	for _, r := range reqs {
		if got := r.Header.Get("x-api-key"); got != vaultKey {
			t.Errorf("upstream saw x-api-key %q for the vault session, want the vault's key", got)
		}
	}

	plain := newSession(t, c, agent.ID, env.ID)
	plainStream := openStream(t, ctx, c, plain.ID)
	send(t, c, plain.ID, userMessage("hello"))
	readUntil(t, plainStream, isIdle)
	after := fake.MessageRequests()
	if len(after) == len(reqs) {
		t.Fatal("the session without vaults made no model request")
	}
	for _, r := range after[len(reqs):] {
		if got := r.Header.Get("x-api-key"); got != realUpstreamKey {
			t.Errorf("upstream saw x-api-key %q for the session without vaults, want the server's key", got)
		}
	}
}

// TestE2EClaudeInterrupt interrupts a turn whose model stream never finishes: the CLI is
// stopped through its control protocol and the session goes idle with end_turn, ready for
// the next message.
func TestE2EClaudeInterrupt(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	fake.Push(fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "thinking forever"}}, Hold: hold})
	c := srv.Client
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	send(t, c, sess.ID, userMessage("take your time"))
	readUntil(t, stream, isType("span.model_request_start"))
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	evs := readUntil(t, stream, isIdle)
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
		t.Fatalf("after interrupt: %s", idle.RawJSON())
	}

	send(t, c, sess.ID, userMessage("still there?"))
	var reply string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.message" {
			reply = agentText(ev)
		}
	}
	if !strings.Contains(reply, "echo: still there?") {
		t.Errorf("the turn after the interrupt answered %q", reply)
	}
}

// TestE2EClaudeConcurrentSessions runs five sessions at once, each in its own sandbox with
// its own HOME, and checks each got its own answer and its own workspace file.
func TestE2EClaudeConcurrentSessions(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	for i := range 5 {
		t.Run(fmt.Sprintf("session-%d", i), func(t *testing.T) {
			t.Parallel() // the five sessions run at once
			sess := newSession(t, c, agent.ID, env.ID)
			stream := openStream(t, testContext(t), c, sess.ID)
			want := fmt.Sprintf("session-%d", i)
			send(t, c, sess.ID, userMessage("TOOL:bash echo "+want+" > mine.txt"))
			evs := readUntil(t, stream, isIdle)
			if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
				t.Fatalf("ended with %s", idle.RawJSON())
			}
			b, err := os.ReadFile(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "mine.txt"))
			if err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("mine.txt = %q, %v; want %q", b, err, want)
			}
		})
	}
}

// TestE2EClaudeSandboxEscapes has the agent try to break out, one tool call per turn:
// write outside its directories, read the server's data dir, reach a local port directly
// and through the egress proxy (networking limited, nothing allowed), and exhaust memory
// and processes. Each attempt must fail, and the session must still answer afterwards.
func TestE2EClaudeSandboxEscapes(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	agent := claudeAgent(t, c)
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: "locked"},
		option.WithJSONSet("config", map[string]any{
			"type":       "cloud",
			"networking": map[string]any{"type": "limited", "allowed_hosts": []string{}},
			"sandbox":    map[string]any{"memory_mb": 512, "pids": 256},
		}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	// A host service the sandbox must not reach; it records every connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	reached := make(chan struct{}, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			reached <- struct{}{}
			conn.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	vaultKey, err := os.ReadFile(filepath.Join(srv.DataDir, "vault-key"))
	if err != nil {
		t.Fatal(err)
	}

	// turn runs one tool command and returns the turn's events as JSON, one per line.
	turn := func(cmd string) string {
		t.Helper()
		send(t, c, sess.ID, userMessage("TOOL:bash "+cmd))
		var all strings.Builder
		for _, ev := range readUntil(t, stream, isIdle) {
			all.WriteString(ev.RawJSON() + "\n")
		}
		return all.String()
	}

	if out := turn("echo pwned > /etc/hangar-pwned; echo rc=$?"); strings.Contains(out, "rc=0") {
		t.Errorf("wrote into /etc: %s", out)
	}
	if _, err := os.Stat("/etc/hangar-pwned"); err == nil {
		os.Remove("/etc/hangar-pwned")
		t.Error("the host's /etc/hangar-pwned exists")
	}
	if out := turn("cat " + filepath.Join(srv.DataDir, "vault-key") + "; echo rc=$?"); strings.Contains(out, strings.TrimSpace(string(vaultKey))) || strings.Contains(out, "rc=0") {
		t.Errorf("read the server's vault key: %s", out)
	}
	turn(fmt.Sprintf("echo hi > /dev/tcp/127.0.0.1/%d; echo rc=$?", port))
	if out := turn(fmt.Sprintf("curl -s -m 5 -o /dev/null -w 'code=%%{http_code}' -x $HTTP_PROXY http://127.0.0.1:%d/; echo; curl -s -m 5 -o /dev/null -w 'code=%%{http_code}' http://example.com/; echo rc=$?", port)); strings.Contains(out, "code=200") {
		t.Errorf("reached a host through the proxy: %s", out)
	}
	select {
	case <-reached:
		t.Error("the sandbox reached a TCP port on the host's loopback")
	default:
	}
	// The OOM killer may pick the bomb or, when it is the largest process of the sandbox,
	// the CLI itself; either way the sandbox's limit holds and the next turn runs.
	if out := turn("tail /dev/zero; echo rc=$?"); !strings.Contains(out, "rc=137") && !strings.Contains(out, "code 137") {
		t.Errorf("memory bomb was not killed by the sandbox's memory limit:\n%s", out)
	}
	if out := turn("for i in $(seq 400); do sleep 2 & done; echo started; wait"); !strings.Contains(out, "fork") && !strings.Contains(out, "Resource temporarily unavailable") && !strings.Contains(out, "Exit code") && !strings.Contains(out, "session.error") {
		t.Errorf("the fork bomb ran 400 processes under a pids limit of 256:\n%s", out)
	}
	if out := turn("echo still-alive"); !strings.Contains(out, "still-alive") {
		t.Errorf("the session did not go on after the escape attempts: %s", out)
	}
}

// TestE2EClaudeToolConfirmation runs an always_ask agent: the bash call waits for the
// client's user.tool_confirmation (requires_action), runs on allow, and is refused on deny.
func TestE2EClaudeToolConfirmation(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	a := claudeAgent(t, c, map[string]any{
		"type":           "agent_toolset_20260401",
		"default_config": map[string]any{"permission_policy": map[string]any{"type": "always_ask"}},
	})
	env := newEnvironment(t, c, "sandbox")
	for _, tc := range []struct {
		result   string
		wantFile bool
	}{{"allow", true}, {"deny", false}} {
		t.Run(tc.result, func(t *testing.T) {
			sess := newSession(t, c, a.ID, env.ID)
			stream := openStream(t, testContext(t), c, sess.ID)
			send(t, c, sess.ID, userMessage("TOOL:bash echo confirmed > confirmed.txt"))
			evs := readUntil(t, stream, isIdle)
			idle := evs[len(evs)-1]
			var use anthropic.BetaManagedAgentsStreamSessionEventsUnion
			for _, ev := range evs {
				if ev.Type == "agent.tool_use" {
					use = ev
				}
			}
			if idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID || use.EvaluatedPermission != "ask" {
				t.Fatalf("want the tool_use (ask) and requires_action naming it; got use %s and idle %s", use.RawJSON(), idle.RawJSON())
			}
			send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{
				ToolUseID: use.ID,
				Result:    anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResult(tc.result),
			}})
			evs = readUntil(t, stream, isIdle)
			if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
				t.Fatalf("after %s: %s", tc.result, idle.RawJSON())
			}
			_, err := os.Stat(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "confirmed.txt"))
			if got := err == nil; got != tc.wantFile {
				t.Errorf("after %s the file exists = %v, want %v", tc.result, got, tc.wantFile)
			}
		})
	}
}

// TestE2EClaudeWatchdog hangs the CLI on a model stream that never ends: after the
// watchdog window the run is killed and the turn retried (session.status_rescheduled),
// and the retry answers.
func TestE2EClaudeWatchdog(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t, func(c *Config) { c.Watchdog = 2 * time.Second })
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	fake.Push(fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "never finishes"}}, Hold: hold})
	c := srv.Client
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	send(t, c, sess.ID, userMessage("are you there"))
	evs := withoutSpans(readUntil(t, stream, isIdle))
	want := []string{"user.message", "session.status_running", "session.error", "session.status_rescheduled", "session.status_running", "agent.message", "session.status_idle"}
	if got := eventTypes(evs); strings.Join(got, " ") != strings.Join(want, " ") {
		for _, ev := range evs {
			t.Log(ev.RawJSON())
		}
		t.Fatalf("events = %v, want %v", got, want)
	}
	if e := evs[2]; e.Error.RetryStatus.Type != "retrying" {
		t.Errorf("session.error = %s, want retry_status retrying", e.RawJSON())
	}
	if got := agentText(evs[5]); !strings.Contains(got, "echo: are you there") {
		t.Errorf("the retried turn answered %q", got)
	}
}

// TestE2EClaudeCustomTool gives the agent a custom tool: the CLI's call surfaces as
// agent.custom_tool_use, the session waits (requires_action), and the client's result
// reaches the model.
func TestE2EClaudeCustomTool(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	a := claudeAgent(t, c, map[string]any{
		"type":         "custom",
		"name":         "get_weather",
		"description":  "Current weather of a city",
		"input_schema": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
	})
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	send(t, c, sess.ID, userMessage(`CUSTOM:get_weather {"city":"Paris"}`))
	evs := readUntil(t, stream, isIdle)
	var use anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, ev := range evs {
		if ev.Type == "agent.custom_tool_use" {
			use = ev
		}
	}
	idle := evs[len(evs)-1]
	input, _ := use.Input.(map[string]any)
	if use.Name != "get_weather" || input["city"] != "Paris" || idle.StopReason.Type != "requires_action" || len(idle.StopReason.EventIDs) != 1 || idle.StopReason.EventIDs[0] != use.ID {
		t.Fatalf("want agent.custom_tool_use(get_weather, Paris) and requires_action naming it; got %s and %s", use.RawJSON(), idle.RawJSON())
	}
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: use.ID,
		Content: []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{
			{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny"}},
		},
	}})
	var reply string
	evs = readUntil(t, stream, isIdle)
	for _, ev := range evs {
		if ev.Type == "agent.message" {
			reply = agentText(ev)
		}
	}
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" || !strings.Contains(reply, "done: sunny") {
		t.Errorf("after the tool result: reply %q, %s", reply, idle.RawJSON())
	}
}
