package native

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// run is one turn: model requests and tool rounds until the model ends its turn.
type run struct {
	e       *Engine
	spec    engine.Spec
	client  *client
	tools   toolset
	sandbox *sandboxTools // nil: no sandbox (delegated, or calls fail)
	cancel  context.CancelFunc
	log     *slog.Logger

	events chan engine.Event
	inputs chan engine.Input
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	err    error

	mu sync.Mutex
	// pending maps the engine-local ID of each event awaiting the client to the input type
	// that answers it; thenResult holds the IDs of delegated calls whose confirmation,
	// once allowed, is followed by the worker's user.tool_result.
	pending    map[string]string
	thenResult map[string]bool
	nextID     int

	// span is the open model request span ("" when none).
	span string
	// server maps the API IDs of server tool calls (web_search, web_fetch) of the current
	// reply to their engine-local IDs.
	server map[string]string

	// mcp maps the model's names of MCP tools to their servers (mcp.go); mcpClients are
	// the run's connected servers.
	mcp        map[string]*mcpBinding
	mcpClients []*mcpClient

	// compactions counts the turn's compactions (compact.go).
	compactions int
}

// errStopped ends the loop when the run is interrupted or cancelled.
var errStopped = errors.New("native: stopped")

func (r *run) Events() <-chan engine.Event { return r.events }

