package e2b_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// fakeE2B is a protocol fake of E2B: the control plane (X-API-Key; POST /sandboxes,
// GET/DELETE /sandboxes/{id}, pause, connect; errors as {"code","message"}) and envd
// (routed by the E2b-Sandbox-Id header as in E2B_SANDBOX_URL mode; X-Access-Token;
// Connect JSON process service; /files), running commands for real in a host directory.
type fakeE2B struct {
	t   *testing.T
	key string
	dir string
	srv *httptest.Server

	mu        sync.Mutex
	sandboxes map[string]*fakeSandbox
	created   []map[string]any // request bodies of POST /sandboxes
	timeouts  int              // POST /sandboxes/{id}/timeout calls

	// Template builds (fakebuild_test.go): image prepares the files of the base
	// template (nil: none), path is the PATH of RUN steps.
	image     func(*cloudtest.Box) error
	path      string
	templates map[string]*fakeTemplate // by ID and by name
}

type fakeSandbox struct {
	id, token string
	paused    bool
	box       *cloudtest.Box
	mu        sync.Mutex
	procs     map[uint32]*cloudtest.Cmd
}

func newFakeE2B(t *testing.T) *fakeE2B {
	f := &fakeE2B{t: t, key: "e2b_test_key", dir: t.TempDir(), sandboxes: map[string]*fakeSandbox{}, templates: map[string]*fakeTemplate{}}
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

// apiError is the control plane's and envd's REST error body.
func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"code": code, "message": msg})
}

