package codex_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
)

var record = flag.Bool("record", false, "record testdata/*.jsonl from real codex app-server runs against the fake model")

// tapSandbox copies the stdout of the processes it runs (the app server's messages) to
// out.
type tapSandbox struct {
	provider.Sandbox
	mu  sync.Mutex
	out io.Writer
}

type tapProcess struct {
	provider.Process
	stdout io.Reader
}

func (p tapProcess) Stdout() io.Reader { return p.stdout }

func (s *tapSandbox) Exec(ctx context.Context, spec provider.ExecSpec) (provider.Process, error) {
	p, err := s.Sandbox.Exec(ctx, spec)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return tapProcess{Process: p, stdout: io.TeeReader(p.Stdout(), s.out)}, nil
}

func (s *tapSandbox) tap(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = w
}

// recordScript is the fake model of the recordings: ResponsesDefault, plus "THINK" (a
// reasoning item before the answer), "OVERLOAD" (a stream that fails) and "PATCH <file>"
// (an apply_patch through exec_command that adds file).
func recordScript(r fakemodel.Request) fakemodel.Response {
	text := r.LastUserText()
	if _, ok := r.LastToolResult(); ok {
		return fakemodel.ResponsesDefault(r)
	}
	switch {
	case strings.Contains(text, "RATE"):
		return fakemodel.RateLimited()
	case strings.Contains(text, "OVERLOAD"):
		resp := fakemodel.Text("partial")
		resp.StreamError = "overloaded_error"
		return resp
	case strings.Contains(text, "THINK"):
		return fakemodel.Response{Content: []fakemodel.Block{
			{Type: "thinking", Thinking: "The user wants a short answer."},
			{Type: "text", Text: "Short answer."},
		}}
	case strings.Contains(text, "PATCH "):
		file := strings.TrimSpace(text[strings.Index(text, "PATCH ")+len("PATCH "):])
		patch := "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: " + file + "\n+patched\n*** End Patch\nEOF\n"
		return fakemodel.ToolUse("exec_command", map[string]string{"cmd": patch})
	}
	return fakemodel.ResponsesDefault(r)
}

// TestRecordTranscripts records the transcripts of translate_test.go (with -record): one
// real turn of the pinned CLI per transcript, answering approvals and interrupting as
// each needs.
func TestRecordTranscripts(t *testing.T) {
	if !*record {
		t.Skip("records testdata/*.jsonl with -record")
	}
	bin := codexBinary(t)
	fake, url := enginetest.FakeModel(t, recordScript)
	_ = fake
	e := newEngine(t, bin)
	sb := &tapSandbox{Sandbox: newHostSandbox(t, url)}
	ask := agent("")
	ask.Tools = json.RawMessage(`[{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}}}]`)
	var resume string
	for _, rc := range []struct {
		name, text string
		agent      hangar.Agent
		resume     bool
		answer     string // allow, deny or interrupt (at the first span start)
	}{
		{name: "tool_round", text: "please TOOL:bash echo hello > out.txt", agent: agent("You are a careful agent.")},
		{name: "resume", text: "TOOL:bash cat out.txt", agent: agent("You are a careful agent."), resume: true},
		{name: "failed_command", text: "TOOL:bash ls /nonexistent-dir", agent: agent("")},
		{name: "reasoning", text: "THINK then answer", agent: agent("")},
		{name: "stream_error", text: "OVERLOAD", agent: agent("")},
		{name: "rate_limited", text: "RATE", agent: agent("")},
		{name: "echo", text: "hello there", agent: agent("")},
		{name: "interrupt", text: "go", agent: agent("hangar-slow"), answer: "interrupt"},
		{name: "approval_allow", text: "TOOL:bash echo hi > f.txt", agent: ask, answer: "allow"},
		{name: "approval_deny", text: "TOOL:bash echo hi > g.txt", agent: ask, answer: "deny"},
		{name: "file_change", text: "PATCH added.txt", agent: ask, answer: "allow"},
	} {
		f, err := os.Create(filepath.Join("testdata", rc.name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sb.tap(f)
		spec := enginetest.Spec(rc.agent, rc.text, 0)
		spec.Egress = engine.Egress{ModelBaseURL: url, Token: "tok"}
		if rc.resume {
			spec.Resume = resume
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		run, err := e.Start(ctx, sb, spec)
		if err != nil {
			t.Fatal(err)
		}
		var evs []engine.Event
		for {
			ev, ok := enginetest.Next(t, run)
			if !ok {
				break
			}
			evs = append(evs, ev)
			switch {
			case ev.Type == engine.EventResume:
				resume = ev.Resume
			case ev.RequiresAction:
				if err := run.Send(ctx, engine.Input{Type: hangar.EventUserToolConfirmation, ToolUseID: ev.ID, Allow: rc.answer == "allow"}); err != nil {
					t.Errorf("%s: Send: %v", rc.name, err)
				}
			case ev.Type == hangar.EventModelRequestStart && rc.answer == "interrupt":
				run.Interrupt(ctx)
			}
		}
		t.Logf("%s: Wait = %v; events %v", rc.name, run.Wait(), enginetest.Types(evs))
		cancel()
		f.Close()
	}
}