// Send implements engine.Run. An allowed confirmation of a delegated call registers the
// call's result as awaited at once, because the worker may post it right after.
func (r *run) Send(ctx context.Context, in engine.Input) error {
	r.mu.Lock()
	want, ok := r.pending[in.ToolUseID]
	if ok && want == in.Type {
		delete(r.pending, in.ToolUseID)
		if in.Type == hangar.EventUserToolConfirmation && in.Allow && r.thenResult[in.ToolUseID] {
			r.pending[in.ToolUseID] = hangar.EventUserToolResult
		}
		delete(r.thenResult, in.ToolUseID)
	}
	r.mu.Unlock()
	if !ok || want != in.Type {
		return hangar.Errorf(hangar.KindInvalidRequest, "native: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
	}
	select {
	case r.inputs <- in:
		return nil
	case <-r.done:
		return errors.New("native: run ended")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *run) Interrupt(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	return nil
}

func (r *run) Wait() error {
	<-r.done
	return r.err
}

func (r *run) id(kind string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	return fmt.Sprintf("%s_%d", kind, r.nextID)
}

func (r *run) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// emit sends ev unless the run is stopping.
func (r *run) emit(ctx context.Context, ev engine.Event) error {
	if r.stopped() || ctx.Err() != nil {
		return errStopped
	}
	select {
	case r.events <- ev:
		return nil
	case <-r.stop:
		return errStopped
	case <-ctx.Done():
		return errStopped
	}
}

// emitFinal sends ev even when the run is stopping (closing events of an interrupted run).
func (r *run) emitFinal(ctx context.Context, ev engine.Event) {
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
}

// main runs the turn and saves the conversation: whole after a completed turn; after an
// interrupt, up to the interrupted reply, with the calls left unanswered answered as
// interrupted so the conversation stays valid. A failed turn is not saved: the next turn
// starts from the conversation as it was before it.
func (r *run) main(ctx context.Context) error {
	sess := r.spec.Session
	msgs, lost, err := r.e.transcripts.load(sess.ID, r.spec.Resume) // transcript.go
	if err != nil {
		return &engine.Error{Type: "unknown_error", Message: "the conversation of the session could not be loaded", Err: err}
	}
	if lost {
		r.log.Warn("the conversation of the resume token is not available; starting it over", "resume_bytes", len(r.spec.Resume))
	}
	conv := &conversation{msgs: msgs.Messages, tokens: msgs.ContextTokens, measured: len(msgs.Messages)}
	defer r.closeMCP()
	err = r.connectMCP(ctx) // mcp.go
	if err == nil {
		err = r.maybeCompact(ctx, conv, false) // compact.go: before the new prompt
	}
	conv.addUser(append(userContent(r.spec.Content), systemBlocks(r.spec.System)...)...) // system.go
	if err == nil {
		err = r.loop(ctx, conv)
	}
	if r.span != "" {
		r.endSpan(ctx, usage{}, err != nil && !errors.Is(err, errStopped), true)
	}
	if err != nil && !errors.Is(err, errStopped) {
		return err
	}
	if ctx.Err() != nil {
		return nil // cancelled: the runner is going away; keep the saved conversation
	}
	conv.settle("the user interrupted the turn before this tool call finished")
	tok, err := encodeTranscript(transcript{Messages: conv.msgs, ContextTokens: conv.tokens})
	if err != nil {
		return &engine.Error{Type: "unknown_error", Message: "the conversation of the session could not be saved", Err: err}
	}
	r.emitFinal(ctx, engine.Event{Type: engine.EventResume, Resume: tok})
	return nil
}

// loop alternates model requests and tool rounds.
func (r *run) loop(ctx context.Context, conv *conversation) error {
	for round := 0; ; round++ {
		if round >= r.e.cfg.MaxRounds {
			return &engine.Error{Type: "tool_use_limit_reached_error", Message: fmt.Sprintf("the agent made %d model requests in one turn, the limit", round)}
		}
		if err := r.maybeCompact(ctx, conv, true); err != nil { // compact.go
			return err
		}
		rep, err := r.request(ctx, r.newRequest(conv.msgs), &streamHandler{r: r, ctx: ctx})
		if err != nil {
			return err
		}
		if len(rep.Content) > 0 {
			conv.msgs = append(conv.msgs, message{Role: "assistant", Content: rep.Content})
		}
		conv.measure(rep.Usage)
		if rep.StopReason == "pause_turn" {
			continue // a long server tool call: the API continues it on the next request
		}
		var calls []block
		for _, raw := range rep.Content {
			var b block
			json.Unmarshal(raw, &b)
			if b.Type == "tool_use" {
				calls = append(calls, b)
			}
		}
		if len(calls) == 0 {
			return nil
		}
		conv.open(calls)
		for _, c := range calls {
			res, err := r.call(ctx, c)
			if err != nil {
				return err
			}
			conv.answer(c.ID, res)
		}
	}
}

// newRequest is the model request of the agent for msgs.
func (r *run) newRequest(msgs []message) *request {
	agent := &r.spec.Session.Agent
	req := &request{Model: agent.Model.ID, MaxTokens: r.e.cfg.MaxTokens, Stream: true, Messages: msgs, Tools: r.tools.defs}
	if agent.System != nil {
		req.System = *agent.System
	}
	return req
}

// request makes one model request inside a span.model_request_start/_end pair, telling h
// about the reply's blocks as they stream.
func (r *run) request(ctx context.Context, req *request, h blockHandler) (*reply, error) {
	r.span = r.id("req")
	if err := r.emit(ctx, engine.Event{Type: hangar.EventModelRequestStart, ID: r.span}); err != nil {
		return nil, err
	}
	// The request ends with the run's context or an interrupt, whichever comes first.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-rctx.Done():
		}
	}()
	r.server = map[string]string{}
	rep, err := r.client.stream(rctx, req, r.tools.beta, h)
	if err != nil {
		if r.stopped() || ctx.Err() != nil {
			return nil, errStopped
		}
		return nil, err
	}
	if err := r.endSpan(ctx, rep.Usage, false, false); err != nil {
		return nil, err
	}
	return rep, nil
}

// endSpan closes the open model request span with its usage. final sends it even when the
// run is stopping.
func (r *run) endSpan(ctx context.Context, u usage, isError, final bool) error {
	su := u.session()
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: r.span, Usage: &su, Body: map[string]any{
		"is_error": isError,
		"model_usage": map[string]any{
			"input_tokens": u.Input, "output_tokens": u.Output,
			"cache_creation_input_tokens": u.CacheCreation, "cache_read_input_tokens": u.CacheRead,
		},
	}}
	r.span = ""
	if final {
		r.emitFinal(ctx, ev)
		return nil
	}
	return r.emit(ctx, ev)
}

