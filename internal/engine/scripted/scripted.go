// Package scripted is the "scripted" engine: an agent that follows a JSON script instead of
// calling a model, so integrations (SSE clients, custom tools, tool confirmation,
// interrupts, error handling) can be tested end to end for free. docs/engines.md
// documents the script format.
package scripted

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/provider"
)

// MetadataKey is the agent metadata key holding the script.
const MetadataKey = "hangar.script"

// Script is a scripted agent: turn i of a session follows Turns[i % len(Turns)].
type Script struct {
	Turns []Turn `json:"turns"`
}

// Turn is one agent response: its steps run in order.
type Turn struct {
	Steps []Step `json:"steps"`
}

// Step is one action of a turn. Exactly one of Thinking, Message, ToolUse, CustomToolUse,
// SleepMS and Error is set.
type Step struct {
	// Thinking emits agent.thinking.
	Thinking bool `json:"thinking,omitempty"`
	// Message emits agent.message with this text.
	Message *string `json:"message,omitempty"`
	// ToolUse emits agent.tool_use and then agent.tool_result with Result (and IsError).
	// With an always_ask permission policy for the tool it first waits for the client's
	// user.tool_confirmation; a denial emits an agent.message instead of the result.
	ToolUse *ToolCall `json:"tool_use,omitempty"`
	Result  string    `json:"result,omitempty"`
	IsError bool      `json:"is_error,omitempty"`
	// CustomToolUse emits agent.custom_tool_use and waits for user.custom_tool_result.
	CustomToolUse *ToolCall `json:"custom_tool_use,omitempty"`
	// SleepMS waits this long (cut short by an interrupt).
	SleepMS int `json:"sleep_ms,omitempty"`
	// Error fails the turn with this session error type (e.g. model_overloaded_error).
	Error string `json:"error,omitempty"`
	// Preview, on a message step, streams its text as live preview fragments of about
	// this many bytes before the agent.message (docs/streaming.md); on a thinking step,
	// any positive value opens an agent.thinking preview first.
	Preview int `json:"preview,omitempty"`
}

// ToolCall is a tool name and its input object.
type ToolCall struct {
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input,omitempty"`
}

// Parse decodes and checks a script. Unknown fields are errors.
func Parse(b []byte) (*Script, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Script
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	if len(s.Turns) == 0 {
		return nil, errors.New("script: turns: must not be empty")
	}
	for i, t := range s.Turns {
		for j, st := range t.Steps {
			if err := st.check(); err != nil {
				return nil, fmt.Errorf("script: turns[%d].steps[%d]: %w", i, j, err)
			}
		}
	}
	return &s, nil
}

func (st Step) check() error {
	n := 0
	for _, set := range []bool{st.Thinking, st.Message != nil, st.ToolUse != nil, st.CustomToolUse != nil, st.SleepMS > 0, st.Error != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return errors.New("want exactly one of thinking, message, tool_use, custom_tool_use, sleep_ms, error")
	case (st.Result != "" || st.IsError) && st.ToolUse == nil:
		return errors.New("result and is_error go with tool_use")
	case st.ToolUse != nil && st.ToolUse.Name == "":
		return errors.New("tool_use: name is required")
	case st.CustomToolUse != nil && st.CustomToolUse.Name == "":
		return errors.New("custom_tool_use: name is required")
	case st.SleepMS < 0:
		return errors.New("sleep_ms: must not be negative")
	case st.Preview < 0:
		return errors.New("preview: must not be negative")
	case st.Preview > 0 && !st.Thinking && st.Message == nil:
		return errors.New("preview goes with message or thinking")
	}
	return nil
}

// Config is the engine's JSON config.
type Config struct {
	// MaxSleepMS caps sleep_ms steps (0: no cap).
	MaxSleepMS int `json:"max_sleep_ms,omitempty"`
}

// Engine is the scripted engine.
type Engine struct {
	cfg Config
}

// New is the engine.Factory of the scripted engine.
func New(cfg json.RawMessage, deps engine.Deps) (engine.Engine, error) {
	var c Config
	if t := bytes.TrimSpace(cfg); len(t) > 0 && string(t) != "null" {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("scripted engine config: %w", err)
		}
	}
	return &Engine{cfg: c}, nil
}

// Capabilities implements engine.Engine.
func (e *Engine) Capabilities() engine.Capabilities {
	return engine.Capabilities{CustomTools: true, ToolConfirmation: true, Interrupt: true, Resume: true, NoSandbox: true, SystemMessages: true}
}

