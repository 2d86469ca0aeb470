package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hangar-dev/hangar/internal/provider"
)

// DefaultGrace is how long an interrupted CLI may take to stop when its engine's config
// sets no interrupt_grace_ms.
const DefaultGrace = 3 * time.Second

// DecodeConfig decodes the JSON config raw of engine name into v, rejecting unknown
// fields. An empty or null config leaves v as it is. Errors read "<name> engine config: ...".
func DecodeConfig(name string, raw json.RawMessage, v any) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s engine config: %w", name, err)
	}
	return nil
}

// Grace returns the interrupt grace period of an interrupt_grace_ms setting: ms
// milliseconds, DefaultGrace when ms is 0.
func Grace(ms int) time.Duration {
	if ms == 0 {
		return DefaultGrace
	}
	return time.Duration(ms) * time.Millisecond
}

// Isolated reports whether sb's processes see their own filesystem (so an engine's CLI is
// at its mount target). Sandboxes tell through an optional Capabilities or Isolated
// method; others are host processes.
func Isolated(sb provider.Sandbox) bool {
	switch s := sb.(type) {
	case interface{ Capabilities() provider.Capabilities }:
		return s.Capabilities().Isolated
	case interface{ Isolated() bool }:
		return s.Isolated()
	}
	return false
}

// CLIBinary locates an engine's CLI binary on the host and inside sandboxes.
type CLIBinary struct {
	// Package is the pinned CLI, found under CacheDir when Binary is "".
	Package NPMPackage
	// Binary is the configured host path of the binary ("": Package.Find(CacheDir)).
	Binary string
	// CacheDir is HANGAR_CACHE_DIR.
	CacheDir string
	// SandboxBinary overrides the binary's path inside isolated sandboxes.
	SandboxBinary string
	// MountTarget is where Mounts binds the CLI's directory inside sandboxes.
	MountTarget string
	// BinDir is the binary's directory relative to the mounted directory, slash-separated
	// ("": the binary's own directory is mounted; "bin": its parent is).
	BinDir string
}

// HostPath returns the host path of the binary: Binary, else the installed CLI's path or
// an error wrapping ErrNotInstalled.
func (b CLIBinary) HostPath() (string, error) {
	if b.Binary != "" {
		return b.Binary, nil
	}
	return b.Package.Find(b.CacheDir)
}

// realHostPath returns HostPath with symlinks resolved where possible.
func (b CLIBinary) realHostPath() (string, error) {
	bin, err := b.HostPath()
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	return bin, nil
}

// Mounts returns the bind mounts that make the CLI available inside isolated sandboxes:
// the host directory that holds the binary (at BinDir), read-only at MountTarget. It
// returns nil when the CLI is not installed.
func (b CLIBinary) Mounts() []provider.Mount {
	bin, err := b.realHostPath()
	if err != nil {
		return nil
	}
	src := filepath.Dir(bin)
	if b.BinDir != "" {
		for range strings.Split(b.BinDir, "/") {
			src = filepath.Dir(src)
		}
	}
	return []provider.Mount{{Source: src, Target: b.MountTarget, ReadOnly: true}}
}

// For returns the path of the binary as seen by processes of sb: the host path, unless sb
// is Isolated, where it is SandboxBinary, else the binary under MountTarget.
func (b CLIBinary) For(sb provider.Sandbox) (string, error) {
	bin, err := b.HostPath()
	if err != nil {
		return "", err
	}
	if !Isolated(sb) {
		return bin, nil
	}
	if b.SandboxBinary != "" {
		return b.SandboxBinary, nil
	}
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	return path.Join(b.MountTarget, b.BinDir, filepath.Base(bin)), nil
}
