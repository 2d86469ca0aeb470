package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/fakemodel"
)

// engineCase is one engine driven end to end through the SDK, its real CLI in the local
// sandbox and the egress proxy, against the fake model.
type engineCase struct {
	name  string // engine name
	model string
	// shell, for engines on the Anthropic API, is the CLI's shell tool and the extra input
	// it requires; the fake answers "TOOL:bash <cmd>" with a call of it. Engines on other
	// APIs rely on the fake's own defaults for those APIs.
	shell      string
	shellExtra map[string]any
}

var engineCases = []engineCase{
	{name: "opencode", model: "claude-sonnet-4-6", shell: "bash", shellExtra: map[string]any{"description": "run the command"}},
	{name: "codex", model: "gpt-5.1-codex"},
	{name: "gemini", model: "gemini-2.5-flash"},
	{name: "pi", model: "claude-sonnet-4-6", shell: "bash"},
	{name: "factory", model: "claude-sonnet-4-6", shell: "Execute", shellExtra: map[string]any{
		"summary": "run the command", "riskLevel": "low", "riskLevelReason": "a test command"}},
}

// script answers like fakemodel.Default, but calls the engine's own shell tool.
func (ec engineCase) script(req fakemodel.Request) fakemodel.Response {
	if _, ok := req.LastToolResult(); ok || ec.shell == "" || !req.HasTool(ec.shell) {
		return fakemodel.Default(req)
	}
	text := req.LastUserText()
	i := strings.Index(text, fakemodel.ToolMarker)
	if i < 0 {
		return fakemodel.Default(req)
	}
	cmd := strings.TrimSpace(strings.SplitN(text[i+len(fakemodel.ToolMarker):], "\n", 2)[0])
	input := map[string]any{"command": cmd}
	for k, v := range ec.shellExtra {
		input[k] = v
	}
	return fakemodel.ToolUse(ec.shell, input)
}

// engineServer starts Hangar with the fake model behind every vendor's upstream, skipping
// when the engine's CLI or bubblewrap is not installed (scripts/install-test-deps
// installs them).
func engineServer(t *testing.T, ec engineCase) (*testServer, *fakemodel.Server) {
	t.Helper()
	cache, err := cacheDir(os.Getenv)
	if err != nil {
		t.Skipf("no cache dir: %v", err)
	}
	if _, err := installers()[ec.name].Find(cache); errors.Is(err, engine.ErrNotInstalled) {
		t.Skipf("the %s CLI is not installed (run scripts/install-test-deps): %v", ec.name, err)
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (run scripts/install-test-deps)")
	}
	fake := &fakemodel.Server{}
	if ec.shell != "" {
		fake.Script = ec.script
	}
	upstream := httptest.NewServer(fake)
	t.Cleanup(upstream.Close)
	srv := startServer(t, func(c *Config) {
		c.CacheDir = cache
		c.UpstreamURL, c.UpstreamKey = upstream.URL, hangar.Secret(realUpstreamKey)
		c.OpenAIURL, c.OpenAIKey = upstream.URL, hangar.Secret(realUpstreamKey)
		c.GeminiURL, c.GeminiKey = upstream.URL, hangar.Secret(realUpstreamKey)
	})
	return srv, fake
}

