package daytona

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// command is one command started in a process session of its own.
type command struct {
	s              *Sandbox
	session, cmdID string
}

// command creates a session and starts line in it asynchronously.
func (s *Sandbox) command(ctx context.Context, line string) (*command, error) {
	sid := "hangar-" + hangar.NewID("")
	if err := s.toolbox.JSON(ctx, http.MethodPost, "/process/session", nil, map[string]string{"sessionId": sid}, nil); err != nil {
		return nil, err
	}
	var resp struct {
		CmdID string `json:"cmdId"`
	}
	if err := s.toolbox.JSON(ctx, http.MethodPost, "/process/session/"+sid+"/exec", nil,
		map[string]any{"command": line, "runAsync": true}, &resp); err != nil {
		s.deleteSession(sid)
		return nil, err
	}
	return &command{s: s, session: sid, cmdID: resp.CmdID}, nil
}

func (c *command) path(suffix string) string {
	return "/process/session/" + c.session + "/command/" + c.cmdID + suffix
}

// close deletes the command's session (best effort: it ends with the sandbox anyway).
func (c *command) close() { c.s.deleteSession(c.session) }

func (s *Sandbox) deleteSession(sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	s.toolbox.JSON(ctx, http.MethodDelete, "/process/session/"+sid, nil, nil, nil)
}

func (c *command) terminate() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := c.s.toolbox.JSON(ctx, http.MethodPost, c.path("/terminate"), nil, nil, nil)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	return err
}

// Output markers: the daemon prefixes stdout and stderr chunks of a command's log
// with these 3-byte sequences. Logs without markers are stdout.
var (
	stdoutMarker = []byte{1, 1, 1}
	stderrMarker = []byte{2, 2, 2}
)

// logs follows the command's log over the websocket the daemon serves at /logs with
// follow=true, until the daemon closes it (the command has exited).
func (c *command) logs(ctx context.Context, stdout, stderr io.Writer) error {
	req, err := c.s.toolbox.Request(ctx, http.MethodGet, c.path("/logs"), map[string][]string{"follow": {"true"}}, "", nil)
	if err != nil {
		return err
	}
	u := *req.URL
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPHeader: req.Header, HTTPClient: c.s.toolbox.HTTP})
	if err != nil {
		if resp != nil && resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusSwitchingProtocols {
			return cloud.StatusError("daytona toolbox", "follow command logs", resp)
		}
		return &hangar.Error{Kind: hangar.KindUnavailable, Message: "daytona: follow command logs", Err: err}
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)
	d := &demux{out: stdout, err: stderr}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			d.flush()
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil
			}
			return fmt.Errorf("daytona: command logs: %w", err)
		}
		d.write(msg)
	}
}

// exitCode reads the command's exit code, polling while the daemon has not recorded it
// yet (the log can end a moment before the exit code file is written).
func (c *command) exitCode(ctx context.Context) (int, error) {
	var t *time.Ticker
	for {
		var resp struct {
			ExitCode *int `json:"exitCode"`
		}
		if err := c.s.toolbox.JSON(ctx, http.MethodGet, c.path(""), nil, nil, &resp); err != nil {
			return -1, err
		}
		if resp.ExitCode != nil {
			return *resp.ExitCode, nil
		}
		if t == nil {
			t = time.NewTicker(c.s.p.cfg.PollInterval)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-t.C:
		}
	}
}

// demux splits the daemon's marked log into stdout and stderr; a marker split across
// two messages is held back until the next one.
type demux struct {
	out, err io.Writer
	toErr    bool
	pending  []byte
}

func (d *demux) write(b []byte) {
	buf := append(d.pending, b...)
	d.pending = nil
	for len(buf) > 0 {
		i, j := bytes.Index(buf, stdoutMarker), bytes.Index(buf, stderrMarker)
		next, toErr := i, false
		if next < 0 || (j >= 0 && j < next) {
			next, toErr = j, true
		}
		if next < 0 {
			// Hold back a trailing partial marker.
			keep := 0
			for k := 1; k < 3 && k <= len(buf); k++ {
				tail := buf[len(buf)-k:]
				if bytes.HasPrefix(stdoutMarker, tail) || bytes.HasPrefix(stderrMarker, tail) {
					keep = k
				}
			}
			d.emit(buf[:len(buf)-keep])
			d.pending = append([]byte(nil), buf[len(buf)-keep:]...)
			return
		}
		d.emit(buf[:next])
		d.toErr = toErr
		buf = buf[next+3:]
	}
}

func (d *demux) flush() {
	d.emit(d.pending)
	d.pending = nil
}

func (d *demux) emit(b []byte) {
	if len(b) == 0 {
		return
	}
	if d.toErr {
		d.err.Write(b)
	} else {
		d.out.Write(b)
	}
}