// streamHandler turns streamed content blocks into events as they arrive.
type streamHandler struct {
	r   *run
	ctx context.Context
	// preview is the engine-local ID of the streaming text block's live preview
	// (preview.go), "" when none is open.
	preview string
}

func (h *streamHandler) blockStart(b block) error {
	if b.Type == "thinking" || b.Type == "redacted_thinking" {
		return h.r.emit(h.ctx, engine.Event{Type: hangar.EventAgentThinking})
	}
	return nil
}

func (h *streamHandler) blockDone(b block, raw json.RawMessage) error {
	r, ctx := h.r, h.ctx
	switch {
	case b.Type == "text" && b.Text != "":
		return r.emit(ctx, engine.Event{Type: hangar.EventAgentMessage, ID: h.takePreview(), Body: map[string]any{"content": engine.TextContent(b.Text)}})
	case b.Type == "server_tool_use":
		id := r.id("srvtoolu")
		r.server[b.ID] = id
		return r.emit(ctx, engine.Event{Type: hangar.EventAgentToolUse, ID: id, Body: map[string]any{
			"name": b.Name, "input": objectOrEmpty(b.Input), "evaluated_permission": "allow",
		}})
	case b.ToolUseID != "" && r.server[b.ToolUseID] != "":
		// A server tool's result block (web_search_tool_result, web_fetch_tool_result).
		var errBody struct {
			Type string `json:"type"`
		}
		json.Unmarshal(b.Content, &errBody)
		return r.emit(ctx, engine.Event{Type: hangar.EventAgentToolResult, Ref: r.server[b.ToolUseID], Body: map[string]any{
			"content": engine.TextContent(serverResultText(b)), "is_error": strings.HasSuffix(errBody.Type, "_error"),
		}})
	}
	return nil
}

// serverResultText summarizes a server tool's result block for the event log.
func serverResultText(b block) string {
	var results []struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
	if json.Unmarshal(b.Content, &results) == nil && len(results) > 0 {
		s := ""
		for _, x := range results {
			s += x.Title + " " + x.URL + "\n"
		}
		return s
	}
	var one struct {
		URL       string `json:"url"`
		ErrorCode string `json:"error_code"`
	}
	json.Unmarshal(b.Content, &one)
	switch {
	case one.ErrorCode != "":
		return "error: " + one.ErrorCode
	case one.URL != "":
		return "fetched " + one.URL
	}
	return "(no output)"
}

func objectOrEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage(`{}`)
	}
	return b
}

// toolResult is what a call gives the model.
type toolResult struct {
	content json.RawMessage // a JSON array of content blocks
	isError bool
}

func textResult(s string, isError bool) toolResult {
	if s == "" {
		s = "(no output)"
	}
	return toolResult{content: mustJSON(engine.TextContent(s)), isError: isError}
}

