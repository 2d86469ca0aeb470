package main

// The anthropic engine end to end: a real Hangar whose agents run on the "anthropic"
// engine, pointed at a second real Hangar (scripted engine) standing in for Anthropic's
// hosted Managed Agents API. The official SDK drives the first one; the second is checked
// through the same SDK.

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

var updateAnthropicGolden = flag.Bool("update-anthropic", false, "rewrite testdata/anthropic_transcript.golden")

func TestE2EAnthropic(t *testing.T) {
	t.Parallel()
	remote := startServer(t)
	local := startServer(t, func(c *Config) {
		c.CMAURL, c.CMAKey, c.CMAAgentEngine = remote.URL, hangar.Secret(testAPIKey), "scripted"
	})
	c, ctx := local.Client, testContext(t)

	// Turn 1 asks a custom tool and answers with the next script turn; turn 2 (the second
	// local turn, in the same remote session) runs bash; turn 3 works until interrupted.
	meta := scriptMetadata(t,
		[]scriptStep{{"message": "checking the weather"}, {"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Paris"}}}},
		[]scriptStep{{"message": "It is sunny in Paris."}},
		[]scriptStep{{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, "result": "a.txt"}, {"message": "second turn"}},
		[]scriptStep{{"message": "working"}, {"sleep_ms": 600000}, {"message": "never"}},
	)
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:     "remote-agent",
		Model:    anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
		Metadata: meta,
		Tools: []anthropic.BetaAgentNewParamsToolUnion{
			{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{}},
			{OfCustom: &anthropic.BetaManagedAgentsCustomToolParams{
				Name: "get_weather", Description: "Current weather for a city",
				InputSchema: anthropic.BetaManagedAgentsCustomToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}},
			}},
		},
	}, withEngine("anthropic"))
	if err != nil {
		t.Fatalf("create agent on the anthropic engine: %v", err)
	}
	sess := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	stream := openStream(t, ctx, c, sess.ID)

	// Turn 1: the custom tool round trip through the remote.
	send(t, c, sess.ID, userMessage("weather in Paris?"))
	evs := readUntil(t, stream, isIdle)
	idle := evs[len(evs)-1]
	i := slices.IndexFunc(evs, isTypeEv("agent.custom_tool_use"))
	if i < 0 || idle.StopReason.Type != "requires_action" || !slices.Equal(idle.StopReason.EventIDs, []string{evs[i].ID}) {
		t.Fatalf("turn 1: want agent.custom_tool_use and requires_action naming it, got %v / %s", eventTypes(evs), idle.RawJSON())
	}
	use := evs[i]
	if input, _ := use.Input.(map[string]any); use.Name != "get_weather" || input["city"] != "Paris" {
		t.Errorf("custom tool use %s", use.RawJSON())
	}
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: use.ID,
		Content:         []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "sunny"}}},
	}})
	evs = readUntil(t, stream, isIdle)
	if got := messages(evs); !slices.Equal(got, []string{"It is sunny in Paris."}) || evs[len(evs)-1].StopReason.Type != "end_turn" {
		t.Fatalf("after the tool result: said %v, %s", got, evs[len(evs)-1].RawJSON())
	}

	// Turn 2 continues the same remote session.
	send(t, c, sess.ID, userMessage("list files"))
	evs = readUntil(t, stream, isIdle)
	if got := messages(evs); !slices.Equal(got, []string{"second turn"}) {
		t.Fatalf("turn 2 said %v (%v)", got, eventTypes(evs))
	}
	j, k := slices.IndexFunc(evs, isTypeEv("agent.tool_use")), slices.IndexFunc(evs, isTypeEv("agent.tool_result"))
	if j < 0 || k < 0 || evs[k].ToolUseID != evs[j].ID {
		t.Errorf("turn 2: tool_result does not answer the local tool_use: %v", eventTypes(evs))
	}

	// Turn 3 is interrupted while the remote works.
	send(t, c, sess.ID, userMessage("work"))
	readUntil(t, stream, isTypeEv("agent.message"))
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}})
	evs = readUntil(t, stream, isIdle)
	if slices.Contains(messages(evs), "never") || evs[len(evs)-1].StopReason.Type != "end_turn" {
		t.Errorf("after the interrupt: %v, %s", messages(evs), evs[len(evs)-1].RawJSON())
	}

	// The remote has one agent, one session (three turns, one interrupt) for this session.
	rs := remote.Client.Beta.Sessions.ListAutoPaging(ctx, anthropic.BetaSessionListParams{})
	var remoteSessions []anthropic.BetaManagedAgentsSession
	for rs.Next() {
		remoteSessions = append(remoteSessions, rs.Current())
	}
	if err := rs.Err(); err != nil || len(remoteSessions) != 1 {
		t.Fatalf("remote sessions %d (err %v), want 1", len(remoteSessions), err)
	}
	r := remoteSessions[0]
	if r.Metadata["hangar.session"] != sess.ID || r.Agent.Name != "remote-agent" {
		t.Errorf("remote session %s", r.RawJSON())
	}
	_, remoteTypes := listEventIDs(t, remote.Client, r.ID, anthropic.BetaSessionEventListParams{})
	if n := countOf(remoteTypes, "user.message"); n != 3 || countOf(remoteTypes, "user.interrupt") != 1 {
		t.Errorf("remote events %v, want 3 user.message and 1 user.interrupt", remoteTypes)
	}

	// Usage reported by the remote's spans reaches the local session.
	got, err := c.Beta.Sessions.Get(ctx, sess.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Usage.OutputTokens == 0 {
		t.Errorf("local session usage %s, want the remote's tokens", got.JSON.Usage.Raw())
	}

	checkAnthropicGolden(t, c, sess.ID)
}

