package main

// Tests of the client commands against a real server (startServer: SQLite, scripted
// engine). Help text and -o json outputs are golden files in testdata/cli, refreshed with
// `go test ./cmd/hangar -run TestCLI -update`; IDs and times are replaced by stable
// placeholders before comparing.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/cli/*.golden from the current output")

// cliResult is what one CLI invocation printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs a client command in-process against srv (nil: no server; HANGAR_URL
// unset), with stdin as its input.
func runCLI(t *testing.T, srv *testServer, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, cliTestEnv(srv, nil), stdin, args...)
}

// cliTestEnv is the environment of a CLI run against srv, plus extra variables.
func cliTestEnv(srv *testServer, extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		switch {
		case k == "HANGAR_URL" && srv != nil:
			return srv.URL
		case k == "HANGAR_API_KEY" && srv != nil:
			return testAPIKey
		}
		return ""
	}
}

func runCLIEnv(t *testing.T, getenv func(string) string, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := runClient(testContext(t), args, cliEnv{getenv: getenv, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return cliResult{out.String(), errb.String(), code}
}

// mustCLI runs a command that must succeed.
func mustCLI(t *testing.T, srv *testServer, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(t, srv, stdin, args...)
	if r.code != 0 {
		t.Fatalf("hangar %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustID runs a command with -o json and returns the "id" of the object it printed.
func mustID(t *testing.T, srv *testServer, stdin string, args ...string) string {
	t.Helper()
	out := mustCLI(t, srv, stdin, append(args, "-o", "json")...)
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.ID == "" {
		t.Fatalf("hangar %s: no id in %q (%v)", strings.Join(args, " "), out, err)
	}
	return v.ID
}

var (
	goldenID   = regexp.MustCompile(`\b(agent|env|sesn|sevt|vlt|vcrd|file|page)_[A-Za-z0-9_-]+`)
	goldenTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	goldenSecs = regexp.MustCompile(`"(duration_seconds|active_seconds)": [0-9.e-]+`)
)

// normalizer replaces IDs (numbered per prefix in order of appearance) and times.
type normalizer struct{ ids map[string]string }

func (n *normalizer) apply(s string) string {
	if n.ids == nil {
		n.ids = map[string]string{}
	}
	s = goldenID.ReplaceAllStringFunc(s, func(id string) string {
		if r, ok := n.ids[id]; ok {
			return r
		}
		prefix := id[:strings.IndexByte(id, '_')]
		count := 1
		for _, r := range n.ids {
			if strings.HasPrefix(r, "<"+prefix+"_") {
				count++
			}
		}
		n.ids[id] = fmt.Sprintf("<%s_%d>", prefix, count)
		return n.ids[id]
	})
	s = goldenTime.ReplaceAllString(s, "<time>")
	return goldenSecs.ReplaceAllString(s, `"$1": <seconds>`)
}

// golden compares got with testdata/cli/NAME.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestCLIHelp pins the help of every client command and group, and the binary's usage.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); code != 0 {
		t.Fatalf("hangar help: exit %d", code)
	}
	golden(t, "help", out.String())

	var walk func(path []string, cmds []*command)
	walk = func(path []string, cmds []*command) {
		for _, c := range cmds {
			p := append(append([]string{}, path...), c.name)
			r := runCLIEnv(t, cliTestEnv(nil, nil), "", append(p, "--help")...)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("hangar %s --help: exit %d, stderr %q", strings.Join(p, " "), r.code, r.stderr)
			}
			golden(t, "help_"+strings.Join(p, "_"), r.stdout)
			walk(p, c.subs)
		}
	}
	walk(nil, clientCommands())
}

// TestCLIResources drives every resource command against a real server and pins their
// -o json output.
func TestCLIResources(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var n normalizer
	check := func(name string, args ...string) string {
		t.Helper()
		out := mustCLI(t, srv, "", append(args, "-o", "json")...)
		golden(t, "json_"+name, n.apply(out))
		return out
	}
	idOfOutput := func(out string) string {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("no id in %q", out)
		}
		return v.ID
	}

	// Agents: create with flags, update to version 2, versions, archive.
	agent := idOfOutput(check("agents_create", "agents", "create", "--name", "coder", "--model", "claude-sonnet-4-6",
		"--engine", "scripted", "--system", "Be brief.", "--tool", "toolset:ask", "--tool", "custom:get_weather:Weather for a city",
		"--metadata", "team=infra"))
	check("agents_update", "agents", "update", agent, "--description", "writes code", "--metadata", "team=", "--version", "1")
	check("agents_get_v1", "agents", "get", agent, "--version", "1")
	check("agents_versions", "agents", "versions", agent)
	check("agents_list", "agents", "list")

	// A body from --file (stdin), with a flag overriding one field.
	bodyAgent := mustID(t, srv, `{"name":"from-file","model":"claude-sonnet-4-6","engine":"scripted","description":"old"}`,
		"agents", "create", "-f", "-", "--description", "new")
	if out := mustCLI(t, srv, "", "agents", "get", bodyAgent, "-o", "json"); !strings.Contains(out, `"description": "new"`) || !strings.Contains(out, `"name": "from-file"`) {
		t.Errorf("agent from --file with --description override:\n%s", out)
	}
	check("agents_archive", "agents", "archive", bodyAgent)

	// Environments.
	env := idOfOutput(check("environments_create", "environments", "create", "--name", "dev", "--provider", "memory"))
	check("environments_update", "environments", "update", env, "--description", "for tests")
	spare := mustID(t, srv, "", "environments", "create", "--name", "spare")
	check("environments_archive", "environments", "archive", spare)
	check("environments_delete", "environments", "delete", spare)

	// Vaults and credentials; the secret is read from stdin and never printed back.
	vault := idOfOutput(check("vaults_create", "vaults", "create", "--name", "keys"))
	credOut := mustCLI(t, srv, "sk-secret-value\n", "vaults", "credentials", "create", vault, "--name", "anthropic",
		"--secret-name", "ANTHROPIC_API_KEY", "--secret-value", "-", "--allowed-host", "api.anthropic.com", "-o", "json")
	if strings.Contains(credOut, "sk-secret-value") {
		t.Errorf("credential create printed the secret: %s", credOut)
	}
	golden(t, "json_credentials_create", n.apply(credOut))
	cred := idOfOutput(credOut)
	check("credentials_list", "vaults", "credentials", "list", vault)
	check("credentials_delete", "vaults", "credentials", "delete", vault, cred)

	// Sessions and events.
	sess := idOfOutput(check("sessions_create", "sessions", "create", "--agent", agent, "--agent-version", "1", "--env", env,
		"--title", "first", "--vault", vault))
	check("sessions_update", "sessions", "update", sess, "--title", "renamed")
	check("sessions_list", "sessions", "list", "--agent", agent)
	plain := mustID(t, srv, "", "agents", "create", "--name", "echo", "--model", "claude-sonnet-4-6", "--engine", "scripted")
	echo := mustID(t, srv, "", "sessions", "create", "--agent", plain, "--env", env)
	check("events_send", "sessions", "events", "send", echo, "--message", "hello")
	// chat (non-interactive) waits for the turn, so the list below is complete.
	if out := mustCLI(t, srv, "again\n", "chat", echo); !strings.Contains(out, "echo: again") {
		t.Errorf("chat output:\n%s", out)
	}
	check("events_list", "sessions", "events", "list", echo, "--type", "user.message", "--type", "agent.message")
	check("sessions_archive", "sessions", "archive", sess)
	check("sessions_delete", "sessions", "delete", sess)

	// Files: upload from a path and from stdin, list, get, download, delete.
	dir := t.TempDir()
	path := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(path, []byte("hello file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := idOfOutput(check("files_upload", "files", "upload", path))
	mustID(t, srv, "from stdin", "files", "upload", "-", "--name", "stdin.txt")
	check("files_get", "files", "get", file)
	check("files_list", "files", "list")
	if got := mustCLI(t, srv, "", "files", "download", file); got != "hello file\n" {
		t.Errorf("download to stdout = %q", got)
	}
	dst := filepath.Join(dir, "copy.txt")
	mustCLI(t, srv, "", "files", "download", file, "-O", dst)
	if b, err := os.ReadFile(dst); err != nil || string(b) != "hello file\n" {
		t.Errorf("download -O: %q, %v", b, err)
	}
	check("files_delete", "files", "delete", file)

	// Tables: headers and the rows' key fields.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"agents", "list"}, []string{"ID", "NAME", "MODEL", "ENGINE", "VERSION", agent, "coder", "claude-sonnet-4-6", "scripted"}},
		{[]string{"environments", "get", env}, []string{"PROVIDER", "memory", "dev"}},
		{[]string{"sessions", "list", "--agent", plain}, []string{"STATUS", echo, "idle"}},
		{[]string{"sessions", "events", "list", echo}, []string{"agent.message", "echo: hello", "end_turn"}},
		{[]string{"vaults", "list"}, []string{vault, "keys"}},
		{[]string{"files", "list"}, []string{"stdin.txt", "text/plain"}},
		{[]string{"environments", "delete", mustID(t, srv, "", "environments", "create", "--name", "gone")}, []string{"deleted env_"}},
	} {
		out := mustCLI(t, srv, "", tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("hangar %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
	}
}

// TestCLIErrors checks exit codes and messages: API errors exit 1 as "error: TYPE:
// MESSAGE", usage errors exit 2 with the command's usage.
func TestCLIErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	tests := []struct {
		name     string
		srv      *testServer
		env      map[string]string
		args     []string
		code     int
		inStderr string
	}{
		{"not found", srv, nil, []string{"agents", "get", "agent_missing"}, 1, "error: not_found_error: "},
		{"invalid body", srv, nil, []string{"agents", "create", "--name", "x"}, 1, "error: invalid_request_error: model"},
		{"bad key", srv, map[string]string{"HANGAR_API_KEY": "wrong"}, []string{"agents", "list"}, 1, "error: authentication_error: "},
		{"unknown flag", srv, nil, []string{"agents", "list", "--nope"}, 2, "Usage: hangar agents list"},
		{"missing id", srv, nil, []string{"agents", "get"}, 2, "want AGENT_ID"},
		{"extra argument", srv, nil, []string{"agents", "list", "extra"}, 2, "unexpected arguments: extra"},
		{"bad output", srv, nil, []string{"agents", "list", "-o", "yaml"}, 2, "-o: want table or json"},
		{"bad url", srv, map[string]string{"HANGAR_URL": "ftp://x"}, []string{"agents", "list"}, 2, "--url: want an http or https URL"},
		{"bad json file", srv, nil, []string{"agents", "create", "-f", "-"}, 2, "want a JSON object"},
		{"bad tool", srv, nil, []string{"agents", "create", "--tool", "hammer"}, 2, "--tool hammer: want toolset"},
		{"nothing to update", srv, nil, []string{"agents", "update", "agent_x"}, 2, "nothing to update"},
		{"unknown subcommand", srv, nil, []string{"agents", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{"group without command", srv, nil, []string{"vaults"}, 2, "Usage: hangar vaults COMMAND"},
		{"no server", nil, map[string]string{"HANGAR_URL": "http://127.0.0.1:1"}, []string{"agents", "list"}, 1, "error: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLIEnv(t, cliTestEnv(tt.srv, tt.env), "not json", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.inStderr) {
				t.Errorf("hangar %s: exit %d, stderr %q; want exit %d with %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.code, tt.inStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

// TestCLIAPIKeyFromDataDir checks that a server on this machine is reached with the key
// `hangar serve` wrote to its data dir when no key is given.
func TestCLIAPIKeyFromDataDir(t *testing.T) {
	t.Parallel()
	srv := startServer(t, func(c *Config) { c.APIKey = "" })
	env := map[string]string{"HANGAR_API_KEY": "", "HANGAR_DATA_DIR": srv.DataDir}
	if r := runCLIEnv(t, cliTestEnv(srv, env), "", "agents", "list"); r.code != 0 {
		t.Fatalf("with the data dir's key: exit %d: %s", r.code, r.stderr)
	}
	env["HANGAR_DATA_DIR"] = t.TempDir()
	if r := runCLIEnv(t, cliTestEnv(srv, env), "", "agents", "list"); r.code != 1 || !strings.Contains(r.stderr, "authentication_error") {
		t.Fatalf("without a key: exit %d, stderr %q; want an authentication_error", r.code, r.stderr)
	}
}

// TestCLIQuickstart creates the three resources and chats through piped stdin.
func TestCLIQuickstart(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	env := cliTestEnv(srv, map[string]string{"HANGAR_CACHE_DIR": t.TempDir()}) // no claude installed: scripted
	r := runCLIEnv(t, env, "", "quickstart", "--no-chat", "--name", "qs", "-o", "json")
	if r.code != 0 {
		t.Fatalf("quickstart --no-chat: exit %d: %s", r.code, r.stderr)
	}
	var n normalizer
	golden(t, "json_quickstart", n.apply(r.stdout))

	r = runCLIEnv(t, env, "hi there\n", "quickstart", "--provider", "memory")
	if r.code != 0 {
		t.Fatalf("quickstart: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"using the scripted engine", "session     sesn_", "> hi there", "echo: hi there", "── end_turn"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, r.stdout)
		}
	}
}
