package sprites

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Stream IDs of the exec websocket's binary frames: one byte, then the payload.
const (
	streamStdin    = 0
	streamStdout   = 1
	streamStderr   = 2
	streamExit     = 3 // payload: the exit code, one byte
	streamStdinEOF = 4
)

// execution is one command on the exec websocket.
type execution struct {
	s    *Sandbox
	conn *websocket.Conn
	proc *cloud.Proc

	wmu sync.Mutex // websocket writes

	mu      sync.Mutex
	session int // the exec session (the process's PID), from session_info; 0 until known
	known   chan struct{}
	once    sync.Once
}

// exec opens the exec websocket for args. env, when non-nil, is the whole environment
// of the command (the API replaces the default environment with it).
func (s *Sandbox) exec(ctx context.Context, args []string, dir string, env map[string]string) (*cloud.Proc, error) {
	q := url.Values{"cmd": args, "path": {args[0]}, "stdin": {"true"}}
	if dir != "" {
		q.Set("dir", dir)
	}
	if env != nil {
		if _, ok := env["PATH"]; !ok {
			env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		}
		for k, v := range env {
			q.Add("env", k+"="+v)
		}
	}
	u := strings.Replace(s.p.cfg.APIURL, "http", "ws", 1) + s.path("/exec") + "?" + q.Encode()
	conn, resp, err := websocket.Dial(context.WithoutCancel(ctx), u, &websocket.DialOptions{HTTPHeader: s.p.api.Header, HTTPClient: s.p.api.HTTP})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, cloud.StatusError("sprites", "exec", resp)
		}
		return nil, &hangar.Error{Kind: hangar.KindUnavailable, Message: "sprites: exec websocket", Err: err}
	}
	conn.SetReadLimit(16 << 20)
	x := &execution{s: s, conn: conn, known: make(chan struct{})}
	stdin := &cloud.StdinFunc{
		Send:   func(b []byte) error { return x.write(append([]byte{streamStdin}, b...)) },
		CloseF: func() error { return x.write([]byte{streamStdinEOF}) },
	}
	x.proc = cloud.NewProc(stdin, x.signal)
	s.mu.Lock()
	s.running[x] = true
	s.mu.Unlock()
	go x.read()
	go func() {
		select {
		case <-ctx.Done():
			x.signal(true)
		case <-x.proc.Done():
		}
	}()
	return x.proc, nil
}

func (x *execution) write(frame []byte) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	return x.conn.Write(ctx, websocket.MessageBinary, frame)
}

// read relays frames until the exit frame (or exit message) or the connection ends.
func (x *execution) read() {
	defer func() {
		x.s.mu.Lock()
		delete(x.s.running, x)
		x.s.mu.Unlock()
		x.conn.CloseNow()
		x.once.Do(func() { close(x.known) })
	}()
	for {
		typ, msg, err := x.conn.Read(context.Background())
		if err != nil {
			x.proc.Exit(-1, fmt.Errorf("sprites: exec stream ended without an exit code: %w", err))
			return
		}
		if typ == websocket.MessageText {
			var m struct {
				Type      string `json:"type"`
				SessionID int    `json:"session_id"`
				ExitCode  int    `json:"exit_code"`
			}
			if json.Unmarshal(msg, &m) != nil {
				continue
			}
			switch m.Type {
			case "session_info":
				x.mu.Lock()
				x.session = m.SessionID
				x.mu.Unlock()
				x.once.Do(func() { close(x.known) })
			case "exit":
				x.finish(m.ExitCode)
				return
			}
			continue
		}
		if len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case streamStdout:
			x.proc.StdoutWriter().Write(msg[1:])
		case streamStderr:
			x.proc.StderrWriter().Write(msg[1:])
		case streamExit:
			code := 0
			if len(msg) > 1 {
				code = int(msg[1])
			}
			x.finish(code)
			return
		}
	}
}

func (x *execution) finish(code int) {
	x.proc.Exit(code, nil)
	x.conn.Close(websocket.StatusNormalClosure, "")
}

// signal kills the exec session through the API (POST /exec/{session}/kill).
func (x *execution) signal(kill bool) error {
	select {
	case <-x.known:
	case <-x.proc.Done():
		return nil
	}
	x.mu.Lock()
	session := x.session
	x.mu.Unlock()
	if session == 0 {
		return errors.New("sprites: exec session id unknown: cannot signal")
	}
	sig := "SIGTERM"
	if kill {
		sig = "SIGKILL"
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := x.s.p.api.JSON(ctx, http.MethodPost, x.s.path(fmt.Sprintf("/exec/%d/kill", session)), url.Values{"signal": {sig}}, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}
