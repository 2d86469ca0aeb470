package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/anthropic"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// agent returns a local agent on the anthropic engine whose remote twin follows script
// (the scripted engine reads it from the metadata the engine copies).
func agent(id, script, tools string) hangar.Agent {
	if tools == "" {
		tools = "[]"
	}
	return hangar.Agent{
		Type: "agent", ID: id, Version: 1, Name: "remote-" + id, Engine: hangar.EngineAnthropic,
		Model: hangar.Model{ID: "claude-sonnet-4-6", Speed: "standard"}, Tools: json.RawMessage(tools),
		MCPServers: json.RawMessage(`[]`), Skills: json.RawMessage(`[]`),
		Metadata: map[string]string{scripted.MetadataKey: script},
	}
}

// turnResult is one turn as the runner would see it.
type turnResult struct {
	events []engine.Event // without EventResume
	resume string         // the last resume token
	err    error          // Wait
}

// play runs one turn of local session sessionID to its end, answering events that
// require action with answer.
func play(t *testing.T, e engine.Engine, a hangar.Agent, sessionID, text string, turn int, resume string, answer func(engine.Event) engine.Input) turnResult {
	t.Helper()
	spec := enginetest.Spec(a, text, turn)
	spec.Session.ID, spec.Resume = sessionID, resume
	run, err := e.Start(t.Context(), nil, spec)
	if err != nil {
		return turnResult{err: err}
	}
	var res turnResult
	var all []engine.Event
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			break
		}
		all = append(all, ev)
		if ev.Type == engine.EventResume {
			res.resume = ev.Resume
			continue
		}
		res.events = append(res.events, ev)
		if ev.RequiresAction {
			if answer == nil {
				t.Fatalf("unexpected event requiring action: %+v", ev)
			}
			in := answer(ev)
			in.ToolUseID = ev.ID
			if err := run.Send(t.Context(), in); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
	}
	enginetest.CheckEvents(t, all)
	res.err = run.Wait()
	return res
}

// remoteSessionOf returns the remote session ID in a resume token.
func remoteSessionOf(t *testing.T, tok string) string {
	t.Helper()
	var v struct {
		Session string `json:"session"`
	}
	if err := json.Unmarshal([]byte(tok), &v); err != nil || v.Session == "" {
		t.Fatalf("resume token %q names no remote session", tok)
	}
	return v.Session
}

func texts(evs []engine.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type != hangar.EventAgentMessage {
			continue
		}
		b, _ := json.Marshal(ev.Body)
		var body struct {
			Content json.RawMessage `json:"content"`
		}
		json.Unmarshal(b, &body)
		out = append(out, engine.Text(body.Content))
	}
	return out
}

// ids matches the remote's generated IDs, which differ from run to run.
var ids = regexp.MustCompile(`\b(sevt|sesn|agent|env)_[0-9A-Za-z]+`)

