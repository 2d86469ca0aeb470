package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets the test binary stand in for the hangar binary inside sandboxes: the local
// provider runs its own executable as `hangar forward ...` (the egress forwarder), and in
// tests that executable is this one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "forward" {
		os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	// The CLI tests run this binary as `hangar` in a pseudo-terminal (cli_pty_test.go).
	if os.Getenv(cliExecEnv) == "1" {
		ctx, stop := signalContext(os.Args[1:])
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
