package sprites_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
)

// fakeSprites is a protocol fake of the Sprites API (Bearer token; errors as
// {"error": "..."}): sprites, the exec websocket (binary frames: stream id byte +
// payload; session_info text message first), exec session kill, fs read/write and the
// network policy. Commands run for real under bubblewrap, the sprite's directory being
// their /.
type fakeSprites struct {
	token string
	dir   string
	srv   *httptest.Server

	mu       sync.Mutex
	sprites  map[string]*fakeSprite
	policies map[string]json.RawMessage
}

type fakeSprite struct {
	box      *cloudtest.Box
	sessions map[int]*cloudtest.Cmd
}

func newFakeSprites(t *testing.T) *fakeSprites {
	f := &fakeSprites{token: "sprites_test_token", dir: t.TempDir(), sprites: map[string]*fakeSprite{}, policies: map[string]json.RawMessage{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, sp := range f.sprites {
			sp.box.Remove()
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

func (f *fakeSprites) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		apiError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "v1" || parts[1] != "sprites" {
		apiError(w, http.StatusNotFound, "not found")
		return
	}
	if len(parts) == 2 && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"sprites": []any{}, "has_more": false})
		return
	}
	if len(parts) == 2 && r.Method == http.MethodPost {
		var req struct{ Name string }
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		defer f.mu.Unlock()
		if req.Name == "" || f.sprites[req.Name] != nil {
			apiError(w, http.StatusBadRequest, "invalid or duplicate name")
			return
		}
		box, err := cloudtest.NewBox(f.dir)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		f.sprites[req.Name] = &fakeSprite{box: box, sessions: map[int]*cloudtest.Cmd{}}
		writeJSON(w, http.StatusCreated, map[string]any{"id": "spr_" + req.Name, "name": req.Name, "status": "cold",
			"url": "https://" + req.Name + ".sprites.app", "created_at": time.Now().Format(time.RFC3339)})
		return
	}
	name := parts[2]
	f.mu.Lock()
	sp := f.sprites[name]
	f.mu.Unlock()
	if sp == nil {
		apiError(w, http.StatusNotFound, "sprite not found")
		return
	}
	q := r.URL.Query()
	rest := strings.Join(parts[3:], "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "status": "warm"})
	case rest == "" && r.Method == http.MethodDelete:
		f.mu.Lock()
		delete(f.sprites, name)
		f.mu.Unlock()
		sp.box.Remove()
		w.WriteHeader(http.StatusNoContent)
	case rest == "policy/network" && r.Method == http.MethodPost:
		var body json.RawMessage
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.policies[name] = body
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	case rest == "exec":
		f.exec(w, r, sp)
	case len(parts) == 6 && parts[3] == "exec" && parts[5] == "kill" && r.Method == http.MethodPost:
		id, _ := strconv.Atoi(parts[4])
		f.mu.Lock()
		cmd := sp.sessions[id]
		f.mu.Unlock()
		if cmd == nil {
			apiError(w, http.StatusNotFound, "session not found")
			return
		}
		sig := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL, "": syscall.SIGTERM}[q.Get("signal")]
		if sig == 0 {
			apiError(w, http.StatusBadRequest, "invalid signal")
			return
		}
		cmd.Signal(sig)
		writeJSON(w, http.StatusOK, map[string]string{"type": "complete"})
	case rest == "fs/write" && r.Method == http.MethodPut:
		p := path.Join(q.Get("workingDir"), q.Get("path"))
		mode, err := strconv.ParseUint(q.Get("mode"), 8, 32)
		if err != nil {
			mode = 0o644
		}
		if q.Get("mkdirParents") != "true" {
			if _, err := os.Stat(path.Dir(sp.box.Path(p))); err != nil {
				apiError(w, http.StatusBadRequest, "parent directory does not exist")
				return
			}
		}
		data, _ := io.ReadAll(r.Body)
		if err := sp.box.WriteFile(p, data, fs.FileMode(mode)); err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"path": p, "size": len(data)})
	case rest == "fs/read" && r.Method == http.MethodGet:
		data, err := sp.box.ReadFile(path.Join(q.Get("workingDir"), q.Get("path")))
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
		apiError(w, http.StatusNotFound, "not found")
	}
}

func (f *fakeSprites) exec(w http.ResponseWriter, r *http.Request, sp *fakeSprite) {
	q := r.URL.Query()
	args := q["cmd"]
	if len(args) == 0 {
		apiError(w, http.StatusBadRequest, "cmd is required")
		return
	}
	var env map[string]string
	if vars, ok := q["env"]; ok {
		env = map[string]string{}
		for _, kv := range vars {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	cmd, err := sp.box.StartIn(args, q.Get("dir"), env)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if q.Get("stdin") != "true" {
		cmd.Stdin.Close()
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		cmd.Signal(syscall.SIGKILL)
		return
	}
	defer conn.CloseNow()
	pid := cmd.Pid()
	f.mu.Lock()
	sp.sessions[pid] = cmd
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(sp.sessions, pid)
		f.mu.Unlock()
	}()
	ctx := context.Background()
	var wmu sync.Mutex
	send := func(typ websocket.MessageType, b []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		conn.Write(ctx, typ, b)
	}
	info, _ := json.Marshal(map[string]any{"type": "session_info", "session_id": pid, "command": args[0],
		"created": time.Now().Unix(), "is_owner": true, "tty": false})
	send(websocket.MessageText, info)
	go func() { // client frames: stdin and stdin EOF
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				return
			}
			switch {
			case len(msg) > 0 && msg[0] == 0:
				cmd.Stdin.Write(msg[1:])
			case len(msg) == 1 && msg[0] == 4:
				cmd.Stdin.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	relay := func(rd io.Reader, id byte) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := rd.Read(buf)
			if n > 0 {
				send(websocket.MessageBinary, append([]byte{id}, buf[:n]...))
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go relay(cmd.Stdout, 1)
	go relay(cmd.Stderr, 2)
	wg.Wait()
	send(websocket.MessageBinary, []byte{3, byte(cmd.ExitCode())})
	conn.Close(websocket.StatusNormalClosure, "")
}
