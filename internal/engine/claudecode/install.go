package claudecode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Version is the pinned @anthropic-ai/claude-code release Hangar installs and tests with
// (the newest one whose package accepts Node 20).
const Version = "2.1.197"

// Package is the npm package of the Claude Code CLI.
const Package = "@anthropic-ai/claude-code"

// ErrNotInstalled is returned by Find when the pinned CLI is not in the cache directory.
var ErrNotInstalled = errors.New("claude is not installed: run `hangar engines install claude`")

// InstallDir is where Install puts the pinned CLI under cacheDir (HANGAR_CACHE_DIR).
func InstallDir(cacheDir string) string {
	return filepath.Join(cacheDir, "engines", "claude", Version)
}

// Find returns the path of the installed claude binary under cacheDir: the native
// executable npm's postinstall put at bin/claude.exe, else the platform package's binary.
// It returns an error wrapping ErrNotInstalled when neither is there.
func Find(cacheDir string) (string, error) {
	if cacheDir == "" {
		return "", fmt.Errorf("find claude: no cache directory: %w", ErrNotInstalled)
	}
	mods := filepath.Join(InstallDir(cacheDir), "node_modules", "@anthropic-ai")
	candidates := []string{filepath.Join(mods, "claude-code", "bin", "claude.exe")}
	for _, p := range platforms() {
		candidates = append(candidates, filepath.Join(mods, "claude-code-"+p, "claude"))
	}
	for _, c := range candidates {
		if isNative(c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("find claude %s in %s: %w", Version, InstallDir(cacheDir), ErrNotInstalled)
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

// isNative reports whether path is an executable native binary (ELF or Mach-O), not the
// placeholder npm leaves when install scripts did not run.
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

// Install installs the pinned CLI with npm into InstallDir(cacheDir), writing progress
// lines to progress, and returns the binary's path. It does nothing when the CLI is
// already installed. npm installs into a temporary sibling directory that is renamed into
// place, so concurrent installs and interrupted ones never leave a half-installed CLI.
func Install(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	if bin, err := Find(cacheDir); err == nil {
		fmt.Fprintf(progress, "claude %s is already installed\n", Version)
		return bin, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("install claude: npm is required (install Node.js 18 or later): %w", err)
	}
	dir := InstallDir(cacheDir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("install claude: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+Version+".tmp-")
	if err != nil {
		return "", fmt.Errorf("install claude: %w", err)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(progress, "installing %s@%s with npm into %s ...\n", Package, Version, dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--no-save", "--loglevel=error", Package+"@"+Version)
	cmd.Dir = tmp
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install claude: npm install %s@%s: %w\n%s", Package, Version, err, bytes.TrimSpace(out.Bytes()))
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another install won the race, or a broken install is in the way.
		if _, ferr := Find(cacheDir); ferr != nil {
			if rerr := os.RemoveAll(dir); rerr != nil {
				return "", fmt.Errorf("install claude: %w", rerr)
			}
			if err := os.Rename(tmp, dir); err != nil {
				return "", fmt.Errorf("install claude: %w", err)
			}
		}
	}
	bin, err := Find(cacheDir)
	if err != nil {
		return "", fmt.Errorf("install claude: npm finished but %w\n%s", err, bytes.TrimSpace(out.Bytes()))
	}
	fmt.Fprintf(progress, "installed claude %s in %.1fs\n", Version, time.Since(start).Seconds())
	return bin, nil
}
