package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// rawGet GETs path on srv with the test key and returns the status, body and headers.
func rawGet(t *testing.T, srv *testServer, path string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequestWithContext(testContext(t), "GET", srv.URL+path, nil)
	req.Header.Set("x-api-key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// envState returns the environment's Hangar "state" extension field.
func envState(t *testing.T, srv *testServer, id string) (state, message string) {
	t.Helper()
	code, body, _ := rawGet(t, srv, "/v1/environments/"+id)
	var e struct {
		State        string `json:"state"`
		StateMessage string `json:"state_message"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &e) != nil {
		t.Fatalf("GET environment %s = %d %s", id, code, body)
	}
	return e.State, e.StateMessage
}

func packagesEnv(t *testing.T, c anthropic.Client, name string, packages map[string][]string) *anthropic.BetaEnvironment {
	t.Helper()
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: name},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "packages": packages}))
	if err != nil {
		t.Fatalf("create environment %q: %v", name, err)
	}
	return env
}

// TestE2EEnvironmentBuild creates an environment with real apt and npm packages on the
// local provider: it is preparing, a session created at once waits for the build and then
// runs the installed tools; a second environment with the same packages is ready at once
// (the cached layer); a missing package fails the build and the session's turn, naming it.
func TestE2EEnvironmentBuild(t *testing.T) {
	for _, tool := range []string{"apt-get", "dpkg-deb", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("environment builds need %s", tool)
		}
	}
	t.Parallel()
	srv, _ := claudeServer(t)
	c := srv.Client
	agent := claudeAgent(t, c)
	pk := map[string][]string{"apt": {"hello", "jq"}, "npm": {"is-number"}}

	env := packagesEnv(t, c, "tools", pk)
	if !strings.Contains(env.RawJSON(), `"state":"preparing"`) {
		t.Errorf("new environment = %s, want state preparing", env.RawJSON())
	}
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)
	send(t, c, sess.ID, userMessage(`TOOL:bash hello && jq --version && node -e "console.log('is-number', require('is-number')(5))"`))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" || ev.Type == "session.error" {
			result += ev.RawJSON()
		}
	}
	for _, want := range []string{"Hello, world!", "jq-1.", "is-number true"} {
		if !strings.Contains(result, want) {
			t.Errorf("tool result lacks %q: %s", want, result)
		}
	}
	if st, msg := envState(t, srv, env.ID); st != "ready" {
		t.Errorf("state after the session = %q (%s), want ready", st, msg)
	}
	code, log, hdr := rawGet(t, srv, "/v1/environments/"+env.ID+"/build_log")
	if code != http.StatusOK || hdr.Get("Hangar-Build-State") != "ready" {
		t.Errorf("build_log = %d %v", code, hdr)
	}
	for _, want := range []string{"==> network: the egress proxy only", "==> apt: unpacking hello_", "==> npm: installing is-number", "==> ready in"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}

	// Same packages (another order): the layer is reused, ready at once, and a session on
	// it starts without building.
	twin := packagesEnv(t, c, "twin", map[string][]string{"npm": {"is-number"}, "apt": {"jq", "hello"}})
	if !strings.Contains(twin.RawJSON(), `"state":"ready"`) {
		t.Errorf("twin environment = %s, want ready (cached layer)", twin.RawJSON())
	}
	sess2 := newSession(t, c, agent.ID, twin.ID)
	stream2 := openStream(t, testContext(t), c, sess2.ID)
	start := time.Now()
	send(t, c, sess2.ID, userMessage("TOOL:bash hello"))
	out := readUntil(t, stream2, isIdle)
	t.Logf("turn on the cached layer took %v", time.Since(start))
	if raw := out[len(out)-1].RawJSON(); !strings.Contains(raw, "end_turn") {
		t.Errorf("twin turn ended with %s", raw)
	}

	// A package that does not exist: the turn fails naming the build, the state is failed.
	bad := packagesEnv(t, c, "bad", map[string][]string{"apt": {"hangar-no-such-package"}})
	sess3 := newSession(t, c, agent.ID, bad.ID)
	stream3 := openStream(t, testContext(t), c, sess3.ID)
	send(t, c, sess3.ID, userMessage("TOOL:bash hello"))
	var errs string
	for _, ev := range readUntil(t, stream3, isIdle) {
		if ev.Type == "session.error" {
			errs += ev.RawJSON()
		}
	}
	if !strings.Contains(errs, "packages could not be installed") {
		t.Errorf("session errors = %q, want the failed build", errs)
	}
	if st, msg := envState(t, srv, bad.ID); st != "failed" || !strings.Contains(msg, "installers failed") {
		t.Errorf("bad environment state = %q (%s), want failed", st, msg)
	}
	if _, log, _ := rawGet(t, srv, "/v1/environments/"+bad.ID+"/build_log"); !strings.Contains(log, "hangar-no-such-package") {
		t.Errorf("failed build log does not name the package:\n%s", log)
	}

	// A limited environment builds through the proxy under a limited policy: the package
	// registries are reachable, and the session runs what was installed.
	limited, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: "limited"},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "packages": map[string][]string{"npm": {"is-odd"}},
			"networking": map[string]any{"type": "limited", "allowed_hosts": []string{}, "allow_package_managers": true}}))
	if err != nil {
		t.Fatal(err)
	}
	sess4 := newSession(t, c, agent.ID, limited.ID)
	stream4 := openStream(t, testContext(t), c, sess4.ID)
	send(t, c, sess4.ID, userMessage(`TOOL:bash node -e "console.log('odd', require('is-odd')(3))"`))
	result = ""
	for _, ev := range readUntil(t, stream4, isIdle) {
		if ev.Type == "agent.tool_result" || ev.Type == "session.error" {
			result += ev.RawJSON()
		}
	}
	if !strings.Contains(result, "odd true") {
		_, log, _ := rawGet(t, srv, "/v1/environments/"+limited.ID+"/build_log")
		t.Errorf("limited environment: tool result %s\nbuild log:\n%s", result, log)
	}

	// GET /v1/providers: local is available here.
	code, body, _ := rawGet(t, srv, "/v1/providers")
	var provs struct {
		Data []struct {
			Name      string  `json:"name"`
			Available bool    `json:"available"`
			Reason    *string `json:"reason"`
		} `json:"data"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &provs) != nil {
		t.Fatalf("GET /v1/providers = %d %s", code, body)
	}
	seen := map[string]bool{}
	for _, p := range provs.Data {
		seen[p.Name] = true
		if p.Name == "local" && !p.Available {
			t.Errorf("local provider unavailable: %v", *p.Reason)
		}
		if !p.Available && (p.Reason == nil || *p.Reason == "") {
			t.Errorf("provider %s unavailable without a reason", p.Name)
		}
	}
	if !seen["local"] {
		t.Errorf("providers = %s, want local listed", body)
	}
}
