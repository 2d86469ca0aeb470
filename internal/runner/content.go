package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
)

// Session content — file resources under /mnt/session/uploads, memory stores, the outputs
// folder — reaches a sandbox one of two ways. Providers that bind host paths (local,
// docker, podman...) get host directories of the session mounted, and the runner reads
// and writes the host side (hostContent). Remote providers (Capabilities.Remote: the cloud
// providers, Kubernetes) cannot see the server's disk, so the runner copies content in and
// reads changes back through the sandbox's file API and exec (sandboxContent,
// remote_content.go). Everything else is one code path: which files a directory must
// hold, and the snapshots and manifests the after-turn diffs start from, which stay on the
// host where the agent cannot reach them.

// contentDir names one directory of session content on both sides.
type contentDir struct {
	host    string // the host directory bound into the sandbox (hostContent)
	sandbox string // its path inside the sandbox (sandboxContent)
}

// contentSum describes one regular file of a content directory.
type contentSum struct {
	SHA256 string
	// TooLarge marks a file over the listing's size limit: it exists but was not hashed.
	TooLarge bool
}

// sessionContent moves session content between the runner and a sandbox.
type sessionContent interface {
	// replace makes d hold exactly files (slash-separated relative path → content),
	// unchanged files left alone; with readOnly, no file or directory of d keeps a write
	// bit.
	replace(ctx context.Context, d contentDir, files map[string][]byte, readOnly bool) error
	// ensure creates d when it is missing, writable by the agent.
	ensure(ctx context.Context, d contentDir) error
	// list describes the regular files under d (symlinks and devices are skipped), by
	// relative path; files over maxBytes are TooLarge. An empty map when d is missing.
	list(ctx context.Context, d contentDir, maxBytes int64) (map[string]contentSum, error)
	// read returns the content of the file rel under d.
	read(ctx context.Context, d contentDir, rel string) ([]byte, error)
}

// contentFor returns how the session's content reaches its current sandbox, and whether
// that is by copy (a remote provider's sandbox).
func (r *Runner) contentFor(sessionID string) (sessionContent, bool) {
	r.mu.Lock()
	st := r.sessions[sessionID]
	r.mu.Unlock()
	if st == nil {
		return hostContent{}, false
	}
	st.mu.Lock()
	sb, name := st.sandbox, st.runtime.Provider
	st.mu.Unlock()
	if sb == nil {
		return hostContent{}, false
	}
	if _, p, err := r.providerFor(name); err != nil || !p.Capabilities().Remote {
		return hostContent{}, false
	}
	return sandboxContent{sb: sb}, true
}

// hostContent works on the host directories bound into the sandbox.
type hostContent struct{}

func (hostContent) replace(ctx context.Context, d contentDir, files map[string][]byte, readOnly bool) error {
	if readOnly {
		keep := map[string]bool{}
		for rel, data := range files {
			keep[rel] = true
			if err := writeReadOnly(d.host, rel, data); err != nil {
				return err
			}
		}
		pruneUploads(d.host, keep)
		return nil
	}
	return writeFilesDir(d.host, files)
}

func (hostContent) ensure(ctx context.Context, d contentDir) error { return os.MkdirAll(d.host, 0o755) }

func (hostContent) list(ctx context.Context, d contentDir, maxBytes int64) (map[string]contentSum, error) {
	out := map[string]contentSum{}
	root, err := os.OpenRoot(d.host)
	if err != nil {
		if os.IsNotExist(err) {
			return out, nil
		}
		return nil, err
	}
	defer root.Close()
	// Only regular files: a symlink the agent made must not make the host read elsewhere
	// (os.Root refuses escapes as well).
	err = fs.WalkDir(root.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		info, err := root.Lstat(p)
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		if info.Size() > maxBytes {
			out[p] = contentSum{TooLarge: true}
			return nil
		}
		data, err := root.ReadFile(p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(data)
		out[p] = contentSum{SHA256: hex.EncodeToString(sum[:])}
		return nil
	})
	return out, err
}

func (hostContent) read(ctx context.Context, d contentDir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(d.host)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(filepath.FromSlash(rel))
}

// writeFilesDir replaces dir's content with files, mode 0644. The directory itself stays:
// it may be bound into a live sandbox. os.Root keeps every write inside dir.
func writeFilesDir(dir string, files map[string][]byte) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for rel, data := range files {
		rel = filepath.FromSlash(rel)
		if d := filepath.Dir(rel); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if err := root.WriteFile(rel, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