// TestE2EEngines runs every engine through the same story: a tool round that writes a
// file in the workspace, a second turn that reads it back (the CLI's own conversation
// resumed), and an interrupt of a model stream that never ends.
func TestE2EEngines(t *testing.T) {
	t.Parallel()
	for _, ec := range engineCases {
		t.Run(ec.name, func(t *testing.T) {
			t.Parallel()
			srv, fake := engineServer(t, ec)
			c := srv.Client
			a, err := c.Beta.Agents.New(testContext(t), anthropic.BetaAgentNewParams{
				Name:  ec.name,
				Model: anthropic.BetaManagedAgentsModelConfigParams{ID: ec.model},
			}, option.WithJSONSet("engine", ec.name), option.WithJSONSet("tools", []map[string]any{{"type": "agent_toolset_20260401"}}))
			if err != nil {
				t.Fatalf("create agent: %v", err)
			}
			env := newEnvironment(t, c, "sandbox")
			sess := newSession(t, c, a.ID, env.ID)
			// Three turns of a Node CLI on two loaded cores can take more than
			// testContext's minute; the stream lives for the whole story.
			streamCtx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
			defer cancel()
			stream := openStream(t, streamCtx, c, sess.ID)

			send(t, c, sess.ID, userMessage("TOOL:bash echo written-by-"+ec.name+" > out.txt"))
			turn1 := readUntil(t, stream, isIdle)
			if idle := turn1[len(turn1)-1]; idle.StopReason.Type != "end_turn" {
				logEvents(t, turn1)
				t.Fatalf("turn 1 ended with %s", idle.RawJSON())
			}
			if got := eventTypes(withoutSpans(turn1)); !containsInOrder(got, "agent.tool_use", "agent.tool_result", "agent.message") {
				logEvents(t, turn1)
				t.Errorf("turn 1 events = %v", got)
			}
			checkUsage(t, c, sess.ID, turn1)
			out, err := os.ReadFile(filepath.Join(srv.DataDir, "sandboxes", sess.ID, "workspace", "out.txt"))
			if err != nil || strings.TrimSpace(string(out)) != "written-by-"+ec.name {
				t.Fatalf("workspace out.txt = %q, %v", out, err)
			}

			send(t, c, sess.ID, userMessage("TOOL:bash cat out.txt"))
			var result string
			for _, ev := range readUntil(t, stream, isIdle) {
				if ev.Type == "agent.tool_result" {
					result = ev.RawJSON()
				}
			}
			if !strings.Contains(result, "written-by-"+ec.name) {
				t.Errorf("turn 2 tool_result = %s", result)
			}
			reqs := fake.Requests()
			if last, _ := json.Marshal(reqs[len(reqs)-1].Body); !strings.Contains(string(reqs[len(reqs)-1].Body), "echo written-by-"+ec.name) {
				t.Errorf("turn 2 did not resume the CLI's conversation (turn 1's command is not in the last request): %.300s", last)
			}
			for _, r := range reqs {
				if strings.Contains(string(r.Body), realUpstreamKey) {
					t.Error("a model request body carries the real key")
				}
			}

			hold := make(chan struct{})
			t.Cleanup(func() { close(hold) })
			fake.Push(fakemodel.Response{Content: []fakemodel.Block{{Type: "text", Text: "never finishes"}}, Hold: hold})
			send(t, c, sess.ID, userMessage("take your time"))
			// Interrupt once the CLI is waiting on the model.
			readUntil(t, stream, isType("span.model_request_start"))
			send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
			evs := readUntil(t, stream, isIdle)
			if idle := evs[len(evs)-1]; idle.StopReason.Type != "end_turn" {
				logEvents(t, evs)
				t.Errorf("after the interrupt: %s", idle.RawJSON())
			}
		})
	}
}

// checkUsage asserts that a turn's model requests reported the fake model's token counts
// in span.model_request_end events and that the session's usage adds them up.
func checkUsage(t *testing.T, c anthropic.Client, sessionID string, turn []anthropic.BetaManagedAgentsStreamSessionEventsUnion) {
	t.Helper()
	var in, out int64
	for _, ev := range turn {
		if ev.Type == "span.model_request_end" {
			in += ev.ModelUsage.InputTokens
			out += ev.ModelUsage.OutputTokens
		}
	}
	if in == 0 || out == 0 {
		t.Errorf("the turn's span.model_request_end events report %d input and %d output tokens, want both > 0", in, out)
		return
	}
	got, err := c.Beta.Sessions.Get(testContext(t), sessionID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatalf("get session: %v", err)
	}
	if got.Usage.InputTokens < in || got.Usage.OutputTokens < out {
		t.Errorf("session usage %s, want at least the spans' %d input and %d output tokens", got.JSON.Usage.Raw(), in, out)
	}
}

func logEvents(t *testing.T, evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) {
	t.Helper()
	for _, ev := range evs {
		t.Log(ev.RawJSON())
	}
}

// containsInOrder reports whether want appear in got in that order (not necessarily
// adjacent).
func containsInOrder(got []string, want ...string) bool {
	for _, g := range got {
		if len(want) > 0 && g == want[0] {
			want = want[1:]
		}
	}
	return len(want) == 0
}