// call handles one tool call of the model: a custom tool goes to the client, a toolset
// tool to the worker (delegated) or the sandbox, after a confirmation under always_ask.
func (r *run) call(ctx context.Context, c block) (toolResult, error) {
	input := objectOrEmpty(c.Input)
	if r.tools.custom[c.Name] {
		in, err := r.await(ctx, engine.Event{Type: hangar.EventAgentCustomToolUse, Body: map[string]any{"name": c.Name, "input": input}, RequiresAction: true},
			hangar.EventUserCustomToolResult, false)
		if err != nil {
			return toolResult{}, err
		}
		return clientResult(in), nil
	}
	if b := r.mcp[c.Name]; b != nil {
		return r.callMCP(ctx, c, b) // mcp.go
	}
	policy, ok := r.tools.policy[c.Name]
	if !ok {
		return textResult(fmt.Sprintf("tool %q is not available to this agent", c.Name), true), nil
	}
	body := map[string]any{"name": c.Name, "input": input, "evaluated_permission": "allow"}
	delegate := r.spec.Delegate
	var id string
	if policy == "always_ask" {
		body["evaluated_permission"] = "ask"
		ev := engine.Event{Type: hangar.EventAgentToolUse, Body: body, RequiresAction: true, AwaitsResult: delegate}
		in, err := r.await(ctx, ev, hangar.EventUserToolConfirmation, delegate)
		if err != nil {
			return toolResult{}, err
		}
		if !in.Allow {
			msg := "the user denied this tool call"
			if in.DenyMessage != "" {
				msg += ": " + in.DenyMessage
			}
			res := textResult(msg, true)
			if err := r.emit(ctx, engine.Event{Type: hangar.EventAgentToolResult, Ref: in.ToolUseID, Body: map[string]any{"content": json.RawMessage(res.content), "is_error": true}}); err != nil {
				return toolResult{}, err
			}
			return res, nil
		}
		if delegate {
			in, err := r.wait(ctx, in.ToolUseID)
			if err != nil {
				return toolResult{}, err
			}
			return clientResult(in), nil
		}
		id = in.ToolUseID
	} else if delegate {
		in, err := r.await(ctx, engine.Event{Type: hangar.EventAgentToolUse, Body: body, AwaitsResult: true}, hangar.EventUserToolResult, false)
		if err != nil {
			return toolResult{}, err
		}
		return clientResult(in), nil
	} else {
		id = r.id("toolu")
		if err := r.emit(ctx, engine.Event{Type: hangar.EventAgentToolUse, ID: id, Body: body}); err != nil {
			return toolResult{}, err
		}
	}
	res := r.runLocal(ctx, c.Name, input)
	if r.stopped() || ctx.Err() != nil {
		return toolResult{}, errStopped
	}
	if err := r.emit(ctx, engine.Event{Type: hangar.EventAgentToolResult, Ref: id, Body: map[string]any{"content": json.RawMessage(res.content), "is_error": res.isError}}); err != nil {
		return toolResult{}, err
	}
	return res, nil
}

// runLocal runs a toolset call in the sandbox, cut short by an interrupt.
func (r *run) runLocal(ctx context.Context, name string, input json.RawMessage) toolResult {
	if r.sandbox == nil {
		return textResult("tool "+name+" cannot run: the session has no sandbox", true)
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-tctx.Done():
		}
	}()
	out, isErr := r.sandbox.run(tctx, name, input)
	return textResult(out, isErr)
}

// clientResult is the tool result a client's user.custom_tool_result or user.tool_result
// carries.
func clientResult(in engine.Input) toolResult {
	content := in.Content
	if len(content) == 0 || string(content) == "null" || string(content) == "[]" {
		content = mustJSON(engine.TextContent("(no output)"))
	}
	return toolResult{content: content, isError: in.IsError}
}

// await emits an event answered by the client with an input of type answer, closing the
// model request span first when the session will wait idle, and waits for the answer.
// thenResult marks a delegated call whose allowed confirmation is followed by the worker's
// result.
func (r *run) await(ctx context.Context, ev engine.Event, answer string, thenResult bool) (engine.Input, error) {
	ev.ID = r.id("toolu")
	r.mu.Lock()
	r.pending[ev.ID] = answer
	if thenResult {
		if r.thenResult == nil {
			r.thenResult = map[string]bool{}
		}
		r.thenResult[ev.ID] = true
	}
	r.mu.Unlock()
	if err := r.emit(ctx, ev); err != nil {
		return engine.Input{}, err
	}
	return r.wait(ctx, ev.ID)
}

// wait waits for the client's answer to the event with engine-local ID id.
func (r *run) wait(ctx context.Context, id string) (engine.Input, error) {
	for {
		select {
		case in := <-r.inputs:
			if in.ToolUseID != id {
				r.log.Warn("native: answer for another call; ignored", "tool_use", in.ToolUseID)
				continue
			}
			return in, nil
		case <-r.stop:
			return engine.Input{}, errStopped
		case <-ctx.Done():
			return engine.Input{}, errStopped
		}
	}
}

var _ engine.Run = (*run)(nil)