func (f *fakeE2B) serve(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("E2b-Sandbox-Id"); id != "" {
		f.serveEnvd(w, r, id)
		return
	}
	if r.Header.Get("X-API-Key") != f.key {
		apiError(w, http.StatusUnauthorized, "Invalid API key")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if f.serveTemplates(w, r, parts) {
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/sandboxes":
		f.mu.Lock()
		list := []map[string]any{}
		for _, sb := range f.sandboxes {
			list = append(list, sb.json("base"))
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, list)
		return
	case r.Method == http.MethodPost && r.URL.Path == "/sandboxes":
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["templateID"] == "" {
			apiError(w, http.StatusBadRequest, "invalid body")
			return
		}
		box, err := f.templateBox(body["templateID"])
		if errors.Is(err, errNoTemplate) {
			apiError(w, http.StatusNotFound, fmt.Sprintf("template '%v' not found", body["templateID"]))
			return
		}
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		sb := &fakeSandbox{id: "i" + randHex(8), token: randHex(16), box: box, procs: map[uint32]*cloudtest.Cmd{}}
		f.mu.Lock()
		f.sandboxes[sb.id] = sb
		f.created = append(f.created, body)
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, sb.json(body["templateID"]))
		return
	case len(parts) >= 2 && parts[0] == "sandboxes":
		f.mu.Lock()
		sb := f.sandboxes[parts[1]]
		f.mu.Unlock()
		if sb == nil {
			apiError(w, http.StatusNotFound, fmt.Sprintf("sandbox %q not found", parts[1]))
			return
		}
		switch {
		case len(parts) == 2 && r.Method == http.MethodGet:
			writeJSON(w, http.StatusOK, sb.json("base"))
		case len(parts) == 2 && r.Method == http.MethodDelete:
			f.mu.Lock()
			delete(f.sandboxes, sb.id)
			f.mu.Unlock()
			sb.box.Remove()
			w.WriteHeader(http.StatusNoContent)
		case len(parts) == 3 && parts[2] == "pause" && r.Method == http.MethodPost:
			sb.mu.Lock()
			was := sb.paused
			sb.paused = true
			sb.mu.Unlock()
			if was {
				apiError(w, http.StatusConflict, "sandbox is already paused")
				return
			}
			sb.box.KillAll() // a paused sandbox's processes do not outlive a resume here
			w.WriteHeader(http.StatusNoContent)
		case len(parts) == 3 && parts[2] == "timeout" && r.Method == http.MethodPost:
			var body struct {
				Timeout int `json:"timeout"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Timeout <= 0 {
				apiError(w, http.StatusBadRequest, "timeout is required")
				return
			}
			f.mu.Lock()
			f.timeouts++
			f.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		case len(parts) == 3 && parts[2] == "connect" && r.Method == http.MethodPost:
			sb.mu.Lock()
			was := sb.paused
			sb.paused = false
			sb.mu.Unlock()
			code := http.StatusOK
			if was {
				code = http.StatusCreated // resumed
			}
			writeJSON(w, code, sb.json("base"))
		default:
			apiError(w, http.StatusNotFound, "no route")
		}
		return
	}
	apiError(w, http.StatusNotFound, "no route")
}

func (sb *fakeSandbox) json(template any) map[string]any {
	state := "running"
	if sb.paused {
		state = "paused"
	}
	return map[string]any{"sandboxID": sb.id, "templateID": template, "clientID": "fake", "envdVersion": "0.4.0",
		"envdAccessToken": sb.token, "domain": "e2b.invalid", "state": state}
}

func (f *fakeE2B) serveEnvd(w http.ResponseWriter, r *http.Request, id string) {
	f.mu.Lock()
	sb := f.sandboxes[id]
	f.mu.Unlock()
	if sb != nil {
		sb.mu.Lock()
		if sb.paused {
			sb = nil
		}
		if sb != nil {
			sb.mu.Unlock()
		}
	}
	if sb == nil || r.Header.Get("E2b-Sandbox-Port") != "49983" {
		// E2B's sandbox proxy answers 502 for a sandbox it cannot route to.
		apiError(w, http.StatusBadGateway, "The sandbox "+id+" was not found")
		return
	}
	if r.Header.Get("X-Access-Token") != sb.token {
		apiError(w, http.StatusUnauthorized, "invalid access token")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		apiError(w, http.StatusUnauthorized, "missing user")
		return
	}
	switch r.URL.Path {
	case "/files":
		p := r.URL.Query().Get("path")
		if r.Method == http.MethodGet {
			data, err := sb.box.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				apiError(w, http.StatusNotFound, "path not found: "+p)
				return
			} else if err != nil {
				apiError(w, http.StatusBadRequest, err.Error())
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(data)
			return
		}
		file, _, err := r.FormFile("file")
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		data, _ := io.ReadAll(file)
		if err := sb.box.WriteFile(p, data, 0o644); err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, []map[string]string{{"name": p, "type": "file", "path": p}})
	case "/process.Process/Start":
		f.start(w, r, sb)
	case "/process.Process/SendInput", "/process.Process/CloseStdin", "/process.Process/SendSignal":
		f.unary(w, r, sb)
	default:
		apiError(w, http.StatusNotFound, "no route")
	}
}

// connectError is a Connect unary error.
func connectError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (f *fakeE2B) unary(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	if r.Header.Get("Content-Type") != "application/json" {
		connectError(w, http.StatusUnsupportedMediaType, "unknown", "content-type")
		return
	}
	var req struct {
		Process struct {
			PID uint32 `json:"pid"`
		} `json:"process"`
		Input struct {
			Stdin []byte `json:"stdin"`
		} `json:"input"`
		Signal string `json:"signal"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		connectError(w, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	sb.mu.Lock()
	cmd := sb.procs[req.Process.PID]
	sb.mu.Unlock()
	if cmd == nil {
		connectError(w, http.StatusNotFound, "not_found", fmt.Sprintf("process with pid %d not found", req.Process.PID))
		return
	}
	var err error
	switch r.URL.Path {
	case "/process.Process/SendInput":
		_, err = cmd.Stdin.Write(req.Input.Stdin)
	case "/process.Process/CloseStdin":
		err = cmd.Stdin.Close()
	case "/process.Process/SendSignal":
		sig := map[string]syscall.Signal{"SIGNAL_SIGTERM": syscall.SIGTERM, "SIGNAL_SIGKILL": syscall.SIGKILL}[req.Signal]
		if sig == 0 {
			connectError(w, http.StatusBadRequest, "invalid_argument", "invalid signal")
			return
		}
		err = cmd.Signal(sig)
	}
	if err != nil {
		connectError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (f *fakeE2B) start(w http.ResponseWriter, r *http.Request, sb *fakeSandbox) {
	if r.Header.Get("Content-Type") != "application/connect+json" || r.Header.Get("Connect-Protocol-Version") != "1" {
		connectError(w, http.StatusUnsupportedMediaType, "unknown", "want application/connect+json")
		return
	}
	var hdr [5]byte
	if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
		connectError(w, http.StatusBadRequest, "invalid_argument", "no envelope")
		return
	}
	payload := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
	io.ReadFull(r.Body, payload)
	var req struct {
		Process struct {
			Cmd  string            `json:"cmd"`
			Args []string          `json:"args"`
			Envs map[string]string `json:"envs"`
			Cwd  string            `json:"cwd"`
		} `json:"process"`
		Stdin bool `json:"stdin"`
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		connectError(w, http.StatusBadRequest, "invalid_argument", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/connect+json")
	fl := w.(http.Flusher)
	var wmu sync.Mutex
	send := func(flags byte, v any) {
		b, _ := json.Marshal(v)
		var frame bytes.Buffer
		frame.WriteByte(flags)
		binary.Write(&frame, binary.BigEndian, uint32(len(b)))
		frame.Write(b)
		wmu.Lock()
		w.Write(frame.Bytes())
		fl.Flush()
		wmu.Unlock()
	}
	cmd, err := sb.box.StartIn(append([]string{req.Process.Cmd}, req.Process.Args...), req.Process.Cwd, req.Process.Envs)
	if err != nil {
		send(0x02, map[string]any{"error": map[string]string{"code": "invalid_argument", "message": err.Error()}})
		return
	}
	if !req.Stdin {
		cmd.Stdin.Close()
	}
	pid := uint32(cmd.Pid())
	sb.mu.Lock()
	sb.procs[pid] = cmd
	sb.mu.Unlock()
	defer func() {
		sb.mu.Lock()
		delete(sb.procs, pid)
		sb.mu.Unlock()
	}()
	send(0, map[string]any{"event": map[string]any{"start": map[string]any{"pid": pid}}})
	var wg sync.WaitGroup
	relay := func(rd io.Reader, stream string) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := rd.Read(buf)
			if n > 0 {
				send(0, map[string]any{"event": map[string]any{"data": map[string][]byte{stream: buf[:n]}}})
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go relay(cmd.Stdout, "stdout")
	go relay(cmd.Stderr, "stderr")
	wg.Wait()
	code := cmd.ExitCode()
	send(0, map[string]any{"event": map[string]any{"end": map[string]any{"exitCode": code, "exited": true, "status": fmt.Sprintf("exit status %d", code)}}})
	send(0x02, map[string]any{})
}
