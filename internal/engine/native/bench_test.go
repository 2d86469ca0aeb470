package native_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/fakemodel"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
)

// BenchmarkTurn measures the engine's overhead per turn over the fake model on loopback:
// a plain reply, a tool round run in a sandbox (a write, memory provider), and a delegated
// tool round answered at once, each the first turn of a conversation; and a plain reply
// on a conversation that grows turn after turn (its transcript is loaded, sent and saved
// whole every turn: msgs is its final length).
func BenchmarkTurn(b *testing.B) {
	for _, bc := range []struct {
		name     string
		text     string
		delegate bool
		sandbox  bool
		grow     bool
	}{
		{"reply", "hello", false, false, false},
		{"write", `CUSTOM:write {"file_path":"b.txt","content":"x"}`, false, true, false},
		{"delegated", `CUSTOM:write {"file_path":"b.txt","content":"x"}`, true, false, false},
		{"reply-growing", "hello", false, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(&fakemodel.Server{})
			defer srv.Close()
			cfg, _ := json.Marshal(native.Config{BaseURL: srv.URL, APIKey: "k", StateDir: b.TempDir()})
			e, err := native.New(cfg, engine.Deps{})
			if err != nil {
				b.Fatal(err)
			}
			var sb provider.Sandbox
			if bc.sandbox {
				// The memory provider: files in a map, so the numbers are the engine's.
				if sb, err = (&memory.Provider{}).Create(b.Context(), provider.Spec{SessionID: "sesn_test", WorkDir: "/workspace"}); err != nil {
					b.Fatal(err)
				}
			}
			resume := ""
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s := spec(agent(toolset), bc.text)
				if !bc.grow {
					resume = ""
				}
				s.Delegate, s.Resume, s.Turn = bc.delegate, resume, i
				run, err := e.Start(b.Context(), sb, s)
				if err != nil {
					b.Fatal(err)
				}
				for ev := range run.Events() {
					switch {
					case ev.Type == engine.EventResume:
						resume = ev.Resume
					case ev.AwaitsResult:
						run.Send(b.Context(), engine.Input{Type: "user.tool_result", ToolUseID: ev.ID, Content: json.RawMessage(`[{"type":"text","text":"ok"}]`)})
					}
				}
				if err := run.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(native.TranscriptLen(resume)), "msgs")
			b.ReportMetric(float64(len(resume)), "token_bytes")
		})
	}
}
