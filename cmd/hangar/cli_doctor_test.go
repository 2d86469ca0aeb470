package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
)

// fakeProbe is a machine with bwrap, writable cgroup v2 and only the claude engine
// installed; broken lists what to break: "bwrap", "bwrap-run", "cgroups", "cgroups-ro",
// "datadir".
func fakeProbe(broken ...string) *doctorProbe {
	is := func(what string) bool {
		for _, b := range broken {
			if b == what {
				return true
			}
		}
		return false
	}
	return &doctorProbe{
		lookPath: func(file string) (string, error) {
			if is("bwrap") {
				return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
			}
			return "/usr/bin/" + file, nil
		},
		run: func(ctx context.Context, name string, args ...string) error {
			if is("bwrap-run") {
				return errors.New("exit status 1")
			}
			return nil
		},
		readFile: func(path string) ([]byte, error) {
			if path == "/sys/fs/cgroup/cgroup.controllers" && !is("cgroups") {
				return []byte("cpuset cpu io memory pids\n"), nil
			}
			return nil, fs.ErrNotExist
		},
		isDir: func(path string) bool { return path == "/srv/hangar-data" || path == "/" },
		writable: func(path string) error {
			if is("datadir") && path == "/srv/hangar-data" {
				return fs.ErrPermission
			}
			return nil
		},
		canWrite: func(path string) error {
			if is("cgroups-ro") {
				return fs.ErrPermission
			}
			return nil
		},
		installed: func(name string) (string, error) {
			if name == "claude" {
				return "/cache/engines/claude/1.0.0/node_modules/.bin/claude", nil
			}
			return "", fmt.Errorf("%s is %w", name, engine.ErrNotInstalled)
		},
		engines:   []string{"claude", "codex", "gemini"},
		providers: []string{"local", "memory"},
	}
}

// TestCLIDoctor pins doctor's JSON on a known machine, with a server holding a model key
// in a vault, and checks exit codes and fixes when required checks fail.
func TestCLIDoctor(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	vault := mustID(t, srv, "", "vaults", "create", "--name", "keys")
	mustCLI(t, srv, "gm-key\n", "vaults", "credentials", "create", vault, "--secret-name", "GEMINI_API_KEY", "--secret-value", "-")
	doctor := func(probe *doctorProbe, env map[string]string, args ...string) cliResult {
		t.Helper()
		base := map[string]string{"HANGAR_DATA_DIR": "/srv/hangar-data", "ANTHROPIC_API_KEY": "sk-ant-x"}
		for k, v := range env {
			base[k] = v
		}
		var out, errb bytes.Buffer
		code := runClient(testContext(t), append([]string{"doctor"}, args...), cliEnv{getenv: cliTestEnv(srv, base),
			stdin: strings.NewReader(""), stdout: &out, stderr: &errb, doctor: probe})
		return cliResult{strings.ReplaceAll(out.String(), srv.URL, "<url>"), errb.String(), code}
	}

	r := doctor(fakeProbe(), nil, "-o", "json")
	if r.code != 0 {
		t.Fatalf("healthy machine: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var n normalizer
	golden(t, "json_doctor", n.apply(r.stdout))

	r = doctor(fakeProbe(), nil)
	for _, want := range []string{"✓ bubblewrap", "✓ cgroups            cgroup v2", "! engine codex       not installed",
		"fix: hangar engines install codex", "✓ GEMINI_API_KEY     in vault vlt_", "! OPENAI_API_KEY", "✓ server"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}

	tests := []struct {
		name   string
		probe  *doctorProbe
		env    map[string]string
		failed string // the check that fails
		fix    string
	}{
		{"no bwrap", fakeProbe("bwrap"), nil, "bubblewrap", "apt-get install bubblewrap"},
		{"bwrap cannot sandbox", fakeProbe("bwrap-run"), nil, "bubblewrap", "user namespaces"},
		{"no cgroups", fakeProbe("cgroups"), nil, "cgroups", "disable_limits"},
		{"cgroups read-only", fakeProbe("cgroups-ro"), nil, "cgroups", "run the server as root"},
		{"data dir read-only", fakeProbe("datadir"), nil, "data dir", "--data-dir"},
		{"no server at --url", fakeProbe(), map[string]string{"HANGAR_URL": "http://127.0.0.1:1"}, "server", "hangar serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := doctor(tt.probe, tt.env, "-o", "json")
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			var res struct {
				OK     bool    `json:"ok"`
				Checks []check `json:"checks"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
			}
			if res.OK {
				t.Error(`"ok": true with a failed check`)
			}
			for _, c := range res.Checks {
				if c.Name == tt.failed && (c.Status != "fail" || !strings.Contains(c.Fix, tt.fix)) {
					t.Errorf("check %s = %+v, want fail with a fix mentioning %q", c.Name, c, tt.fix)
				}
				if c.Name != tt.failed && c.Status == "fail" {
					t.Errorf("check %s failed too: %+v", c.Name, c)
				}
			}
		})
	}
}

// TestCLIDoctorThisMachine runs doctor for real: every check is reported, and the exit
// code agrees with the checks.
func TestCLIDoctorThisMachine(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	r := runCLIEnv(t, cliTestEnv(srv, map[string]string{"HANGAR_DATA_DIR": t.TempDir(), "HANGAR_CACHE_DIR": t.TempDir()}), "", "doctor", "-o", "json")
	var res struct {
		OK     bool    `json:"ok"`
		Checks []check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("exit %d, output is not JSON: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	names := map[string]check{}
	for _, c := range res.Checks {
		names[c.Name] = c
	}
	for _, want := range []string{"data dir", "bubblewrap", "cgroups", "engine claude", "providers", "ANTHROPIC_API_KEY", "server"} {
		if _, ok := names[want]; !ok {
			t.Errorf("no %q check in %s", want, r.stdout)
		}
	}
	if c := names["server"]; c.Status != "ok" {
		t.Errorf("server check = %+v, want ok", c)
	}
	if c := names["engine claude"]; c.Status != "warn" || c.Fix != "hangar engines install claude" {
		t.Errorf("claude in an empty cache = %+v, want warn with the install command", c)
	}
	if (r.code == 0) != res.OK {
		t.Errorf("exit %d but ok=%v", r.code, res.OK)
	}
	t.Logf("doctor on this machine:\n%s", r.stdout)
}
