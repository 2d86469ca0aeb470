package main

// The client half of the binary: `hangar agents|environments|sessions|vaults|files|chat|
// quickstart|doctor` talk to a Hangar server over HTTP through the official Anthropic Go
// SDK, exactly as any other API client would. docs/cli.md documents every command.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// defaultServeAddr is where `hangar serve` listens unless told otherwise, and so where the
// client commands look for a server.
const defaultServeAddr = "127.0.0.1:4000"

// managedAgentsBeta is the beta header value of the Managed Agents API.
const managedAgentsBeta = "managed-agents-2026-04-01"

// cliEnv is what a client command reads and writes. Tests inject their own.
type cliEnv struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// signals makes chat install its own Ctrl-C handler (the real process); tests that run
	// chat in-process leave it false and send on interrupts instead.
	signals    bool
	interrupts <-chan os.Signal
	// doctor replaces the look at this machine in tests (nil: the real one).
	doctor *doctorProbe
}

// command is one node of the client command tree: a group (subs) or a leaf (run).
type command struct {
	name    string
	args    string // positional arguments in the usage line, e.g. "AGENT_ID"
	summary string
	// details is extra help text after the summary.
	details string
	// flags registers the leaf's own flags; run receives the positional arguments.
	flags func(fs *flag.FlagSet)
	run   func(ctx context.Context, c *cli, args []string) error
	subs  []*command
}

// cli is the state of one client invocation.
type cli struct {
	env    cliEnv
	url    string
	apiKey string
	output string // table or json
	sdk    anthropic.Client
	fs     *flag.FlagSet // the parsed command line
}

// usageError is a mistake on the command line: exit code 2 and the command's usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// clientCommands is the client command tree, in help order.
func clientCommands() []*command {
	return []*command{
		agentsCommand(), environmentsCommand(), sessionsCommand(), vaultsCommand(), filesCommand(),
		chatCommand(), quickstartCommand(), doctorCommand(),
	}
}

func clientCommand(name string) bool {
	for _, c := range clientCommands() {
		if c.name == name {
			return true
		}
	}
	return false
}

// interactiveCommands read Ctrl-C themselves (see signalContext).
var interactiveCommands = map[string]bool{"chat": true, "quickstart": true}

// runClient runs a client command and returns the exit code: 0, 1 for failures (API
// errors included), 2 for usage errors.
func runClient(ctx context.Context, args []string, env cliEnv) int {
	path := []string{"hangar"}
	var cmd *command
	subs := clientCommands()
	for len(args) > 0 {
		var next *command
		for _, c := range subs {
			if c.name == args[0] {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd, args = next, args[1:]
		path = append(path, cmd.name)
		if cmd.run != nil {
			break
		}
		subs = cmd.subs
	}
	name := strings.Join(path, " ")
	if cmd == nil {
		fmt.Fprint(env.stderr, usage)
		return 2
	}
	if cmd.run == nil { // a group: show its commands
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(env.stdout, groupUsage(name, cmd))
			return 0
		}
		if len(args) > 0 {
			fmt.Fprintf(env.stderr, "%s: unknown command %q\n\n", name, args[0])
		}
		fmt.Fprint(env.stderr, groupUsage(name, cmd))
		return 2
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &cli{env: env, fs: fs}
	fs.SetOutput(io.Discard)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	c.globalFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.stdout, leafUsage(name, cmd, fs))
		return 0
	}
	if err == nil {
		err = c.check()
	}
	if err == nil {
		err = cmd.run(ctx, c, pos)
	}
	return c.report(name, cmd, fs, err)
}

// report prints err the way every command does and returns the exit code.
func (c *cli) report(name string, cmd *command, fs *flag.FlagSet, err error) int {
	var ue usageError
	var apiErr *anthropic.Error
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return int(exit)
	case errors.As(err, &ue) || isFlagError(err):
		fmt.Fprintf(c.env.stderr, "%s: %v\n\n%s", name, err, leafUsage(name, cmd, fs))
		return 2
	case errors.As(err, &apiErr):
		typ, msg := apiErrorParts(apiErr)
		fmt.Fprintf(c.env.stderr, "error: %s: %s\n", typ, msg)
		return 1
	default:
		fmt.Fprintf(c.env.stderr, "error: %v\n", err)
		return 1
	}
}

// exitError ends a command with this code after it has said why itself.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// flagError wraps errors of the flag package, which are usage errors.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

