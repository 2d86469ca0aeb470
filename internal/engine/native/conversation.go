package native

import (
	"encoding/json"
)

// conversation is the Messages API conversation of a session during a run.
type conversation struct {
	msgs []message
	// calls are the IDs of the tool calls of the last assistant message still to be
	// answered, in order; results are the tool_result blocks answered so far.
	calls   []string
	results []json.RawMessage
	// tokens is the size of the context at the last model reply (its input, cache and
	// output tokens), when the conversation had measured messages; compact.go estimates
	// the rest.
	tokens   int64
	measured int
}

// measure records the usage of a reply just appended.
func (c *conversation) measure(u usage) {
	c.tokens = u.Input + u.CacheRead + u.CacheCreation + u.Output
	c.measured = len(c.msgs)
}

// estimate is the number of tokens the conversation would take as a request now: the
// last measured size and about a token per 4 bytes of the messages added since.
func (c *conversation) estimate() int64 {
	n := 0
	for _, m := range c.msgs[min(c.measured, len(c.msgs)):] {
		for _, b := range m.Content {
			n += len(b)
		}
	}
	return c.tokens + int64(n/4)
}

// addUser appends blocks as a user message, merged into the last message when that is a
// user message already (the API wants roles to alternate).
func (c *conversation) addUser(blocks ...json.RawMessage) {
	if len(blocks) == 0 {
		return
	}
	if n := len(c.msgs); n > 0 && c.msgs[n-1].Role == "user" {
		c.msgs[n-1].Content = append(c.msgs[n-1].Content, blocks...)
		return
	}
	c.msgs = append(c.msgs, message{Role: "user", Content: blocks})
}

// open starts a tool round for the calls of the last assistant message.
func (c *conversation) open(calls []block) {
	c.calls, c.results = nil, nil
	for _, b := range calls {
		c.calls = append(c.calls, b.ID)
	}
}

// answer records a call's result; the last one adds the round's user message.
func (c *conversation) answer(id string, res toolResult) {
	c.results = append(c.results, mustJSON(map[string]any{
		"type": "tool_result", "tool_use_id": id, "content": json.RawMessage(res.content), "is_error": res.isError,
	}))
	if len(c.results) == len(c.calls) {
		c.addUser(c.results...)
		c.calls, c.results = nil, nil
	}
}

// settle answers the calls of an unfinished round with an error saying why, so that the
// saved conversation stays valid.
func (c *conversation) settle(why string) {
	for len(c.calls) > 0 {
		c.answer(c.calls[len(c.results)], textResult(why, true))
	}
}

// userContent converts a user.message's content blocks to Messages API blocks: text,
// and images and documents with inline or URL sources, pass through; a block the API
// cannot take (a Hangar file reference) becomes a note saying so.
func userContent(content json.RawMessage) []json.RawMessage {
	var blocks []json.RawMessage
	if json.Unmarshal(content, &blocks) != nil {
		return nil
	}
	out := make([]json.RawMessage, 0, len(blocks))
	for _, raw := range blocks {
		var b struct {
			Type   string `json:"type"`
			Source struct {
				Type   string `json:"type"`
				FileID string `json:"file_id"`
			} `json:"source"`
		}
		json.Unmarshal(raw, &b)
		switch {
		case b.Type == "text":
			out = append(out, raw)
		case (b.Type == "image" || b.Type == "document") && b.Source.Type != "file":
			out = append(out, raw)
		default:
			out = append(out, mustJSON(map[string]string{"type": "text", "text": "[attachment " + b.Source.FileID + " (" + b.Type + ") is not available to the model]"}))
		}
	}
	return out
}
