package daytona_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/coder/websocket"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// fakeDaytona is a protocol fake of Daytona's control plane (/sandbox; Bearer auth;
// NestJS error bodies {"statusCode","message","error"}) and of the toolbox API its
// daemon serves through the toolbox proxy (process sessions, async exec, logs followed
// over a websocket with 3-byte stdout/stderr markers, terminate, files). Command lines
// run for real with sh inside bubblewrap, the box's directory being their /.
type fakeDaytona struct {
	key string
	dir string
	srv *httptest.Server

	mu        sync.Mutex
	sandboxes map[string]*fakeSandbox
	created   []map[string]any

	// Snapshot builds (build_test.go): image prepares the files of a Dockerfile's FROM
	// image (nil: none), path is the PATH its RUN lines get.
	image     func(*cloudtest.Box) error
	path      string
	snapshots map[string]*fakeSnapshot // by name and by ID
}

type fakeSandbox struct {
	id, state string
	box       *cloudtest.Box
	sessions  map[string]map[string]*fakeCmd
}

type fakeCmd struct {
	id, line string
	cmd      *cloudtest.Cmd
	mu       sync.Mutex
	log      [][]byte // marked chunks
	changed  chan struct{}
	exitCode *int
}

func (c *fakeCmd) add(chunk []byte, exit *int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if chunk != nil {
		c.log = append(c.log, chunk)
	}
	if exit != nil {
		c.exitCode = exit
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func newFakeDaytona(t *testing.T) *fakeDaytona {
	f := &fakeDaytona{key: "dtn_test_key", dir: t.TempDir(), sandboxes: map[string]*fakeSandbox{}, snapshots: map[string]*fakeSnapshot{}}
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

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"statusCode": code, "message": msg, "error": http.StatusText(code)})
}

func (f *fakeDaytona) sandboxJSON(sb *fakeSandbox) map[string]any {
	return map[string]any{"id": sb.id, "state": sb.state, "user": "daytona", "target": "us",
		"toolboxProxyUrl": f.srv.URL + "/toolbox-proxy"}
}