// TestE2EAnthropicRemoteRejectsKey: a remote that refuses the key fails the turn with a
// session.error, and the server keeps serving.
func TestE2EAnthropicRemoteRejectsKey(t *testing.T) {
	t.Parallel()
	remote := startServer(t)
	local := startServer(t, func(c *Config) {
		c.CMAURL, c.CMAKey, c.CMAAgentEngine = remote.URL, "wrong-key", "scripted"
	})
	c, ctx := local.Client, testContext(t)
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "remote-agent",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
	}, withEngine("anthropic"))
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("hi"))
	evs := readUntil(t, stream, isIdle)
	i := slices.IndexFunc(evs, isTypeEv("session.error"))
	if i < 0 || evs[len(evs)-1].StopReason.Type != "retries_exhausted" {
		t.Fatalf("want session.error then retries_exhausted, got %v", eventTypes(evs))
	}
	if msg := evs[i].Error.Message; !strings.Contains(msg, "401") || strings.Contains(msg, "wrong-key") {
		t.Errorf("session.error message %q: want the 401, never the key", msg)
	}
}

func withEngine(name string) option.RequestOption { return option.WithJSONSet("engine", name) }

func isTypeEv(typ string) func(anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
	return func(ev anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool { return ev.Type == typ }
}

func messages(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == "agent.message" {
			out = append(out, agentText(ev))
		}
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// goldenIDs matches generated IDs in event JSON.
var goldenIDs = regexp.MustCompile(`\b(sevt|sesn|agent|env)_[0-9A-Za-z]+`)

// checkAnthropicGolden compares the local session's stored transcript, one event per line
// without timestamps and spans (their place around client answers depends on timing), with
// IDs numbered by first appearance.
func checkAnthropicGolden(t *testing.T, c anthropic.Client, sessionID string) {
	t.Helper()
	iter := c.Beta.Sessions.Events.ListAutoPaging(testContext(t), sessionID, anthropic.BetaSessionEventListParams{})
	var b strings.Builder
	for iter.Next() {
		var m map[string]any
		if err := json.Unmarshal([]byte(iter.Current().RawJSON()), &m); err != nil {
			t.Fatal(err)
		}
		// Spans and the session.usage snapshots after them carry timings.
		if typ, _ := m["type"].(string); strings.HasPrefix(typ, "span.") || typ == "session.usage" {
			continue
		}
		delete(m, "processed_at")
		line, _ := json.Marshal(m)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	seen, n := map[string]string{}, map[string]int{}
	got := goldenIDs.ReplaceAllStringFunc(b.String(), func(id string) string {
		if v, ok := seen[id]; ok {
			return v
		}
		prefix := id[:strings.Index(id, "_")]
		n[prefix]++
		seen[id] = prefix + "_" + strconv.Itoa(n[prefix])
		return seen[id]
	})
	path := filepath.Join("testdata", "anthropic_transcript.golden")
	if *updateAnthropicGolden {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-anthropic to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("transcript mismatch (-want +got):\n%s", diff)
	}
}

// TestEngineConfigAnthropic: the engine's key is HANGAR_CMA_API_KEY, else ANTHROPIC_API_KEY.
func TestEngineConfigAnthropic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantKey string
	}{
		{"own key", Config{CMAKey: "ck", UpstreamKey: "ak", CMAURL: "http://127.0.0.1:1"}, "ck"},
		{"falls back to ANTHROPIC_API_KEY", Config{UpstreamKey: "ak"}, "ak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.CacheDir = t.TempDir()
			out, err := engineConfigs(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				BaseURL string `json:"base_url"`
				APIKey  string `json:"api_key"`
			}
			if err := json.Unmarshal(out["anthropic"], &got); err != nil {
				t.Fatalf("anthropic engine config %s: %v", out["anthropic"], err)
			}
			if got.APIKey != tt.wantKey || got.BaseURL != tt.cfg.CMAURL {
				t.Errorf("anthropic engine config %+v, want key %q and base URL %q", got, tt.wantKey, tt.cfg.CMAURL)
			}
		})
	}
}

