package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/local"
)

// sandboxResult is the cost of starting a process in a local (bubblewrap) sandbox, the
// way the claude engine starts the CLI every turn, next to the same command on the host.
type sandboxResult struct {
	Runs int `json:"runs"`
	// Limits reports whether the sandboxes had a cgroup (as `hangar serve` gives them).
	Limits bool `json:"limits"`
	// TrueHost, TrueSandbox, TrueForwarder: /bin/true on the host, in a sandbox without
	// an egress socket, and in one with it (the forwarder starts before the payload).
	TrueHost      summary `json:"true_host"`
	TrueSandbox   summary `json:"true_sandbox"`
	TrueForwarder summary `json:"true_forwarder"`
	// VersionHost, VersionSandbox: `claude --version` on the host and in a sandbox with
	// the egress socket, the CLI's binary bound read-only as the engine does.
	VersionHost    summary `json:"version_host"`
	VersionSandbox summary `json:"version_sandbox"`
	// Create is provider.Create of a sandbox with the egress socket and the CLI mount.
	Create summary `json:"create"`
}

// runSandboxExec times runs executions of each command. hangarBin is the forwarder (the
// server binary), cli the claude binary.
func runSandboxExec(ctx context.Context, hangarBin, cli, dir string, runs int) (sandboxResult, error) {
	res := sandboxResult{Runs: runs, Limits: true}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	cfg, _ := json.Marshal(map[string]any{"forwarder": hangarBin})
	p, err := local.New(cfg, provider.Deps{DataDir: dir})
	if err != nil {
		// No cgroup here: measure without limits rather than not at all.
		cfg, _ = json.Marshal(map[string]any{"forwarder": hangarBin, "disable_limits": true})
		if p, err = local.New(cfg, provider.Deps{DataDir: dir}); err != nil {
			return res, err
		}
		res.Limits = false
	}
	// A unix socket standing in for the session's egress proxy (nothing connects to it).
	sock := filepath.Join(dir, "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return res, err
	}
	defer ln.Close()
	realCLI := cli
	if r, err := filepath.EvalSymlinks(cli); err == nil {
		realCLI = r
	}
	mounts := []provider.Mount{{Source: filepath.Dir(realCLI), Target: "/opt/hangar/engines/claude", ReadOnly: true}}
	inCLI := "/opt/hangar/engines/claude/" + filepath.Base(realCLI)

	plain, err := p.Create(ctx, provider.Spec{SessionID: "bench-plain", Mounts: mounts})
	if err != nil {
		return res, fmt.Errorf("create sandbox: %w", err)
	}
	defer plain.Destroy(context.Background())
	fwd, err := p.Create(ctx, provider.Spec{SessionID: "bench-egress", EgressSocket: sock, Mounts: mounts})
	if err != nil {
		return res, fmt.Errorf("create sandbox: %w", err)
	}
	defer fwd.Destroy(context.Background())

	host := func(args ...string) func() error {
		return func() error {
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DISABLE_AUTOUPDATER=1"}
			return cmd.Run()
		}
	}
	in := func(sb provider.Sandbox, args ...string) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			pr, err := sb.Exec(ctx, provider.ExecSpec{Args: args, Env: []string{"DISABLE_AUTOUPDATER=1"}})
			if err != nil {
				return err
			}
			pr.Stdin().Close()
			go io.Copy(io.Discard, pr.Stderr())
			io.Copy(io.Discard, pr.Stdout())
			code, err := pr.Wait()
			if err == nil && code != 0 {
				err = fmt.Errorf("%v: exit code %d", args, code)
			}
			return err
		}
	}
	var creates []time.Duration
	for i := range runs {
		t0 := time.Now()
		sb, err := p.Create(ctx, provider.Spec{SessionID: fmt.Sprintf("bench-create-%d", i), EgressSocket: sock, Mounts: mounts})
		if err != nil {
			return res, fmt.Errorf("create sandbox: %w", err)
		}
		creates = append(creates, time.Since(t0))
		if err := sb.Destroy(ctx); err != nil {
			return res, fmt.Errorf("destroy sandbox: %w", err)
		}
	}
	res.Create = summarize(creates)
	for _, m := range []struct {
		out *summary
		run func() error
	}{
		{&res.TrueHost, host("/bin/true")},
		{&res.TrueSandbox, in(plain, "/bin/true")},
		{&res.TrueForwarder, in(fwd, "/bin/true")},
		{&res.VersionHost, host(cli, "--version")},
		{&res.VersionSandbox, in(fwd, inCLI, "--version")},
	} {
		var samples []time.Duration
		for i := range runs + 1 {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			t0 := time.Now()
			if err := m.run(); err != nil {
				return res, err
			}
			if i > 0 { // the first run warms up
				samples = append(samples, time.Since(t0))
			}
		}
		*m.out = summarize(samples)
	}
	return res, nil
}
