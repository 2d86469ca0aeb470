package opencode

import (
	"bytes"
	"io"
	"os"
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
		if isNative(c) {
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

// isNative reports whether path is an executable native binary (ELF or Mach-O), not a
// placeholder or a Node.js launcher script.
func isNative(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return false
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return false
	}
	switch {
	case bytes.Equal(magic, []byte("\x7fELF")),
		bytes.Equal(magic, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.Equal(magic, []byte{0xca, 0xfe, 0xba, 0xbe}):
		return true
	}
	return false
}
