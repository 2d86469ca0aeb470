package e2b

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hangar-dev/hangar"
)

// envd's process service speaks the Connect protocol with JSON payloads. Unary calls are
// plain JSON POSTs; server-streaming calls (Start) frame each message in an envelope of
// one flag byte and a big-endian uint32 length, and end with a flagged end-of-stream
// message carrying the error, if any.
const (
	connectVersion  = "1"
	flagEndOfStream = 0x02
	maxFrame        = 16 << 20
	// keepaliveSeconds asks envd to send keepalive events on idle streams, so that
	// proxies do not cut a long silent command.
	keepaliveSeconds = "50"
)

// processSelector is process.ProcessSelector.
type processSelector struct {
	PID uint32 `json:"pid"`
}

// processConfig is process.ProcessConfig.
type processConfig struct {
	Cmd  string            `json:"cmd"`
	Args []string          `json:"args"`
	Envs map[string]string `json:"envs,omitempty"`
	Cwd  string            `json:"cwd,omitempty"`
}

type startRequest struct {
	Process processConfig `json:"process"`
	Stdin   bool          `json:"stdin"`
}

// processEvent is process.ProcessEvent (one of start, data, end, keepalive).
type processEvent struct {
	Start *struct {
		PID uint32 `json:"pid"`
	} `json:"start"`
	Data *struct {
		Stdout []byte `json:"stdout"` // protobuf bytes: base64 in JSON
		Stderr []byte `json:"stderr"`
	} `json:"data"`
	End *struct {
		ExitCode int    `json:"exitCode"`
		Exited   bool   `json:"exited"`
		Status   string `json:"status"`
		Error    string `json:"error"`
	} `json:"end"`
}

// eventStream reads the frames of a Start response.
type eventStream struct {
	body io.ReadCloser
	r    *bufio.Reader
}

// startProcess calls process.Process/Start and returns the event stream.
func (s *Sandbox) startProcess(ctx context.Context, req startRequest, user string) (*eventStream, error) {
	msg, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("e2b: encode start: %w", err)
	}
	var frame bytes.Buffer
	frame.WriteByte(0)
	binary.Write(&frame, binary.BigEndian, uint32(len(msg)))
	frame.Write(msg)
	hreq, err := s.envd.Request(ctx, http.MethodPost, "/process.Process/Start", nil, "application/connect+json", &frame)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Connect-Protocol-Version", connectVersion)
	hreq.Header.Set("Keepalive-Ping-Interval", keepaliveSeconds)
	if user != "" {
		hreq.Header.Set("Authorization", "Basic "+basicUser(user))
	}
	resp, err := s.envd.Send(hreq)
	if err != nil {
		return nil, s.gone(err)
	}
	return &eventStream{body: resp.Body, r: bufio.NewReader(resp.Body)}, nil
}

// next returns the next event; io.EOF after a clean end of stream.
func (e *eventStream) next() (processEvent, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(e.r, hdr[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // Connect streams end with an end-of-stream message
		}
		return processEvent{}, fmt.Errorf("e2b: process stream: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return processEvent{}, fmt.Errorf("e2b: process stream: frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(e.r, payload); err != nil {
		return processEvent{}, fmt.Errorf("e2b: process stream: %w", err)
	}
	if hdr[0]&flagEndOfStream != 0 {
		var end struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(payload, &end); err != nil {
			return processEvent{}, fmt.Errorf("e2b: process stream end: %w", err)
		}
		if end.Error != nil {
			return processEvent{}, connectError(end.Error.Code, end.Error.Message)
		}
		return processEvent{}, io.EOF
	}
	var msg struct {
		Event processEvent `json:"event"`
	}
	if err := json.Unmarshal(payload, &msg); err != nil {
		return processEvent{}, fmt.Errorf("e2b: process event: %w", err)
	}
	return msg.Event, nil
}

func (e *eventStream) close() { e.body.Close() }

// connectError classifies a Connect error code.
func connectError(code, msg string) error {
	kind := hangar.KindInternal
	switch code {
	case "not_found":
		kind = hangar.KindNotFound
	case "invalid_argument":
		kind = hangar.KindInvalidRequest
	case "unavailable", "deadline_exceeded":
		kind = hangar.KindUnavailable
	case "resource_exhausted":
		kind = hangar.KindRateLimit
	}
	return &hangar.Error{Kind: kind, Message: "e2b envd: " + code + ": " + msg}
}

// unary calls a unary method of the process service.
func (s *Sandbox) unary(ctx context.Context, method string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := s.envd.Request(ctx, http.MethodPost, "/process.Process/"+method, nil, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Connect-Protocol-Version", connectVersion)
	resp, err := s.envd.Send(req)
	if err != nil {
		return s.gone(err)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func basicUser(user string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":")) }
