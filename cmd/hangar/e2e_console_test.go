package main

// Browser tests of the web console (internal/console): headless Chromium, driven with
// chromedp, against a real Hangar with the scripted engine. Each test starts its own
// server and browser (fresh profile, so fresh localStorage). Waits are DOM conditions
// polled under deadlines, never sleeps. Screenshots go to $HANGAR_TEST_ARTIFACTS (or the
// test's temp dir) and are logged.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium tab on a test server's console.
type browser struct {
	t   *testing.T
	ctx context.Context
	srv *testServer
	dir string // screenshots

	mu       sync.Mutex
	problems []string // uncaught exceptions and CSP violations
}

// newBrowser starts Chromium for the test and fails the test if the page throws or the
// browser reports a Content-Security-Policy violation.
func newBrowser(t *testing.T, srv *testServer) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("console browser tests need Debian's chromium at %s (scripts/install-test-deps installs it): %v", chromiumPath, err)
	}
	dir := os.Getenv("HANGAR_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	// Everything the browser does is bounded, so a stuck page fails the test.
	base, cancelBase := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	b := &browser{t: t, ctx: ctx, srv: srv, dir: dir}
	console := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	// Confirmation dialogs (delete, archive) are accepted, as a user would.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	dialogsDone := make(chan struct{})
	go func() {
		defer close(dialogsDone)
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancelCtx()
		<-done
		<-dialogsDone
		cancelAlloc()
		cancelBase()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser console: %s", p)
		}
	})
	return b
}

// do runs browser actions; on failure it saves a screenshot and the page's text, then
// fails the test.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + what)
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("%s: %v\npage text:\n%s", what, err, text)
	}
}

// waitFor polls a JavaScript predicate until it is true (30 s at most).
func (b *browser) waitFor(what, predicate string) {
	b.t.Helper()
	b.do("wait for "+what, ignore(chromedp.Poll[any](predicate, chromedp.WithPollingTimeout(30*time.Second))))
}

// eval returns the value of a JavaScript expression.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a full-page screenshot as name.png in the artifacts dir.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot: %s", p)
}

// darkShot saves a screenshot with the OS preference set to a dark colour scheme.
func (b *browser) darkShot(name string) {
	b.t.Helper()
	dark := emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, dark); err != nil {
		b.t.Fatalf("emulate dark mode: %v", err)
	}
	b.waitFor("the dark theme", `getComputedStyle(document.documentElement).getPropertyValue('--bg').trim() === '#12141a'`)
	b.shot(name)
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		b.t.Fatalf("reset emulated media: %v", err)
	}
}

