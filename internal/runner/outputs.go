package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"os"
	"path"
	"path/filepath"

	"github.com/hangar-dev/hangar"
)

// Outputs (docs/resources.md): what the agent writes under /mnt/session/outputs is captured
// to the Files API at the end of each turn, scoped to the session (GET /v1/files?scope_id=),
// and announced with one session.outputs_synced event (a Hangar extension: CMA has no
// event for it). A file is captured again only when its content changed; the manifest of
// what was captured lives next to the outputs directory, where the agent cannot reach it.

// EventOutputsSynced announces the output files captured at the end of a turn.
const EventOutputsSynced = "session.outputs_synced"

// Limits of one sync: larger files and files past the count are left out (and logged).
const (
	maxOutputBytes = 500 << 20
	maxOutputFiles = 1000
)

// outputFile is one captured file in the session.outputs_synced event.
type outputFile struct {
	FileID    string `json:"file_id"`
	Filename  string `json:"filename"`
	Path      string `json:"path"`
	MimeType  string `json:"mime_type"`
	SizeBytes int64  `json:"size_bytes"`
}

// syncOutputs captures the session's new and changed output files and announces them. It
// lists the outputs folder (the host directory bound at /mnt/session/outputs, or the folder
// inside a remote provider's sandbox: content.go) and reads only the files whose content
// is not the one captured last; the manifest of what was captured needs a data dir.
func (r *Runner) syncOutputs(ctx context.Context, st *session) {
	dir := r.sessionFilesDir(st.id)
	if dir == "" || r.cfg.Blobs == nil {
		return
	}
	content, remote := r.contentFor(st.id)
	if remote {
		if err := os.MkdirAll(dir, 0o755); err != nil { // for the manifest
			r.log.Warn("create session files dir", "session", st.id, "err", err)
			return
		}
	}
	cd := contentDir{host: filepath.Join(dir, "outputs"), sandbox: outputsDir}
	listed, err := content.list(ctx, cd, maxOutputBytes)
	if err != nil {
		r.log.Warn("list output files", "session", st.id, "err", err)
		return
	}
	manifestPath := filepath.Join(dir, "outputs.json")
	synced := map[string]string{} // relative path → SHA-256 of the captured content
	if b, err := os.ReadFile(manifestPath); err == nil {
		_ = json.Unmarshal(b, &synced)
	}
	var files []outputFile
	for _, rel := range sortedKeys(listed) {
		if len(files) == maxOutputFiles {
			r.log.Warn("too many output files; the rest are not captured", "session", st.id, "limit", maxOutputFiles)
			break
		}
		if listed[rel].TooLarge {
			r.log.Warn("output file too large; not captured", "session", st.id, "path", rel, "limit", maxOutputBytes)
			continue
		}
		if synced[rel] == listed[rel].SHA256 {
			continue
		}
		data, err := content.read(ctx, cd, rel)
		if err != nil || len(data) > maxOutputBytes {
			continue
		}
		f, err := r.captureOutput(ctx, st.id, rel, data)
		if err != nil {
			r.log.Error("capture output file", "session", st.id, "path", rel, "err", err)
			continue
		}
		synced[rel] = sha256Hex(data)
		files = append(files, outputFile{FileID: f.ID, Filename: f.Filename, Path: path.Join(outputsDir, rel), MimeType: f.MimeType, SizeBytes: f.SizeBytes})
	}
	if len(files) == 0 {
		return
	}
	if b, err := json.Marshal(synced); err == nil {
		if err := os.WriteFile(manifestPath, b, 0o600); err != nil {
			r.log.Warn("write outputs manifest", "session", st.id, "err", err)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ev := r.newEvent(EventOutputsSynced, map[string]any{"files": files})
	if err := r.appendTurnLocked(ctx, st, []hangar.Event{ev}, nil); err != nil && ctx.Err() == nil {
		r.log.Error("announce output files", "session", st.id, "err", err)
	}
}

// captureOutput stores one output file in the Files API, scoped to the session.
func (r *Runner) captureOutput(ctx context.Context, sessionID, rel string, data []byte) (*hangar.File, error) {
	f := &hangar.File{
		Type:         "file",
		ID:           r.newID(hangar.PrefixFile),
		Filename:     path.Base(rel),
		MimeType:     outputMimeType(rel),
		Downloadable: true,
		Scope:        &hangar.FileScope{Type: "session", ID: sessionID},
		CreatedAt:    r.now(),
	}
	size, sum, err := r.cfg.Blobs.Put(ctx, f.ID, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	f.SizeBytes, f.SHA256 = size, sum
	if err := r.store.CreateFile(ctx, f); err != nil {
		_ = r.cfg.Blobs.Delete(ctx, f.ID)
		return nil, err
	}
	return f, nil
}

// outputMimeType guesses from the extension, as the Files API does for uploads without a
// precise Content-Type.
func outputMimeType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
