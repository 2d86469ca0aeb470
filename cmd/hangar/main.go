// Command hangar serves the Claude Managed Agents API on your own machines.
//
//	hangar serve [--addr 127.0.0.1:4000] [--data-dir ./hangar-data]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/local"
)

func main() {
	ctx, stop := signalContext(os.Args[1:])
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// signalContext ends on SIGTERM, and on Ctrl-C except for the interactive commands, which
// read Ctrl-C themselves (it interrupts the agent's turn).
func signalContext(args []string) (context.Context, context.CancelFunc) {
	if len(args) > 0 && interactiveCommands[args[0]] {
		return signal.NotifyContext(context.Background(), syscall.SIGTERM)
	}
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

const usage = `hangar: a self-hosted server for Anthropic's Claude Managed Agents API

Usage:
  hangar serve [flags]    run the API server
  hangar quickstart       create an agent, environment and session, then chat
  hangar chat SESSION     chat with a session in the terminal
  hangar agents|environments|sessions|vaults|files COMMAND
                          manage resources on a server (--url, HANGAR_URL)
  hangar doctor           check this machine and a server, and say how to fix problems
  hangar worker [flags]   run a self_hosted environment's session tools on this machine
  hangar forward [flags]  pump TCP connections to a unix socket (run inside sandboxes)
  hangar tunnel [flags]   run a tunnel's connector in a private network (docs/tunnels.md)
  hangar engines install NAME  install an agent CLI engine (claude) into HANGAR_CACHE_DIR
  hangar version          print the version
  hangar help             show this help

Run "hangar serve --help" for the server's flags and environment variables, and
"hangar COMMAND --help" for any other command. docs/cli.md describes the client commands.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "engines":
		return engines(ctx, args[1:], getenv, stdout, stderr)
	case "forward":
		return forward(ctx, args[1:], stderr)
	case "worker":
		return worker(ctx, args[1:], getenv, stdout, stderr) // worker.go
	case "tunnel":
		return tunnelCommand(ctx, args[1:], getenv, stdout, stderr) // tunnel.go
	case "version", "--version":
		fmt.Fprintln(stdout, "hangar", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if clientCommand(args[0]) {
			return runClient(ctx, args, cliEnv{getenv: getenv, stdin: os.Stdin, stdout: stdout, stderr: stderr, signals: true})
		}
		fmt.Fprintf(stderr, "hangar: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// forward runs the in-sandbox egress forwarder (internal/provider/local.Forward).
func forward(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hangar forward", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", provider.EgressAddr, "TCP address to listen on")
	socket := fs.String("socket", "/run/hangar/egress.sock", "unix socket to forward to")
	ready := fs.String("ready", "", "file to create once listening")
	if fs.Parse(args) != nil || fs.NArg() > 0 {
		return 2
	}
	err := local.Forward(ctx, *listen, *socket, func() {
		if *ready != "" {
			os.WriteFile(*ready, nil, 0o644)
		}
	})
	if err != nil {
		fmt.Fprintln(stderr, "hangar:", err)
		return 1
	}
	return 0
}
