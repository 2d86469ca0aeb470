package pi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hangar-dev/hangar/internal/engine"
)

// Version is the pinned @mariozechner/pi-coding-agent release Hangar installs and tests
// with (its engines field asks for Node 20.6 or later).
const Version = "0.73.1"

// Package is the npm package of the pi CLI.
const Package = "@mariozechner/pi-coding-agent"

// ErrNotInstalled is wrapped by Find when the pinned CLI is not in the cache directory.
var ErrNotInstalled = engine.ErrNotInstalled

// npmPackage is the pinned CLI on npm.
var npmPackage = engine.NPMPackage{Engine: "pi", Package: Package, Version: Version, Locate: locate}

// NPM returns the pinned CLI's npm package (for `hangar engines install pi`).
func NPM() engine.NPMPackage { return npmPackage }

// Find returns the path of the installed CLI's JavaScript entry point (run with node)
// under cacheDir, or an error wrapping ErrNotInstalled.
func Find(cacheDir string) (string, error) { return npmPackage.Find(cacheDir) }

// Install installs the pinned CLI with npm (see engine.NPMPackage.Install).
func Install(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	return npmPackage.Install(ctx, cacheDir, progress)
}

// locate returns the JavaScript entry point of the CLI installed in dir: the target of
// the package's "pi" bin (dist/cli.js in 0.73.1).
func locate(dir string) (string, error) {
	pkg := filepath.Join(dir, "node_modules", filepath.FromSlash(Package))
	b, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	if err != nil {
		return "", ErrNotInstalled
	}
	var meta struct {
		Bin map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", fmt.Errorf("%s package.json: %w", Package, err)
	}
	rel := meta.Bin["pi"]
	if rel == "" {
		return "", errors.New(Package + " package.json has no pi bin")
	}
	entry := filepath.Join(pkg, filepath.FromSlash(rel))
	if st, err := os.Stat(entry); err != nil || !st.Mode().IsRegular() {
		return "", ErrNotInstalled
	}
	return entry, nil
}
