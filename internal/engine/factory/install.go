package factory

import (
	"context"
	"io"
	"path/filepath"
	"runtime"

	"github.com/hangar-dev/hangar/internal/engine"
)

// Version is the pinned droid release Hangar installs and tests with.
const Version = "0.215.0"

// Package is the npm package of the Factory CLI. (@factory/cli is the same CLI, but its
// platform packages are missing from the registry.)
const Package = "droid"

// ErrNotInstalled is wrapped by Find when the pinned CLI is not in the cache directory.
var ErrNotInstalled = engine.ErrNotInstalled

// npmPackage is the pinned CLI on npm.
var npmPackage = engine.NPMPackage{Engine: "factory", Package: Package, Version: Version, Locate: locate}

// NPM returns the pinned CLI's npm package (for `hangar engines install factory`).
func NPM() engine.NPMPackage { return npmPackage }

// Find returns the path of the installed droid binary under cacheDir, or an error
// wrapping ErrNotInstalled.
func Find(cacheDir string) (string, error) { return npmPackage.Find(cacheDir) }

// Install installs the pinned CLI with npm (see engine.NPMPackage.Install).
func Install(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	return npmPackage.Install(ctx, cacheDir, progress)
}

// locate returns the native executable npm's postinstall hard-linked at bin/droid, else the
// platform package's binary (the baseline build, without AVX2, last).
func locate(dir string) (string, error) {
	mods := filepath.Join(dir, "node_modules")
	candidates := []string{filepath.Join(mods, "droid", "bin", "droid")}
	for _, p := range platforms() {
		candidates = append(candidates, filepath.Join(mods, "@factory", "cli-"+p, "bin", "droid"))
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
	return []string{p, p + "-baseline"}
}