func (f *fakeDaytona) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		apiError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "toolbox-proxy" && len(parts) >= 3 {
		f.serveToolbox(w, r, parts[1], strings.Join(parts[2:], "/"))
		return
	}
	if parts[0] == "snapshots" {
		f.serveSnapshots(w, r, parts[1:])
		return
	}
	if parts[0] != "sandbox" {
		apiError(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(parts) == 1 && r.Method == http.MethodGet {
		list := []map[string]any{}
		for _, sb := range f.sandboxes {
			list = append(list, f.sandboxJSON(sb))
		}
		writeJSON(w, http.StatusOK, list)
		return
	}
	if len(parts) == 1 && r.Method == http.MethodPost {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			apiError(w, http.StatusBadRequest, "invalid body")
			return
		}
		var box *cloudtest.Box
		var err error
		if name, _ := body["snapshot"].(string); f.snapshots[name] != nil {
			snap := f.snapshots[name]
			if snap.state != "active" {
				apiError(w, http.StatusBadRequest, "Snapshot "+name+" is "+snap.state)
				return
			}
			box, err = cloudtest.NewBoxFrom(f.dir, snap.root)
		} else if strings.HasPrefix(name, "hangar-env-") {
			apiError(w, http.StatusBadRequest, "Snapshot "+name+" not found. Did you add it through the Daytona Dashboard?")
			return
		} else {
			box, err = cloudtest.NewBox(f.dir)
		}
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		sb := &fakeSandbox{id: randHex(8) + "-" + randHex(4), state: "creating", box: box, sessions: map[string]map[string]*fakeCmd{}}
		f.sandboxes[sb.id] = sb
		f.created = append(f.created, body)
		writeJSON(w, http.StatusOK, f.sandboxJSON(sb))
		return
	}
	sb := f.sandboxes[parts[1]]
	if sb == nil {
		apiError(w, http.StatusNotFound, "Sandbox with ID "+parts[1]+" not found")
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		if sb.state == "creating" || sb.state == "starting" {
			sb.state = "started"
		}
		writeJSON(w, http.StatusOK, f.sandboxJSON(sb))
	case len(parts) == 2 && r.Method == http.MethodDelete:
		delete(f.sandboxes, sb.id)
		sb.box.Remove()
		writeJSON(w, http.StatusOK, f.sandboxJSON(sb))
	case len(parts) == 3 && parts[2] == "stop" && r.Method == http.MethodPost:
		if sb.state != "started" {
			apiError(w, http.StatusBadRequest, "Sandbox is not started")
			return
		}
		sb.box.KillAll()
		sb.sessions = map[string]map[string]*fakeCmd{}
		sb.state = "stopped"
		writeJSON(w, http.StatusOK, f.sandboxJSON(sb))
	case len(parts) == 3 && parts[2] == "start" && r.Method == http.MethodPost:
		if sb.state != "stopped" {
			apiError(w, http.StatusBadRequest, "Sandbox is not stopped")
			return
		}
		sb.state = "starting"
		writeJSON(w, http.StatusOK, f.sandboxJSON(sb))
	default:
		apiError(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
	}
}

func (f *fakeDaytona) serveToolbox(w http.ResponseWriter, r *http.Request, id, route string) {
	f.mu.Lock()
	sb := f.sandboxes[id]
	if sb == nil {
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, "Sandbox not found")
		return
	}
	if sb.state != "started" {
		f.mu.Unlock()
		apiError(w, http.StatusBadRequest, "Sandbox is not running")
		return
	}
	parts := strings.Split(route, "/")
	q := r.URL.Query()
	switch {
	case route == "process/session" && r.Method == http.MethodPost:
		var req struct {
			SessionID string `json:"sessionId"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.SessionID == "" || sb.sessions[req.SessionID] != nil {
			f.mu.Unlock()
			apiError(w, http.StatusConflict, "session already exists")
			return
		}
		sb.sessions[req.SessionID] = map[string]*fakeCmd{}
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	case len(parts) == 3 && parts[0] == "process" && parts[1] == "session" && r.Method == http.MethodDelete:
		cmds, ok := sb.sessions[parts[2]]
		delete(sb.sessions, parts[2])
		f.mu.Unlock()
		if !ok {
			apiError(w, http.StatusNotFound, "session not found")
			return
		}
		for _, c := range cmds {
			c.cmd.Signal(syscall.SIGKILL)
		}
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 4 && parts[3] == "exec" && r.Method == http.MethodPost:
		cmds := sb.sessions[parts[2]]
		if cmds == nil {
			f.mu.Unlock()
			apiError(w, http.StatusNotFound, "session not found")
			return
		}
		var req struct {
			Command  string `json:"command"`
			RunAsync bool   `json:"runAsync"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if strings.TrimSpace(req.Command) == "" || !req.RunAsync {
			f.mu.Unlock()
			apiError(w, http.StatusBadRequest, "command cannot be empty (and the fake only runs async)")
			return
		}
		cmd, err := sb.box.StartShell(req.Command, nil)
		if err != nil {
			f.mu.Unlock()
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		cmd.Stdin.Close()
		c := &fakeCmd{id: randHex(16), line: req.Command, cmd: cmd, changed: make(chan struct{})}
		cmds[c.id] = c
		f.mu.Unlock()
		go c.collect()
		writeJSON(w, http.StatusAccepted, map[string]any{"cmdId": c.id})
	case len(parts) >= 5 && parts[1] == "session" && parts[3] == "command":
		c := sb.sessions[parts[2]][parts[4]]
		f.mu.Unlock()
		if c == nil {
			apiError(w, http.StatusNotFound, "command not found")
			return
		}
		switch {
		case len(parts) == 5 && r.Method == http.MethodGet:
			c.mu.Lock()
			writeJSON(w, http.StatusOK, map[string]any{"id": c.id, "command": c.line, "exitCode": c.exitCode})
			c.mu.Unlock()
		case len(parts) == 6 && parts[5] == "logs" && r.Method == http.MethodGet:
			c.serveLogs(w, r)
		case len(parts) == 6 && parts[5] == "terminate" && r.Method == http.MethodPost:
			c.cmd.Signal(syscall.SIGKILL)
			w.WriteHeader(http.StatusNoContent)
		default:
			apiError(w, http.StatusNotFound, "no route")
		}
	case route == "files/folder" && r.Method == http.MethodPost:
		f.mu.Unlock()
		mode, _ := strconv.ParseUint(q.Get("mode"), 8, 32)
		if err := os.MkdirAll(sb.box.Path(q.Get("path")), fs.FileMode(mode)); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusCreated)
	case route == "files/upload" && r.Method == http.MethodPost:
		f.mu.Unlock()
		file, _, err := r.FormFile("file")
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		data, _ := io.ReadAll(file)
		if err := os.WriteFile(sb.box.Path(q.Get("path")), data, 0o644); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusOK)
	case route == "files/permissions" && r.Method == http.MethodPost:
		f.mu.Unlock()
		mode, err := strconv.ParseUint(q.Get("mode"), 8, 32)
		if err == nil {
			err = os.Chmod(sb.box.Path(q.Get("path")), fs.FileMode(mode))
		}
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusOK)
	case route == "files/download" && r.Method == http.MethodGet:
		f.mu.Unlock()
		data, err := sb.box.ReadFile(q.Get("path"))
		if errors.Is(err, fs.ErrNotExist) {
			apiError(w, http.StatusNotFound, "file not found")
			return
		} else if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	default:
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, "no route")
	}
}

func (c *fakeCmd) collect() {
	var wg sync.WaitGroup
	relay := func(r io.Reader, marker byte) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				c.add(append([]byte{marker, marker, marker}, buf[:n]...), nil)
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go relay(c.cmd.Stdout, 1)
	go relay(c.cmd.Stderr, 2)
	wg.Wait()
	code := c.cmd.ExitCode()
	c.add(nil, &code)
}

// serveLogs serves the log: over a websocket when the client asks for one (following it
// with follow=true until the command exits), else as plain text.
func (c *fakeCmd) serveLogs(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, chunk := range c.log {
			w.Write(chunk)
		}
		return
	}
	follow := r.URL.Query().Get("follow") == "true"
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	sent := 0
	for {
		c.mu.Lock()
		chunks, done, ch := c.log[sent:], c.exitCode != nil, c.changed
		c.mu.Unlock()
		for _, chunk := range chunks {
			if err := conn.Write(r.Context(), websocket.MessageText, chunk); err != nil {
				return
			}
		}
		sent += len(chunks)
		if done || !follow {
			conn.Close(websocket.StatusNormalClosure, "")
			return
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}
