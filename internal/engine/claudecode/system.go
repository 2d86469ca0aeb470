package claudecode

import (
	"encoding/json"
	"strings"
)

// System turns (engine.Spec.System, docs/streaming.md). The CLI's stream-json input takes
// user messages only, and Claude Code itself brings mid-conversation system context to the
// model as <system-reminder> blocks inside the user turn. Hangar does the same: each
// system.message becomes a text block wrapped in <system-reminder> tags appended after the
// user message it accompanies. It stays in the CLI's conversation, so later turns (which
// resume it) keep it too.

// withSystem appends the system turns to a user message's content blocks.
func withSystem(content json.RawMessage, system []string) json.RawMessage {
	if len(system) == 0 {
		return content
	}
	var blocks []json.RawMessage
	if json.Unmarshal(content, &blocks) != nil {
		blocks = nil
	}
	for _, s := range system {
		b, _ := json.Marshal(map[string]string{"type": "text", "text": "<system-reminder>\n" + strings.TrimSpace(s) + "\n</system-reminder>"})
		blocks = append(blocks, b)
	}
	out, _ := json.Marshal(blocks)
	return out
}
