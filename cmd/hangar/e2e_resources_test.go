package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// uploadText uploads content as a text file through the Files API.
func uploadText(t *testing.T, c anthropic.Client, name, content string) *anthropic.BetaFileMetadata {
	t.Helper()
	f, err := c.Beta.Files.Upload(testContext(t), anthropic.BetaFileUploadParams{
		File: anthropic.File(bytes.NewReader([]byte(content)), name, "text/plain"),
	})
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return f
}

// toolResults joins the agent.tool_result events of evs.
func toolResults(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Type == "agent.tool_result" {
			b.WriteString(ev.RawJSON() + "\n")
		}
	}
	return b.String()
}

// TestE2EResourcesFile mounts Files API files into a real Claude Code session: one given at
// creation (default mount under /mnt/session/uploads, read-only), one added later through
// the resources endpoints at a path in the workspace. The agent reads both with bash, cannot
// overwrite the upload, and no longer sees a resource once it is deleted.
func TestE2EResourcesFile(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	plan := uploadText(t, c, "plan.txt", "plan-content-7f3a\n")
	notes := uploadText(t, c, "notes.txt", "notes-content-91bc\n")

	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{{
			OfFile: &anthropic.BetaManagedAgentsFileResourceParams{FileID: plan.ID},
		}},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	planMount := "/mnt/session/uploads/" + plan.ID
	if len(sess.Resources) != 1 || sess.Resources[0].Type != "file" || sess.Resources[0].MountPath != planMount || !strings.HasPrefix(sess.Resources[0].ID, "sesrsc_") {
		t.Fatalf("session resources = %s", sess.JSON.Resources.Raw())
	}
	planRes := sess.Resources[0].ID

	added, err := c.Beta.Sessions.Resources.Add(ctx, sess.ID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: notes.ID, MountPath: anthropic.String("/workspace/data/notes.txt")},
	})
	if err != nil {
		t.Fatalf("add resource: %v", err)
	}
	if added.FileID != notes.ID || added.MountPath != "/workspace/data/notes.txt" || added.Type != "file" || added.CreatedAt.IsZero() {
		t.Errorf("added = %s", added.RawJSON())
	}
	_, err = c.Beta.Sessions.Resources.Add(ctx, sess.ID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: notes.ID, MountPath: anthropic.String(planMount)},
	})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")
	_, err = c.Beta.Sessions.Resources.Add(ctx, sess.ID, anthropic.BetaSessionResourceAddParams{
		BetaManagedAgentsFileResourceParams: anthropic.BetaManagedAgentsFileResourceParams{FileID: "file_missing"},
	})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")

	page, err := c.Beta.Sessions.Resources.List(ctx, sess.ID, anthropic.BetaSessionResourceListParams{})
	if err != nil {
		t.Fatalf("list resources: %v", err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != planRes || page.Data[1].ID != added.ID {
		t.Fatalf("list = %s", page.RawJSON())
	}
	first, err := c.Beta.Sessions.Resources.List(ctx, sess.ID, anthropic.BetaSessionResourceListParams{Limit: anthropic.Int(1)})
	if err != nil || len(first.Data) != 1 || first.NextPage == "" {
		t.Fatalf("list limit 1 = %v, %v", first, err)
	}
	next, err := first.GetNextPage()
	if err != nil || next == nil || len(next.Data) != 1 || next.Data[0].ID != added.ID {
		t.Fatalf("second page = %v, %v", next, err)
	}
	got, err := c.Beta.Sessions.Resources.Get(ctx, added.ID, anthropic.BetaSessionResourceGetParams{SessionID: sess.ID})
	if err != nil || got.FileID != notes.ID || got.MountPath != added.MountPath {
		t.Fatalf("get resource = %v, %v", got, err)
	}
	_, err = c.Beta.Sessions.Resources.Get(ctx, "sesrsc_missing", anthropic.BetaSessionResourceGetParams{SessionID: sess.ID})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
	_, err = c.Beta.Sessions.Resources.Update(ctx, added.ID, anthropic.BetaSessionResourceUpdateParams{SessionID: sess.ID, AuthorizationToken: "ghp_x"})
	wantStatus(t, err, http.StatusBadRequest, "invalid_request_error")

	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("TOOL:bash cat "+planMount+" /workspace/data/notes.txt; echo overwrite > "+planMount+" || echo write-refused"))
	result := toolResults(readUntil(t, stream, isIdle))
	for _, want := range []string{"plan-content-7f3a", "notes-content-91bc", "write-refused"} {
		if !strings.Contains(result, want) {
			t.Errorf("tool_result lacks %q: %s", want, result)
		}
	}

	del, err := c.Beta.Sessions.Resources.Delete(ctx, planRes, anthropic.BetaSessionResourceDeleteParams{SessionID: sess.ID})
	if err != nil || del.ID != planRes || del.Type != "session_resource_deleted" {
		t.Fatalf("delete resource = %v, %v", del, err)
	}
	_, err = c.Beta.Sessions.Resources.Delete(ctx, planRes, anthropic.BetaSessionResourceDeleteParams{SessionID: sess.ID})
	wantStatus(t, err, http.StatusNotFound, "not_found_error")
	send(t, c, sess.ID, userMessage("TOOL:bash test -e "+planMount+" && echo still-mounted || echo plan-gone"))
	if result := toolResults(readUntil(t, stream, isIdle)); !strings.Contains(result, "plan-gone") {
		t.Errorf("deleted resource still visible: %s", result)
	}
	after, err := c.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil || len(after.Resources) != 1 || after.Resources[0].ID != added.ID {
		t.Fatalf("session after delete = %v, %v", after, err)
	}
}

