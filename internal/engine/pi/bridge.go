package pi

import (
	_ "embed"
	"encoding/json"
	"path"

	"github.com/hangar-dev/hangar/internal/engine"
)

// pi has neither custom tools of a client nor permission prompts, but its extensions can
// register tools and gate tool calls, and in RPC mode an extension's dialogs become
// extension_ui_request lines that the RPC client answers. bridge.ts is such an extension:
// Start writes it and its configuration into HOME, and the Translator turns its dialogs
// into agent.custom_tool_use and agent.tool_use events that await the client.

//go:embed bridge.ts
var bridgeSource []byte

// Dialog titles of the bridge's requests.
const (
	dialogCustomTool   = "hangar.custom_tool_use"
	dialogConfirmation = "hangar.tool_confirmation"
)

// statusMCPError is the status key under which the bridge reports an MCP server that
// failed to connect.
const statusMCPError = "hangar.mcp_error"

// BridgePath and BridgeConfigPath return where Start writes the bridge extension and its
// configuration.
func BridgePath(spec engine.Spec) string { return path.Join(home(spec), ".pi", "hangar", "bridge.ts") }

func BridgeConfigPath(spec engine.Spec) string {
	return path.Join(home(spec), ".pi", "hangar", "bridge.json")
}

// CustomTool is one of an agent's custom tools ({type:"custom", name, description,
// input_schema}).
type CustomTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// CustomTools returns the custom tools of an agent's tools JSON.
func CustomTools(tools json.RawMessage) []CustomTool {
	var list []struct {
		Type string `json:"type"`
		CustomTool
	}
	if json.Unmarshal(tools, &list) != nil {
		return nil
	}
	var out []CustomTool
	for _, t := range list {
		if t.Type == "custom" && t.Name != "" {
			out = append(out, t.CustomTool)
		}
	}
	return out
}

// AskTools returns the enabled pi tools whose agent toolset permission policy is
// always_ask.
func AskTools(tools json.RawMessage) []string {
	var out []string
	for _, n := range Tools(tools) {
		cma := cmaToolName(n)
		if n == "ls" {
			cma = "glob"
		}
		if engine.PermissionPolicy(tools, cma) == "always_ask" {
			out = append(out, n)
		}
	}
	return out
}

// BridgeConfig returns the bridge's configuration for a turn of spec, or nil when the
// agent has no custom tools, no tools to confirm and no MCP servers (pi then runs without
// it). pi's --tools allowlist would drop the MCP tools, whose names are known only once
// the bridge has listed them, so with the bridge pi starts with no built-in tool active
// and the bridge activates the enabled built-in tools ("tools"), the custom tools and the
// MCP tools itself.
func BridgeConfig(spec engine.Spec) []byte {
	tools := agentTools(spec)
	custom, ask, mcp := CustomTools(tools), AskTools(tools), MCPServers(spec)
	if len(custom) == 0 && len(ask) == 0 && len(mcp) == 0 {
		return nil
	}
	builtin := Tools(tools)
	if builtin == nil {
		builtin = []string{}
	}
	if custom == nil {
		custom = []CustomTool{}
	}
	if ask == nil {
		ask = []string{}
	}
	if mcp == nil {
		mcp = []MCPServer{}
	}
	b, _ := json.MarshalIndent(map[string]any{"tools": builtin, "custom_tools": custom, "ask": ask, "mcp_servers": mcp}, "", "  ")
	return append(b, '\n')
}

func agentTools(spec engine.Spec) json.RawMessage {
	if spec.Session == nil {
		return nil
	}
	return spec.Session.Agent.Tools
}

// Request is a bridge dialog awaiting the client's answer.
type Request struct {
	// UIID is the id of the extension_ui_request.
	UIID string
	// Confirmation is true for a tool confirmation, false for a custom tool call.
	Confirmation bool
}

// Response returns the extension_ui_response line that answers r with the client's
// input.
func (r Request) Response(in engine.Input) []byte {
	var value any
	if r.Confirmation {
		value = map[string]any{"allow": in.Allow, "message": in.DenyMessage}
	} else {
		value = map[string]any{"content": piContent(in.Content), "is_error": in.IsError}
	}
	v, _ := json.Marshal(value)
	b, _ := json.Marshal(map[string]any{"type": "extension_ui_response", "id": r.UIID, "value": string(v)})
	return append(b, '\n')
}

// piContent converts CMA content blocks (text, base64 images) into pi's.
func piContent(content json.RawMessage) []map[string]string {
	var blocks []struct {
		Type   string `json:"type"`
		Text   string `json:"text"`
		Source struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
		} `json:"source"`
	}
	_ = json.Unmarshal(content, &blocks)
	out := []map[string]string{}
	for _, b := range blocks {
		switch {
		case b.Type == "text":
			out = append(out, map[string]string{"type": "text", "text": b.Text})
		case b.Type == "image" && b.Source.Type == "base64":
			out = append(out, map[string]string{"type": "image", "data": b.Source.Data, "mimeType": b.Source.MediaType})
		}
	}
	return out
}
