package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Session files (docs/resources.md). CMA containers have /mnt/session/uploads, where file
// resources are mounted read-only by default, and /mnt/session/outputs, whose files are
// captured to the Files API. With a data dir, both are host directories of the session
// (<data>/session-files/<id>/{uploads,outputs}) bound into the sandbox: uploads read-only,
// so the agent truly cannot change them, outputs read-write, so the runner reads what the
// agent wrote without going through the sandbox. Remote providers (cloud sandboxes,
// Kubernetes) cannot bind host paths: the runner copies uploads in and reads outputs back
// through the sandbox instead (content.go, remote_content.go).
const (
	uploadsDir = "/mnt/session/uploads"
	outputsDir = "/mnt/session/outputs"
)

// sessionFilesDir is the host directory of a session's uploads and outputs; "" without a
// data dir.
func (r *Runner) sessionFilesDir(sessionID string) string {
	if r.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(r.cfg.DataDir, "session-files", sessionID)
}

// sessionFileMounts creates the session's uploads and outputs directories on the host and
// returns their mounts; none without a data dir or when they cannot be created.
func (r *Runner) sessionFileMounts(sessionID string) []provider.Mount {
	dir := r.sessionFilesDir(sessionID)
	if dir == "" {
		return nil
	}
	for _, d := range []string{"uploads", "outputs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			r.log.Warn("create session files dir", "session", sessionID, "err", err)
			return nil
		}
	}
	return []provider.Mount{
		{Source: filepath.Join(dir, "uploads"), Target: uploadsDir, ReadOnly: true},
		{Source: filepath.Join(dir, "outputs"), Target: outputsDir},
	}
}

// fileResource is the part of a stored session resource the runner needs.
type fileResource struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	FileID    string `json:"file_id"`
	MountPath string `json:"mount_path"`
}

// mountResources writes the session's resources into sb before a run: repositories are
// cloned (repos.go); file resources under
// /mnt/session/uploads into the host directory bound there read-only (removing files of
// resources since deleted) — on a remote provider's sandbox, copied there and chmod'ed
// a-w (content.go) — the others with sb.PutFile at mode 0444. PutFile cannot make a
// file read-only to an agent that owns it (it may chmod it back), and it reaches only the
// paths the provider accepts (local: under the work dir and home); a resource the sandbox
// refuses fails the run, saying which one.
func (r *Runner) mountResources(ctx context.Context, sess *hangar.Session, sb provider.Sandbox) error {
	var raws []json.RawMessage
	if len(sess.Resources) > 0 {
		if err := json.Unmarshal(sess.Resources, &raws); err != nil {
			return fmt.Errorf("session resources: %w", err)
		}
	}
	content, remote := r.contentFor(sess.ID)
	host := r.sessionFilesDir(sess.ID)
	if host != "" && !remote {
		if _, err := os.Stat(filepath.Join(host, "uploads")); err != nil {
			host = "" // a sandbox from before session files existed: no bound uploads dir
		}
	}
	uploads := map[string][]byte{}
	for _, raw := range raws {
		var res fileResource
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("session resource: %w", err)
		}
		if res.Type == "github_repository" {
			if err := r.mountRepo(ctx, sb, raw); err != nil {
				return err
			}
			continue
		}
		if res.Type != "file" {
			continue
		}
		data, err := r.fileContent(ctx, res.FileID)
		if err != nil {
			return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("file resource %s (file %s) could not be read", res.ID, res.FileID), Err: err}
		}
		if rel, ok := under(res.MountPath, uploadsDir); ok && (host != "" || remote) {
			uploads[rel] = data
			if remote {
				continue
			}
			if err := writeReadOnly(filepath.Join(host, "uploads"), rel, data); err != nil {
				return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("file resource %s could not be mounted at %s", res.ID, res.MountPath), Err: err}
			}
			// A provider that does not bind host paths (memory) gets the file through
			// PutFile too; where the bind exists (local, docker) PutFile is refused or
			// redundant, so its error does not count.
			if old, err := sb.GetFile(ctx, res.MountPath); err != nil || !bytes.Equal(old, data) {
				_ = sb.PutFile(ctx, res.MountPath, data, 0o444)
			}
			continue
		}
		if old, err := sb.GetFile(ctx, res.MountPath); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := sb.PutFile(ctx, res.MountPath, data, 0o444); err != nil {
			return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("file resource %s could not be mounted at %s in this sandbox", res.ID, res.MountPath), Err: err}
		}
	}
	if remote {
		if err := content.replace(ctx, contentDir{sandbox: uploadsDir}, uploads, true); err != nil {
			return &engine.Error{Type: "unknown_error", Message: fmt.Sprintf("file resources could not be copied to %s in this sandbox", uploadsDir), Err: err}
		}
		// Optional: a sandbox whose /mnt cannot take it still runs the turn, without
		// outputs.
		if err := content.ensure(ctx, contentDir{sandbox: outputsDir}); err != nil {
			r.log.Warn("outputs folder not created in the remote sandbox", "session", sess.ID, "err", err)
		}
	} else if host != "" {
		keep := map[string]bool{}
		for rel := range uploads {
			keep[rel] = true
		}
		pruneUploads(filepath.Join(host, "uploads"), keep)
	}
	return nil
}

// fileContent reads a Files API file's content.
func (r *Runner) fileContent(ctx context.Context, id string) ([]byte, error) {
	if r.cfg.Blobs == nil {
		return nil, hangar.Errorf(hangar.KindInternal, "the runner has no file storage")
	}
	rc, err := r.cfg.Blobs.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// under reports whether p is strictly inside dir and returns its path relative to dir.
func under(p, dir string) (string, bool) {
	p = path.Clean(p)
	if !strings.HasPrefix(p, dir+"/") {
		return "", false
	}
	return strings.TrimPrefix(p, dir+"/"), true
}

// writeReadOnly writes data at rel under root, mode 0444, unless it already holds data.
// os.Root keeps the write inside root whatever the path holds.
func writeReadOnly(root, rel string, data []byte) error {
	rt, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer rt.Close()
	rel = filepath.FromSlash(rel)
	if old, err := rt.ReadFile(rel); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if d := filepath.Dir(rel); d != "." {
		if err := rt.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	_ = rt.Remove(rel) // a 0444 file cannot be opened for writing
	if err := rt.WriteFile(rel, data, 0o444); err != nil {
		return err
	}
	return rt.Chmod(rel, 0o444)
}

// pruneUploads removes the files under root that no resource mounts any more.
func pruneUploads(root string, keep map[string]bool) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err == nil && !keep[filepath.ToSlash(rel)] {
			os.Remove(p)
		}
		return nil
	})
}
