package factory_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
)

// fakeDroid speaks droid's JSON-RPC protocol on a memory sandbox's stdio: it answers
// Hangar's requests as answer says, runs a one-message turn for droid.add_user_message,
// and records the methods it was sent. It exits at EOF on stdin, as droid does.
type fakeDroid struct {
	// answer returns the error message to answer method with ("" for success); nil
	// answers everything.
	answer func(method string) string
	// gate, when set, is received from before answering the session request.
	gate chan struct{}

	mu      sync.Mutex
	methods []string
}

func (f *fakeDroid) exec(ctx context.Context, _ *memory.Sandbox, _ provider.ExecSpec, stdin io.Reader, stdout, _ io.Writer) int {
	send := func(v any) {
		b, _ := json.Marshal(v)
		stdout.Write(append(b, '\n'))
	}
	notify := func(n map[string]any) {
		send(map[string]any{"jsonrpc": "2.0", "type": "notification", "method": "droid.session_notification",
			"params": map[string]any{"sessionId": "sess-1", "notification": n}})
	}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		var req struct {
			ID     string `json:"id"`
			Method string `json:"method"`
		}
		if json.Unmarshal(sc.Bytes(), &req) != nil {
			continue
		}
		f.mu.Lock()
		f.methods = append(f.methods, req.Method)
		f.mu.Unlock()
		if f.gate != nil && req.ID == "hangar_session" {
			select {
			case <-f.gate:
			case <-ctx.Done():
				return 1
			}
		}
		resp := map[string]any{"jsonrpc": "2.0", "type": "response", "id": req.ID, "result": map[string]any{"sessionId": "sess-1"}}
		if f.answer != nil {
			if msg := f.answer(req.Method); msg != "" {
				delete(resp, "result")
				resp["error"] = map[string]any{"code": -32000, "message": msg}
			}
		}
		send(resp)
		if req.Method == "droid.add_user_message" && resp["error"] == nil {
			notify(map[string]any{"type": "create_message", "message": map[string]any{"id": "m1", "role": "user", "content": []any{}}})
			notify(map[string]any{"type": "create_message", "message": map[string]any{"id": "m2", "role": "assistant",
				"content": []any{map[string]any{"type": "text", "text": "hello"}}}})
			notify(map[string]any{"type": "agent_turn_completed", "reason": "completed", "tokenUsage": map[string]any{"inputTokens": 3, "outputTokens": 1}})
		}
	}
	return 0
}

func (f *fakeDroid) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.methods...)
}

