package opencode

import (
	"path/filepath"
	"runtime"

	"github.com/hangar-dev/hangar/internal/engine"
)

// Version is the pinned opencode-ai release Hangar installs and tests with.
const Version = "1.18.33"

// Package is the npm package of the opencode CLI.
const Package = "opencode-ai"

// ErrNotInstalled is wrapped by Find when the pinned CLI is not in the cache directory.
var ErrNotInstalled = engine.ErrNotInstalled

// npmPackage is the pinned CLI on npm.
var npmPackage = engine.NPMPackage{Engine: "opencode", Package: Package, Version: Version, Locate: locate}

// NPM returns the pinned CLI's npm package (for `hangar engines install opencode`).
func NPM() engine.NPMPackage { return npmPackage }

// Find returns the path of the installed opencode binary under cacheDir, or an error
// wrapping ErrNotInstalled.
func Find(cacheDir string) (string, error) { return npmPackage.Find(cacheDir) }

// locate returns the native executable opencode-ai's postinstall links to
// bin/opencode.exe, else the binary of one of its platform packages
// (opencode-<os>-<arch>[-baseline][-musl]).
func locate(dir string) (string, error) {
	mods := filepath.Join(dir, "node_modules")
	candidates := []string{filepath.Join(mods, Package, "bin", "opencode.exe")}
	for _, p := range platforms() {
		candidates = append(candidates, filepath.Join(mods, "opencode-"+p, "bin", "opencode"))
	}
	for _, c := range candidates {
		if engine.IsNativeBinary(c) {
			return c, nil
		}
	}
	return "", ErrNotInstalled
}

// platforms lists the suffixes of the CLI's platform packages for this machine, the
// preferred first.
func platforms() []string {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" {
		return nil
	}
	p := runtime.GOOS + "-" + arch
	return []string{p, p + "-baseline", p + "-musl", p + "-baseline-musl"}
}
