package pi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

// recorder is a sandbox that keeps a copy of the stdout of the processes it runs.
type recorder struct {
	*enginetest.HostSandbox
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recorder) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	p, err := r.HostSandbox.Exec(ctx, spec)
	if err != nil {
		return nil, err
	}
	return teeProcess{Process: p, r: r}, nil
}

type teeProcess struct {
	provider.Process
	r *recorder
}

func (p teeProcess) Stdout() io.Reader { return io.TeeReader(p.Process.Stdout(), (*lockedWriter)(p.r)) }

type lockedWriter recorder

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(b)
}

// take returns what the sandbox's processes wrote since the last take.
func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.out.Bytes())
	r.out.Reset()
	return b
}

// TestRecordTranscripts re-records testdata/*.jsonl from real runs of the pinned CLI
// against the fake model, through the engine itself. It runs only with
// HANGAR_PI_RECORD=1: the transcripts are fixtures, refreshed when the pinned version
// changes (then run TestTranslateTranscripts with -update).
func TestRecordTranscripts(t *testing.T) {
	if os.Getenv("HANGAR_PI_RECORD") != "1" {
		t.Skip("set HANGAR_PI_RECORD=1 to re-record the transcripts")
	}
	entry := piEntry(t)
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	fake, url := newFake(t)
	sb := &recorder{HostSandbox: newHostSandbox(t)}
	e := newEngine(t, entry, 2000)
	system := "You are the hangar test agent."
	agent := hangar.Agent{Model: hangar.Model{ID: "claude-sonnet-4-6"}, System: &system,
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`)}
	egress := engine.Egress{ModelBaseURL: url, Token: "tok_record"}

	// toolround: a bash round, a read of a missing file (an error result), a reply with
	// thinking.
	fake.Push(
		fakemodel.ToolUse("bash", map[string]string{"command": "echo hello > out.txt"}),
		fakemodel.ToolUse("read", map[string]string{"path": "missing.txt"}),
		fakemodel.Response{Content: []fakemodel.Block{{Type: "thinking", Thinking: "Both tools ran."}, {Type: "text", Text: "All done."}}},
	)
	spec := enginetest.Spec(agent, "write a file", 0)
	spec.Egress = egress
	var resume string
	for _, ev := range enginetest.RunTurn(t, e, sb, spec) {
		if ev.Type == engine.EventResume {
			resume = ev.Resume
		}
	}
	write("toolround.jsonl", sb.take())

	spec = enginetest.Spec(agent, "second turn", 1)
	spec.Egress, spec.Resume = egress, resume
	enginetest.RunTurn(t, e, sb, spec)
	write("resume.jsonl", sb.take())

	// interrupt: a model stream that never ends, aborted.
	slow := "hangar-slow"
	spec = enginetest.Spec(hangar.Agent{System: &slow, Tools: json.RawMessage(`[]`)}, "take your time", 0)
	spec.Egress = egress
	run, err := e.Start(t.Context(), sb, spec)
	if err != nil {
		t.Fatal(err)
	}
	for ev, ok := enginetest.Next(t, run); ok && ev.Type != hangar.EventModelRequestStart; ev, ok = enginetest.Next(t, run) {
	}
	run.Interrupt(t.Context())
	enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	write("interrupt.jsonl", sb.take())

	// custom: a custom tool call answered by the client; deny: a bash call the client
	// denies (both through the bridge extension's dialogs).
	for _, turn := range []struct {
		file   string
		text   string
		answer engine.Input
	}{
		{"custom.jsonl", `CUSTOM:get_weather {"city":"Paris"}`, engine.Input{Type: hangar.EventUserCustomToolResult, Content: json.RawMessage(`[{"type":"text","text":"sunny"}]`)}},
		{"deny.jsonl", "TOOL:bash echo ran > ran.txt", engine.Input{Type: hangar.EventUserToolConfirmation, DenyMessage: "not now"}},
	} {
		spec = enginetest.Spec(bridgeAgent(), turn.text, 0)
		spec.Egress = egress
		runAnswering(t, e, sb, spec, func(ev engine.Event) engine.Input {
			in := turn.answer
			in.ToolUseID = ev.ID
			return in
		})
		write(turn.file, sb.take())
	}

	// ratelimit: a 429 (after the Anthropic client's own retries); unauthorized: a 401.
	for _, c := range []struct {
		file string
		resp fakemodel.Response
	}{
		{"ratelimit.jsonl", fakemodel.RateLimited()},
		{"unauthorized.jsonl", fakemodel.Response{Error: &fakemodel.APIError{Status: 401, Type: "authentication_error", Message: "invalid x-api-key"}}},
	} {
		fake.Script = func(fakemodel.Request) fakemodel.Response { return c.resp }
		spec = enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[]`)}, "hi", 0)
		spec.Egress = egress
		run, err := e.Start(t.Context(), sb, spec)
		if err != nil {
			t.Fatal(err)
		}
		enginetest.Drain(t, run)
		t.Logf("%s: %v", c.file, run.Wait())
		write(c.file, sb.take())
	}
}
