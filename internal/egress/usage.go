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
//
// What usage looks like depends on the API:
//
//   - Anthropic: see above.
//   - OpenAI Responses: the response.completed (or .incomplete, .failed) event's
//     response.usage, or a JSON response's top-level usage: {input_tokens, output_tokens,
//     input_tokens_details.cached_tokens}. Chat Completions: a chunk's or the JSON
//     response's usage: {prompt_tokens, completion_tokens, prompt_tokens_details}.
//   - Gemini: usageMetadata {promptTokenCount, candidatesTokenCount, thoughtsTokenCount,
//     cachedContentTokenCount} on each streamed chunk (the last one wins) or on the JSON
//     response (a JSON array of chunks when streamed without alt=sse).
//
// OpenAI and Gemini count cached input inside their input totals; hangar.Usage, like the
// Anthropic API, does not, so cached tokens go to CacheReadInputTokens and are taken out
// of InputTokens. Reasoning ("thoughts") tokens count as output, as they are billed.

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
	api     api // the API whose stream this is (zero: Anthropic)
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
	if !ok {
		return
	}
	switch s.api {
	case apiOpenAI:
		if bytes.Contains(data, []byte(`"usage"`)) {
			s.acc.merge(openAIEventUsage(bytes.TrimSpace(data)))
		}
		return
	case apiGemini:
		if bytes.Contains(data, []byte(`"usageMetadata"`)) {
			s.acc.merge(geminiChunkUsage(bytes.TrimSpace(data)))
		}
		return
	}
	if !bytes.Contains(data, []byte(`"usage"`)) {
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
	api      api // the API whose response this is (zero: Anthropic)
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
	var acc usageAcc
	switch j.api {
	case apiOpenAI:
		acc.merge(openAIEventUsage(j.buf.Bytes()))
		return acc.result()
	case apiGemini:
		b := bytes.TrimSpace(j.buf.Bytes())
		if len(b) > 0 && b[0] == '[' {
			var chunks []json.RawMessage
			if json.Unmarshal(b, &chunks) != nil {
				return hangar.Usage{}, false
			}
			for _, c := range chunks {
				acc.merge(geminiChunkUsage(c))
			}
		} else {
			acc.merge(geminiChunkUsage(b))
		}
		return acc.result()
	}
	var v struct {
		Usage *apiUsage `json:"usage"`
	}
	if json.Unmarshal(j.buf.Bytes(), &v) != nil || v.Usage == nil {
		return hangar.Usage{}, false
	}
	acc.merge(v.Usage)
	return acc.result()
}

// openAIUsage is the usage object of the OpenAI Responses API (input_tokens…) or of
// Chat Completions (prompt_tokens…).
type openAIUsage struct {
	InputTokens        *int64 `json:"input_tokens"`
	OutputTokens       *int64 `json:"output_tokens"`
	InputTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	PromptTokens        *int64 `json:"prompt_tokens"`
	CompletionTokens    *int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// openAIEventUsage returns the usage of an OpenAI stream event or JSON response, or nil:
// a Responses event's response.usage (response.completed, .incomplete, .failed), or a
// top-level usage (a Responses or Chat Completions JSON response, the last chunk of a
// Chat Completions stream).
func openAIEventUsage(data []byte) *apiUsage {
	var v struct {
		Usage    *openAIUsage `json:"usage"`
		Response *struct {
			Usage *openAIUsage `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(data, &v) != nil {
		return nil
	}
	u := v.Usage
	if v.Response != nil && v.Response.Usage != nil {
		u = v.Response.Usage
	}
	if u == nil {
		return nil
	}
	in, out, cached := u.InputTokens, u.OutputTokens, int64(0)
	if u.InputTokensDetails != nil {
		cached = u.InputTokensDetails.CachedTokens
	}
	if in == nil && out == nil { // Chat Completions
		in, out = u.PromptTokens, u.CompletionTokens
		if u.PromptTokensDetails != nil {
			cached = u.PromptTokensDetails.CachedTokens
		}
	}
	if in == nil && out == nil {
		return nil
	}
	return splitCached(in, out, cached)
}

// geminiChunkUsage returns the usageMetadata of a Gemini response (or streamed chunk), or
// nil.
func geminiChunkUsage(data []byte) *apiUsage {
	var v struct {
		UsageMetadata *struct {
			PromptTokenCount        *int64 `json:"promptTokenCount"`
			CandidatesTokenCount    *int64 `json:"candidatesTokenCount"`
			ThoughtsTokenCount      int64  `json:"thoughtsTokenCount"`
			CachedContentTokenCount int64  `json:"cachedContentTokenCount"`
		} `json:"usageMetadata"`
	}
	if json.Unmarshal(data, &v) != nil || v.UsageMetadata == nil {
		return nil
	}
	m := v.UsageMetadata
	out := m.CandidatesTokenCount
	if m.ThoughtsTokenCount != 0 {
		o := m.ThoughtsTokenCount
		if out != nil {
			o += *out
		}
		out = &o
	}
	if m.PromptTokenCount == nil && out == nil {
		return nil
	}
	return splitCached(m.PromptTokenCount, out, m.CachedContentTokenCount)
}

// splitCached returns a usage whose input excludes the cached tokens the total input
// counted, which become cache reads.
func splitCached(in, out *int64, cached int64) *apiUsage {
	u := &apiUsage{OutputTokens: out}
	if in != nil {
		cached = min(max(cached, 0), *in)
		uncached := *in - cached
		u.InputTokens, u.CacheReadInputTokens = &uncached, &cached
	}
	return u
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
