package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ErrNotInstalled is wrapped by NPMPackage.Find when an engine's CLI is not installed.
var ErrNotInstalled = errors.New("not installed")

// NPMPackage describes an engine CLI distributed on npm and pinned by Hangar. Installs go
// to <cacheDir>/engines/<Engine>/<Version>; the binary is located by Locate.
type NPMPackage struct {
	Engine  string // engine name, e.g. "claude"
	Package string // npm package, e.g. "@anthropic-ai/claude-code"
	Version string // pinned version
	// Locate returns the CLI's path inside an install directory, or an error.
	Locate func(installDir string) (string, error)
}

// Dir is where the pinned version is installed under cacheDir (HANGAR_CACHE_DIR).
func (p NPMPackage) Dir(cacheDir string) string {
	return filepath.Join(cacheDir, "engines", p.Engine, p.Version)
}

// Find returns the installed CLI's path, or an error wrapping ErrNotInstalled that says
// how to install it.
func (p NPMPackage) Find(cacheDir string) (string, error) {
	if cacheDir != "" {
		if bin, err := p.Locate(p.Dir(cacheDir)); err == nil {
			return bin, nil
		}
	}
	return "", fmt.Errorf("%s %s is %w in %q: run `hangar engines install %s`", p.Engine, p.Version, ErrNotInstalled, p.Dir(cacheDir), p.Engine)
}

// Install installs the pinned package with npm, writing progress lines to progress, and
// returns the CLI's path. It does nothing when the CLI is already installed. npm installs
// into a temporary sibling directory that is renamed into place, so concurrent and
// interrupted installs never leave a half-installed CLI.
func (p NPMPackage) Install(ctx context.Context, cacheDir string, progress io.Writer) (string, error) {
	if bin, err := p.Find(cacheDir); err == nil {
		fmt.Fprintf(progress, "%s %s is already installed\n", p.Engine, p.Version)
		return bin, nil
	}
	fail := func(err error) (string, error) { return "", fmt.Errorf("install %s: %w", p.Engine, err) }
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fail(fmt.Errorf("npm is required (install Node.js 20 or later): %w", err))
	}
	dir := p.Dir(cacheDir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fail(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+p.Version+".tmp-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(progress, "installing %s@%s with npm into %s ...\n", p.Package, p.Version, dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund",
		"--no-save", "--loglevel=error", p.Package+"@"+p.Version)
	cmd.Dir = tmp
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("npm install %s@%s: %w\n%s", p.Package, p.Version, err, bytes.TrimSpace(out.Bytes())))
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another install won the race, or a broken install is in the way.
		if _, ferr := p.Find(cacheDir); ferr != nil {
			if rerr := os.RemoveAll(dir); rerr != nil {
				return fail(rerr)
			}
			if err := os.Rename(tmp, dir); err != nil {
				return fail(err)
			}
		}
	}
	bin, err := p.Find(cacheDir)
	if err != nil {
		return fail(fmt.Errorf("npm finished but %w\n%s", err, bytes.TrimSpace(out.Bytes())))
	}
	fmt.Fprintf(progress, "installed %s %s in %.1fs\n", p.Engine, p.Version, time.Since(start).Seconds())
	return bin, nil
}

// IsNativeBinary reports whether path is an executable native binary (ELF or Mach-O), not
// the Node.js shim npm leaves in place when a package's install scripts did not run.
func IsNativeBinary(path string) bool {
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