// ScriptOf returns the script an agent follows: its hangar.script metadata, else its system
// prompt when that parses as a script, else nil (echo). A malformed hangar.script is an
// error.
func ScriptOf(a *hangar.Agent) (*Script, error) {
	if raw, ok := a.Metadata[MetadataKey]; ok {
		return Parse([]byte(raw))
	}
	if a.System != nil && strings.HasPrefix(strings.TrimSpace(*a.System), "{") {
		if s, err := Parse([]byte(*a.System)); err == nil {
			return s, nil
		}
	}
	return nil, nil
}

// Start implements engine.Engine. The sandbox is not used.
func (e *Engine) Start(ctx context.Context, sb provider.Sandbox, spec engine.Spec) (engine.Run, error) {
	if spec.Session == nil {
		return nil, errors.New("scripted: spec has no session")
	}
	script, err := ScriptOf(&spec.Session.Agent)
	if err != nil {
		return nil, &engine.Error{Type: "unknown_error", Message: "agent metadata " + MetadataKey + " is not a valid script: " + err.Error()}
	}
	cursor := spec.Turn
	if n, err := strconv.Atoi(spec.Resume); err == nil && n >= 0 {
		cursor = n
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &run{
		cfg:       e.cfg,
		script:    script,
		agent:     &spec.Session.Agent,
		userText:  engine.Text(spec.Content) + systemSuffix(spec.System), // system.go
		cursor:    cursor,
		cancel:    cancel,
		events:    make(chan engine.Event),
		inputs:    make(chan engine.Input, 16),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		pending:   make(map[string]string),
		inputText: engine.Text(spec.Content),
	}
	go func() {
		defer close(r.done)
		defer cancel()
		defer close(r.events)
		r.err = r.main(ctx)
	}()
	return r, nil
}

type run struct {
	cfg      Config
	script   *Script
	agent    *hangar.Agent
	userText string
	cursor   int
	cancel   context.CancelFunc

	events chan engine.Event
	inputs chan engine.Input
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	err    error

	mu      sync.Mutex
	pending map[string]string // engine-local id → expected input type
	nextID  int

	// current model request span, and the words the model "read" and "wrote" in it.
	span       string
	inputText  string
	outputText []string
}

// errStopped ends the script when the run is interrupted or cancelled.
var errStopped = errors.New("scripted: stopped")

func (r *run) Events() <-chan engine.Event { return r.events }

func (r *run) Send(ctx context.Context, in engine.Input) error {
	r.mu.Lock()
	want, ok := r.pending[in.ToolUseID]
	if ok && want == in.Type {
		delete(r.pending, in.ToolUseID)
	}
	r.mu.Unlock()
	if !ok || want != in.Type {
		return hangar.Errorf(hangar.KindInvalidRequest, "scripted: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
	}
	select {
	case r.inputs <- in:
		return nil
	case <-r.done:
		return errors.New("scripted: run ended")
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

// emit sends ev unless the run is stopping.
func (r *run) emit(ctx context.Context, ev engine.Event) error {
	select {
	case <-r.stop:
		return errStopped
	case <-ctx.Done():
		return errStopped
	default:
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

func (r *run) steps(turn int) []Step {
	if r.script == nil {
		msg := "echo: " + r.userText
		return []Step{{Message: &msg}}
	}
	return r.script.Turns[turn%len(r.script.Turns)].Steps
}

func (r *run) main(ctx context.Context) error {
	err := r.play(ctx)
	if r.span != "" {
		// Close the open model request span, even after an interrupt.
		r.endSpan(ctx, err != nil && !errors.Is(err, errStopped), true)
	}
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

func (r *run) play(ctx context.Context) error {
	turn := r.cursor
	steps := r.steps(turn)
	if err := r.startSpan(ctx); err != nil {
		return err
	}
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		switch {
		case st.Thinking:
			if err := r.think(ctx, st.Preview); err != nil {
				return err
			}
		case st.Message != nil && st.Preview > 0:
			if err := r.sayPreviewed(ctx, *st.Message, st.Preview); err != nil {
				return err
			}
		case st.Message != nil:
			if err := r.say(ctx, *st.Message); err != nil {
				return err
			}
		case st.SleepMS > 0:
			d := st.SleepMS
			if r.cfg.MaxSleepMS > 0 && d > r.cfg.MaxSleepMS {
				d = r.cfg.MaxSleepMS
			}
			t := time.NewTimer(time.Duration(d) * time.Millisecond)
			select {
			case <-t.C:
			case <-r.stop:
				t.Stop()
				return errStopped
			case <-ctx.Done():
				t.Stop()
				return errStopped
			}
		case st.Error != "":
			return &engine.Error{Type: st.Error, Message: "scripted failure: " + st.Error}
		case st.ToolUse != nil:
			if err := r.toolUse(ctx, st); err != nil {
				return err
			}
		case st.CustomToolUse != nil:
			in, err := r.await(ctx, hangar.EventAgentCustomToolUse, hangar.EventUserCustomToolResult, map[string]any{
				"name": st.CustomToolUse.Name, "input": objectOrEmpty(st.CustomToolUse.Input),
			})
			if err != nil {
				return err
			}
			r.inputText = engine.Text(in.Content)
			if i < len(steps)-1 {
				continue
			}
			// The agent answers the tool result: with the next turn of a multi-turn
			// script, else by quoting the result.
			if r.script != nil && len(r.script.Turns) > 1 {
				turn++
				steps, i = r.steps(turn), -1
				continue
			}
			if err := r.say(ctx, "tool said: "+r.inputText); err != nil {
				return err
			}
		}
	}
	if err := r.endSpan(ctx, false, false); err != nil {
		return err
	}
	return r.emit(ctx, engine.Event{Type: engine.EventResume, Resume: strconv.Itoa(turn + 1)})
}

func (r *run) say(ctx context.Context, text string) error {
	r.outputText = append(r.outputText, text)
	return r.emit(ctx, engine.Event{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(text)}})
}

func (r *run) toolUse(ctx context.Context, st Step) error {
	body := map[string]any{"name": st.ToolUse.Name, "input": objectOrEmpty(st.ToolUse.Input)}
	var id string
	if engine.PermissionPolicy(r.agent.Tools, st.ToolUse.Name) == "always_ask" {
		body["evaluated_permission"] = "ask"
		in, err := r.await(ctx, hangar.EventAgentToolUse, hangar.EventUserToolConfirmation, body)
		if err != nil {
			return err
		}
		if !in.Allow {
			msg := "tool use denied"
			if in.DenyMessage != "" {
				msg += ": " + in.DenyMessage
			}
			return r.say(ctx, msg)
		}
		id = in.ToolUseID
	} else {
		body["evaluated_permission"] = "allow"
		id = r.id("toolu")
		if err := r.emit(ctx, engine.Event{Type: hangar.EventAgentToolUse, ID: id, Body: body}); err != nil {
			return err
		}
	}
	result := st.Result
	if result == "" {
		result = "(no output)"
	}
	return r.emit(ctx, engine.Event{Type: hangar.EventAgentToolResult, Ref: id, Body: map[string]any{
		"content": engine.TextContent(result), "is_error": st.IsError,
	}})
}

// await emits an event that requires the client's answer, closes the model request
// span, waits for the answer and opens a new span.
func (r *run) await(ctx context.Context, typ, answer string, body map[string]any) (engine.Input, error) {
	id := r.id("toolu")
	r.mu.Lock()
	r.pending[id] = answer
	r.mu.Unlock()
	if err := r.emit(ctx, engine.Event{Type: typ, ID: id, Body: body, RequiresAction: true}); err != nil {
		return engine.Input{}, err
	}
	if err := r.endSpan(ctx, false, false); err != nil {
		return engine.Input{}, err
	}
	select {
	case in := <-r.inputs:
		if err := r.startSpan(ctx); err != nil {
			return engine.Input{}, err
		}
		return in, nil
	case <-r.stop:
		return engine.Input{}, errStopped
	case <-ctx.Done():
		return engine.Input{}, errStopped
	}
}

func (r *run) startSpan(ctx context.Context) error {
	r.span = r.id("req")
	r.outputText = nil
	return r.emit(ctx, engine.Event{Type: hangar.EventModelRequestStart, ID: r.span})
}

// endSpan emits span.model_request_end with usage counted in words. final sends it even
// when the run is stopping (it closes the span of an interrupted run).
func (r *run) endSpan(ctx context.Context, isError, final bool) error {
	if r.span == "" {
		return nil
	}
	u := hangar.Usage{
		InputTokens:  int64(words(r.inputText)),
		OutputTokens: int64(words(strings.Join(r.outputText, " "))),
	}
	ev := engine.Event{Type: hangar.EventModelRequestEnd, Ref: r.span, Usage: &u, Body: map[string]any{
		"is_error": isError,
		"model_usage": map[string]any{
			"input_tokens": u.InputTokens, "output_tokens": u.OutputTokens,
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
		},
	}}
	r.span = ""
	if !final {
		return r.emit(ctx, ev)
	}
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
	return nil
}

func words(s string) int { return len(strings.Fields(s)) }

func objectOrEmpty(b json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 || string(bytes.TrimSpace(b)) == "null" {
		return json.RawMessage(`{}`)
	}
	return b
}

var (
	_ engine.Engine = (*Engine)(nil)
	_ engine.Run    = (*run)(nil)
)
