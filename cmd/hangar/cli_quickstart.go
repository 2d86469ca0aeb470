package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hangar-dev/hangar/internal/engine/claudecode"
)

func quickstartCommand() *command {
	var engineName, model, name, system, provider string
	var tools []string
	var noChat bool
	return &command{name: "quickstart", summary: "Create an agent, an environment and a session, then chat with it.",
		details: `Without --engine, quickstart uses the real Claude Code CLI (engine claude, model
claude-sonnet-4-6, the agent toolset) when the server is on this machine and the CLI is
installed (hangar engines install claude); otherwise the scripted engine, which needs no
model and answers "echo: <your message>". The server needs ANTHROPIC_API_KEY for claude.

Examples:
  hangar quickstart
  hangar quickstart --engine claude --tool toolset:ask
  hangar quickstart --no-chat -o json
`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&engineName, "engine", "", "`ENGINE`: claude, codex, gemini, opencode, factory or scripted (default: see above)")
			fs.StringVar(&model, "model", "", "`MODEL` (default claude-sonnet-4-6)")
			fs.StringVar(&name, "name", "", "`NAME` of the agent and environment (default quickstart-XXXXXX, random; names are unique)")
			fs.StringVar(&system, "system", "", "system prompt `TEXT`")
			fs.StringVar(&provider, "provider", "", "sandbox `PROVIDER` of the environment (default: the server's, local)")
			fs.Func("tool", "`TOOL`: toolset, toolset:ask, custom:NAME[:DESCRIPTION] or JSON (repeatable; default toolset for claude)", func(s string) error {
				tools = append(tools, s)
				return nil
			})
			fs.BoolVar(&noChat, "no-chat", false, "create and print the three resources, then exit")
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args); err != nil {
				return err
			}
			why := ""
			if engineName == "" {
				engineName, why = defaultQuickstartEngine(c)
			}
			if model == "" {
				model = "claude-sonnet-4-6"
			}
			if name == "" {
				var b [3]byte
				rand.Read(b[:])
				name = "quickstart-" + hex.EncodeToString(b[:])
			}
			if tools == nil && engineName == "claude" {
				tools = []string{"toolset"}
			}
			agent := map[string]any{"name": name, "model": model, "engine": engineName}
			if system != "" {
				agent["system"] = system
			}
			for _, t := range tools {
				v, err := parseTool(t)
				if err != nil {
					return usagef("--tool %s: %v", t, err)
				}
				list, _ := agent["tools"].([]any)
				agent["tools"] = append(list, v)
			}
			env := map[string]any{"name": name}
			if provider != "" {
				env["config"] = map[string]any{"type": "cloud", "provider": provider}
			}
			a, err := c.call(ctx, http.MethodPost, "/v1/agents", nil, agent)
			if err != nil {
				return err
			}
			e, err := c.call(ctx, http.MethodPost, "/v1/environments", nil, env)
			if err != nil {
				return err
			}
			agentID, envID := idOf(a), idOf(e)
			s, err := c.call(ctx, http.MethodPost, "/v1/sessions", nil, map[string]any{"agent": agentID, "environment_id": envID, "title": name})
			if err != nil {
				return err
			}
			sessionID := idOf(s)
			if noChat && c.output == "json" {
				out, err := json.Marshal(map[string]json.RawMessage{"agent": a, "environment": e, "session": s})
				if err != nil {
					return err
				}
				return c.printJSON(out)
			}
			w := c.env.stdout
			if why != "" {
				fmt.Fprintln(w, why)
			}
			fmt.Fprintf(w, "agent       %s (engine %s, model %s)\nenvironment %s\nsession     %s\n", agentID, engineName, model, envID, sessionID)
			if noChat {
				fmt.Fprintf(w, "chat with: hangar chat %s\n", sessionID)
				return nil
			}
			return c.chat(ctx, sessionID, false)
		}}
}

// defaultQuickstartEngine picks claude when the server is on this machine and the Claude
// Code CLI is installed in its cache, else scripted; it says why.
func defaultQuickstartEngine(c *cli) (string, string) {
	u, _ := url.Parse(c.url)
	if isLoopback(u.Hostname()) {
		if dir, err := cacheDir(c.env.getenv); err == nil {
			if _, err := claudecode.NPM().Find(dir); err == nil {
				return "claude", "using the claude engine (Claude Code is installed); the server needs ANTHROPIC_API_KEY"
			}
		}
	}
	return "scripted", "using the scripted engine (it echoes; no model needed). For Claude Code: hangar engines install claude, then --engine claude"
}

func idOf(raw json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &v)
	return v.ID
}
