package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
)

// frame is one server-sent event of the remote session stream.
type frame struct {
	id    string // the SSE id: line; Hangar numbers frames, Anthropic does not
	event string
	data  []byte
	// replayed marks an event recovered by listing after a reconnect, not seen live.
	replayed bool
}

// stream is an open remote session stream.
type stream struct {
	resp *http.Response
	r    *bufio.Reader
}

// openStream opens GET /v1/sessions/{id}/events/stream. lastID, when set, is sent as
// Last-Event-ID: a Hangar remote replays what followed it; Anthropic ignores it.
func (c *client) openStream(ctx context.Context, sessionID, lastID string) (*stream, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/sessions/"+url.PathEscape(sessionID)+"/events/stream", nil, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return &stream{resp: resp, r: bufio.NewReaderSize(resp.Body, 64<<10)}, nil
}

// next returns the next frame with data, skipping comments and frames without data.
func (s *stream) next() (frame, error) {
	var f frame
	var data [][]byte
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			return frame{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				f.data = bytes.Join(data, []byte("\n"))
				return f, nil
			}
			f, data = frame{}, nil
		case line[0] == ':':
			// A comment is a keep-alive: report it, so the reader knows the stream lives.
			return frame{event: "comment"}, nil
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "id":
				f.id = string(value)
			case "event":
				f.event = string(value)
			case "data":
				data = append(data, value)
			}
		}
	}
}

func (s *stream) close() { s.resp.Body.Close() }