// apiErrorParts returns the error type and message of an API error envelope.
func apiErrorParts(e *anthropic.Error) (typ, msg string) {
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if jsonUnmarshal([]byte(e.RawJSON()), &env) == nil && env.Error.Type != "" {
		return env.Error.Type, env.Error.Message
	}
	if e.Request != nil {
		return "api_error", fmt.Sprintf("HTTP %d from %s", e.StatusCode, e.Request.URL)
	}
	return "api_error", fmt.Sprintf("HTTP %d", e.StatusCode)
}

// parseInterleaved parses flags that may come before, between and after positional
// arguments (`hangar agents get ID -o json`), which the flag package alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// After "--" everything is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func isHelp(s string) bool { return s == "help" || s == "-h" || s == "--help" }

// globalFlags registers the flags every client command takes.
func (c *cli) globalFlags(fs *flag.FlagSet) {
	getenv := c.env.getenv
	def := getenv("HANGAR_URL")
	if def == "" {
		def = "http://" + defaultServeAddr
	}
	fs.StringVar(&c.url, "url", def, "`URL` the Hangar server (env HANGAR_URL; default http://"+defaultServeAddr+")")
	fs.StringVar(&c.apiKey, "api-key", getenv("HANGAR_API_KEY"), "`KEY` the API key (env HANGAR_API_KEY; default: <data dir>/api-key for a server on this machine)")
	fs.StringVar(&c.output, "o", "table", "`FORMAT` output: table or json (default table)")
}

var globalFlagNames = map[string]bool{"url": true, "api-key": true, "o": true}

// check validates the global flags and builds the SDK client.
func (c *cli) check() error {
	switch c.output {
	case "table", "json":
	default:
		return usagef("-o: want table or json, got %q", c.output)
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url: want an http or https URL such as http://%s, got %q", defaultServeAddr, c.url)
	}
	c.url = strings.TrimRight(c.url, "/")
	if c.apiKey == "" && isLoopback(u.Hostname()) {
		c.apiKey = localAPIKey(c.env.getenv)
	}
	c.sdk = anthropic.NewClient(
		option.WithoutEnvironmentDefaults(), // ANTHROPIC_* in the environment are for the model, not Hangar
		option.WithBaseURL(c.url+"/"),
		option.WithAPIKey(c.apiKey),
		option.WithHeader("anthropic-beta", managedAgentsBeta),
		option.WithMaxRetries(2),
	)
	return nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localAPIKey reads the key a local `hangar serve` generated in its data dir, or "".
func localAPIKey(getenv func(string) string) string {
	b, err := os.ReadFile(filepath.Join(dataDir(getenv), "api-key"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// dataDir is the server's data dir as `hangar serve` would choose it here.
func dataDir(getenv func(string) string) string {
	if d := getenv("HANGAR_DATA_DIR"); d != "" {
		return d
	}
	return "./hangar-data"
}

// groupUsage is the help of a command group.
func groupUsage(name string, g *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s COMMAND [flags]\n\n%s\n\nCommands:\n", name, g.summary)
	for _, s := range g.subs {
		use := s.name
		if s.run == nil {
			use += " COMMAND"
		} else if s.args != "" {
			use += " " + s.args
		}
		fmt.Fprintf(&b, "  %-28s %s\n", use, s.summary)
	}
	fmt.Fprintf(&b, "\nRun \"%s COMMAND --help\" for a command's flags.\n", name)
	return b.String()
}

// leafUsage is the help of a command: usage line, summary, details, its flags, then the
// global flags.
func leafUsage(name string, cmd *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s", name)
	if cmd.args != "" {
		b.WriteString(" " + cmd.args)
	}
	fmt.Fprintf(&b, " [flags]\n\n%s\n", cmd.summary)
	if cmd.details != "" {
		fmt.Fprintf(&b, "\n%s", cmd.details)
	}
	var own, global strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		w := &own
		if globalFlagNames[f.Name] {
			w = &global
		}
		arg, text := flag.UnquoteUsage(f)
		if strings.HasPrefix(f.Usage, "`") { // "`ARG` what it does": the arg is shown once
			text = strings.TrimPrefix(text, arg+" ")
		}
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		left := dash + f.Name
		if arg != "" {
			left += " " + arg
		}
		fmt.Fprintf(w, "  %-24s %s\n", left, text)
	})
	if own.Len() > 0 {
		fmt.Fprintf(&b, "\nFlags:\n%s", own.String())
	}
	fmt.Fprintf(&b, "\nGlobal flags:\n%s", global.String())
	return b.String()
}
