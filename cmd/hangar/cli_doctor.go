package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/hangar-dev/hangar/internal/engine"
)

// check is one line of `hangar doctor`.
type check struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // ok, fail (required and broken) or warn (optional, missing)
	Required bool   `json:"required"`
	Detail   string `json:"detail"`
	Fix      string `json:"fix,omitempty"`
}

// doctorProbe is how doctor looks at the machine; tests substitute a fixed one.
type doctorProbe struct {
	lookPath  func(file string) (string, error)
	run       func(ctx context.Context, name string, args ...string) error // exit status only
	readFile  func(path string) ([]byte, error)
	isDir     func(path string) bool
	writable  func(dir string) error  // can files be created in dir
	canWrite  func(path string) error // may this process write path (access W_OK): cgroup files and dirs
	installed func(engine string) (string, error)
	engines   []string // installable engines, sorted
	providers []string // registered sandbox providers, sorted
}

// osProbe looks at this machine.
func osProbe(getenv func(string) string) doctorProbe {
	all := installers()
	cache, cacheErr := cacheDir(getenv)
	return doctorProbe{
		lookPath: exec.LookPath,
		run: func(ctx context.Context, name string, args ...string) error {
			return exec.CommandContext(ctx, name, args...).Run()
		},
		readFile: os.ReadFile,
		isDir: func(p string) bool {
			st, err := os.Stat(p)
			return err == nil && st.IsDir()
		},
		canWrite: func(p string) error { return syscall.Access(p, 2) }, // W_OK; cgroupfs allows no test files
		writable: func(p string) error {
			f, err := os.CreateTemp(p, ".hangar-doctor-*")
			if err != nil {
				return err
			}
			f.Close()
			return os.Remove(f.Name())
		},
		installed: func(name string) (string, error) {
			if cacheErr != nil {
				return "", cacheErr
			}
			return all[name].Find(cache)
		},
		engines:   slices.Sorted(maps.Keys(all)),
		providers: builtinProviders().Names(),
	}
}

func doctorCommand() *command {
	return &command{name: "doctor", summary: "Check that this machine can run Hangar's sessions, and say how to fix what is missing.",
		details: `Checks the data dir, bubblewrap and cgroups (the local sandbox), the engines' CLIs in
the cache dir, the sandbox providers, the model API keys the server reads
(ANTHROPIC_API_KEY, OPENAI_API_KEY, GEMINI_API_KEY, or a vault credential of that name),
and the server at --url. Exits 1 when a required check fails.
`,
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args); err != nil {
				return err
			}
			probe := c.env.doctor
			if probe == nil {
				p := osProbe(c.env.getenv)
				probe = &p
			}
			checks := c.doctor(ctx, *probe)
			ok := true
			for _, ch := range checks {
				if ch.Status == "fail" {
					ok = false
				}
			}
			if c.output == "json" {
				b, err := json.Marshal(map[string]any{"ok": ok, "checks": checks})
				if err != nil {
					return err
				}
				if err := c.printJSON(b); err != nil {
					return err
				}
			} else {
				color := wantColor(c.env.stdout, c.env.getenv)
				r := &renderer{color: color}
				for _, ch := range checks {
					mark := map[string]string{"ok": r.style(ansiGreen, "✓"), "fail": r.style(ansiRed, "✗"), "warn": r.style(ansiYellow, "!")}[ch.Status]
					fmt.Fprintf(c.env.stdout, "%s %-18s %s\n", mark, ch.Name, ch.Detail)
					if ch.Fix != "" {
						fmt.Fprintf(c.env.stdout, "  %-18s %s\n", "", r.style(ansiDim, "fix: "+ch.Fix))
					}
				}
			}
			if !ok {
				return exitError(1)
			}
			return nil
		}}
}