// ignore turns an action with a result into a step of Do.
func ignore[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// css selects the first element matching a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// signIn opens the console, enters the API key in the key form, and waits for path.
func (b *browser) signIn(path string) {
	b.t.Helper()
	b.do("open console", chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(css("#api-key")))
	b.do("enter key", chromedp.SendKeys(css("#api-key"), testAPIKey), chromedp.Click(css("#key-submit")))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string { return strconv.Quote(s) }

// agentSaid is a predicate: some agent message contains text.
func agentSaid(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.msg.agent')].some(m => m.textContent.includes(%s))`, jsString(text))
}

// statusIs is a predicate on the chat's status badge.
func statusIs(status string) string {
	return fmt.Sprintf(`document.querySelector('#chat-status')?.dataset.status === %s`, jsString(status))
}

func count(sel string) string {
	return fmt.Sprintf(`document.querySelectorAll(%s).length`, jsString(sel))
}

// filterJS picks value in a select and fires its change event, as a user's pick does.
func filterJS(sel, value string) string {
	return fmt.Sprintf(`(s => { s.value = %s; s.dispatchEvent(new Event('change')); return true; })(document.querySelector(%s))`, jsString(value), jsString(sel))
}

// sendChat types a message in the chat composer and sends it.
func (b *browser) sendChat(text string) {
	b.t.Helper()
	b.do("send "+text, chromedp.WaitVisible(css("#message")), chromedp.SendKeys(css("#message"), text), chromedp.Click(css("#send")))
}

// TestConsoleOnboarding walks the first-run wizard (agent with the scripted engine, an
// environment, a vault secret), lands in the new session's chat and finishes a turn.
func TestConsoleOnboarding(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)

	// Unauthenticated, the page asks for the key; the page itself holds none.
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET / = %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	b.signIn("/")
	b.shot("1-welcome")
	script := `{"turns":[{"steps":[{"thinking":true},{"tool_use":{"name":"bash","input":{"command":"ls"}},"result":"README.md"},{"message":"Hello from the console test"}]}]}`
	b.do("agent step",
		chromedp.WaitVisible(css("#wizard-step-0")),
		chromedp.SetValue(css("#agent-name"), "console-agent"),
		chromedp.SetValue(css("#agent-engine"), "scripted"),
		chromedp.SetValue(css("#agent-system"), script),
		chromedp.Click(css("#wizard-next")))
	b.do("environment step", chromedp.WaitVisible(css("#wizard-step-1")))
	// The provider select is filled from GET /v1/providers, the server's default chosen.
	b.waitFor("the providers listed", `document.querySelector('#env-provider[data-loaded]') !== null`)
	providers := evalJS[string](b, `[...document.querySelectorAll('#env-provider option')].map(o => o.value + (o.dataset.default !== undefined ? '*' : '') + (o.disabled ? '!' : '')).join(',')`)
	t.Logf("provider options: %s", providers)
	if !strings.Contains(","+providers+",", ",local*") || !strings.Contains(","+providers+",", ",memory,") {
		t.Errorf("provider options = %q, want local (the default) and memory (available)", providers)
	}
	if !evalJS[bool](b, `[...document.querySelectorAll('#env-provider option:disabled')].every(o => o.title !== '')`) {
		t.Error("an unavailable provider's option has no reason as its title")
	}
	if sel := evalJS[string](b, `document.querySelector('#env-provider').value`); !strings.Contains(providers, "local*!") && sel != "local" {
		t.Errorf("preselected provider = %q, want the default, local", sel)
	}
	b.do("fill the environment",
		chromedp.SetValue(css("#env-name"), "console-env"),
		chromedp.SetValue(css("#env-provider"), "memory"),
		chromedp.SetValue(css("#env-pip"), "requests"),
		chromedp.Click(css("#wizard-next")))
	b.do("secret step",
		chromedp.WaitVisible(css("#wizard-step-2")),
		chromedp.SetValue(css("#cred-secret-name"), "DEMO_TOKEN"),
		chromedp.SendKeys(css("#cred-value"), "s3cret-value"),
		chromedp.Click(css("#wizard-next")))
	b.do("session step", chromedp.WaitVisible(css("#wizard-step-3")))
	b.shot("2-wizard-session")
	b.do("start chat", chromedp.Click(css("#wizard-next")), chromedp.WaitVisible(css("#composer")))
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)

	b.sendChat("hi there")
	b.waitFor("the agent's answer", agentSaid("Hello from the console test")+" && "+statusIs("idle"))
	b.waitFor("the tool call folded with its result", `(() => { const c = document.querySelector('.tool'); return c && c.dataset.state === 'done' && !c.querySelector('details').open && c.textContent.includes('README.md') && c.textContent.includes('"command": "ls"'); })()`)
	b.waitFor("thinking collapsed", `document.querySelector('details.thinking') && !document.querySelector('details.thinking').open`)
	b.waitFor("usage shown", `/1 turn\b/.test(document.querySelector('#chat-usage').textContent)`)
	b.shot("3-chat")
	b.darkShot("3-chat-dark")

	// Everything the wizard made is real, through the public API.
	ctx := testContext(t)
	agents, err := srv.Client.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil || len(agents.Data) != 1 || agents.Data[0].Name != "console-agent" {
		t.Fatalf("agents after onboarding: %v %+v", err, agents)
	}
	vaults, err := srv.Client.Beta.Vaults.List(ctx, anthropic.BetaVaultListParams{})
	if err != nil || len(vaults.Data) != 1 {
		t.Fatalf("vaults after onboarding: %v %+v", err, vaults)
	}
	sessions, err := srv.Client.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{})
	if err != nil || len(sessions.Data) != 1 || sessions.Data[0].Status != "idle" || len(sessions.Data[0].VaultIDs) != 1 {
		t.Fatalf("sessions after onboarding: %v %+v", err, sessions)
	}
	// The key lives in localStorage and never in the page's markup.
	if html := evalJS[string](b, `document.documentElement.outerHTML`); strings.Contains(html, testAPIKey) {
		t.Error("the API key appears in the page's markup")
	}
	if stored := evalJS[string](b, `localStorage.getItem('hangar.apiKey')`); stored != testAPIKey {
		t.Errorf("localStorage key = %q", stored)
	}

	// The other pages render the same resources.
	b.do("sessions page", chromedp.Click(css(`nav a[href="/sessions"]`)), chromedp.WaitVisible(css("#sessions-table")))
	b.waitFor("session listed", `document.querySelector('#sessions-table').textContent.includes('console-agent')`)
	b.do("filter running", ignore(chromedp.Evaluate[any](filterJS("#filter-status", "running"))))
	b.waitFor("no running session", `document.querySelector('.empty')?.textContent === 'No sessions match.' && location.search === '?status=running'`)
	b.do("filter idle", ignore(chromedp.Evaluate[any](filterJS("#filter-status", "idle"))))
	b.waitFor("the idle session", `document.querySelector('#sessions-table')?.textContent.includes('console-agent')`)
	b.do("usage page", chromedp.Click(css(`nav a[href="/usage"]`)), chromedp.WaitVisible(css("#usage-chart svg")))
	b.waitFor("one turn charted", `document.querySelectorAll('#usage-chart rect').length === 1 && document.querySelector('#usage-table').textContent.includes('console-agent')`)
	b.shot("4-usage")
	b.do("agent page", chromedp.Click(css(`nav a[href="/agents"]`)), chromedp.WaitVisible(css("#agents-table")),
		chromedp.Click(css("#agents-table a")), chromedp.WaitVisible(css("#agent-versions")))
	b.do("edit agent", chromedp.SetValue(css("#agent-name"), "console-agent-2"), chromedp.Click(css("#agent-save")))
	b.waitFor("version 2", `document.querySelectorAll('#agent-versions details').length === 2 && document.querySelector('h1').textContent.includes('v2')`)
	b.do("archive agent", chromedp.Click(css("#agent-archive")))
	b.waitFor("agent archived", `document.querySelector('#agent-archive')?.textContent === 'Archived'`)
	b.do("environments page", chromedp.Click(css(`nav a[href="/environments"]`)), chromedp.WaitVisible(css("#environments-table")),
		chromedp.Click(css("#environments-table a")), chromedp.WaitVisible(css(".facts")))
	b.waitFor("environment facts", `document.querySelector('.facts').textContent.includes('pip: requests') && document.querySelector('.facts').textContent.includes('memory')`)
	// memory cannot install packages, so the environment's build is failed (envbuild):
	// the badge, the message and the build log say so.
	b.waitFor("the failed build", `document.querySelector('.page-head .env-state')?.dataset.status === 'failed' && `+
		`document.querySelector('#env-state-message').textContent.includes('cannot install packages') && `+
		`document.querySelector('#env-build-log').textContent.includes('cannot install packages')`)
	b.shot("5-environment-failed")
	b.do("environments list", chromedp.Click(css(`nav a[href="/environments"]`)), chromedp.WaitVisible(css("#environments-table")))
	b.waitFor("the failed badge in the list", `document.querySelector('#environments-table .env-state')?.dataset.status === 'failed'`)
	b.do("vault page", chromedp.Click(css(`nav a[href="/vaults"]`)), chromedp.WaitVisible(css("#vaults-table")),
		chromedp.Click(css("#vaults-table a")), chromedp.WaitVisible(css("#credentials-table")))
	if text := evalJS[string](b, `document.body.innerText`); strings.Contains(text, "s3cret-value") || !strings.Contains(text, "DEMO_TOKEN") {
		t.Errorf("vault page shows a secret value or misses the credential:\n%s", text)
	}
}

