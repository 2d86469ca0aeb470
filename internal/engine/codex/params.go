package codex

import (
	"encoding/json"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// ThreadParams returns the parameters of the thread/start request of a turn of spec, or
// with spec.Resume set, of its thread/resume request. The approval policy is "untrusted"
// when a tool the server asks about (bash, edit, write) has the always_ask policy: the
// server then asks before every command and file change, and the run answers at once
// for the tools that do not ask. Otherwise it is "never".
func (e *Engine) ThreadParams(spec engine.Spec) map[string]any {
	// No cwd: the server's working directory, spec.WorkDir, is the thread's.
	p := map[string]any{"sandbox": "danger-full-access", "approvalPolicy": "never"}
	var a hangar.Agent
	if spec.Session != nil {
		a = spec.Session.Agent
	}
	if a.Model.ID != "" {
		p["model"] = a.Model.ID
	}
	if a.System != nil && *a.System != "" {
		key := "developerInstructions"
		if e.cfg.SystemPrompt == "replace" {
			key = "baseInstructions"
		}
		p[key] = *a.System
	}
	if asker(a.Tools) != nil {
		p["approvalPolicy"] = "untrusted"
	}
	if spec.Resume != "" {
		p["threadId"] = spec.Resume
		// The thread's history is the CLI's business; the reply need not carry it.
		p["excludeTurns"] = true
	}
	return p
}

// askTools are the CMA agent tools whose uses the server asks about.
var askTools = []string{"bash", "edit", "write"}

// asker returns the Translator.Ask of an agent's tools JSON, nil when no tool asks.
func asker(tools json.RawMessage) func(tool string) bool {
	ask := map[string]bool{}
	for _, n := range askTools {
		if engine.PermissionPolicy(tools, n) == "always_ask" {
			ask[n] = true
		}
	}
	if len(ask) == 0 {
		return nil
	}
	return func(tool string) bool { return ask[tool] }
}

// Input returns the turn/start input of the turn's user message: its text blocks, and its
// image blocks (base64 or URL sources) as image inputs.
func Input(content json.RawMessage) []map[string]any {
	var blocks []struct {
		Type   string `json:"type"`
		Text   string `json:"text"`
		Source *struct {
			Type      string `json:"type"`
			MediaType string `json:"media_type"`
			Data      string `json:"data"`
			URL       string `json:"url"`
		} `json:"source"`
	}
	_ = json.Unmarshal(content, &blocks)
	in := []map[string]any{}
	for _, b := range blocks {
		switch {
		case b.Type == "text":
			in = append(in, map[string]any{"type": "text", "text": b.Text, "text_elements": []any{}})
		case b.Type == "image" && b.Source != nil && b.Source.Type == "base64" && b.Source.Data != "":
			in = append(in, map[string]any{"type": "image", "url": "data:" + b.Source.MediaType + ";base64," + b.Source.Data})
		case b.Type == "image" && b.Source != nil && b.Source.Type == "url" && b.Source.URL != "":
			in = append(in, map[string]any{"type": "image", "url": b.Source.URL})
		}
	}
	if len(in) == 0 {
		in = append(in, map[string]any{"type": "text", "text": "", "text_elements": []any{}})
	}
	return in
}
