package main

// Browser tests of the console's multiagent and self-hosted pages (docs/console.md), with
// the harness of e2e_console_test.go: a real server, headless Chromium, no sleeps, and any
// page exception or CSP violation fails the test.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/chromedp/chromedp"

	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// TestConsoleThreads makes a coordinator in the agent form's roster editor, runs a
// delegating session, and checks the chat: the delegation bubbles, the child thread's
// events folded under its name, the thread picker, and the switch to the child's own
// stream (which then follows the child's next task live).
func TestConsoleThreads(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	helper := newAgent(t, c, "Helper", scriptMetadata(t,
		[]scriptStep{{"message": "helper finished part one"}},
		[]scriptStep{{"message": "helper finished part two"}},
	))
	leadScript, err := json.Marshal(map[string]any{"turns": []map[string]any{
		{"steps": []scriptStep{delegateStep("delegate_to_helper", "do part one"), {"message": "lead wrapped up"}}},
		{"steps": []scriptStep{delegateStep("delegate_to_helper", "do part two"), {"message": "lead done again"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, srv)
	b.signIn("/agents/new")
	b.waitFor("the roster editor lists the helper", fmt.Sprintf(`document.querySelector('#agent-roster[data-loaded] input[data-roster=%s]') !== null`, jsString(helper.ID)))
	if !evalJS[bool](b, `[...document.querySelectorAll('#engines option')].some(o => o.value === 'native')`) {
		t.Error("the engine suggestions do not offer native")
	}
	b.do("fill the coordinator",
		chromedp.SetValue(css("#agent-name"), "Lead"),
		chromedp.SetValue(css("#agent-engine"), "scripted"),
		chromedp.SetValue(css("#agent-system"), string(leadScript)),
		chromedp.Click(css("#agent-roster summary")),
		chromedp.Click(css(fmt.Sprintf(`#agent-roster input[data-roster=%q]`, helper.ID))))
	b.shot("1-roster")
	b.do("create the coordinator", chromedp.Click(css("#agent-save")), chromedp.WaitVisible(css("#agent-versions")))
	leadID := evalJS[string](b, `location.pathname.split('/').pop()`)
	lead, err := c.Beta.Agents.Get(ctx, leadID, anthropic.BetaAgentGetParams{})
	if err != nil || !strings.Contains(lead.RawJSON(), `"type":"coordinator"`) || !strings.Contains(lead.RawJSON(), helper.ID) {
		t.Fatalf("the coordinator made in the form: %v %s", err, lead.RawJSON())
	}
	b.waitFor("the agent page's roster editor with the helper checked", fmt.Sprintf(`document.querySelector('#agent-roster[data-loaded] input[data-roster=%q]')?.checked === true`, helper.ID))

	env := newEnvironment(t, c, "threads-env")
	sess := newSession(t, c, leadID, env.ID)
	b.do("open the chat", chromedp.Navigate(srv.URL+"/sessions/"+sess.ID), chromedp.WaitVisible(css("#composer")))
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	if evalJS[bool](b, shown("#thread-picker")) {
		t.Error("the thread picker shows before the session has a child thread")
	}
	b.sendChat("go")
	b.waitFor("the coordinator's answer", agentSaid("lead wrapped up")+" && "+statusIs("idle"))
	b.waitFor("the delegation bubbles",
		`[...document.querySelectorAll('.msg.delegation.sent')].some(m => m.textContent.includes('delegated to Helper') && m.textContent.includes('do part one')) && `+
			`[...document.querySelectorAll('.msg.delegation.received')].some(m => m.textContent.includes('reply from Helper') && m.textContent.includes('helper finished part one'))`)
	b.waitFor("the child's events folded under its name",
		`(() => { const f = document.querySelector('#transcript > details.thread-fold'); return f && !f.open && f.querySelector('.thread-label').textContent.includes('Helper') && f.dataset.status === 'idle'; })()`)
	b.waitFor("the picker lists both threads",
		`(() => { const p = document.querySelector('#thread-picker'); if (!p || !p.getClientRects().length) return false; const tabs = p.querySelectorAll('.thread-tab'); `+
			`return tabs.length === 2 && tabs[0].dataset.primary !== undefined && tabs[0].classList.contains('active') && tabs[1].textContent.includes('Helper') && tabs[1].querySelector('.badge').dataset.status === 'idle'; })()`)
	b.shot("2-session-view")

	threads, err := c.Beta.Sessions.Threads.List(ctx, sess.ID, anthropic.BetaSessionThreadListParams{})
	if err != nil || len(threads.Data) != 2 {
		t.Fatalf("threads: %v %s", err, threads.RawJSON())
	}
	child := threads.Data[1].ID
	if got := evalJS[string](b, `document.querySelectorAll('#thread-picker .thread-tab')[1].dataset.thread`); got != child {
		t.Errorf("picker's child tab = %q, want %q", got, child)
	}

	// The child's own view: its task and answer, its own stream.
	b.do("pick the child thread", chromedp.Click(css(`#thread-picker .thread-tab:not([data-primary])`)))
	b.waitFor("the child's transcript", fmt.Sprintf(`document.querySelector('#transcript')?.dataset.thread === %s && `, jsString(child))+
		agentSaid("helper finished part one")+` && [...document.querySelectorAll('.msg.delegation.received')].some(m => m.textContent.includes('task from the coordinator') && m.textContent.includes('do part one'))`+
		` && document.querySelector('#chat-conn')?.dataset.state === 'open' && location.search === '?thread=' + `+jsString(child))
	if evalJS[bool](b, agentSaid("lead wrapped up")) {
		t.Error("the child thread's view shows the coordinator's message")
	}
	b.shot("3-child-thread")

	// The next delegation reaches the open child view live, through the thread's stream.
	send(t, c, sess.ID, userMessage("again"))
	b.waitFor("the child's next answer, live", agentSaid("helper finished part two")+` && document.querySelectorAll('#transcript .msg.agent').length === 2 && `+statusIs("idle"))
	if evalJS[bool](b, agentSaid("lead done again")) {
		t.Error("the thread stream carried the coordinator's message")
	}

	// A reload keeps the thread (?thread=), then the session's view shows two folds.
	b.do("reload the thread view", chromedp.Reload())
	b.waitFor("the child view after reload", fmt.Sprintf(`document.querySelector('#transcript')?.dataset.thread === %s && document.querySelector('#thread-picker .thread-tab.active')?.dataset.thread === %s`, jsString(child), jsString(child)))
	b.do("back to the session view", chromedp.Click(css(`#thread-picker .thread-tab[data-primary]`)))
	b.waitFor("both delegations in the session view", agentSaid("lead done again")+` && document.querySelectorAll('#transcript > details.thread-fold').length === 2 && location.search === ''`)
	b.do("unfold the first thread run", chromedp.Click(css(`#transcript > details.thread-fold summary .thread-label`)))
	b.waitFor("the thread's status events in the fold", `(() => { const f = document.querySelector('#transcript > details.thread-fold'); `+
		`return f.open && [...f.querySelectorAll('.thread-status-note')].map(n => n.textContent).join('|') === 'Helper: running|Helper: idle'; })()`)
	b.shot("4-session-view-unfolded")
	b.darkShot("4-session-view-dark")
}

// TestConsoleSelfHostedEnvironment creates a self_hosted environment in the form: the key
// is shown once with the worker command, works against the worker endpoints, rotates from
// the page (old key refused), and the work queue panel shows a session's queued item.
func TestConsoleSelfHostedEnvironment(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	b := newBrowser(t, srv)
	b.signIn("/environments")
	b.do("fill a self-hosted environment", chromedp.WaitVisible(css("#env-type")),
		chromedp.SetValue(css("#env-name"), "my-workers"),
		ignore(chromedp.Evaluate[any](filterJS("#env-type", "self_hosted"))))
	if evalJS[bool](b, shown("#env-provider")) {
		t.Error("the cloud fields stay visible for a self-hosted environment")
	}
	b.do("create", chromedp.Click(css("#env-save")), chromedp.WaitVisible(css("#env-key-box")))
	key := evalJS[string](b, `document.querySelector('#env-key')?.textContent`)
	envID := evalJS[string](b, `location.pathname.split('/').pop()`)
	if !strings.HasPrefix(key, "sk-hangar-env-") || !strings.HasPrefix(envID, "env_") {
		t.Fatalf("key %q on page of %q", key, envID)
	}
	wantCmd := fmt.Sprintf("hangar worker --environment-id %s --environment-key %s --base-url %s", envID, key, srv.URL)
	if cmd := evalJS[string](b, `document.querySelector('#env-worker-cmd')?.textContent`); cmd != wantCmd {
		t.Errorf("worker command\n got %q\nwant %q", cmd, wantCmd)
	}
	if u := evalJS[string](b, `location.href`); strings.Contains(u, key) {
		t.Error("the key is in the page's URL")
	}
	// Clipboard access is refused in headless Chromium: the page selects the text instead.
	b.do("copy the command", chromedp.Click(css("#env-worker-copy")))
	b.waitFor("the copy answered", `/copied|Select and copy/.test(document.querySelector('#env-key-box')?.textContent)`)
	// Creating the environment queues its healthcheck item (CMA §6.3).
	b.waitFor("the healthcheck queued", `document.querySelector('#work-stats[data-loaded]') && document.querySelector('#work-table tbody tr[data-state=queued]')?.textContent.includes('healthcheck')`)
	b.shot("1-key-once")

	if code := workListStatus(t, srv, envID, key); code != http.StatusOK {
		t.Fatalf("the shown key on the work list: %d, want 200", code)
	}

	// A session on the environment queues a work item; the panel shows it.
	agent := newAgent(t, c, "remote", nil)
	sess := newSession(t, c, agent.ID, envID)
	b.waitFor("the queued item", fmt.Sprintf(`[...document.querySelectorAll('#work-table tbody tr')].some(r => r.dataset.state === 'queued' && r.textContent.includes(%s))`, jsString(sess.ID))+
		` && document.querySelector('#work-stats b')?.textContent === '2'`)
	b.shot("2-work-queue")

	b.do("rotate the key", chromedp.Click(css("#env-rotate-key")))
	b.waitFor("a new key", fmt.Sprintf(`(() => { const k = document.querySelector('#env-key')?.textContent; return k && k !== %s && k.startsWith('sk-hangar-env-') && document.querySelector('#env-worker-cmd')?.textContent.includes(k); })()`, jsString(key)))
	newKey := evalJS[string](b, `document.querySelector('#env-key')?.textContent`)
	if code := workListStatus(t, srv, envID, key); code != http.StatusUnauthorized {
		t.Errorf("the old key after rotation: %d, want 401", code)
	}
	if code := workListStatus(t, srv, envID, newKey); code != http.StatusOK {
		t.Errorf("the rotated key: %d, want 200", code)
	}
	b.shot("3-rotated")

	// Shown once: a reload has no key, and the list names the type.
	b.do("reload", chromedp.Reload(), chromedp.WaitVisible(css("#env-work")))
	if evalJS[bool](b, `document.querySelector('#env-key-box') !== null`) || strings.Contains(evalJS[string](b, `document.body.innerText`), newKey) {
		t.Error("the key is shown again after a reload")
	}
	b.do("environments list", chromedp.Click(css(`nav a[href="/environments"]`)), chromedp.WaitVisible(css("#environments-table")))
	b.waitFor("self-hosted in the list", `document.querySelector('#environments-table tbody')?.textContent.includes('self-hosted')`)
}

// shown is a predicate: the element is rendered (not display: none, itself or an ancestor).
func shown(sel string) string {
	return fmt.Sprintf(`(e => !!e && e.getClientRects().length > 0)(document.querySelector(%s))`, jsString(sel))
}

// workListStatus calls GET /v1/environments/{id}/work with an environment key.
func workListStatus(t *testing.T, srv *testServer, envID, key string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, srv.URL+"/v1/environments/"+envID+"/work", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", key)
	req.Header.Set("anthropic-version", "2023-06-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestConsoleDreams starts dreams from the Dreams page against a fake model upstream: one
// held by the model is canceled and archived from its page; the next completes while the
// page polls, and its new memory store holds the model's set.
func TestConsoleDreams(t *testing.T) {
	fm := &fakemodel.Server{}
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
	released := false
	releaseModel := func() {
		if !released {
			released = true
			close(release)
		}
	}
	t.Cleanup(releaseModel)
	// Both dreams get the same reply (the canceled one writes nothing), so it does not
	// matter which request takes which.
	reply := fakemodel.Text(`{"memories":[{"path":"/ops/deploy.md","content":"deploy with make ship"}]}`)
	fm.Push(reply, reply)
	srv := startServer(t, func(c *Config) { c.UpstreamURL, c.UpstreamKey = upstream.URL, "sk-upstream" })
	c := srv.Client
	ctx := testContext(t)
	store, err := c.Beta.MemoryStores.New(ctx, anthropic.BetaMemoryStoreNewParams{Name: "Team notes"})
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, c, "dreamer", nil)
	sess := newSession(t, c, a.ID, newEnvironment(t, c, "dream-env").ID)

	b := newBrowser(t, srv)
	b.signIn("/dreams")
	newDream := func(instructions string) string {
		t.Helper()
		// A create_new dream makes its output store at once, so later forms list two.
		b.do("fill a dream", chromedp.WaitVisible(css("#dream-form")),
			chromedp.SetValue(css("#dream-store"), store.ID),
			chromedp.Click(css(fmt.Sprintf(`input[data-session=%q]`, sess.ID))),
			chromedp.SetValue(css("#dream-instructions"), instructions))
		if got := evalJS[string](b, `document.querySelector('#dream-store').value`); got != store.ID {
			t.Fatalf("store select = %q, want %q", got, store.ID)
		}
		b.do("start the dream", chromedp.Click(css("#dream-save")), chromedp.WaitVisible(css("#dream")))
		return evalJS[string](b, `location.pathname.split('/').pop()`)
	}
	first := newDream("HOLD-THIS-DREAM")
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the dream never called the model")
	}
	b.waitFor("the running dream", `document.querySelector('#dream')?.dataset.status === 'running' && `+shown("#dream-cancel")+` && !`+shown("#dream-archive"))
	b.shot("1-running")
	b.do("cancel", chromedp.Click(css("#dream-cancel")))
	b.waitFor("canceled", `document.querySelector('#dream')?.dataset.status === 'canceled' && document.querySelector('.page-head .dream-status')?.dataset.status === 'canceled' && `+shown("#dream-archive")+` && !`+shown("#dream-cancel"))
	releaseModel()
	b.do("archive", chromedp.Click(css("#dream-archive")))
	b.waitFor("archived", `document.querySelector('.page-head .dream-status')?.dataset.status === 'archived' && !`+shown("#dream-archive"))
	if d, err := c.Beta.Dreams.Get(ctx, first, anthropic.BetaDreamGetParams{}); err != nil || d.Status != anthropic.BetaDreamStatusCanceled || d.ArchivedAt.IsZero() {
		t.Fatalf("the canceled dream: %v %s", err, d.RawJSON())
	}

	b.do("dreams page", chromedp.Click(css(`nav a[href="/dreams"]`)), chromedp.WaitVisible(css("#dreams-table")),
		chromedp.Click(css("details.create summary")))
	second := newDream("one topic per file")
	b.waitFor("the dream completed while the page polled", `document.querySelector('#dream')?.dataset.status === 'completed' && document.querySelector('#dream-outputs code') !== null && !`+shown("#dream-cancel")+` && `+shown("#dream-archive"))
	b.shot("2-completed")
	out := evalJS[string](b, `document.querySelector('#dream-outputs code')?.textContent`)
	d, err := c.Beta.Dreams.Get(ctx, second, anthropic.BetaDreamGetParams{})
	if err != nil || !strings.Contains(d.RawJSON(), out) || out == store.ID {
		t.Fatalf("completed dream %v %s, page shows output %q", err, d.RawJSON(), out)
	}
	if files := storeFiles(t, c, out); files != "/ops/deploy.md=deploy with make ship" {
		t.Errorf("the new store holds %q", files)
	}
}

// TestConsoleThreadConfirmation: a child thread's always_ask tool call is cross-posted to
// the session's view; the chat unfolds the thread's fold to show the prompt, and allowing
// it there lets the child and then the coordinator finish.
func TestConsoleThreadConfirmation(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	checker := newToolAgent(t, c, "Checker", scriptMetadata(t, []scriptStep{
		{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "rm -rf build"}}, "result": "removed"},
		{"message": "checked"},
	}))
	lead := newAgent(t, c, "Lead", scriptMetadata(t,
		[]scriptStep{delegateStep("delegate_to_checker", "clean the build"), {"message": "lead done"}},
	), coordinatorOption(checker.ID))
	sess := newSession(t, c, lead.ID, newEnvironment(t, c, "confirm-env").ID)

	b := newBrowser(t, srv)
	b.signIn("/sessions/" + sess.ID)
	b.waitFor("live stream", `document.querySelector('#chat-conn')?.dataset.state === 'open'`)
	b.sendChat("go")
	b.waitFor("the child's prompt, unfolded", `(() => { const f = document.querySelector('#transcript > details.thread-fold'); `+
		`return f && f.open && f.querySelector('.thread-label').textContent.includes('Checker') && f.querySelector('.tool .confirm-allow') && f.textContent.includes('rm -rf build'); })() && `+statusIs("requires_action"))
	b.shot("1-child-confirmation")
	b.do("allow", chromedp.Click(css(".thread-fold .tool .confirm-allow")))
	b.waitFor("the turn finished", agentSaid("lead done")+" && "+statusIs("idle")+
		// The child's tool result stays on its thread (not cross-posted): the card says allowed.
		` && document.querySelectorAll('#transcript > details.thread-fold').length === 1 && document.querySelector('.thread-fold .tool')?.dataset.state === 'allowed' && !document.querySelector('.prompt')`)
	b.shot("2-done")
	events, err := c.Beta.Sessions.Events.List(testContext(t), sess.ID, anthropic.BetaSessionEventListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(events.RawJSON(), `"type":"user.tool_confirmation"`) || !strings.Contains(events.RawJSON(), `"result":"allow"`) {
		t.Errorf("no allowed confirmation in the session's events")
	}
}

// TestConsoleTunnels creates a tunnel on the Tunnels page, reveals and rotates its token
// (checked against the API), adds and archives a CA certificate, and archives the tunnel.
func TestConsoleTunnels(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	b := newBrowser(t, srv)
	b.signIn("/tunnels")
	b.do("create a tunnel", chromedp.WaitVisible(css("#tunnel-form")), chromedp.SetValue(css("#tunnel-name"), "office LAN"),
		chromedp.Click(css("#tunnel-save")), chromedp.WaitVisible(css("#tunnel-domain")))
	id := evalJS[string](b, `location.pathname.split('/').pop()`)
	tn, err := c.Beta.Tunnels.Get(ctx, id, anthropic.BetaTunnelGetParams{})
	if err != nil || tn.DisplayName != "office LAN" || evalJS[string](b, `document.querySelector('#tunnel-domain')?.textContent`) != tn.Domain {
		t.Fatalf("tunnel %v %s", err, tn.RawJSON())
	}
	b.waitFor("the no-certificate warning", `document.querySelector('.error')?.textContent.includes('No live CA certificate')`)

	b.do("reveal", chromedp.Click(css("#tunnel-reveal")), chromedp.WaitVisible(css("#tunnel-token")))
	tok, err := c.Beta.Tunnels.RevealToken(ctx, id, anthropic.BetaTunnelRevealTokenParams{})
	if err != nil || evalJS[string](b, `document.querySelector('#tunnel-token')?.textContent`) != tok.TunnelToken {
		t.Fatalf("revealed token differs from the API's: %v", err)
	}
	if cmd := evalJS[string](b, `document.querySelector('#tunnel-cmd')?.textContent`); !strings.Contains(cmd, "hangar tunnel --url "+srv.URL+" --tunnel "+id+" --token "+tok.TunnelToken) {
		t.Errorf("connector command %q", cmd)
	}
	b.do("rotate", chromedp.Click(css("#tunnel-rotate")))
	b.waitFor("a new token", fmt.Sprintf(`(k => !!k && k !== %s)(document.querySelector('#tunnel-token')?.textContent)`, jsString(tok.TunnelToken)))
	rot, err := c.Beta.Tunnels.RevealToken(ctx, id, anthropic.BetaTunnelRevealTokenParams{})
	if err != nil || rot.TunnelToken == tok.TunnelToken || evalJS[string](b, `document.querySelector('#tunnel-token')?.textContent`) != rot.TunnelToken {
		t.Fatalf("rotated token: %v", err)
	}

	b.do("add a CA certificate", chromedp.SetValue(css("#cert-pem"), gatewayCA(t)), chromedp.Click(css("#cert-save")))
	b.waitFor("the certificate listed", `document.querySelectorAll('#certs-table tbody tr').length === 1 && !document.querySelector('.error')`)
	b.shot("1-tunnel")
	b.do("a bad PEM", chromedp.SetValue(css("#cert-pem"), "not a certificate"), chromedp.Click(css("#cert-save")))
	b.waitFor("the API's refusal", `document.querySelector('#cert-form .error') !== null`)
	b.do("archive the certificate", chromedp.Click(css("#certs-table .cert-archive")))
	b.waitFor("the certificate archived", `document.querySelector('#certs-table tbody tr.archived') !== null`)
	b.do("archive the tunnel", chromedp.Click(css("#tunnel-archive")))
	b.waitFor("the tunnel archived", `document.querySelector('.page-head .badge')?.dataset.status === 'archived' && document.querySelector('#tunnel-reveal')?.disabled`)
	if got, err := c.Beta.Tunnels.Get(ctx, id, anthropic.BetaTunnelGetParams{}); err != nil || got.ArchivedAt.IsZero() {
		t.Fatalf("tunnel after archive: %v %s", err, got.RawJSON())
	}
	b.do("tunnels list", chromedp.Click(css(`nav a[href="/tunnels"]`)), chromedp.WaitVisible(css("#tunnels-table")))
	b.waitFor("listed as archived", `document.querySelector('#tunnels-table tbody tr.archived')?.textContent.includes('office LAN')`)
}

// TestConsoleUserProfiles creates a user profile on its page, gets an enrollment link,
// completes the enrollment as the end customer would (a POST to the link), and sees the
// grant on the profile's page before deleting it.
func TestConsoleUserProfiles(t *testing.T) {
	srv := startServer(t)
	b := newBrowser(t, srv)
	b.signIn("/profiles")
	b.do("create a profile", chromedp.WaitVisible(css("#profile-form")),
		chromedp.SetValue(css("#profile-name"), "Acme Corp"), chromedp.SetValue(css("#profile-reference"), "cust-42"),
		ignore(chromedp.Evaluate[any](filterJS("#profile-access", "passthrough"))),
		chromedp.Click(css("#profile-save")), chromedp.WaitVisible(css("#profile-enrollment")))
	id := evalJS[string](b, `location.pathname.split('/').pop()`)
	p, err := srv.Client.Beta.UserProfiles.Get(testContext(t), id, anthropic.BetaUserProfileGetParams{})
	if err != nil || p.Name != "Acme Corp" || p.AccessType != "passthrough" || !strings.Contains(p.RawJSON(), "cust-42") {
		t.Fatalf("profile %v %s", err, p.RawJSON())
	}
	b.do("enrollment link", chromedp.Click(css("#profile-enroll-url")), chromedp.WaitVisible(css("#profile-url")))
	url := evalJS[string](b, `document.querySelector('#profile-url')?.textContent`)
	if !strings.HasPrefix(url, srv.URL+"/enroll/") {
		t.Fatalf("enrollment URL %q", url)
	}
	res, err := http.Post(url, "application/x-www-form-urlencoded", nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("complete the enrollment: %v %v", res, err)
	}
	res.Body.Close()
	b.do("reload", chromedp.Reload())
	b.waitFor("the enrollment active", `document.querySelector('#profile-enrollment')?.textContent === 'active'`)
	b.shot("1-profile")
	b.do("delete", chromedp.Click(css("#profile-delete")), chromedp.WaitVisible(css("#profile-form")))
	b.waitFor("the empty list", `document.querySelector('.empty')?.textContent === 'No user profiles yet.'`)
}