// scriptedSetup creates a scripted agent following turns (and with tools when withTools),
// an environment and a session, through the SDK.
func scriptedSetup(t *testing.T, srv *testServer, withTools bool, turns ...[]scriptStep) string {
	t.Helper()
	var agentID string
	if withTools {
		agentID = newToolAgent(t, srv.Client, "console-tools", scriptMetadata(t, turns...)).ID
	} else {
		agentID = newAgent(t, srv.Client, "console-agent", scriptMetadata(t, turns...)).ID
	}
	env := newEnvironment(t, srv.Client, "console-env")
	return newSession(t, srv.Client, agentID, env.ID).ID
}

// TestConsoleInterrupt interrupts a turn the agent holds open, from the chat's button.
func TestConsoleInterrupt(t *testing.T) {
	srv := startServer(t)
	sessionID := scriptedSetup(t, srv, false, []scriptStep{{"message": "working on it"}, {"sleep_ms": 600000}, {"message": "never said"}})
	b := newBrowser(t, srv)
	b.signIn("/sessions/" + sessionID)
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	b.sendChat("take your time")
	b.waitFor("a held turn", agentSaid("working on it")+" && "+statusIs("running")+" && !document.querySelector('#interrupt').disabled")
	b.shot("1-running")
	b.do("interrupt", chromedp.Click(css("#interrupt")))
	b.waitFor("the turn ended", statusIs("idle")+` && [...document.querySelectorAll('.note')].some(n => n.textContent === 'Interrupted') && document.querySelector('#interrupt').disabled`)
	b.shot("2-interrupted")
	if evalJS[bool](b, agentSaid("never said")) {
		t.Error("the interrupted turn went on")
	}
	s, err := srv.Client.Beta.Sessions.Get(testContext(t), sessionID, anthropic.BetaSessionGetParams{})
	if err != nil || s.Status != "idle" {
		t.Fatalf("session after interrupt: %v %v", s.Status, err)
	}
}