// normalize renders events for a golden file with IDs numbered by first appearance.
func normalize(evs []engine.Event) string {
	seen := map[string]string{}
	count := map[string]int{}
	return ids.ReplaceAllStringFunc(enginetest.Render(evs), func(id string) string {
		if n, ok := seen[id]; ok {
			return n
		}
		prefix := id[:strings.Index(id, "_")]
		count[prefix]++
		seen[id] = fmt.Sprintf("%s_%d", prefix, count[prefix])
		return seen[id]
	})
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

const twoTurns = `{"turns":[{"steps":[{"thinking":true},{"message":"first"},{"tool_use":{"name":"bash","input":{"command":"ls"}},"result":"a.txt"}]},{"steps":[{"message":"second"}]}]}`

func TestFirstTurnCreatesRemoteAndNextTurnResumes(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	e := newEngine(t, rm, remoteKey)
	a := agent("agent_local1", twoTurns, "")

	first := play(t, e, a, "sesn_local1", "hello", 0, "", nil)
	if first.err != nil {
		t.Fatalf("turn 1: %v", first.err)
	}
	for _, c := range []string{"POST /v1/agents", "POST /v1/environments", "POST /v1/sessions"} {
		method, path, _ := strings.Cut(c, " ")
		if n := len(rm.Calls(method, path)); n != 1 {
			t.Errorf("%s called %d times, want 1", c, n)
		}
	}
	golden(t, "first_turn.golden", normalize(first.events))
	sid := remoteSessionOf(t, first.resume)
	rs := rm.session(t, sid)
	if rs.Metadata["hangar.session"] != "sesn_local1" || rs.Agent.Metadata["hangar.agent"] != "agent_local1" {
		t.Errorf("remote session metadata %v, agent metadata %v", rs.Metadata, rs.Agent.Metadata)
	}
	if rs.Agent.Engine != "scripted" {
		t.Errorf("remote agent engine %q, want scripted (agent_engine)", rs.Agent.Engine)
	}

	setup := func() int {
		return len(rm.Calls("(GET|POST)", "/v1/(agents|environments).*")) + len(rm.Calls("(GET|POST)", "/v1/sessions"))
	}
	before := setup()
	second := play(t, e, a, "sesn_local1", "again", 1, first.resume, nil)
	if second.err != nil {
		t.Fatalf("turn 2: %v", second.err)
	}
	if got := texts(second.events); !slices.Equal(got, []string{"second"}) {
		t.Errorf("turn 2 said %v, want the remote session's second turn", got)
	}
	if got := remoteSessionOf(t, second.resume); got != sid {
		t.Errorf("turn 2 ran in remote session %s, want %s", got, sid)
	}
	if n := setup() - before; n != 0 {
		t.Errorf("turn 2 made %d agent, environment or session list/create calls, want 0", n)
	}
	msgs := 0
	for _, typ := range rm.eventTypes(t, sid) {
		if typ == hangar.EventUserMessage {
			msgs++
		}
	}
	if msgs != 2 {
		t.Errorf("remote session has %d user messages, want 2", msgs)
	}
}

func TestAgentConfigHash(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	a := agent("agent_local2", `{"turns":[{"steps":[{"message":"v"}]}]}`, "")
	first := play(t, newEngine(t, rm, remoteKey), a, "sesn_a", "x", 0, "", nil)
	if first.err != nil {
		t.Fatal(first.err)
	}
	remoteAgent := rm.session(t, remoteSessionOf(t, first.resume)).Agent

	// A restarted server (fresh engine, no cache) with the same configuration finds the
	// remote agent and publishes nothing.
	again := play(t, newEngine(t, rm, remoteKey), a, "sesn_b", "x", 0, "", nil)
	if again.err != nil {
		t.Fatal(again.err)
	}
	if n := len(rm.Calls("POST", "/v1/agents.*")); n != 1 {
		t.Errorf("unchanged configuration: %d agent writes, want the 1 create", n)
	}
	if got := rm.session(t, remoteSessionOf(t, again.resume)).Agent; got.ID != remoteAgent.ID || got.Version != 1 {
		t.Errorf("unchanged configuration ran on %s v%d, want %s v1", got.ID, got.Version, remoteAgent.ID)
	}

	// A new local version with another system prompt becomes remote version 2.
	sys := "Be brief."
	b := a
	b.Version, b.System = 2, &sys
	changed := play(t, newEngine(t, rm, remoteKey), b, "sesn_c", "x", 0, "", nil)
	if changed.err != nil {
		t.Fatal(changed.err)
	}
	got := rm.session(t, remoteSessionOf(t, changed.resume)).Agent
	if got.ID != remoteAgent.ID || got.Version != 2 || got.System == nil || *got.System != sys {
		t.Errorf("changed configuration ran on %s v%d system %v, want %s v2", got.ID, got.Version, got.System, remoteAgent.ID)
	}
	if n := len(rm.Calls("POST", "/v1/agents/agent_.*")); n != 1 {
		t.Errorf("changed configuration: %d agent updates, want 1", n)
	}

	// A session still pinned to the old local version runs on remote version 1 again,
	// without another update.
	old := play(t, newEngine(t, rm, remoteKey), a, "sesn_d", "x", 0, "", nil)
	if old.err != nil {
		t.Fatal(old.err)
	}
	if got := rm.session(t, remoteSessionOf(t, old.resume)).Agent; got.Version != 1 {
		t.Errorf("old configuration ran on v%d, want v1", got.Version)
	}
	if n := len(rm.Calls("POST", "/v1/agents/agent_.*")); n != 1 {
		t.Errorf("old configuration: %d agent updates in all, want 1", n)
	}

	// A session whose agent changed under it (a session update) continues in a new
	// remote session of the new version.
	moved := play(t, newEngine(t, rm, remoteKey), b, "sesn_a", "x", 1, first.resume, nil)
	if moved.err != nil {
		t.Fatal(moved.err)
	}
	if remoteSessionOf(t, moved.resume) == remoteSessionOf(t, first.resume) {
		t.Error("changed configuration reused the remote session of the old one")
	}
}

func TestCustomToolRoundTrip(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	tools := `[{"type":"custom","name":"get_weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	a := agent("agent_local3", `{"turns":[{"steps":[{"custom_tool_use":{"name":"get_weather","input":{"city":"Paris"}}}]}]}`, tools)
	var asked engine.Event
	res := play(t, newEngine(t, rm, remoteKey), a, "sesn_x", "weather?", 0, "", func(ev engine.Event) engine.Input {
		asked = ev
		return engine.Input{Type: hangar.EventUserCustomToolResult, Content: json.RawMessage(`[{"type":"text","text":"sunny"}]`)}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if asked.Type != hangar.EventAgentCustomToolUse || !strings.HasPrefix(asked.ID, "sevt_") {
		t.Fatalf("asked with %+v", asked)
	}
	if got := texts(res.events); !slices.Equal(got, []string{"tool said: sunny"}) {
		t.Errorf("reply %v", got)
	}
	golden(t, "custom_tool.golden", normalize(res.events))
	// The remote saw the answer to its own event ID.
	evs, _, err := rm.store.ListEvents(context.Background(), remoteSessionOf(t, res.resume), hangar.EventFilter{Types: []string{hangar.EventUserCustomToolResult}, Page: hangar.Page{Limit: 10}})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Body), asked.ID) {
		t.Errorf("remote custom tool results %v (err %v), want one answering %s", evs, err, asked.ID)
	}
}

func TestToolConfirmation(t *testing.T) {
	t.Parallel()
	ask := `[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[{"name":"bash","type":"bash","enabled":true,"permission_policy":{"type":"always_ask"}}]}]`
	script := `{"turns":[{"steps":[{"tool_use":{"name":"bash","input":{"command":"ls"}},"result":"a.txt"},{"message":"after"}]}]}`
	for _, allow := range []bool{true, false} {
		t.Run(map[bool]string{true: "allow", false: "deny"}[allow], func(t *testing.T) {
			t.Parallel()
			rm := newRemote(t)
			res := play(t, newEngine(t, rm, remoteKey), agent("agent_local4", script, ask), "sesn_y", "go", 0, "", func(ev engine.Event) engine.Input {
				if ev.Type != hangar.EventAgentToolUse {
					t.Errorf("asked with %s", ev.Type)
				}
				return engine.Input{Type: hangar.EventUserToolConfirmation, Allow: allow, DenyMessage: "not now"}
			})
			if res.err != nil {
				t.Fatal(res.err)
			}
			want := []string{"after"}
			if !allow {
				want = []string{"tool use denied: not now", "after"}
			}
			if got := texts(res.events); !slices.Equal(got, want) {
				t.Errorf("said %v, want %v", got, want)
			}
			if allow {
				i := slices.IndexFunc(res.events, func(e engine.Event) bool { return e.Type == hangar.EventAgentToolResult })
				if i < 0 || res.events[i].Ref != res.events[slices.IndexFunc(res.events, func(e engine.Event) bool { return e.Type == hangar.EventAgentToolUse })].ID {
					t.Errorf("tool_result does not refer to the tool_use: %s", enginetest.Render(res.events))
				}
			}
		})
	}
}

// slowScript works until interrupted.
const slowScript = `{"turns":[{"steps":[{"message":"working"},{"sleep_ms":600000},{"message":"done"}]},{"steps":[{"message":"next turn"}]}]}`

func TestInterrupt(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	e := newEngine(t, rm, remoteKey)
	a := agent("agent_local5", slowScript, "")
	spec := enginetest.Spec(a, "go", 0)
	run, err := e.Start(t.Context(), nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	var resume string
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			t.Fatal("run ended before its message")
		}
		if ev.Type == engine.EventResume {
			resume = ev.Resume
		}
		if ev.Type == hangar.EventAgentMessage {
			break
		}
	}
	if err := run.Interrupt(t.Context()); err != nil {
		t.Fatal(err)
	}
	rest := enginetest.Drain(t, run)
	if err := run.Wait(); err != nil {
		t.Fatalf("Wait after interrupt = %v", err)
	}
	if slices.Contains(texts(rest), "done") {
		t.Error("the remote finished the interrupted turn")
	}
	sid := remoteSessionOf(t, resume)
	types := rm.eventTypes(t, sid)
	if !slices.Contains(types, hangar.EventUserInterrupt) || types[len(types)-1] != hangar.EventStatusIdle {
		t.Errorf("remote events %v, want a user.interrupt and a final idle", types)
	}
	// The session goes on: the next turn runs in the same remote session.
	next := play(t, e, a, spec.Session.ID, "again", 1, resume, nil)
	if next.err != nil || !slices.Equal(texts(next.events), []string{"next turn"}) || remoteSessionOf(t, next.resume) != sid {
		t.Errorf("next turn: %v said %v in %s", next.err, texts(next.events), next.resume)
	}
}

func TestKilledRunLeavesRemoteIdle(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	e := newEngine(t, rm, remoteKey)
	a := agent("agent_local6", slowScript, "")
	ctx, cancel := context.WithCancel(t.Context())
	run, err := e.Start(ctx, nil, enginetest.Spec(a, "go", 0))
	if err != nil {
		t.Fatal(err)
	}
	var resume string
	for {
		ev, ok := enginetest.Next(t, run)
		if !ok {
			t.Fatal("run ended early")
		}
		if ev.Type == engine.EventResume {
			resume = ev.Resume
		}
		if ev.Type == hangar.EventAgentMessage {
			break
		}
	}
	cancel()
	enginetest.Drain(t, run)
	run.Wait()
	// The next turn finds the remote settled (or settles it) and runs normally.
	next := play(t, e, a, "sesn_test", "again", 1, resume, nil)
	if next.err != nil || !slices.Equal(texts(next.events), []string{"next turn"}) {
		t.Errorf("next turn: %v said %v", next.err, texts(next.events))
	}
}

func TestRestartFindsRemoteSession(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	a := agent("agent_local7", twoTurns, "")
	first := play(t, newEngine(t, rm, remoteKey), a, "sesn_r", "hello", 0, "", nil)
	if first.err != nil {
		t.Fatal(first.err)
	}
	// A restarted server: a new engine, and the runner has no resume token.
	second := play(t, newEngine(t, rm, remoteKey), a, "sesn_r", "again", 1, "", nil)
	if second.err != nil {
		t.Fatal(second.err)
	}
	if remoteSessionOf(t, second.resume) != remoteSessionOf(t, first.resume) || !slices.Equal(texts(second.events), []string{"second"}) {
		t.Errorf("after restart: session %s said %v", second.resume, texts(second.events))
	}
	if n := len(rm.Calls("POST", "/v1/sessions")); n != 1 {
		t.Errorf("%d remote sessions created, want 1", n)
	}
}

func TestDeletedRemoteSessionStartsANewOne(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	e := newEngine(t, rm, remoteKey)
	a := agent("agent_local8", twoTurns, "")
	first := play(t, e, a, "sesn_d", "hello", 0, "", nil)
	if first.err != nil {
		t.Fatal(first.err)
	}
	if err := rm.store.DeleteSession(context.Background(), remoteSessionOf(t, first.resume)); err != nil {
		t.Fatal(err)
	}
	second := play(t, e, a, "sesn_d", "again", 1, first.resume, nil)
	if second.err != nil {
		t.Fatal(second.err)
	}
	if remoteSessionOf(t, second.resume) == remoteSessionOf(t, first.resume) || len(texts(second.events)) == 0 {
		t.Errorf("after deletion: %s said %v", second.resume, texts(second.events))
	}
}

func TestStreamDropped(t *testing.T) {
	t.Parallel()
	script := `{"turns":[{"steps":[{"message":"one"},{"message":"two"},{"thinking":true},{"message":"three"},{"tool_use":{"name":"bash"},"result":"ok"},{"message":"four"}]}]}`
	for _, tc := range []struct {
		name  string
		strip bool
	}{
		{"Last-Event-ID replay (Hangar)", false},
		{"listing the gap (no frame ids, like Anthropic)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rm := newRemote(t)
			// user.message, status_running, span start, "one": the stream ends there.
			rm.cutStream(4, tc.strip)
			res := play(t, newEngine(t, rm, remoteKey), agent("agent_local9", script, ""), "sesn_s", "go", 0, "", nil)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if got := texts(res.events); !slices.Equal(got, []string{"one", "two", "three", "four"}) {
				t.Errorf("said %v, want each message once", got)
			}
			if n := len(rm.Calls("GET", "/v1/sessions/sesn_.*/events/stream")); n != 2 {
				t.Errorf("%d stream requests, want 2", n)
			}
		})
	}
}

func TestRemoteErrors(t *testing.T) {
	t.Parallel()
	rm := newRemote(t)
	a := agent("agent_local10", `{"turns":[{"steps":[{"message":"hm"},{"error":"model_overloaded_error"}]}]}`, "")
	tests := []struct {
		name     string
		engine   func() engine.Engine
		wantType string
		wantText string
	}{
		{"wrong key is a 401", func() engine.Engine { return newEngine(t, rm, "wrong") }, "unknown_error", "401 authentication_error"},
		{"remote session error", func() engine.Engine { return newEngine(t, rm, remoteKey) }, "model_overloaded_error", "scripted failure"},
		{"unreachable remote", func() engine.Engine {
			cfg, _ := json.Marshal(anthropic.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k"})
			e, err := anthropic.New(cfg, engine.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			return e
		}, "model_request_failed_error", "could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := play(t, tt.engine(), a, "sesn_e", "x", 0, "", nil)
			var ee *engine.Error
			if !errors.As(res.err, &ee) || ee.Type != tt.wantType || !strings.Contains(ee.Message, tt.wantText) {
				t.Fatalf("Wait = %v, want a %s engine.Error mentioning %q", res.err, tt.wantType, tt.wantText)
			}
			if strings.Contains(ee.Message, remoteKey) || strings.Contains(ee.Message, "wrong") {
				t.Errorf("message %q shows the key", ee.Message)
			}
		})
	}
}

func TestNoKey(t *testing.T) {
	t.Parallel()
	e, err := anthropic.New(nil, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Start(t.Context(), nil, enginetest.Spec(agent("agent_k", "{}", ""), "x", 0))
	var ee *engine.Error
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "no API key") {
		t.Errorf("Start without a key = %v", err)
	}
	for _, bad := range []string{`{"base_url":"ftp://x"}`, `{"bogus":1}`, `{"base_url":"https://user:pw@host"}`} {
		if _, err := anthropic.New(json.RawMessage(bad), engine.Deps{}); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
}

func TestConformance(t *testing.T) {
	rm := newRemote(t)
	enginetest.Run(t, enginetest.Harness{
		New: func(t *testing.T) engine.Engine { return newEngine(t, rm, remoteKey) },
		Agent: func(t *testing.T) hangar.Agent {
			return agent(hangar.NewID(hangar.PrefixAgent), `{"turns":[{"steps":[{"message":"hi"}]}]}`, "")
		},
		SlowAgent: func(t *testing.T) hangar.Agent { return agent(hangar.NewID(hangar.PrefixAgent), slowScript, "") },
	})
}

// TestCapabilities pins what the engine declares.
func TestCapabilities(t *testing.T) {
	e, _ := anthropic.New(nil, engine.Deps{})
	want := engine.Capabilities{CustomTools: true, ToolConfirmation: true, Interrupt: true, Resume: true, NoSandbox: true}
	if got := e.Capabilities(); got != want {
		t.Errorf("Capabilities = %+v", got)
	}
}

// TestBusyRemoteIsSettled: when another client left the remote session running, or
// waiting on a custom tool answer, the next turn interrupts that first and then runs.
func TestBusyRemoteIsSettled(t *testing.T) {
	t.Parallel()
	say := func(text string) []engine.Event {
		return []engine.Event{{Type: hangar.EventAgentMessage, Body: map[string]any{"content": engine.TextContent(text)}}}
	}
	tests := []struct {
		name     string
		busy     enginetest.Script // the other client's turn, left unfinished
		waitIdle bool              // it goes idle (requires_action) before the next turn
	}{
		{"running", enginetest.Script{Block: make(chan struct{})}, false},
		{"awaiting a custom tool answer", enginetest.Script{Events: []engine.Event{{
			Type: hangar.EventAgentCustomToolUse, ID: "t1", RequiresAction: true, Body: map[string]any{"name": "ask", "input": map[string]any{}},
		}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &enginetest.Scripted{
				Caps: engine.Capabilities{NoSandbox: true, Interrupt: true, CustomTools: true},
				Runs: []enginetest.Script{{Events: say("first")}, tt.busy, {Events: say("third")}},
			}
			rm := newRemote(t, fake)
			e := newEngine(t, rm, remoteKey, "fake")
			a := agent("agent_busy", "{}", "")
			first := play(t, e, a, "sesn_busy", "one", 0, "", nil)
			if first.err != nil {
				t.Fatal(first.err)
			}
			sid := remoteSessionOf(t, first.resume)
			live, cancel := rm.hub.Subscribe(sid)
			defer cancel()
			rm.sendMessage(t, sid, "two")
			for tt.waitIdle {
				ev := <-live
				tt.waitIdle = ev.Type != hangar.EventStatusIdle
			}
			third := play(t, e, a, "sesn_busy", "three", 1, first.resume, nil)
			if third.err != nil || !slices.Equal(texts(third.events), []string{"third"}) {
				t.Fatalf("turn after the busy one: %v said %v", third.err, texts(third.events))
			}
			if types := rm.eventTypes(t, sid); !slices.Contains(types, hangar.EventUserInterrupt) {
				t.Errorf("remote events %v: the busy turn was not interrupted", types)
			}
		})
	}
}
