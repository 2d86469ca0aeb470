package vercel_test

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// fakeVercel is a protocol fake of the Vercel Sandbox REST API (Bearer token, teamId
// query, errors as {"error": {"code", "message"}}), running commands for real in a host
// directory. Sandboxes start "pending" and run from their first GET, so Create's
// polling is exercised.
type fakeVercel struct {
	token, team string
	dir         string
	srv         *httptest.Server

	mu        sync.Mutex
	sandboxes map[string]*fakeSandbox
	created   []map[string]any

	// The runtime image, for environment builds: image prepares a new sandbox's files
	// (nil: none) and path is the PATH of commands that bring none ("": the box's).
	image     func(*cloudtest.Box) error
	path      string
	snapshots map[string]string // snapshot ID → its copy of the sandbox's files
}

type fakeSandbox struct {
	id     string
	status string
	box    *cloudtest.Box
	cmds   map[string]*fakeCmd
}

// fakeCmd is a command and its log, kept for GET /logs (which replays from the start).
type fakeCmd struct {
	id      string
	cmd     *cloudtest.Cmd
	mu      sync.Mutex
	lines   []map[string]string
	changed chan struct{}
	done    bool
	code    int
}

func (c *fakeCmd) add(line map[string]string, done bool, code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if line != nil {
		c.lines = append(c.lines, line)
	}
	if done {
		c.done, c.code = true, code
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func newFakeVercel(t *testing.T) *fakeVercel {
	f := &fakeVercel{token: "vercel_test_token", team: "team_test", dir: t.TempDir(), sandboxes: map[string]*fakeSandbox{}, snapshots: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, sb := range f.sandboxes {
			sb.box.Remove()
		}
	})
	return f
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (sb *fakeSandbox) json() map[string]any {
	now := time.Now().UnixMilli()
	return map[string]any{"id": sb.id, "memory": 2048, "vcpus": 1, "region": "iad1", "runtime": "node24", "timeout": 300000,
		"status": sb.status, "requestedAt": now, "createdAt": now, "updatedAt": now, "cwd": "/vercel/sandbox"}
}

func (c *fakeCmd) json(sandboxID string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var code any
	if c.done {
		code = c.code
	}
	return map[string]any{"command": map[string]any{"id": c.id, "name": "cmd", "args": []string{}, "cwd": "/",
		"sandboxId": sandboxID, "exitCode": code, "startedAt": time.Now().UnixMilli()}}
}

func (f *fakeVercel) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token || r.URL.Query().Get("teamId") != f.team {
		apiError(w, http.StatusForbidden, "forbidden", "Not authorized")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "v1" || parts[1] != "sandboxes" {
		apiError(w, http.StatusNotFound, "not_found", "no route")
		return
	}
	if len(parts) == 2 && r.Method == http.MethodGet {
		if r.URL.Query().Get("project") == "" {
			apiError(w, http.StatusBadRequest, "bad_request", "project is required")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"sandboxes": []any{}, "pagination": map[string]any{"count": 0, "next": nil, "prev": nil}})
		return
	}
	if len(parts) == 4 && parts[2] == "snapshots" && r.Method == http.MethodGet {
		f.serveSnapshot(w, parts[3])
		return
	}
	if len(parts) == 4 && parts[2] == "snapshots" && r.Method == http.MethodDelete {
		f.serveSnapshot(w, parts[3])
		f.dropSnapshot(parts[3])
		return
	}
	if len(parts) == 2 && r.Method == http.MethodPost {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["projectId"] == nil {
			apiError(w, http.StatusBadRequest, "bad_request", "projectId is required")
			return
		}
		box, err := f.newBox(body)
		var notFound *snapshotNotFound
		if errors.As(err, &notFound) {
			apiError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		if err != nil {
			apiError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		sb := &fakeSandbox{id: "sbx_" + randHex(8), status: "pending", box: box, cmds: map[string]*fakeCmd{}}
		f.mu.Lock()
		f.sandboxes[sb.id] = sb
		f.created = append(f.created, body)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"sandbox": sb.json(), "routes": []any{}})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[parts[2]]
	if sb == nil {
		apiError(w, http.StatusNotFound, "not_found", "Sandbox not found")
		return
	}
	rest := strings.Join(parts[3:], "/")
	if rest == "" && r.Method == http.MethodGet {
		if sb.status == "pending" {
			sb.status = "running"
		}
		writeJSON(w, http.StatusOK, map[string]any{"sandbox": sb.json(), "routes": []any{}})
		return
	}
	if rest == "stop" && r.Method == http.MethodPost {
		sb.status = "stopped"
		sb.box.KillAll()
		writeJSON(w, http.StatusOK, map[string]any{"sandbox": sb.json()})
		return
	}
	if sb.status != "running" {
		apiError(w, http.StatusGone, "sandbox_stopped", "Sandbox is "+sb.status)
		return
	}
	switch {
	case rest == "snapshot" && r.Method == http.MethodPost:
		f.snapshot(w, sb)
	case rest == "cmd" && r.Method == http.MethodPost:
		var req struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Cwd     string            `json:"cwd"`
			Env     map[string]string `json:"env"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Command == "" {
			apiError(w, http.StatusBadRequest, "bad_request", "command is required")
			return
		}
		if _, ok := req.Env["PATH"]; !ok && f.path != "" {
			if req.Env == nil {
				req.Env = map[string]string{}
			}
			req.Env["PATH"] = f.path
		}
		cmd, err := sb.box.StartIn(append([]string{req.Command}, req.Args...), req.Cwd, req.Env)
		if err != nil {
			apiError(w, http.StatusBadRequest, "command_failed", err.Error())
			return
		}
		cmd.Stdin.Close() // the API gives commands no stdin
		c := &fakeCmd{id: "cmd_" + randHex(8), cmd: cmd, changed: make(chan struct{})}
		sb.cmds[c.id] = c
		go c.collect()
		writeJSON(w, http.StatusOK, c.json(sb.id))
	case len(parts) == 6 && parts[3] == "cmd" && parts[5] == "logs" && r.Method == http.MethodGet:
		c := sb.cmds[parts[4]]
		if c == nil {
			apiError(w, http.StatusNotFound, "not_found", "Command not found")
			return
		}
		f.mu.Unlock()
		c.streamLogs(w)
		f.mu.Lock()
	case len(parts) == 5 && parts[3] == "cmd" && r.Method == http.MethodGet:
		c := sb.cmds[parts[4]]
		if c == nil {
			apiError(w, http.StatusNotFound, "not_found", "Command not found")
			return
		}
		if r.URL.Query().Get("wait") == "true" {
			f.mu.Unlock()
			<-c.cmd.Done()
			c.waitDone()
			f.mu.Lock()
		}
		writeJSON(w, http.StatusOK, c.json(sb.id))
	case len(parts) == 5 && parts[4] == "kill" && r.Method == http.MethodPost:
		c := sb.cmds[parts[3]]
		if c == nil {
			apiError(w, http.StatusNotFound, "not_found", "Command not found")
			return
		}
		var req struct {
			Signal int `json:"signal"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		c.cmd.Signal(syscall.Signal(req.Signal))
		writeJSON(w, http.StatusOK, c.json(sb.id))
	case rest == "fs/write" && r.Method == http.MethodPost:
		if r.Header.Get("Content-Type") != "application/gzip" {
			apiError(w, http.StatusBadRequest, "bad_request", "want application/gzip")
			return
		}
		if err := extract(sb.box, r.Header.Get("X-Cwd"), r.Body); err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	case rest == "fs/read" && r.Method == http.MethodPost:
		var req struct{ Path, Cwd string }
		json.NewDecoder(r.Body).Decode(&req)
		data, err := sb.box.ReadFile(path.Join("/", req.Cwd, req.Path))
		if errors.Is(err, fs.ErrNotExist) {
			apiError(w, http.StatusNotFound, "file_not_found", "File not found")
			return
		} else if err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	default:
		apiError(w, http.StatusNotFound, "not_found", "no route")
	}
}

// waitDone waits until collect recorded the exit.
func (c *fakeCmd) waitDone() {
	for {
		c.mu.Lock()
		done, ch := c.done, c.changed
		c.mu.Unlock()
		if done {
			return
		}
		<-ch
	}
}

func (c *fakeCmd) collect() {
	var wg sync.WaitGroup
	relay := func(r io.Reader, stream string) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				c.add(map[string]string{"stream": stream, "data": string(buf[:n])}, false, 0)
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go relay(c.cmd.Stdout, "stdout")
	go relay(c.cmd.Stderr, "stderr")
	wg.Wait()
	c.add(nil, true, c.cmd.ExitCode())
}

func (c *fakeCmd) streamLogs(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	fl := w.(http.Flusher)
	enc := json.NewEncoder(w)
	sent := 0
	for {
		c.mu.Lock()
		lines, done, ch := c.lines[sent:], c.done, c.changed
		c.mu.Unlock()
		for _, l := range lines {
			enc.Encode(l)
		}
		sent += len(lines)
		fl.Flush()
		if done {
			return
		}
		<-ch
	}
}

func extract(box *cloudtest.Box, cwd string, body io.Reader) error {
	gz, err := gzip.NewReader(body)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := box.WriteFile(path.Join("/", cwd, h.Name), data, fs.FileMode(h.Mode)); err != nil {
			return err
		}
	}
}

// Snapshots (environment builds), as the Vercel Sandbox API documents them: POST
// /v1/sandboxes/{id}/snapshot captures a running sandbox's filesystem and stops the
// sandbox; GET /v1/sandboxes/snapshots/{id} describes one; POST /v1/sandboxes with
// source {type: "snapshot", snapshotId} starts a sandbox from it.

type snapshotNotFound struct{ id string }

func (e *snapshotNotFound) Error() string { return "Snapshot " + e.id + " not found" }

// newBox makes a sandbox's files: a copy of the source snapshot, or the runtime image.
// Called with f.mu unlocked.
func (f *fakeVercel) newBox(body map[string]any) (*cloudtest.Box, error) {
	if src, ok := body["source"].(map[string]any); ok && src["type"] == "snapshot" {
		id, _ := src["snapshotId"].(string)
		f.mu.Lock()
		dir := f.snapshots[id]
		f.mu.Unlock()
		if dir == "" {
			return nil, &snapshotNotFound{id}
		}
		return cloudtest.NewBoxFrom(f.dir, dir)
	}
	box, err := cloudtest.NewBox(f.dir)
	if err == nil && f.image != nil {
		err = f.image(box)
	}
	return box, err
}

func snapshotJSON(id, sandboxID string) map[string]any {
	now := time.Now().UnixMilli()
	return map[string]any{"id": id, "sourceSandboxId": sandboxID, "region": "iad1", "status": "created", "sizeBytes": 4096,
		"createdAt": now, "updatedAt": now, "expiresAt": now + 30*24*3600*1000}
}

// snapshot is POST /v1/sandboxes/{id}/snapshot; f.mu is held.
func (f *fakeVercel) snapshot(w http.ResponseWriter, sb *fakeSandbox) {
	sb.box.KillAll()
	dir, err := cloudtest.SnapshotDir(f.dir)
	if err == nil {
		err = cloudtest.CopyRoot(dir, sb.box.Root)
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	id := "snap_" + randHex(8)
	f.snapshots[id] = dir
	sb.status = "stopped"
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotJSON(id, sb.id), "sandbox": sb.json()})
}

func (f *fakeVercel) serveSnapshot(w http.ResponseWriter, id string) {
	f.mu.Lock()
	dir := f.snapshots[id]
	f.mu.Unlock()
	if dir == "" {
		apiError(w, http.StatusNotFound, "not_found", "Snapshot not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotJSON(id, "")})
}

// dropSnapshot forgets a snapshot, as when it expires.
func (f *fakeVercel) dropSnapshot(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snapshots, id)
}

// withStubs makes the fake's runtime image carry the stub package managers.
func (f *fakeVercel) withStubs() *fakeVercel {
	f.image = cloudtest.InstallStubs
	f.path = cloudtest.StubPath
	return f
}
