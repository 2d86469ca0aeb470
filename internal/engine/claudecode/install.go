package claudecode

import (
	"context"
	"io"
	"path/filepath"
	"runtime"

	"github.com/hangar-dev/hangar/internal/engine"
)

// Version is the pinned @anthropic-ai/claude-code release Hangar installs and tests with
// (the newest one whose package accepts Node 20).
const Version = "2.1.197"

// Package is the npm package of the Claude Code CLI.
const Package = "@anthropic-ai/claude-code"

// ErrNotInstalled is wrapped by Find when the pinned CLI is not in the cache directory.
var ErrNotInstalled = engine.ErrNotInstalled

// npmPackage is the pinned CLI on npm.
var npmPackage = engine.NPMPackage{Engine: "claude", Package: Package, Version: Version, Locate: locate}

// NPM returns the pinned CLI's npm package (for `hangar engines install claude`).
func NPM() engine.NPMPackage { return npmPackage }

// InstallDir is where Install puts the pinned CLI under cacheDir (HANGAR_CACHE_DIR).
func InstallDir(cacheDir string) string { return npmPackage.Dir(cacheDir) }

// Find returns the path of the installed claude binary under cacheDir, or an error
// wrapping ErrNotInstalled.
func Find(cacheDir string) (string, error) { return npmPackage.Find(cacheDir) }

// Install installs the pinned CLI with npm (see engine.NPMPackage.Install).
func Install(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	return npmPackage.Install(ctx, cacheDir, progress)
}

// locate returns the native executable npm's postinstall put at bin/claude.exe, else the
// platform package's binary.
func locate(dir string) (string, error) {
	mods := filepath.Join(dir, "node_modules", "@anthropic-ai")
	candidates := []string{filepath.Join(mods, "claude-code", "bin", "claude.exe")}
	for _, p := range platforms() {
		candidates = append(candidates, filepath.Join(mods, "claude-code-"+p, "claude"))
	}
	for _, c := range candidates {
		if engine.IsNativeBinary(c) {
			return c, nil
		}
	}
	return "", ErrNotInstalled
}

// platforms lists the suffixes of the CLI's platform packages for this machine.
func platforms() []string {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" {
		return nil
	}
	p := runtime.GOOS + "-" + arch
	return []string{p, p + "-musl"}
}