// TestE2EAnthropicToolConfirmation: an always_ask tool of the remote agent asks the local
// client, and the confirmation goes back to the remote.
func TestE2EAnthropicToolConfirmation(t *testing.T) {
	t.Parallel()
	remote := startServer(t)
	local := startServer(t, func(c *Config) {
		c.CMAURL, c.CMAKey, c.CMAAgentEngine = remote.URL, hangar.Secret(testAPIKey), "scripted"
	})
	c, ctx := local.Client, testContext(t)
	meta := scriptMetadata(t, []scriptStep{
		{"tool_use": map[string]any{"name": "bash", "input": map[string]any{"command": "ls"}}, "result": "file.txt"},
		{"message": "listed"},
	})
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:     "asker",
		Model:    anthropic.BetaManagedAgentsModelConfigParams{ID: anthropic.BetaManagedAgentsModelClaudeSonnet4_6},
		Metadata: meta,
		Tools: []anthropic.BetaAgentNewParamsToolUnion{{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{
			DefaultConfig: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParams{
				PermissionPolicy: anthropic.BetaManagedAgentsAgentToolsetDefaultConfigParamsPermissionPolicyUnion{OfAlwaysAsk: &anthropic.BetaManagedAgentsAlwaysAskPolicyParam{}},
			},
		}}},
	}, withEngine("anthropic"))
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("list files"))
	evs := readUntil(t, stream, isIdle)
	i := slices.IndexFunc(evs, isTypeEv("agent.tool_use"))
	if i < 0 || evs[i].EvaluatedPermission != "ask" || !slices.Equal(evs[len(evs)-1].StopReason.EventIDs, []string{evs[i].ID}) {
		t.Fatalf("want agent.tool_use asking and requires_action naming it, got %v / %s", eventTypes(evs), evs[len(evs)-1].RawJSON())
	}
	use := evs[i]
	send(t, c, sess.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{
		ToolUseID: use.ID, Result: anthropic.BetaManagedAgentsUserToolConfirmationEventParamsResultAllow,
	}})
	evs = readUntil(t, stream, isIdle)
	j := slices.IndexFunc(evs, isTypeEv("agent.tool_result"))
	if j < 0 || evs[j].ToolUseID != use.ID || !slices.Equal(messages(evs), []string{"listed"}) {
		t.Errorf("after the confirmation: %v", eventTypes(evs))
	}
}
