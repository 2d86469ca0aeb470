package egress

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/hangar-dev/hangar"
)

// Usage is read from model responses as they stream past, without holding them back: the
// response body is wrapped in a reader that hands every chunk to the client unchanged and
// scans a copy of it. For text/event-stream responses each complete "data:" line that
// mentions usage is decoded (message_start carries the input and cache counts,
// message_delta the cumulative output count); for JSON responses the body is kept (up to
// maxJSONBody) and its top-level "usage" decoded at the end.

// maxSSELine bounds the partial line kept between reads; longer lines are skipped (usage
// lines are small).
const maxSSELine = 1 << 20

// maxJSONBody bounds how much of a JSON response is kept to find its usage.
const maxJSONBody = 8 << 20

// apiUsage is the usage object of the Messages API. Pointer fields tell a field that was
// sent from one that was not, since message_delta repeats only some of them.
type apiUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheCreation            *struct {
		Ephemeral5m *int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1h *int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
}

// usageAcc accumulates the usage of one response.
type usageAcc struct {
	seen bool
	u    hangar.Usage
	// creation is cache_creation_input_tokens, used when no TTL split was sent.
	creation int64
	split    bool
}

// merge applies a usage object: fields it carries replace the earlier values (the API
// reports cumulative counts).
func (a *usageAcc) merge(u *apiUsage) {
	if u == nil {
		return
	}
	a.seen = true
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.u.InputTokens, u.InputTokens)
	set(&a.u.OutputTokens, u.OutputTokens)
	set(&a.u.CacheReadInputTokens, u.CacheReadInputTokens)
	set(&a.creation, u.CacheCreationInputTokens)
	if c := u.CacheCreation; c != nil && (c.Ephemeral5m != nil || c.Ephemeral1h != nil) {
		a.split = true
		set(&a.u.CacheCreation.Ephemeral5mInputTokens, c.Ephemeral5m)
		set(&a.u.CacheCreation.Ephemeral1hInputTokens, c.Ephemeral1h)
	}
}

// result returns the usage; cache writes without a TTL split count as 5-minute writes
// (the API's default TTL).
func (a *usageAcc) result() (hangar.Usage, bool) {
	u := a.u
	if !a.split {
		u.CacheCreation.Ephemeral5mInputTokens = a.creation
	}
	return u, a.seen
}

// sseUsage scans a text/event-stream for usage.
type sseUsage struct {
	acc     usageAcc
	line    []byte
	skip    bool // the current line overflowed maxSSELine
	scratch struct {
		Type    string    `json:"type"`
		Usage   *apiUsage `json:"usage"`
		Message *struct {
			Usage *apiUsage `json:"usage"`
		} `json:"message"`
	}
}

func (s *sseUsage) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if !s.skip && len(s.line)+len(p) <= maxSSELine {
				s.line = append(s.line, p...)
			} else {
				s.skip, s.line = true, s.line[:0]
			}
			return
		}
		chunk := p[:i]
		p = p[i+1:]
		if s.skip {
			s.skip = false
			continue
		}
		if len(s.line) > 0 {
			s.line = append(s.line, chunk...)
			chunk = s.line
		}
		s.handleLine(chunk)
		s.line = s.line[:0]
	}
}

func (s *sseUsage) handleLine(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	data, ok := bytes.CutPrefix(line, []byte("data:"))
	if !ok || !bytes.Contains(data, []byte(`"usage"`)) {
		return
	}
	s.scratch.Type, s.scratch.Usage, s.scratch.Message = "", nil, nil
	if json.Unmarshal(bytes.TrimSpace(data), &s.scratch) != nil {
		return
	}
	switch s.scratch.Type {
	case "message_start":
		if s.scratch.Message != nil {
			s.acc.merge(s.scratch.Message.Usage)
		}
	case "message_delta":
		s.acc.merge(s.scratch.Usage)
	}
}

func (s *sseUsage) finish() (hangar.Usage, bool) {
	if len(s.line) > 0 && !s.skip {
		s.handleLine(s.line)
	}
	return s.acc.result()
}

// jsonUsage keeps a JSON response body to read its usage at the end.
type jsonUsage struct {
	buf      bytes.Buffer
	overflow bool
}

func (j *jsonUsage) write(p []byte) {
	if j.overflow {
		return
	}
	if j.buf.Len()+len(p) > maxJSONBody {
		j.overflow = true
		j.buf = bytes.Buffer{}
		return
	}
	j.buf.Write(p)
}

func (j *jsonUsage) finish() (hangar.Usage, bool) {
	if j.overflow {
		return hangar.Usage{}, false
	}
	var v struct {
		Usage *apiUsage `json:"usage"`
	}
	if json.Unmarshal(j.buf.Bytes(), &v) != nil || v.Usage == nil {
		return hangar.Usage{}, false
	}
	var acc usageAcc
	acc.merge(v.Usage)
	return acc.result()
}

// scanner is the usage parser of one response body.
type scanner interface {
	write(p []byte)
	finish() (hangar.Usage, bool)
}

// usageBody wraps a response body: reads pass through unchanged while scan sees a copy;
// at EOF or Close (whichever comes first) report gets the usage found, once.
type usageBody struct {
	rc     io.ReadCloser
	scan   scanner
	report func(hangar.Usage)
	count  func(int)
	once   sync.Once
}

func (b *usageBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.count(n)
		b.scan.write(p[:n])
	}
	if err == io.EOF {
		b.done()
	}
	return n, err
}

func (b *usageBody) Close() error {
	b.done()
	return b.rc.Close()
}

func (b *usageBody) done() {
	b.once.Do(func() {
		if u, ok := b.scan.finish(); ok && b.report != nil {
			b.report(u)
		}
	})
}