// TestE2EOutputsSynced has the agent write a report to /mnt/session/outputs: at the end of
// the turn it is a Files API file scoped to the session, announced with
// session.outputs_synced and downloadable; an unchanged file is not captured twice.
func TestE2EOutputsSynced(t *testing.T) {
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, ctx, c, sess.ID)

	send(t, c, sess.ID, userMessage("TOOL:bash echo report-body-5e1 > /mnt/session/outputs/r.txt"))
	evs := readUntil(t, stream, isIdle)
	var announced string
	for _, ev := range evs {
		if ev.Type == "session.outputs_synced" {
			announced = ev.RawJSON()
		}
	}
	if !strings.Contains(announced, `"path":"/mnt/session/outputs/r.txt"`) {
		t.Fatalf("no session.outputs_synced for r.txt; events: %v", eventTypes(evs))
	}
	files, err := c.Beta.Files.List(ctx, anthropic.BetaFileListParams{ScopeID: anthropic.String(sess.ID)})
	if err != nil {
		t.Fatalf("list files: %v", err)
	}
	if len(files.Data) != 1 || files.Data[0].Filename != "r.txt" || !files.Data[0].Downloadable || !strings.Contains(announced, files.Data[0].ID) {
		t.Fatalf("session files = %s; announced %s", files.RawJSON(), announced)
	}
	if !strings.Contains(files.Data[0].RawJSON(), `"scope":{"type":"session","id":"`+sess.ID+`"}`) {
		t.Errorf("file scope = %s", files.Data[0].RawJSON())
	}
	resp, err := c.Beta.Files.Download(ctx, files.Data[0].ID, anthropic.BetaFileDownloadParams{})
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "report-body-5e1\n" {
		t.Errorf("downloaded %q", body)
	}

	send(t, c, sess.ID, userMessage("TOOL:bash cat /mnt/session/outputs/r.txt"))
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "session.outputs_synced" {
			t.Errorf("unchanged output announced again: %s", ev.RawJSON())
		}
	}
	files, err = c.Beta.Files.List(ctx, anthropic.BetaFileListParams{ScopeID: anthropic.String(sess.ID)})
	if err != nil || len(files.Data) != 1 {
		t.Fatalf("session files after an unchanged turn = %v, %v", files, err)
	}
}