// doctor runs every check, in the order they are printed.
func (c *cli) doctor(ctx context.Context, p doctorProbe) []check {
	var out []check
	add := func(name string, required bool, err error, detail, fix string) {
		ch := check{Name: name, Status: "ok", Required: required, Detail: detail}
		if err != nil {
			ch.Status, ch.Fix = "warn", fix
			if required {
				ch.Status = "fail"
			}
			ch.Detail = err.Error()
		}
		out = append(out, ch)
	}

	dir := dataDir(c.env.getenv)
	add("data dir", true, dataDirWritable(p, dir), dir+" is writable",
		"choose a writable directory with --data-dir or HANGAR_DATA_DIR")

	bwrap, err := p.lookPath("bwrap")
	if err != nil {
		err = errors.New("bwrap is not installed: the local sandbox cannot run sessions")
	} else if runErr := p.run(ctx, bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"); runErr != nil {
		err = fmt.Errorf("bwrap cannot create a sandbox here: %v", runErr)
	}
	bwrapFix := "sudo apt-get install bubblewrap"
	if bwrap != "" {
		bwrapFix = "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0) or run the server as root"
	}
	add("bubblewrap", true, err, "bwrap runs sandboxes ("+bwrap+")", bwrapFix)

	version, cgErr := cgroupCheck(p)
	add("cgroups", true, cgErr, version+" with memory and pids controllers, writable",
		"run the server as root (or delegate a writable cgroup to its user), or set the local provider's \"disable_limits\": true")

	for _, name := range p.engines {
		bin, err := p.installed(name)
		if errors.Is(err, engine.ErrNotInstalled) {
			err = errors.New("not installed")
		}
		add("engine "+name, false, err, bin, "hangar engines install "+name)
	}

	add("providers", true, nil, strings.Join(p.providers, ", ")+" (local is the default; memory runs no processes, for tests)", "")

	keys := []struct{ name, alt, engines string }{
		{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "claude, factory"},
		{"OPENAI_API_KEY", "", "codex"},
		{"GEMINI_API_KEY", "", "gemini"},
	}
	vaultKeys, serverErr := c.serverCheck(ctx)
	for _, k := range keys {
		var err error
		detail := "set in this environment (for a server started here)"
		switch {
		case c.env.getenv(k.name) != "":
		case k.alt != "" && c.env.getenv(k.alt) != "":
			detail = k.alt + " is set in this environment"
		case vaultKeys[k.name] != "":
			detail = "in vault " + vaultKeys[k.name]
		default:
			err = fmt.Errorf("not set and in no vault: %s sessions cannot call their model", k.engines)
		}
		add(k.name, false, err, detail, "export "+k.name+"=... before hangar serve, or keep it in a vault: hangar vaults credentials create VAULT_ID --secret-name "+k.name+" --secret-value -")
	}

	given := c.urlGiven()
	add("server", given, serverErr, c.url+" answers with this API key",
		"start it with hangar serve, or point --url (HANGAR_URL) and --api-key (HANGAR_API_KEY) at yours")
	return out
}

// urlGiven reports whether the user named a server (--url or HANGAR_URL).
func (c *cli) urlGiven() bool {
	given := c.env.getenv("HANGAR_URL") != ""
	if c.fs != nil {
		c.fs.Visit(func(f *flag.Flag) {
			if f.Name == "url" {
				given = true
			}
		})
	}
	return given
}

// dataDirWritable checks dir, or the nearest existing parent when dir is yet to be made.
func dataDirWritable(p doctorProbe, dir string) error {
	d, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for !p.isDir(d) {
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("%s: no existing parent directory", dir)
		}
		d = parent
	}
	if err := p.writable(d); err != nil {
		return fmt.Errorf("%s is not writable: %v", d, err)
	}
	return nil
}

// cgroupCheck says which cgroup version the local provider would use, and whether it can
// create cgroups there.
func cgroupCheck(p doctorProbe) (string, error) {
	const root = "/sys/fs/cgroup"
	if b, err := p.readFile(root + "/cgroup.controllers"); err == nil {
		ctrls := strings.Fields(string(b))
		if slices.Contains(ctrls, "memory") && slices.Contains(ctrls, "pids") {
			if err := p.canWrite(root + "/cgroup.subtree_control"); err != nil {
				return "cgroup v2", fmt.Errorf("cgroup v2 is not writable: %v", err)
			}
			return "cgroup v2", nil
		}
	}
	if p.isDir(root+"/memory") && p.isDir(root+"/pids") {
		for _, h := range []string{"memory", "pids"} {
			if err := p.canWrite(root + "/" + h); err != nil {
				return "cgroup v1", fmt.Errorf("cgroup v1 %s hierarchy is not writable: %v", h, err)
			}
		}
		return "cgroup v1", nil
	}
	return "", errors.New("no cgroup v2 with memory and pids controllers, nor cgroup v1 memory and pids hierarchies")
}

// serverCheck reaches the server (health, then an authenticated list) and returns, by
// secret name, the vault holding each model key credential it finds.
func (c *cli) serverCheck(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second) // an address that drops packets
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("no server at %s: %v", c.url, errors.Unwrap(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/healthz answered %s", c.url, resp.Status)
	}
	raw, err := c.call(ctx, http.MethodGet, "/v1/vaults", url.Values{"limit": {"100"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("%s refused the API key: %v", c.url, apiMessage(err))
	}
	found := map[string]string{}
	var vaults struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	json.Unmarshal(raw, &vaults)
	for _, v := range vaults.Data {
		raw, err := c.call(ctx, http.MethodGet, "/v1/vaults/"+url.PathEscape(v.ID)+"/credentials", url.Values{"limit": {"100"}}, nil)
		if err != nil {
			continue
		}
		var creds struct {
			Data []struct {
				Auth struct {
					SecretName string `json:"secret_name"`
				} `json:"auth"`
			} `json:"data"`
		}
		json.Unmarshal(raw, &creds)
		for _, cr := range creds.Data {
			if n := cr.Auth.SecretName; n != "" && found[n] == "" {
				found[n] = v.ID
			}
		}
	}
	return found, nil
}

// apiMessage is "type: message" for API errors, else the error.
func apiMessage(err error) string {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		t, m := apiErrorParts(apiErr)
		return t + ": " + m
	}
	return err.Error()
}
