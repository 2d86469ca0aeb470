package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/factory"
	"github.com/hangar-dev/hangar/internal/engine/gemini"
	"github.com/hangar-dev/hangar/internal/engine/opencode"
	"github.com/hangar-dev/hangar/internal/engine/pi"
)

// installers are the engines `hangar engines install` knows, by name.
func installers() map[string]engine.NPMPackage {
	return map[string]engine.NPMPackage{
		"claude":   claudecode.NPM(),
		"codex":    codex.NPM(),
		"factory":  factory.NPM(),
		"gemini":   gemini.NPM(),
		"opencode": opencode.NPM(),
		"pi":       pi.NPM(),
	}
}

func enginesUsage() string {
	var b strings.Builder
	b.WriteString("Usage:\n  hangar engines install NAME   install the pinned CLI of engine NAME into the cache\n\nEngines (installed with npm):\n")
	all := installers()
	for _, name := range slices.Sorted(maps.Keys(all)) {
		p := all[name]
		fmt.Fprintf(&b, "  %-10s %s@%s\n", name, p.Package, p.Version)
	}
	b.WriteString("The cache is $HANGAR_CACHE_DIR (default: the user cache directory + /hangar).\n")
	return b.String()
}

// engines runs `hangar engines ...`.
func engines(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, enginesUsage())
		return 0
	}
	if len(args) != 2 || args[0] != "install" {
		fmt.Fprint(stderr, enginesUsage())
		return 2
	}
	dir, err := cacheDir(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "hangar engines install: %v\n", err)
		return 1
	}
	p, ok := installers()[args[1]]
	if !ok {
		fmt.Fprintf(stderr, "hangar engines install: unknown engine %q\n\n%s", args[1], enginesUsage())
		return 2
	}
	bin, err := p.Install(ctx, dir, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "hangar engines install: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, bin)
	return 0
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