// gitServer serves the bare repository acme/widgets.git over git's smart HTTP protocol
// (git http-backend as CGI), standing in for github.com: it answers only requests that
// carry token as the basic-auth password. It returns the repository URL and the number of
// authorized requests served so far.
func gitServer(t *testing.T, token string) (repoURL string, authorized func() int64) {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	out, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	root := t.TempDir()
	work := filepath.Join(root, "work")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+root, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	git(work, "init", "--quiet", "--initial-branch=main")
	if err := os.WriteFile(filepath.Join(work, "README.md"), []byte("widgets-readme-c0ffee\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(work, "add", "README.md")
	git(work, "commit", "--quiet", "-m", "first widget")
	if err := os.MkdirAll(filepath.Join(root, "srv", "acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	git(root, "clone", "--quiet", "--bare", work, filepath.Join(root, "srv", "acme", "widgets.git"))

	var n atomic.Int64
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Join(root, "srv"), "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		n.Add(1)
		cgiHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/acme/widgets.git", n.Load
}

// TestE2EResourcesGitHubRepository mounts a repository resource: Hangar clones it on the host
// with the resource's token (checked by the stand-in git server) and copies the clone to
// /workspace/widgets, where the agent reads it and runs git. The token is never returned by
// the API and is nowhere in the sandbox; a wrong token fails the turn.
func TestE2EResourcesGitHubRepository(t *testing.T) {
	t.Parallel()
	const token = "ghp_repo_token_for_tests_5d2"
	repoURL, authorized := gitServer(t, token)
	srv, _ := claudeServer(t)
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")

	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{{
			OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{
				URL:                repoURL,
				AuthorizationToken: token,
				Checkout: anthropic.BetaManagedAgentsGitHubRepositoryResourceParamsCheckoutUnion{
					OfBranch: &anthropic.BetaManagedAgentsBranchCheckoutParam{Name: "main"},
				},
			},
		}},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	if strings.Contains(sess.RawJSON(), token) {
		t.Fatalf("session echoes the token: %s", sess.RawJSON())
	}
	res := sess.Resources[0]
	if res.Type != "github_repository" || res.MountPath != "/workspace/widgets" || res.URL != repoURL || res.Checkout.Name != "main" {
		t.Fatalf("resource = %s", res.RawJSON())
	}
	got, err := c.Beta.Sessions.Resources.Get(ctx, res.ID, anthropic.BetaSessionResourceGetParams{SessionID: sess.ID})
	if err != nil || strings.Contains(got.RawJSON(), token) || strings.Contains(got.RawJSON(), "sealed") {
		t.Fatalf("get resource = %v, %v", got, err)
	}
	rotated, err := c.Beta.Sessions.Resources.Update(ctx, res.ID, anthropic.BetaSessionResourceUpdateParams{SessionID: sess.ID, AuthorizationToken: token})
	if err != nil || rotated.ID != res.ID || strings.Contains(rotated.RawJSON(), token) {
		t.Fatalf("rotate token = %v, %v", rotated, err)
	}

	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage(`TOOL:bash cat /workspace/widgets/README.md; git -C /workspace/widgets log --format=%s; grep -rl "ghp_repo_token""_for_tests" /workspace $HOME 2>/dev/null; echo scan-done`))
	result := toolResults(readUntil(t, stream, isIdle))
	for _, want := range []string{"widgets-readme-c0ffee", "first widget", "scan-done"} {
		if !strings.Contains(result, want) {
			t.Errorf("tool_result lacks %q: %s", want, result)
		}
	}
	if strings.Contains(result, token) || strings.Contains(result, "/workspace/") {
		t.Errorf("the token is visible in the sandbox: %s", result)
	}
	if authorized() == 0 {
		t.Error("the git server saw no authorized request")
	}

	// A wrong token: the clone is refused and the turn ends in an error.
	bad, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
		Resources: []anthropic.BetaSessionNewParamsResourceUnion{{
			OfGitHubRepository: &anthropic.BetaManagedAgentsGitHubRepositoryResourceParams{URL: repoURL, AuthorizationToken: "ghp_wrong"},
		}},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	badStream := openStream(t, ctx, c, bad.ID)
	send(t, c, bad.ID, userMessage("TOOL:bash ls /workspace"))
	evs := readUntil(t, badStream, isIdle)
	if types := strings.Join(eventTypes(evs), " "); !strings.Contains(types, "session.error") {
		t.Errorf("wrong token: events %s, want a session.error", types)
	}
	for _, ev := range evs {
		if strings.Contains(ev.RawJSON(), "ghp_wrong") {
			t.Errorf("event shows the token: %s", ev.RawJSON())
		}
	}
}

// TestE2EBudgetReached gives a session a $0.25 budget while the model reports 100k input
// tokens per request ($0.30 at Sonnet's list price): the first model request reaches
// the budget, the runner stops the real Claude Code run, and the turn ends with stop_reason
// budget_reached; afterwards only settle events are accepted. The same turn in a session
// without a budget ends normally.
func TestE2EBudgetReached(t *testing.T) {
	t.Parallel()
	srv, fake := claudeServer(t)
	fake.Script = func(req fakemodel.Request) fakemodel.Response {
		r := fakemodel.Default(req)
		r.Usage = &fakemodel.Usage{InputTokens: 100_000, OutputTokens: 10}
		return r
	}
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	env := newEnvironment(t, c, "sandbox")

	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
		Budget:        anthropic.BetaManagedAgentsBudgetLimitParam{MaxListCost: anthropic.BetaMonetaryAmountParam{Amount: "25", Currency: "USD"}},
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	if sess.Budget.Type != "limit" || sess.Budget.MaxListCost.Amount != "25" || sess.Budget.MaxListCost.Currency != "USD" {
		t.Fatalf("budget = %s", sess.JSON.Budget.Raw())
	}
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("TOOL:bash echo ran > budget.txt"))
	evs := readUntil(t, stream, isIdle)
	if idle := evs[len(evs)-1]; idle.StopReason.Type != "budget_reached" {
		t.Fatalf("turn ended with %s; events %v", idle.RawJSON(), eventTypes(evs))
	}
	_, err = c.Beta.Sessions.Events.Send(ctx, sess.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage("more")},
	})
	if apiErr := wantStatus(t, err, http.StatusBadRequest, "invalid_request_error"); apiErr != nil && !strings.Contains(apiErr.Error(), "budget") {
		t.Errorf("error = %v, want one naming the budget", apiErr)
	}
	// Removing the budget (update with null) lets the session continue.
	if _, err := c.Beta.Sessions.Update(ctx, sess.ID, anthropic.BetaSessionUpdateParams{}, option.WithJSONSet("budget", nil)); err != nil {
		t.Fatalf("remove budget: %v", err)
	}
	send(t, c, sess.ID, userMessage("hello again"))
	if evs := readUntil(t, stream, isIdle); evs[len(evs)-1].StopReason.Type != "end_turn" {
		t.Errorf("after removing the budget: %s", evs[len(evs)-1].RawJSON())
	}

	free := newSession(t, c, agent.ID, env.ID)
	freeStream := openStream(t, ctx, c, free.ID)
	send(t, c, free.ID, userMessage("TOOL:bash echo ran > budget.txt"))
	if evs := readUntil(t, freeStream, isIdle); evs[len(evs)-1].StopReason.Type != "end_turn" {
		t.Errorf("without a budget the turn ended with %s", evs[len(evs)-1].RawJSON())
	}
}
