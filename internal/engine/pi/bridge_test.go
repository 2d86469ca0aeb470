package pi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

func TestBridgeConfigAndArgs(t *testing.T) {
	tools := json.RawMessage(`[
		{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}},"configs":[{"name":"read","permission_policy":{"type":"always_allow"}},{"name":"edit","enabled":false}]},
		{"type":"custom","name":"get_weather","description":"weather","input_schema":{"type":"object"}}]`)
	spec := enginetest.Spec(hangar.Agent{Tools: tools}, "hi", 0)
	var cfg struct {
		Custom []CustomTool `json:"custom_tools"`
		Ask    []string     `json:"ask"`
	}
	if err := json.Unmarshal(BridgeConfig(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bash", "write", "find", "ls", "grep"}, cfg.Ask); diff != "" {
		t.Errorf("ask (-want +got):\n%s", diff)
	}
	if len(cfg.Custom) != 1 || cfg.Custom[0].Name != "get_weather" || !strings.Contains(string(cfg.Custom[0].InputSchema), `"object"`) {
		t.Errorf("custom tools %+v", cfg.Custom)
	}
	args := strings.Join(Args(spec), " ")
	// The bridge, not --tools, activates the built-in tools (with the custom ones).
	if want := "--no-extensions -e /home/agent/.pi/hangar/bridge.ts --no-builtin-tools"; !strings.HasSuffix(args, want) {
		t.Errorf("Args do not end with %q: %s", want, args)
	}
	var active struct {
		Tools []string `json:"tools"`
	}
	json.Unmarshal(BridgeConfig(spec), &active)
	if diff := cmp.Diff([]string{"bash", "read", "write", "find", "ls", "grep"}, active.Tools); diff != "" {
		t.Errorf("bridge tools (-want +got):\n%s", diff)
	}
	if env := strings.Join(Env(spec), "\n"); !strings.Contains(env, "HANGAR_PI_BRIDGE=/home/agent/.pi/hangar/bridge.json") {
		t.Errorf("Env lacks the bridge config:\n%s", env)
	}

	// Custom tools only: no built-in tool, but the custom ones stay.
	spec = enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[{"type":"custom","name":"x"}]`)}, "hi", 0)
	if args := strings.Join(Args(spec), " "); !strings.Contains(args, "--no-builtin-tools") || strings.Contains(args, "--no-tools") {
		t.Errorf("Args with custom tools only: %s", args)
	}
	// Neither: no bridge.
	spec = enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[{"type":"agent_toolset_20260401"}]`)}, "hi", 0)
	if BridgeConfig(spec) != nil || strings.Contains(strings.Join(Args(spec), " "), " -e ") {
		t.Errorf("bridge without custom tools or always_ask: %s", BridgeConfig(spec))
	}
}

func TestRequestResponse(t *testing.T) {
	tests := []struct {
		req  Request
		in   engine.Input
		want string
	}{
		{Request{UIID: "u1"}, engine.Input{Content: json.RawMessage(`[{"type":"text","text":"sunny"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]`)},
			`{"id":"u1","type":"extension_ui_response","value":"{\"content\":[{\"text\":\"sunny\",\"type\":\"text\"},{\"data\":\"iVBO\",\"mimeType\":\"image/png\",\"type\":\"image\"}],\"is_error\":false}"}`},
		{Request{UIID: "u2"}, engine.Input{IsError: true},
			`{"id":"u2","type":"extension_ui_response","value":"{\"content\":[],\"is_error\":true}"}`},
		{Request{UIID: "u3", Confirmation: true}, engine.Input{Allow: false, DenyMessage: "no"},
			`{"id":"u3","type":"extension_ui_response","value":"{\"allow\":false,\"message\":\"no\"}"}`},
	}
	for _, tt := range tests {
		if got := string(tt.req.Response(tt.in)); got != tt.want+"\n" {
			t.Errorf("Response = %s, want %s", got, tt.want)
		}
	}
}

// TestTranslateBridgeEdges covers bridge dialogs that do not come: a call held for
// confirmation that fails before the bridge asks is announced with its result, a custom
// call that fails so is dropped, and a malformed dialog is cancelled.
func TestTranslateBridgeEdges(t *testing.T) {
	var unknown, replies []string
	tr := &Translator{
		Unknown: func(typ string, _ []byte) { unknown = append(unknown, typ) },
		Reply:   func(b []byte) { replies = append(replies, string(b)) },
		Custom:  map[string]bool{"get_weather": true},
		Ask:     map[string]bool{"bash": true},
	}
	var evs []engine.Event
	for _, l := range []string{
		`{"type":"turn_start"}`,
		`{"type":"message_end","message":{"role":"assistant","content":[{"type":"toolCall","id":"c1","name":"bash","arguments":{"command":"ls"}},{"type":"toolCall","id":"c2","name":"get_weather","arguments":{}}],"stopReason":"toolUse"}}`,
		`{"type":"tool_execution_start","toolCallId":"c1","toolName":"bash","args":{"command":"ls"}}`,
		`{"type":"tool_execution_end","toolCallId":"c1","toolName":"bash","result":{"content":[{"type":"text","text":"aborted"}]},"isError":true}`,
		`{"type":"tool_execution_end","toolCallId":"c2","toolName":"get_weather","result":{"content":[{"type":"text","text":"invalid"}]},"isError":true}`,
		`{"type":"extension_ui_request","id":"u9","method":"input","title":"hangar.custom_tool_use","placeholder":"not json"}`,
	} {
		evs = append(evs, tr.Line([]byte(l))...)
	}
	enginetest.CheckEvents(t, evs)
	want := []string{"span.model_request_start", "span.model_request_end", "agent.tool_use", "agent.tool_result"}
	if diff := cmp.Diff(want, enginetest.Types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if b, _ := json.Marshal(evs[2].Body); evs[2].RequiresAction || !strings.Contains(string(b), `"evaluated_permission":"allow"`) {
		t.Errorf("held call announced as %s (requires action %v)", b, evs[2].RequiresAction)
	}
	if diff := cmp.Diff([]string{"tool_execution_end", "extension_ui_request"}, unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
	if len(replies) != 1 || !strings.Contains(replies[0], `"id":"u9"`) {
		t.Errorf("replies %q, want the malformed dialog cancelled", replies)
	}
}
