// Command bench measures what DESIGN.md §6 calls fast, against a real `hangar serve`
// child process on loopback: CRUD throughput and latency, the control-plane overhead of a
// turn with the scripted engine, and SSE fan-out (memory per idle stream, delivery latency
// to many subscribers). It prints a markdown table (or JSON with -out json).
//
//	go run ./bench
//	go run ./bench -duration 2s -streams 2000 -subscribers 200
//	go run ./bench -only engines -engine-turns 10   # every CLI engine, Hangar vs bare
//
// Every loop is bounded in count and in time; the server is stopped at the end.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the bench's flags.
type options struct {
	Duration       time.Duration `json:"duration_ns"`
	Concurrency    int           `json:"concurrency"`
	Turns          int           `json:"turns"`
	TurnSessions   int           `json:"turn_sessions"`
	Streams        int           `json:"streams"`
	StreamSessions int           `json:"stream_sessions"`
	Subscribers    int           `json:"subscribers"`
	Rounds         int           `json:"rounds"`
	ClaudeTurns    int           `json:"claude_turns"`
	EngineTurns    int           `json:"engine_turns"`
	EngineNames    string        `json:"engine_names,omitempty"`
	Only           string        `json:"only"`
	Out            string        `json:"-"`
	Binary         string        `json:"-"`
	Pkg            string        `json:"-"`
	EnvBody        string        `json:"-"`
	ServerEnv      string        `json:"server_env,omitempty"`
	DatabaseURL    string        `json:"-"` // -only notify, instances: the PostgreSQL database the servers share
	Timeout        time.Duration `json:"-"`
	Keep           bool          `json:"-"`
	onlyExplicit   bool          // -only was given: a missing claude CLI is an error
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "how long each CRUD operation is loaded")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "concurrent keep-alive workers for CRUD")
	fs.IntVar(&o.Turns, "turns", 200, "turns for the control-plane overhead")
	fs.IntVar(&o.TurnSessions, "turn-sessions", 4, "sessions the turns are spread over (one stream each)")
	fs.IntVar(&o.Streams, "streams", 10_000, "idle SSE streams to open for memory per stream")
	fs.IntVar(&o.StreamSessions, "stream-sessions", 4, "sessions the idle streams are spread over")
	fs.IntVar(&o.Subscribers, "subscribers", 1_000, "subscribers of one session for delivery latency")
	fs.IntVar(&o.Rounds, "rounds", 5, "messages sent to the subscribed session")
	fs.IntVar(&o.ClaudeTurns, "claude-turns", 20, "turns of each prompt and kind for the claude measurement, through Hangar and bare")
	fs.IntVar(&o.EngineTurns, "engine-turns", 5, "tool turns of each engine for the engines measurement, through Hangar and bare")
	fs.StringVar(&o.EngineNames, "engines", "", "comma-separated engines for the engines measurement (default: every CLI engine)")
	fs.StringVar(&o.Only, "only", "crud,turn,fanout,claude", "comma-separated measurements to run: crud, turn, fanout, claude, engines, notify and instances (need -database-url) (claude is skipped when not asked for by name and the CLI or bwrap is missing)")
	fs.StringVar(&o.Out, "out", "markdown", "output format: markdown or json")
	fs.StringVar(&o.Binary, "binary", "", "use this hangar binary instead of building one")
	fs.StringVar(&o.Pkg, "pkg", "./cmd/hangar", "package to build when -binary is empty")
	fs.StringVar(&o.EnvBody, "environment", `{"name":"bench"}`, "JSON body of the environment sessions run in")
	fs.StringVar(&o.DatabaseURL, "database-url", "", "PostgreSQL URL for the notify and instances measurements (the servers share it; use an empty database: setup names are fixed)")
	fs.StringVar(&o.ServerEnv, "server-env", "", "comma-separated KEY=VALUE added to the server's environment (e.g. GOGC=50)")
	fs.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "give up after this long")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temp dir (binary, data dirs, server logs)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.Out != "markdown" && o.Out != "json" {
		fmt.Fprintf(stderr, "bench: -out: want markdown or json, got %q\n", o.Out)
		return 2
	}
	if o.Concurrency < 1 || o.Turns < 0 || o.TurnSessions < 1 || o.Streams < 0 ||
		o.StreamSessions < 1 || o.Subscribers < 0 || o.Rounds < 0 || o.ClaudeTurns < 0 || o.EngineTurns < 0 {
		fmt.Fprintln(stderr, "bench: counts must not be negative; -concurrency and -*-sessions must be ≥ 1")
		return 2
	}
	fs.Visit(func(f *flag.Flag) { o.onlyExplicit = o.onlyExplicit || f.Name == "only" })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	var engines *enginesResult
	var instances *instancesResult // -only instances (instances.go)
	rep, err := bench(ctx, o, stderr, &engines, &instances)
	if rep != nil {
		if o.Out == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(struct {
				*report
				Engines   *enginesResult   `json:"engines,omitempty"`
				Instances *instancesResult `json:"instances,omitempty"`
			}{rep, engines, instances})
		} else {
			writeMarkdown(stdout, rep)
			writeEnginesMarkdown(stdout, engines)
			writeInstancesMarkdown(stdout, instances)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// bench builds and starts the server and runs the measurements o.Only names. It returns
// what it measured even when a later measurement fails; the engines measurement goes to
// *engines.
func bench(ctx context.Context, o options, logw io.Writer, engines **enginesResult, instances **instancesResult) (*report, error) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "bench: "+format+"\n", args...)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(o.Only, ",") {
		want[strings.TrimSpace(s)] = true
	}

	// Each stream is one socket in the bench and one in the server; both processes get
	// this limit (the server inherits it).
	needFDs := uint64(o.Streams+o.Subscribers+o.TurnSessions) + 1024
	limit, err := raiseNoFile(needFDs)
	if err != nil {
		return nil, err
	}
	rep := &report{Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine(), Options: o, NoFile: limit}
	if limit < needFDs {
		fit := max(0, int(limit)-o.Subscribers-o.TurnSessions-1024)
		rep.Notes = append(rep.Notes, fmt.Sprintf("RLIMIT_NOFILE is %d: idle streams lowered from %d to %d", limit, o.Streams, fit))
		o.Streams = fit
		rep.Options.Streams = fit
	}

	tmp, err := os.MkdirTemp("", "hangar-bench-")
	if err != nil {
		return rep, err
	}
	if o.Keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := o.Binary
	if bin == "" {
		logf("building %s", o.Pkg)
		if bin, err = buildServer(ctx, o.Pkg, tmp); err != nil {
			return rep, err
		}
	}

	var serverEnv []string
	for _, kv := range strings.Split(o.ServerEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			serverEnv = append(serverEnv, kv)
		}
	}

	// start runs a fresh server with its own data dir, so each phase starts from a clean
	// heap (the fan-out baseline RSS must not include CRUD garbage).
	start := func(name string) (*server, *api, fixture, error) {
		srv, err := startServer(ctx, bin, filepath.Join(tmp, name), filepath.Join(tmp, name+".log"), serverEnv)
		if err != nil {
			return nil, nil, fixture{}, err
		}
		a := newAPI(srv.addr, srv.apiKey, o.Concurrency+4)
		fx, err := setup(ctx, a, o.EnvBody)
		if err != nil {
			srv.stop()
			return nil, nil, fixture{}, fmt.Errorf("%w\nserver log %s:\n%s", err, srv.logPath, tail(srv.logPath, 2000))
		}
		logf("server pid %d on %s", srv.pid(), srv.addr)
		return srv, a, fx, nil
	}

	if want["crud"] || want["turn"] {
		srv, a, fx, err := start("control")
		if err != nil {
			return rep, err
		}
		defer srv.stop()
		if want["crud"] {
			logf("CRUD: %d workers, %v per operation", o.Concurrency, o.Duration)
			rep.CRUD, err = runCRUD(ctx, a, fx, o.Concurrency, o.Duration)
			if err != nil {
				return rep, fmt.Errorf("crud: %w", err)
			}
		}
		if want["turn"] && o.Turns > 0 {
			logf("turns: %d over %d sessions", o.Turns, o.TurnSessions)
			t, err := runTurns(ctx, a, fx, o.Turns, o.TurnSessions)
			rep.Turn = &t
			if err != nil {
				return rep, fmt.Errorf("turns: %w", err)
			}
		}
		srv.stop()
	}
	if want["fanout"] {
		srv, a, fx, err := start("fanout")
		if err != nil {
			return rep, err
		}
		defer srv.stop()
		logf("fan-out: %d idle streams over %d sessions, then %d subscribers × %d rounds",
			o.Streams, o.StreamSessions, o.Subscribers, o.Rounds)
		f, err := runFanout(ctx, a, srv, fx, o.Streams, o.StreamSessions, o.Subscribers, o.Rounds)
		rep.Fanout = &f
		if err != nil {
			return rep, fmt.Errorf("fan-out: %w", err)
		}
		srv.stop()
	}
	if want["claude"] && o.ClaudeTurns > 0 {
		if _, _, err := claudeReady(); err != nil {
			if o.onlyExplicit {
				return rep, fmt.Errorf("claude: %w", err)
			}
			rep.Notes = append(rep.Notes, "claude measurement skipped: "+err.Error())
			logf("claude: skipped: %v", err)
		} else {
			c, err := runClaude(ctx, bin, tmp, serverEnv, o.ClaudeTurns, logf)
			rep.Claude = &c
			if err != nil {
				return rep, fmt.Errorf("claude: %w", err)
			}
		}
	}
	if want["notify"] && o.Turns > 0 {
		if o.DatabaseURL == "" {
			return rep, errors.New("notify: needs -database-url")
		}
		n, err := runNotify(ctx, bin, tmp, serverEnv, o.DatabaseURL, o.EnvBody, o.Turns, logf)
		rep.Notify = &n
		if err != nil {
			return rep, fmt.Errorf("notify: %w", err)
		}
	}
	if want["instances"] && o.Turns > 0 {
		if o.DatabaseURL == "" {
			return rep, errors.New("instances: needs -database-url")
		}
		r, err := runInstances(ctx, bin, tmp, serverEnv, o.DatabaseURL, o.EnvBody, o.Turns, 30, logf)
		*instances = &r
		if err != nil {
			return rep, fmt.Errorf("instances: %w", err)
		}
	}
	if want["engines"] && o.EngineTurns > 0 {
		e, err := runEngines(ctx, bin, tmp, serverEnv, o.EngineTurns, o.EngineNames, logf)
		*engines = &e
		if err != nil {
			return rep, fmt.Errorf("engines: %w", err)
		}
	}
	return rep, nil
}
