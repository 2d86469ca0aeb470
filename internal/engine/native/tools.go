package native

import (
	"encoding/json"

	"github.com/hangar-dev/hangar/internal/engine"
)

// The tools the loop offers the model: the agent's agent_toolset_20260401 tools that are
// enabled (their CMA names and input shapes, which a self_hosted worker's toolset parses
// verbatim), web_search and web_fetch as the Messages API's server tools, and the agent's
// custom tools.

// toolsetType is the agent toolset's type.
const toolsetType = "agent_toolset_20260401"

// clientTools are the toolset tools the loop (or the worker) runs, with their input
// schemas and descriptions.
var clientTools = []struct {
	name, description string
	schema            string
}{
	{"bash", "Run a bash command in the working directory and return its output (stdout and stderr) and exit status.",
		`{"type":"object","properties":{"command":{"type":"string","description":"The command to run"},"restart":{"type":"boolean","description":"Restart the shell before running"},"timeout_ms":{"type":"integer","description":"Timeout in milliseconds"}}}`},
	{"read", "Read a UTF-8 text file; relative paths are rooted at the working directory.",
		`{"type":"object","properties":{"file_path":{"type":"string","description":"Path of the file to read"},"view_range":{"type":"array","items":{"type":"integer"},"description":"[start_line, end_line], 1-based inclusive; end_line <= 0 means the end of the file"}},"required":["file_path"]}`},
	{"write", "Write a whole UTF-8 text file, creating parent directories; relative paths are rooted at the working directory.",
		`{"type":"object","properties":{"file_path":{"type":"string","description":"Path of the file to write"},"content":{"type":"string","description":"Full file contents"}},"required":["file_path","content"]}`},
	{"edit", "Replace a unique occurrence of old_string with new_string in a file (replace_all replaces every occurrence).",
		`{"type":"object","properties":{"file_path":{"type":"string","description":"Path of the file to edit"},"old_string":{"type":"string","description":"Text to find"},"new_string":{"type":"string","description":"Replacement text"},"replace_all":{"type":"boolean","description":"Replace every occurrence"}},"required":["file_path","old_string","new_string"]}`},
	{"glob", "List files matching a glob pattern (** matches any depth), newest first.",
		`{"type":"object","properties":{"pattern":{"type":"string","description":"Glob pattern, e.g. **/*.go"},"path":{"type":"string","description":"Directory to search; defaults to the working directory"}},"required":["pattern"]}`},
	{"grep", "Search file contents for a regular expression (ripgrep when available).",
		`{"type":"object","properties":{"pattern":{"type":"string","description":"Regular expression"},"path":{"type":"string","description":"Directory or file to search; defaults to the working directory"}},"required":["pattern"]}`},
}

// serverTools are the toolset tools the model API runs itself, as Messages API server
// tool definitions.
var serverTools = []struct {
	name, def, beta string
}{
	{"web_search", `{"type":"web_search_20250305","name":"web_search"}`, ""},
	{"web_fetch", `{"type":"web_fetch_20250910","name":"web_fetch"}`, webFetchBeta},
}

// toolset is an agent's resolved tools.
type toolset struct {
	defs   []json.RawMessage
	beta   []string
	policy map[string]string // enabled toolset tool → permission policy type
	server map[string]bool   // enabled server tools
	custom map[string]bool
}

// resolveTools reads an agent's tools JSON (its resolved wire form).
func resolveTools(raw json.RawMessage) toolset {
	ts := toolset{policy: map[string]string{}, server: map[string]bool{}, custom: map[string]bool{}}
	var list []struct {
		Type          string `json:"type"`
		DefaultConfig *struct {
			Enabled *bool `json:"enabled"`
		} `json:"default_config"`
		Configs []struct {
			Name    string `json:"name"`
			Enabled *bool  `json:"enabled"`
		} `json:"configs"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
	if json.Unmarshal(raw, &list) != nil {
		return ts
	}
	for _, t := range list {
		switch t.Type {
		case toolsetType:
			enabled := func(name string) bool {
				for _, c := range t.Configs {
					if c.Name == name && c.Enabled != nil {
						return *c.Enabled
					}
				}
				return t.DefaultConfig == nil || t.DefaultConfig.Enabled == nil || *t.DefaultConfig.Enabled
			}
			for _, ct := range clientTools {
				if enabled(ct.name) {
					ts.policy[ct.name] = engine.PermissionPolicy(raw, ct.name)
					ts.defs = append(ts.defs, mustJSON(map[string]any{
						"name": ct.name, "description": ct.description, "input_schema": json.RawMessage(ct.schema),
					}))
				}
			}
			for _, st := range serverTools {
				if enabled(st.name) {
					ts.server[st.name] = true
					ts.defs = append(ts.defs, json.RawMessage(st.def))
					if st.beta != "" {
						ts.beta = append(ts.beta, st.beta)
					}
				}
			}
		case "custom":
			ts.custom[t.Name] = true
			schema := t.InputSchema
			if len(schema) == 0 {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			ts.defs = append(ts.defs, mustJSON(map[string]any{
				"name": t.Name, "description": t.Description, "input_schema": schema,
			}))
		}
	}
	return ts
}
