package applecontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The fake CLIs are this test binary, re-executed with HANGAR_FAKE_CLI set to "container"
// or "mvm" (see fakeCLI). They implement the subcommands and flags the provider uses, as
// documented by github.com/apple/container (docs/command-reference.md) and
// github.com/agentstep/mvm (README), record every argv in $HANGAR_FAKE_STATE/argv.log, and
// keep their containers in that directory. "exec" runs the command for real on this host
// under bubblewrap, with the container's own /tmp, /workspace and /home (directories of the
// state dir) and the host's /usr and /etc read-only: the nearest this Linux host gets to a
// VM. Users are not emulated (-u is recorded, not applied), nor is the init process.
func TestMain(m *testing.M) {
	if mode := os.Getenv("HANGAR_FAKE_CLI"); mode != "" {
		os.Exit(fakeMain(mode, os.Getenv("HANGAR_FAKE_STATE"), os.Args[1:]))
	}
	// The fake CLIs are symlinks to one script written here, before any test runs: writing
	// an executable while parallel tests fork lets a child inherit the write descriptor
	// for a moment, and exec then fails with "text file busy".
	dir, err := os.MkdirTemp("", "hangar-fake-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if fakeScript, err = writeFakeScript(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// fakeScript is the fake CLI every test's symlink runs (see TestMain).
var fakeScript string

// writeFakeScript writes the script that runs this test binary as the fake CLI named by
// the link it is called through ($0), with its state in the link's directory.
func writeFakeScript(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	// GORACE: a race-enabled binary otherwise sleeps a second at exit.
	script := fmt.Sprintf("#!/bin/sh\nd=$(dirname \"$0\")\nGORACE=atexit_sleep_ms=0 HANGAR_FAKE_CLI=$(basename \"$0\") HANGAR_FAKE_STATE=\"$d/state\" exec %s \"$@\"\n", self)
	path := filepath.Join(dir, "fake-cli")
	return path, os.WriteFile(path, []byte(script), 0o755)
}

// fakeCLI returns the path of a fake CLI of mode (a link to fakeScript) with its state in
// a new directory, and that directory.
func fakeCLI(t *testing.T, mode string) (cli, state string) {
	t.Helper()
	dir := t.TempDir()
	state = filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "vms"), 0o755); err != nil {
		t.Fatal(err)
	}
	cli = filepath.Join(dir, mode)
	if err := os.Symlink(fakeScript, cli); err != nil {
		t.Fatal(err)
	}
	return cli, state
}

// fakeVM is a container's (VM's) state file.
type fakeVM struct {
	Running bool       `json:"running"`
	Mounts  [][]string `json:"mounts,omitempty"` // bwrap flag, source, target
}

