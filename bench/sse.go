package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// sseConn is one event stream on its own TCP connection. The request is written by hand
// and the response read with http.ReadResponse over a 4 KiB reader, so ten thousand idle
// streams cost the bench little more than their sockets.
type sseConn struct {
	conn net.Conn
	body io.ReadCloser // nil for a held (idle) stream
}

// frame is one dispatched SSE event.
type frame struct {
	ID    string
	Event string
	At    time.Time // when the blank line ending the frame was read
}

// dialSSE opens GET /v1/sessions/{id}/events/stream and waits for the response headers.
// With hold, the response reader is dropped once the headers are in: the stream stays
// open but nothing reads it (the kernel buffers the occasional ping).
func dialSSE(ctx context.Context, addr, key, sessionID string, timeout time.Duration, hold bool) (*sseConn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	path := "/v1/sessions/" + sessionID + "/events/stream"
	_ = conn.SetDeadline(time.Now().Add(timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nx-api-key: " + key +
		"\r\nanthropic-version: 2023-06-01\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write request: %w", err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		conn.Close()
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	_ = conn.SetDeadline(time.Time{})
	c := &sseConn{conn: conn}
	if !hold {
		c.body = resp.Body
	}
	return c, nil
}

// readFrames reads frames until the stream ends or fn returns false. Comments (": ping")
// are skipped; a frame is passed on when its blank line arrives. Only the id and event
// fields are kept: the data is not needed to time delivery.
func (c *sseConn) readFrames(fn func(frame) bool) error {
	if c.body == nil {
		return errors.New("stream is held, not read")
	}
	lr := bufio.NewReaderSize(c.body, 4096)
	var f frame
	var have bool
	for {
		line, err := lr.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A long data line: skip the rest of it.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.ReadSlice('\n')
			}
			have = true
			continue
		}
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if have {
				f.At = time.Now()
				if !fn(f) {
					return nil
				}
			}
			f, have = frame{}, false
		case line[0] == ':':
		default:
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(name) {
			case "id":
				f.ID = string(value)
			case "event":
				f.Event = string(value)
			}
			have = true
		}
	}
}

// alive reports whether a held stream is still open: a short read either times out (open,
// nothing to read), returns bytes (open, pings waiting) or fails (closed by the server).
func (c *sseConn) alive() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.conn.SetReadDeadline(time.Time{})
	var buf [512]byte
	for range 1000 { // drain what is buffered, then see whether EOF follows
		_, err := c.conn.Read(buf[:])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return true
		}
		if err != nil {
			return false
		}
	}
	return true
}

func (c *sseConn) close() { c.conn.Close() }