// TestRunProtocol drives the engine against fakeDroid: the order of the requests, failed
// requests ending the turn (and droid, through EOF on stdin) instead of hanging it, and an
// interrupt before the turn started sending nothing more.
func TestRunProtocol(t *testing.T) {
	tests := []struct {
		name      string
		resume    string
		answer    func(string) string
		interrupt bool // before droid answers the session request
		methods   []string
		events    []string
		errType   string
	}{
		{
			name:    "new session",
			methods: []string{"droid.initialize_session", "droid.rename_session", "droid.add_user_message"},
			events:  []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventAgentMessage, hangar.EventModelRequestEnd},
		},
		{
			name:    "resumed session",
			resume:  "sess-1",
			methods: []string{"droid.load_session", "droid.add_user_message"},
			events:  []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventAgentMessage, hangar.EventModelRequestEnd},
		},
		{
			name:    "failed rename",
			answer:  func(m string) string { return map[string]string{"droid.rename_session": "no"}[m] },
			methods: []string{"droid.initialize_session", "droid.rename_session", "droid.add_user_message"},
			events:  []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventAgentMessage, hangar.EventModelRequestEnd},
		},
		{
			name:    "failed load: a new session",
			resume:  "sess-gone",
			answer:  func(m string) string { return map[string]string{"droid.load_session": "Session not found"}[m] },
			methods: []string{"droid.load_session", "droid.initialize_session", "droid.rename_session", "droid.add_user_message"},
			events:  []string{engine.EventResume, hangar.EventModelRequestStart, hangar.EventAgentMessage, hangar.EventModelRequestEnd},
		},
		{
			name:    "failed new session",
			answer:  func(m string) string { return map[string]string{"droid.initialize_session": "no"}[m] },
			methods: []string{"droid.initialize_session"},
			events:  []string{},
			errType: "unknown_error",
		},
		{
			name:    "failed message",
			answer:  func(m string) string { return map[string]string{"droid.add_user_message": "busy"}[m] },
			methods: []string{"droid.initialize_session", "droid.rename_session", "droid.add_user_message"},
			events:  []string{engine.EventResume},
			errType: "unknown_error",
		},
		{
			name:      "interrupt while starting",
			interrupt: true,
			methods:   []string{"droid.initialize_session"},
			events:    []string{engine.EventResume},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeDroid{answer: tt.answer}
			if tt.interrupt {
				f.gate = make(chan struct{})
			}
			p := &memory.Provider{Exec: f.exec}
			sb, err := p.Create(t.Context(), provider.Spec{SessionID: "sesn_test"})
			if err != nil {
				t.Fatal(err)
			}
			s := spec(hangar.Agent{}, "hi", 0, "http://egress:1")
			s.Resume = tt.resume
			run, err := newEngine(t, `{"binary":"/bin/droid"}`).Start(t.Context(), sb, s)
			if err != nil {
				t.Fatal(err)
			}
			if tt.interrupt {
				if err := run.Interrupt(t.Context()); err != nil {
					t.Fatal(err)
				}
				close(f.gate)
			}
			evs := enginetest.Drain(t, run)
			enginetest.CheckEvents(t, evs)
			if diff := cmp.Diff(tt.events, enginetest.Types(evs)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			err = run.Wait()
			var ee *engine.Error
			switch {
			case tt.errType == "" && err != nil:
				t.Errorf("Wait = %v, want nil", err)
			case tt.errType != "" && (!errors.As(err, &ee) || ee.Type != tt.errType):
				t.Errorf("Wait = %v, want an engine.Error %s", err, tt.errType)
			}
			if diff := cmp.Diff(tt.methods, f.sent()); diff != "" {
				t.Errorf("requests droid got (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunAnswersPermission checks that droid's permission prompt is answered on stdin.
func TestRunAnswersPermission(t *testing.T) {
	var got string
	exec := func(ctx context.Context, _ *memory.Sandbox, _ provider.ExecSpec, stdin io.Reader, stdout, _ io.Writer) int {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.Contains(line, `"id":"hangar_session"`):
				fmt.Fprintln(stdout, `{"type":"response","id":"hangar_session","result":{"sessionId":"s"}}`)
			case strings.Contains(line, `"method":"droid.`):
				var req struct{ ID string }
				json.Unmarshal([]byte(line), &req)
				fmt.Fprintf(stdout, `{"type":"response","id":%q,"result":{}}`+"\n", req.ID)
				if req.ID == "hangar_message" {
					fmt.Fprintln(stdout, `{"type":"request","method":"droid.request_permission","id":"perm-1","params":{"options":[{"value":"proceed_once"},{"value":"cancel"}]}}`)
				}
			case strings.Contains(line, `"id":"perm-1"`):
				got = line
				fmt.Fprintln(stdout, `{"type":"notification","method":"droid.session_notification","params":{"notification":{"type":"agent_turn_completed","reason":"permission_rejected"}}}`)
			}
		}
		return 0
	}
	sb, err := (&memory.Provider{Exec: exec}).Create(t.Context(), provider.Spec{SessionID: "sesn_test"})
	if err != nil {
		t.Fatal(err)
	}
	run, err := newEngine(t, `{"binary":"/bin/droid"}`).Start(t.Context(), sb, spec(hangar.Agent{}, "hi", 0, "http://egress:1"))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if !strings.Contains(got, `"result":{"selectedOption":"cancel"}`) || !strings.Contains(got, `"type":"response"`) {
		t.Errorf("answer to the permission prompt = %s", got)
	}
}
