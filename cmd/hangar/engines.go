package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hangar-dev/hangar/internal/engine/claudecode"
)

const enginesUsage = `Usage:
  hangar engines install NAME   install the pinned CLI of engine NAME into the cache

Engines: claude (` + claudecode.Package + `@` + claudecode.Version + `, needs npm).
The cache is $HANGAR_CACHE_DIR (default: the user cache directory + /hangar).
`

// engines runs `hangar engines ...`.
func engines(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, enginesUsage)
		return 0
	}
	if len(args) != 2 || args[0] != "install" {
		fmt.Fprint(stderr, enginesUsage)
		return 2
	}
	dir, err := cacheDir(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "hangar engines install: %v\n", err)
		return 1
	}
	switch args[1] {
	case "claude":
		bin, err := claudecode.Install(ctx, dir, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "hangar engines install: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, bin)
		return 0
	default:
		fmt.Fprintf(stderr, "hangar engines install: unknown engine %q\n\n%s", args[1], enginesUsage)
		return 2
	}
}

// cacheDir returns where Hangar keeps downloaded engines: $HANGAR_CACHE_DIR, else the
// user cache directory + /hangar.
func cacheDir(getenv func(string) string) (string, error) {
	if d := getenv("HANGAR_CACHE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set HANGAR_CACHE_DIR): %w", err)
	}
	return filepath.Join(d, "hangar"), nil
}