func fakeMain(mode, state string, args []string) int {
	if line, err := json.Marshal(args); err == nil {
		if f, err := os.OpenFile(filepath.Join(state, "argv.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.Write(append(line, '\n'))
			f.Close()
		}
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "Error: "+format+"\n", a...)
		return 1
	}
	if len(args) == 0 {
		return fail("no subcommand")
	}
	vmDir := func(name string) string { return filepath.Join(state, "vms", name) }
	load := func(name string) (*fakeVM, error) {
		b, err := os.ReadFile(filepath.Join(vmDir(name), "vm.json"))
		if err != nil {
			return nil, fmt.Errorf("container %s not found", name)
		}
		var vm fakeVM
		return &vm, json.Unmarshal(b, &vm)
	}
	save := func(name string, vm *fakeVM) error {
		b, _ := json.Marshal(vm)
		return os.WriteFile(filepath.Join(vmDir(name), "vm.json"), b, 0o644)
	}
	create := func(name string, mounts [][]string) int {
		if _, err := load(name); err == nil {
			return fail("container with id %s already exists", name)
		}
		for _, d := range []string{"tmp", "workspace", "home"} {
			if err := os.MkdirAll(filepath.Join(vmDir(name), "root", d), 0o777); err != nil {
				return fail("%v", err)
			}
		}
		if err := save(name, &fakeVM{Running: true, Mounts: mounts}); err != nil {
			return fail("%v", err)
		}
		fmt.Println(name)
		return 0
	}
	setRunning := func(name string, running bool) int {
		vm, err := load(name)
		if err != nil {
			return fail("%v", err)
		}
		vm.Running = running
		if err := save(name, vm); err != nil {
			return fail("%v", err)
		}
		fmt.Println(name)
		return 0
	}
	list := func(entry func(name, status string) any) int {
		entries, _ := os.ReadDir(filepath.Join(state, "vms"))
		out := []any{}
		for _, e := range entries {
			vm, err := load(e.Name())
			if err != nil {
				continue
			}
			status := "stopped"
			if vm.Running {
				status = "running"
			}
			out = append(out, entry(e.Name(), status))
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return 0
	}
	remove := func(name string) int {
		if _, err := load(name); err != nil {
			return fail("%v", err)
		}
		if err := os.RemoveAll(vmDir(name)); err != nil {
			return fail("%v", err)
		}
		fmt.Println(name)
		return 0
	}
	// execIn parses the exec flags in args (stopping at the first other argument, or
	// after "--") and runs the rest in name.
	execIn := func(name string, args []string) int {
		var user, dir string
		var env []string
		for len(args) > 0 {
			a := args[0]
			if a == "--" {
				args = args[1:]
				break
			}
			if !strings.HasPrefix(a, "-") {
				break
			}
			switch a {
			case "-i":
				args = args[1:]
				continue
			case "-u", "-w", "-e":
				if len(args) < 2 {
					return fail("flag %s needs a value", a)
				}
				switch a {
				case "-u":
					user = args[1]
				case "-w":
					dir = args[1]
				case "-e":
					env = append(env, args[1])
				}
				args = args[2:]
				continue
			}
			return fail("unknown exec flag %s", a)
		}
		_ = user
		if name == "" { // container: the name follows the flags
			if len(args) == 0 {
				return fail("missing container id")
			}
			name, args = args[0], args[1:]
		}
		if len(args) == 0 {
			return fail("missing command")
		}
		vm, err := load(name)
		if err != nil {
			return fail("%v", err)
		}
		if !vm.Running {
			return fail("container %s is not running", name)
		}
		return bwrapExec(filepath.Join(vmDir(name), "root"), vm.Mounts, dir, env, args)
	}

	switch mode {
	case "container":
		switch args[0] {
		case "system":
			fmt.Println("apiserver is running")
			return 0
		case "run":
			var name string
			var mounts [][]string
			rest := args[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
				switch rest[0] {
				case "--detach":
					rest = rest[1:]
					continue
				case "--name":
					name = rest[1]
				case "--mount":
					m := map[string]string{}
					for _, kv := range strings.Split(rest[1], ",") {
						k, v, _ := strings.Cut(kv, "=")
						m[k] = v
					}
					flag := "--bind"
					if _, ro := m["readonly"]; ro {
						flag = "--ro-bind"
					}
					mounts = append(mounts, []string{flag, m["source"], m["target"]})
				case "--label", "--cpus", "--memory", "--entrypoint":
				default:
					return fail("unknown run flag %s", rest[0])
				}
				rest = rest[2:]
			}
			if name == "" || len(rest) == 0 {
				return fail("run needs --name and an image")
			}
			return create(name, mounts)
		case "start":
			return setRunning(args[1], true)
		case "kill":
			return setRunning(args[1], false)
		case "delete":
			if len(args) != 3 || args[1] != "--force" {
				return fail("usage: delete --force ID")
			}
			return remove(args[2])
		case "list":
			return list(func(name, status string) any {
				return map[string]any{"status": status, "configuration": map[string]any{"id": name}, "networks": []any{}}
			})
		case "exec":
			return execIn("", args[1:])
		}
	case "mvm":
		switch args[0] {
		case "version":
			fmt.Println("mvm 0.0.0-fake")
			return 0
		case "start":
			if _, err := load(args[1]); err == nil {
				return setRunning(args[1], true)
			}
			return create(args[1], nil)
		case "stop":
			return setRunning(args[1], false)
		case "delete":
			return remove(args[1])
		case "list":
			return list(func(name, status string) any { return map[string]any{"name": name, "status": status} })
		case "exec":
			if len(args) < 2 {
				return fail("missing VM name")
			}
			return execIn(args[1], args[2:])
		}
	}
	return fail("unknown command %q", args[0])
}

// bwrapExec replaces the fake with bubblewrap running args in the container's root.
func bwrapExec(root string, mounts [][]string, dir string, env, args []string) int {
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error: the fake CLI needs bubblewrap:", err)
		return 1
	}
	argv := []string{"bwrap", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"}
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if target, err := os.Readlink("/" + d); err == nil {
			argv = append(argv, "--symlink", target, "/"+d)
		} else if _, err := os.Stat("/" + d); err == nil {
			argv = append(argv, "--ro-bind", "/"+d, "/"+d)
		}
	}
	argv = append(argv, "--proc", "/proc", "--dev", "/dev",
		"--bind", filepath.Join(root, "tmp"), "/tmp",
		"--bind", filepath.Join(root, "workspace"), "/workspace",
		"--bind", filepath.Join(root, "home"), "/home")
	for _, m := range mounts {
		argv = append(argv, m...)
	}
	if dir == "" {
		dir = "/"
	}
	argv = append(argv, "--chdir", dir, "--clearenv")
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			v = os.Getenv(k) // "-e KEY": the CLI's own value
		}
		argv = append(argv, "--setenv", k, v)
	}
	argv = append(argv, "--")
	argv = append(argv, args...)
	err = syscall.Exec(bwrap, argv, os.Environ())
	fmt.Fprintln(os.Stderr, "Error:", errors.Join(errors.New("exec bwrap"), err))
	return 1
}
