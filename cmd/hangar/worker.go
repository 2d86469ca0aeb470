package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/lib/environments"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// `hangar worker` serves a self_hosted environment's sessions from this machine
// (docs/self-hosted.md): it is the official SDK's EnvironmentWorker (lib/environments) with
// the standard agent_toolset_20260401 tools, pointed at any server that speaks the work
// queue contract — a Hangar server, or Anthropic's API.

const workerUsage = `Usage: hangar worker --environment-id ENV_ID [flags]

Run the tools of a self_hosted environment's sessions on this machine. The worker polls
the environment's work queue, claims each session's work item, runs the agent's bash,
read, write, edit, glob and grep calls in --workdir and posts their results, and
heartbeats the item until the session has been idle for --max-idle. The agent loop and
the model stay on the server.

It works against Hangar (the default base URL is HANGAR_URL, then
http://127.0.0.1:4000) and against Anthropic's API (--base-url https://api.anthropic.com
with the environment key from the Console).

Without --sandbox bwrap the bash tool runs on this machine with the worker's rights: run
the worker as a user, container or VM that may do what the agent does.

Flags:
  --environment-id ID      the self_hosted environment (env ANTHROPIC_ENVIRONMENT_ID)
  --environment-key KEY    the environment's key (env HANGAR_ENVIRONMENT_KEY, then
                           ANTHROPIC_ENVIRONMENT_KEY)
  --base-url URL           the API server (env ANTHROPIC_BASE_URL, then HANGAR_URL;
                           default http://127.0.0.1:4000)
  --workdir DIR            where the tools run (default: the current directory)
  --worker-id ID           this worker's name in the queue's stats (default: host-random)
  --max-idle DURATION      how long an idle session keeps its worker (default 60s)
  --sandbox none|bwrap     where bash runs: on the host (none, the default), or in a
                           bubblewrap sandbox whose only writable directories are the
                           workdir and a private /tmp (bwrap must be installed)
  -v                       log every poll and tool call
`

// workerOptions are the parsed flags of `hangar worker`.
type workerOptions struct {
	envID, envKey, baseURL, workdir, workerID string
	sandbox                                   string
	maxIdle                                   time.Duration
	verbose                                   bool
}

func parseWorkerFlags(args []string, getenv func(string) string, stderr io.Writer) (workerOptions, int, bool) {
	fs := flag.NewFlagSet("hangar worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o workerOptions
	fs.StringVar(&o.envID, "environment-id", getenv("ANTHROPIC_ENVIRONMENT_ID"), "")
	fs.StringVar(&o.envKey, "environment-key", firstNonEmpty(getenv("HANGAR_ENVIRONMENT_KEY"), getenv("ANTHROPIC_ENVIRONMENT_KEY")), "")
	fs.StringVar(&o.baseURL, "base-url", firstNonEmpty(getenv("ANTHROPIC_BASE_URL"), getenv("HANGAR_URL"), "http://"+defaultServeAddr), "")
	fs.StringVar(&o.workdir, "workdir", "", "")
	fs.StringVar(&o.workerID, "worker-id", "", "")
	fs.DurationVar(&o.maxIdle, "max-idle", 60*time.Second, "")
	fs.BoolVar(&o.verbose, "v", false, "")
	fs.StringVar(&o.sandbox, "sandbox", "none", "")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return o, 0, false
	case err != nil:
		fmt.Fprintf(stderr, "hangar worker: %v\n\n%s", err, workerUsage)
		return o, 2, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "hangar worker: unexpected argument %q\n\n%s", fs.Arg(0), workerUsage)
		return o, 2, false
	case o.envID == "":
		fmt.Fprintf(stderr, "hangar worker: --environment-id is required\n\n%s", workerUsage)
		return o, 2, false
	case o.envKey == "":
		fmt.Fprintf(stderr, "hangar worker: --environment-key (or HANGAR_ENVIRONMENT_KEY) is required\n\n%s", workerUsage)
		return o, 2, false
	case !strings.HasPrefix(o.baseURL, "http://") && !strings.HasPrefix(o.baseURL, "https://"):
		fmt.Fprintf(stderr, "hangar worker: --base-url: want an http or https URL, got %q\n", o.baseURL)
		return o, 2, false
	case o.maxIdle <= 0:
		fmt.Fprintf(stderr, "hangar worker: --max-idle must be positive\n")
		return o, 2, false
	case o.sandbox != "none" && o.sandbox != "bwrap":
		fmt.Fprintf(stderr, "hangar worker: --sandbox: want none or bwrap, got %q\n", o.sandbox)
		return o, 2, false
	}
	return o, 0, true
}

// worker runs `hangar worker` until ctx ends (SIGTERM or Ctrl-C) or the server rejects the
// key.
func worker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, code, ok := parseWorkerFlags(args, getenv, stderr)
	if !ok {
		if code == 0 { // --help
			fmt.Fprint(stdout, workerUsage)
		}
		return code
	}
	if o.workdir == "" {
		o.workdir = "."
	}
	dir, err := filepath.Abs(o.workdir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(stderr, "hangar worker: --workdir:", err)
		return 1
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := runWorker(ctx, o, dir, log); err != nil {
		fmt.Fprintln(stderr, "hangar worker:", err)
		return 1
	}
	return 0
}

// runWorker runs the SDK's EnvironmentWorker against o.baseURL. The client carries no API
// key: the worker authorizes every call with the environment key or the item's sessions
// token.
func runWorker(ctx context.Context, o workerOptions, workdir string, log *slog.Logger) error {
	client := anthropic.NewClient(
		option.WithBaseURL(o.baseURL),
		option.WithAPIKey(""),
		option.WithHeaderDel("X-Api-Key"),
	)
	maxIdle := o.maxIdle
	opts := environments.EnvironmentWorkerOptions{
		EnvironmentID:  o.envID,
		EnvironmentKey: o.envKey,
		WorkerID:       o.workerID,
		Workdir:        workdir,
		MaxIdle:        &maxIdle,
		Logger:         log,
	}
	if o.sandbox == "bwrap" {
		bwrap, err := exec.LookPath("bwrap")
		if err != nil {
			return fmt.Errorf("--sandbox bwrap: bubblewrap is not installed (apt-get install bubblewrap): %w", err)
		}
		opts.ToolsFunc = withSandboxedBash(bwrap) // worker_sandbox.go
	}
	w := environments.NewEnvironmentWorker(client, opts)
	log.Info("worker started", "environment_id", o.envID, "base_url", o.baseURL, "workdir", workdir, "sandbox", o.sandbox)
	return w.Run(ctx)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
