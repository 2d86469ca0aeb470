package codex

import (
	"context"
	"io"
	"path/filepath"
	"runtime"

	"github.com/hangar-dev/hangar/internal/engine"
)

// Version is the pinned @openai/codex release Hangar installs and tests with.
const Version = "0.171.0"

// Package is the npm package of the Codex CLI.
const Package = "@openai/codex"

// ErrNotInstalled is wrapped by Find when the pinned CLI is not in the cache directory.
var ErrNotInstalled = engine.ErrNotInstalled

// npmPackage is the pinned CLI on npm.
var npmPackage = engine.NPMPackage{Engine: "codex", Package: Package, Version: Version, Locate: locate}

// NPM returns the pinned CLI's npm package (for `hangar engines install codex`).
func NPM() engine.NPMPackage { return npmPackage }

// InstallDir is where the pinned CLI is installed under cacheDir (HANGAR_CACHE_DIR).
func InstallDir(cacheDir string) string { return npmPackage.Dir(cacheDir) }

// Find returns the path of the installed native codex binary under cacheDir, or an error
// wrapping ErrNotInstalled.
func Find(cacheDir string) (string, error) { return npmPackage.Find(cacheDir) }

// locate returns the native executable of the platform package npm installed beside
// @openai/codex (the package's bin/codex.js only execs it):
// node_modules/@openai/codex-<os>-<arch>/vendor/<target triple>/bin/codex. On Linux it is
// a static musl binary, so it runs in any rootfs.
func locate(dir string) (string, error) {
	mods := filepath.Join(dir, "node_modules", "@openai")
	for _, p := range platforms() {
		for _, base := range []string{filepath.Join(mods, "codex-"+p.pkg), filepath.Join(mods, "codex")} {
			if c := filepath.Join(base, "vendor", p.triple, "bin", "codex"); engine.IsNativeBinary(c) {
				return c, nil
			}
		}
	}
	return "", ErrNotInstalled
}

type platform struct{ pkg, triple string }

// platforms lists the platform packages and target triples of the CLI for this machine.
func platforms() []platform {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	cpu := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if arch == "" {
		return nil
	}
	switch runtime.GOOS {
	case "linux":
		return []platform{{"linux-" + arch, cpu + "-unknown-linux-musl"}}
	case "darwin":
		return []platform{{"darwin-" + arch, cpu + "-apple-darwin"}}
	}
	return nil
}

// Install installs the pinned CLI with npm (see engine.NPMPackage.Install).
func Install(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	return npmPackage.Install(ctx, cacheDir, progress)
}
