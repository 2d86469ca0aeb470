package fly_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// fakeFly is a protocol fake of the Fly Machines API (Bearer token; errors as
// {"error": "..."}): machines in one app, wait (answering 408 once per start, as when
// its timeout passes, so the client's retry runs), exec (request/response, HTTP 200
// whatever the exit code), suspend, start, force destroy. Exec runs commands for real
// under bubblewrap, the machine's directory being their /.
type fakeFly struct {
	token, app string
	dir        string
	srv        *httptest.Server

	mu       sync.Mutex
	machines map[string]*fakeMachine
	created  []map[string]any
}

type fakeMachine struct {
	id, state string
	waited    bool
	box       *cloudtest.Box
}

func newFakeFly(t *testing.T) *fakeFly {
	f := &fakeFly{token: "fly_test_token", app: "hangar-test", dir: t.TempDir(), machines: map[string]*fakeMachine{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, m := range f.machines {
			m.box.Remove()
		}
	})
	return f
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (m *fakeMachine) json() map[string]any {
	return map[string]any{"id": m.id, "name": "m-" + m.id, "state": m.state, "region": "iad", "instance_id": "01" + m.id}
}

func (f *fakeFly) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		apiError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 3 && parts[0] == "v1" && parts[1] == "apps" && r.Method == http.MethodGet {
		if parts[2] != f.app {
			apiError(w, http.StatusNotFound, "app not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": f.app, "organization": map[string]string{"slug": "personal"}, "status": "deployed"})
		return
	}
	if len(parts) < 4 || parts[0] != "v1" || parts[1] != "apps" || parts[3] != "machines" {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	if parts[2] != f.app {
		apiError(w, http.StatusNotFound, "app not found")
		return
	}
	f.mu.Lock()
	if len(parts) == 4 && r.Method == http.MethodPost {
		defer f.mu.Unlock()
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["config"] == nil {
			apiError(w, http.StatusBadRequest, "config is required")
			return
		}
		box, err := cloudtest.NewBox(f.dir)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		b := make([]byte, 7)
		rand.Read(b)
		m := &fakeMachine{id: hex.EncodeToString(b), state: "created", box: box}
		f.machines[m.id] = m
		f.created = append(f.created, body)
		writeJSON(w, http.StatusOK, m.json())
		return
	}
	m := f.machines[parts[4]]
	if m == nil {
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, "machine not found")
		return
	}
	rest := strings.Join(parts[5:], "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, m.json())
	case rest == "" && r.Method == http.MethodDelete:
		defer f.mu.Unlock()
		if m.state == "started" && r.URL.Query().Get("force") != "true" {
			apiError(w, http.StatusPreconditionFailed, "machine is running; use force")
			return
		}
		delete(f.machines, m.id)
		m.box.Remove()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case rest == "wait" && r.Method == http.MethodGet:
		defer f.mu.Unlock()
		if r.URL.Query().Get("state") != "started" {
			apiError(w, http.StatusBadRequest, "fake waits for started only")
			return
		}
		if !m.waited {
			m.waited = true
			apiError(w, http.StatusRequestTimeout, "deadline_exceeded: timeout waiting for machine to be started")
			return
		}
		m.state = "started"
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case rest == "suspend" && r.Method == http.MethodPost:
		defer f.mu.Unlock()
		m.box.KillAll()
		m.state = "suspended"
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case rest == "start" && r.Method == http.MethodPost:
		defer f.mu.Unlock()
		m.state, m.waited = "starting", false
		writeJSON(w, http.StatusOK, map[string]string{"previous_state": "suspended"})
	case rest == "exec" && r.Method == http.MethodPost:
		state := m.state
		f.mu.Unlock()
		if state != "started" {
			apiError(w, http.StatusPreconditionFailed, "machine is "+state)
			return
		}
		var req struct {
			Command []string `json:"command"`
			Timeout int      `json:"timeout"`
			Stdin   string   `json:"stdin"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Command) == 0 {
			apiError(w, http.StatusBadRequest, "command is required")
			return
		}
		cmd, err := m.box.StartIn(req.Command, "/", nil)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		go func() {
			io.WriteString(cmd.Stdin, req.Stdin)
			cmd.Stdin.Close()
		}()
		var out, errOut []byte
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); out, _ = io.ReadAll(cmd.Stdout) }()
		go func() { defer wg.Done(); errOut, _ = io.ReadAll(cmd.Stderr) }()
		wg.Wait()
		writeJSON(w, http.StatusOK, map[string]any{"exit_code": cmd.ExitCode(), "stdout": string(out), "stderr": string(errOut)})
	default:
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, "not found")
	}
}
