package native

import (
	"encoding/json"
	"strings"
)

// System turns (engine.Spec.System, docs/streaming.md). The Messages API has no system
// role inside messages, and the request's top-level system prompt is the agent's. Like the
// claude engine, each system.message becomes a <system-reminder> text block after the user
// message it accompanies; it stays in the conversation (and its resume token), so every
// later turn keeps it.
func systemBlocks(system []string) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(system))
	for _, s := range system {
		b, _ := json.Marshal(map[string]string{"type": "text", "text": "<system-reminder>\n" + strings.TrimSpace(s) + "\n</system-reminder>"})
		out = append(out, b)
	}
	return out
}