// TestConsoleToolConfirmation answers an always_ask tool confirmation and a custom tool
// call in the chat.
func TestConsoleToolConfirmation(t *testing.T) {
	srv := startServer(t)
	sessionID := scriptedSetup(t, srv, true, []scriptStep{
		{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "rm -rf build"}}, "result": "removed"},
		{"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Paris"}}},
		{"message": "all done"},
	})
	b := newBrowser(t, srv)
	b.signIn("/sessions/" + sessionID)
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	b.sendChat("clean up")
	b.waitFor("a confirmation prompt", `document.querySelector('.tool .confirm-allow') && document.querySelector('.tool').textContent.includes('rm -rf build') && `+statusIs("requires_action"))
	b.shot("1-confirm")
	b.do("allow", chromedp.Click(css(".tool .confirm-allow")))
	b.waitFor("the custom tool prompt", `document.querySelector('.tool[data-state="done"]') && document.querySelector('.custom-result') && `+statusIs("requires_action"))
	b.shot("2-custom-tool")
	b.do("answer the custom tool", chromedp.SendKeys(css(".custom-result"), "sunny, 21C"), chromedp.Click(css(".custom-send")))
	b.waitFor("the turn finished", agentSaid("all done")+" && "+statusIs("idle")+` && !document.querySelector('.prompt')`)
	b.shot("3-done")

	events, err := srv.Client.Beta.Sessions.Events.List(testContext(t), sessionID, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var confirmed, answered bool
	for _, ev := range events.Data {
		switch ev.Type {
		case "user.tool_confirmation":
			confirmed = strings.Contains(ev.RawJSON(), `"result":"allow"`)
		case "user.custom_tool_result":
			answered = strings.Contains(ev.RawJSON(), "sunny, 21C")
		}
	}
	if !confirmed || !answered {
		t.Errorf("events: confirmation allowed %v, custom tool answered %v", confirmed, answered)
	}
}

// TestConsoleReloadResume reloads the chat while the agent waits for a custom tool's
// result: the transcript is replayed once, the pending prompt is back, and answering it
// continues the turn on the resumed stream.
func TestConsoleReloadResume(t *testing.T) {
	srv := startServer(t)
	sessionID := scriptedSetup(t, srv, true,
		[]scriptStep{{"message": "first answer"}},
		[]scriptStep{{"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Oslo"}}}, {"message": "answered after the reload"}},
	)
	b := newBrowser(t, srv)
	b.signIn("/sessions/" + sessionID)
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	b.sendChat("one")
	b.waitFor("the first turn", agentSaid("first answer")+" && "+statusIs("idle"))
	b.sendChat("two")
	b.waitFor("the pending custom tool", `document.querySelector('.custom-result') && `+statusIs("requires_action"))
	before := evalJS[float64](b, count("#transcript > *"))

	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(css("#transcript[data-replayed]")))
	b.waitFor("the replayed transcript", fmt.Sprintf(`%s === %v && %s === 2 && %s === 1 && %s && document.querySelector('#chat-conn')?.dataset.state === 'open'`,
		count("#transcript > *"), before, count(".msg.user"), count(".msg.agent"), statusIs("requires_action")))
	b.shot("1-reloaded")
	b.do("answer after reload", chromedp.SendKeys(css(".custom-result"), "cold"), chromedp.Click(css(".custom-send")))
	b.waitFor("the turn continued", agentSaid("answered after the reload")+" && "+statusIs("idle"))
	b.shot("2-resumed")
	if n := evalJS[float64](b, count(".msg.agent")); n != 2 {
		t.Errorf("agent messages after resume = %v, want 2 (each event shown once)", n)
	}
	if n := evalJS[float64](b, count(".msg.user")); n != 2 {
		t.Errorf("user messages after resume = %v, want 2", n)
	}
}

// restartable is a Hangar on a fixed address and data dir that a test can stop and start
// again, recording the Last-Event-ID of every stream request it receives.
type restartable struct {
	t       *testing.T
	cfg     Config
	stop    func()
	resumes chan string
}

