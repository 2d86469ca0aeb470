// Command hangar serves the Claude Managed Agents API on your own machines.
//
//	hangar serve [--addr 127.0.0.1:4000] [--data-dir ./hangar-data]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `hangar: a self-hosted server for Anthropic's Claude Managed Agents API

Usage:
  hangar serve [flags]    run the API server
  hangar version          print the version
  hangar help             show this help

Run "hangar serve --help" for the server's flags and environment variables.
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
	case "version", "--version":
		fmt.Fprintln(stdout, "hangar", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hangar: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
