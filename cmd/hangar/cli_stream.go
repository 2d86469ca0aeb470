package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// frame is one item of a session's event stream as chat sees it.
type frame struct {
	seq   int64
	event map[string]any
	// note is set instead of event when the stream dropped and is reconnecting.
	note string
	// err is set instead of event when the stream cannot go on.
	err error
}

// openStream opens the session's SSE stream after sequence number after (Hangar's
// Last-Event-ID resume), through the SDK so that auth and base URL are the same as for
// every other call.
func (c *cli) openStream(ctx context.Context, sessionID string, after int64) (*http.Response, error) {
	var resp *http.Response
	err := c.sdk.Execute(ctx, http.MethodGet, "v1/sessions/"+url.PathEscape(sessionID)+"/events/stream", nil, &resp,
		option.WithHeader("Accept", "text/event-stream"),
		option.WithHeader("Last-Event-ID", strconv.FormatInt(after, 10)),
		option.WithMaxRetries(0))
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// streamEvents sends the session's events after seq `after` to out until ctx ends,
// reconnecting with Last-Event-ID when the connection drops, so no event is lost or
// repeated. opened receives the outcome of the first connection.
func (c *cli) streamEvents(ctx context.Context, sessionID string, after int64, out chan<- frame, opened chan<- error) {
	send := func(f frame) bool {
		select {
		case out <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := 250 * time.Millisecond
	first := true
	for {
		resp, err := c.openStream(ctx, sessionID, after)
		if first {
			opened <- err
			first = false
			if err != nil {
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var apiErr *anthropic.Error
			if errors.As(err, &apiErr) && apiErr.StatusCode < 500 && apiErr.StatusCode != http.StatusTooManyRequests {
				send(frame{err: err}) // not found, auth: retrying will not help
				return
			}
		} else {
			backoff = 250 * time.Millisecond
			err = readFrames(resp, func(f frame) bool {
				if f.seq > 0 {
					after = f.seq
				}
				return send(f)
			})
			resp.Body.Close()
			if ctx.Err() != nil {
				return
			}
		}
		if !send(frame{note: "connection lost (" + errText(err) + "); reconnecting"}) {
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func errText(err error) string {
	if err == nil {
		return "stream ended"
	}
	return err.Error()
}

// readFrames parses server-sent events, calling fn for each event that carries JSON data
// (pings and comments are skipped) until the body ends or fn returns false.
func readFrames(resp *http.Response, fn func(frame) bool) error {
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var id, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data != "" {
				var ev map[string]any
				if jsonUnmarshal([]byte(data), &ev) == nil && ev["type"] != nil && ev["type"] != "ping" {
					seq, _ := strconv.ParseInt(id, 10, 64)
					if !fn(frame{seq: seq, event: ev}) {
						return nil
					}
				}
			}
			id, data = "", ""
		case strings.HasPrefix(line, ":"):
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "id":
				id = v
			case "data":
				if data != "" {
					data += "\n"
				}
				data += v
			}
		}
	}
}