func (r *restartable) start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	app, err := newApp(ctx, r.cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		cancel()
		r.t.Fatalf("newApp: %v", err)
	}
	api := app.handler
	app.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/events/stream") {
			r.resumes <- req.Header.Get("Last-Event-ID")
		}
		api.ServeHTTP(w, req)
	})
	ln, err := net.Listen("tcp", r.cfg.Addr)
	if err != nil {
		cancel()
		app.Close()
		r.t.Fatalf("listen: %v", err)
	}
	r.cfg.Addr = ln.Addr().String() // the same port after a restart
	served := make(chan error, 1)
	go func() { served <- app.Serve(ctx, ln) }()
	r.stop = func() {
		cancel()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.t.Errorf("serve: %v", err)
		}
		if err := app.Close(); err != nil {
			r.t.Errorf("close app: %v", err)
		}
	}
}

// TestConsoleReconnect restarts the server under an open chat: the page reconnects by
// itself, resuming with Last-Event-ID set to the last event it has, and the chat goes on
// with every event shown once.
func TestConsoleReconnect(t *testing.T) {
	r := &restartable{t: t, resumes: make(chan string, 64),
		cfg: Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), APIKey: testAPIKey, LogFormat: "text", LogLevel: "error"}}
	r.start()
	t.Cleanup(func() { r.stop() })
	srv := &testServer{URL: "http://" + r.cfg.Addr, DataDir: r.cfg.DataDir}
	srv.Client = newClient(srv.URL, option.WithAPIKey(testAPIKey))
	sessionID := scriptedSetup(t, srv, false, []scriptStep{{"message": "answer one"}}, []scriptStep{{"message": "answer two"}})

	b := newBrowser(t, srv)
	b.signIn("/sessions/" + sessionID)
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	if got := <-r.resumes; got != "0" {
		t.Errorf("first stream Last-Event-ID = %q, want 0 (a new session has no events)", got)
	}
	b.sendChat("one")
	b.waitFor("the first turn", agentSaid("answer one")+" && "+statusIs("idle"))
	events, err := srv.Client.Beta.Sessions.Events.List(testContext(t), sessionID, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	last := strconv.Itoa(len(events.Data))

	r.stop()
	b.waitFor("the page to notice", `document.querySelector('#chat-conn')?.dataset.state !== 'open'`)
	b.shot("1-disconnected")
	r.start()
	b.waitFor("the page to reconnect", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	var resumed string
	for len(r.resumes) > 0 {
		resumed = <-r.resumes
	}
	if resumed != last {
		t.Errorf("reconnect Last-Event-ID = %q, want %s (the last of the %s events the page had)", resumed, last, last)
	}
	b.sendChat("two")
	b.waitFor("the second turn", agentSaid("answer two")+" && "+statusIs("idle"))
	b.shot("2-reconnected")
	if n := evalJS[float64](b, count(".msg.agent")); n != 2 {
		t.Errorf("agent messages = %v, want 2", n)
	}
}

// TestConsoleFiles uploads a file from the page, downloads it (fetched with the key, then
// saved by the browser) and deletes it.
func TestConsoleFiles(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)
	src := filepath.Join(t.TempDir(), "notes.txt")
	const content = "hangar console upload\n"
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: new(true),
	}); err != nil {
		t.Fatalf("set download behaviour: %v", err)
	}
	b.signIn("/files")
	b.do("upload", chromedp.WaitVisible(css("#file-input")), chromedp.SetUploadFiles(css("#file-input"), []string{src}), chromedp.Click(css("#file-upload")))
	b.waitFor("the file listed", `document.querySelector('#files-table')?.textContent.includes('notes.txt')`)
	b.shot("1-uploaded")

	progress := chromedp.BrowserEvents(b.ctx, cdpbrowser.DownloadProgress)
	b.do("download", chromedp.Click(css(".file-download")))
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download events: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("download canceled")
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			break
		}
	}
	got, err := os.ReadFile(filepath.Join(downloads, "notes.txt"))
	if err != nil || string(got) != content {
		t.Fatalf("downloaded file = %q, %v; want %q", got, err, content)
	}

	b.do("delete", chromedp.Click(css(".file-delete")))
	b.waitFor("the file gone", `document.querySelector('.empty')?.textContent === 'No files yet.'`)
	files, err := srv.Client.Beta.Files.List(testContext(t), anthropic.BetaFileListParams{})
	if err != nil || len(files.Data) != 0 {
		t.Fatalf("files after delete: %v %+v", err, files)
	}
}
