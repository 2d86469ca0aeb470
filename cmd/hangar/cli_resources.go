package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// resource describes one API collection; crud builds its standard commands.
type resource struct {
	name, singular string
	path           string   // with one %s per parent ID, e.g. "/v1/vaults/%s/credentials"
	parents        []string // positional names of parent IDs, e.g. VAULT_ID
	id             string   // positional name of the resource ID
	cols           []column
	create, update []field
	// fix adjusts a create or update body built from flags (nil: none).
	fix                        func(body map[string]any, stdin io.Reader) error
	cmd                        string // the command words, when not just name (e.g. "vaults credentials")
	archivable, deletable      bool
	listFilters                []field // query parameters (path = parameter name)
	createDetails, listDetails string
}

func (r resource) pathFor(ids []string, id string) string {
	args := make([]any, len(ids))
	for i, s := range ids {
		args[i] = url.PathEscape(s)
	}
	p := fmt.Sprintf(r.path, args...)
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

// positional checks the positional arguments: the parent IDs, then n more.
func positional(args []string, names ...string) error {
	if len(args) != len(names) {
		if len(names) == 0 {
			return usagef("unexpected arguments: %s", strings.Join(args, " "))
		}
		return usagef("want %s, got %d argument(s)", strings.Join(names, " "), len(args))
	}
	return nil
}

func (r resource) crud() []*command {
	parents := strings.Join(r.parents, " ")
	withID := strings.TrimSpace(parents + " " + r.id)
	idNames := append(append([]string{}, r.parents...), r.id)
	var cmds []*command
	if r.create != nil {
		b := newBody(r.create...)
		cmds = append(cmds, &command{name: "create", args: parents, summary: "Create " + article(r.singular) + ".",
			details: r.createDetails, flags: b.register,
			run: func(ctx context.Context, c *cli, args []string) error {
				if err := positional(args, r.parents...); err != nil {
					return err
				}
				body, err := b.build(c.env.stdin)
				if err != nil {
					return err
				}
				if r.fix != nil {
					if err := r.fix(body, c.env.stdin); err != nil {
						return err
					}
				}
				raw, err := c.call(ctx, http.MethodPost, r.pathFor(args, ""), nil, body)
				if err != nil {
					return err
				}
				return c.printObject(raw, r.cols)
			}})
	}
	var limit int
	var page string
	var archived bool
	filters := newBody(r.listFilters...)
	cmds = append(cmds, &command{name: "list", args: parents, summary: "List " + r.name + ", newest first.", details: r.listDetails,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&limit, "limit", 20, "at most `N` per page")
			fs.StringVar(&page, "page", "", "the page `TOKEN` a previous list printed")
			if r.archivable {
				fs.BoolVar(&archived, "archived", false, "include archived "+r.name)
			}
			for _, f := range r.listFilters {
				fs.Func(f.flag, "`"+f.arg+"` "+f.usage, func(s string) error {
					filters.values[f.flag] = append(filters.values[f.flag], s)
					return nil
				})
			}
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, r.parents...); err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if page != "" {
				q.Set("page", page)
			}
			if archived {
				q.Set("include_archived", "true")
			}
			for _, f := range r.listFilters {
				for _, v := range filters.values[f.flag] {
					q.Add(f.path, v)
				}
			}
			raw, err := c.call(ctx, http.MethodGet, r.pathFor(args, ""), q, nil)
			if err != nil {
				return err
			}
			return c.printList(raw, r.cols, strings.TrimSpace("hangar "+r.cmdPath()+" list "+strings.Join(args, " ")))
		}})
	cmds = append(cmds, &command{name: "get", args: withID, summary: "Show " + article(r.singular) + ".",
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, idNames...); err != nil {
				return err
			}
			raw, err := c.call(ctx, http.MethodGet, r.pathFor(args[:len(r.parents)], args[len(r.parents)]), nil, nil)
			if err != nil {
				return err
			}
			return c.printObject(raw, r.cols)
		}})
	if r.update != nil {
		b := newBody(r.update...)
		cmds = append(cmds, &command{name: "update", args: withID, summary: "Change " + article(r.singular) + "; only the fields given change.",
			flags: b.register,
			run: func(ctx context.Context, c *cli, args []string) error {
				if err := positional(args, idNames...); err != nil {
					return err
				}
				body, err := b.build(c.env.stdin)
				if err != nil {
					return err
				}
				if len(body) == 0 {
					return usagef("nothing to update: give a flag or --file")
				}
				if r.fix != nil {
					if err := r.fix(body, c.env.stdin); err != nil {
						return err
					}
				}
				raw, err := c.call(ctx, http.MethodPost, r.pathFor(args[:len(r.parents)], args[len(r.parents)]), nil, body)
				if err != nil {
					return err
				}
				return c.printObject(raw, r.cols)
			}})
	}
	if r.archivable {
		cmds = append(cmds, &command{name: "archive", args: withID, summary: "Archive " + article(r.singular) + ": it stays readable but can no longer be used.",
			run: func(ctx context.Context, c *cli, args []string) error {
				if err := positional(args, idNames...); err != nil {
					return err
				}
				raw, err := c.call(ctx, http.MethodPost, r.pathFor(args[:len(r.parents)], args[len(r.parents)])+"/archive", nil, nil)
				if err != nil {
					return err
				}
				return c.printObject(raw, r.cols)
			}})
	}
	if r.deletable {
		cmds = append(cmds, &command{name: "delete", args: withID, summary: "Delete " + article(r.singular) + ".",
			run: func(ctx context.Context, c *cli, args []string) error {
				if err := positional(args, idNames...); err != nil {
					return err
				}
				raw, err := c.call(ctx, http.MethodDelete, r.pathFor(args[:len(r.parents)], args[len(r.parents)]), nil, nil)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.printJSON(raw)
				}
				fmt.Fprintf(c.env.stdout, "deleted %s\n", args[len(args)-1])
				return nil
			}})
	}
	return cmds
}

// cmdPath is the command words of the collection ("agents", "vaults credentials").
func (r resource) cmdPath() string {
	if r.cmd != "" {
		return r.cmd
	}
	return r.name
}

func article(s string) string {
	if strings.ContainsAny(s[:1], "aeiou") {
		return "an " + s
	}
	return "a " + s
}

var (
	createdCol  = column{header: "CREATED", path: "created_at"}
	metadataFld = field{flag: "metadata", arg: "KEY=VALUE", usage: "set a metadata entry (repeatable; KEY= removes it on update)", path: "metadata", kind: kindMap}
)

func agentFields(update bool) []field {
	fs := []field{
		{flag: "name", arg: "NAME", usage: "the agent's name", path: "name"},
		{flag: "model", arg: "MODEL", usage: "model ID, e.g. claude-sonnet-4-6 (also picks the engine unless --engine is given)", path: "model"},
		{flag: "engine", arg: "ENGINE", usage: "claude, codex, gemini, opencode, factory or scripted (a Hangar extension)", path: "engine"},
		{flag: "system", arg: "TEXT", usage: "system prompt", path: "system"},
		{flag: "description", arg: "TEXT", usage: "description", path: "description"},
		{flag: "tool", arg: "TOOL", usage: "toolset, toolset:ask, custom:NAME[:DESCRIPTION] or JSON (repeatable; replaces the tools)", path: "tools", kind: kindList, conv: parseTool},
		metadataFld,
	}
	if update {
		fs = append(fs, field{flag: "version", arg: "N", usage: "fail unless the latest version is N (optimistic concurrency)", path: "version", kind: kindInt})
	}
	return fs
}

func agentsCommand() *command {
	r := resource{name: "agents", singular: "agent", path: "/v1/agents", id: "AGENT_ID", archivable: true,
		cols: []column{{header: "ID", path: "id"}, {header: "NAME", path: "name"}, {header: "MODEL", path: "model.id"},
			{header: "ENGINE", path: "engine"}, {header: "VERSION", path: "version"}, createdCol},
		create: agentFields(false), update: agentFields(true),
		createDetails: "An update creates a new version; sessions pin the version they started with.\n\n" +
			"Example:\n  hangar agents create --name coder --model claude-sonnet-4-6 --tool toolset --system 'Be brief.'\n",
	}
	cmds := r.crud()
	var version int
	for _, c := range cmds {
		if c.name == "get" { // agents get takes --version
			run := c.run
			c.flags = func(fs *flag.FlagSet) { fs.IntVar(&version, "version", 0, "show version `N` instead of the latest") }
			c.run = func(ctx context.Context, cl *cli, args []string) error {
				if version == 0 {
					return run(ctx, cl, args)
				}
				if err := positional(args, r.id); err != nil {
					return err
				}
				raw, err := cl.call(ctx, http.MethodGet, r.pathFor(nil, args[0]), url.Values{"version": {strconv.Itoa(version)}}, nil)
				if err != nil {
					return err
				}
				return cl.printObject(raw, r.cols)
			}
		}
	}
	cmds = append(cmds, &command{name: "versions", args: "AGENT_ID", summary: "List an agent's versions, newest first.",
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, r.id); err != nil {
				return err
			}
			raw, err := c.call(ctx, http.MethodGet, r.pathFor(nil, args[0])+"/versions", nil, nil)
			if err != nil {
				return err
			}
			return c.printList(raw, []column{{header: "VERSION", path: "version"}, {header: "NAME", path: "name"},
				{header: "MODEL", path: "model.id"}, {header: "UPDATED", path: "updated_at"}}, "")
		}})
	return &command{name: "agents", summary: "Manage agents: a model, a system prompt and tools, versioned.", subs: cmds}
}

func environmentsCommand() *command {
	fields := []field{
		{flag: "name", arg: "NAME", usage: "the environment's name", path: "name"},
		{flag: "description", arg: "TEXT", usage: "description", path: "description"},
		{flag: "provider", arg: "PROVIDER", usage: "sandbox provider: local or memory (a Hangar extension; default local)", path: "config.provider"},
		metadataFld,
	}
	r := resource{name: "environments", singular: "environment", path: "/v1/environments", id: "ENVIRONMENT_ID",
		archivable: true, deletable: true, create: fields, update: fields,
		cols: []column{{header: "ID", path: "id"}, {header: "NAME", path: "name"},
			{header: "PROVIDER", fn: func(row map[string]any) string {
				if p := cell(lookup(row, "config.provider")); p != "" {
					return p
				}
				return "(default)"
			}}, createdCol},
		createDetails: "Example:\n  hangar environments create --name dev\n",
	}
	return &command{name: "environments", summary: "Manage environments: where sessions run (sandbox provider, packages, networking).", subs: r.crud()}
}

func sessionsCommand() *command {
	r := resource{name: "sessions", singular: "session", path: "/v1/sessions", id: "SESSION_ID",
		archivable: true, deletable: true,
		cols: []column{{header: "ID", path: "id"}, {header: "STATUS", path: "status"}, {header: "AGENT", path: "agent.id"},
			{header: "TITLE", path: "title"}, createdCol},
		create: []field{
			{flag: "agent", arg: "AGENT_ID", usage: "the agent (its latest version unless --agent-version)", path: "agent"},
			{flag: "agent-version", arg: "N", usage: "pin this version of the agent", path: "agent_version", kind: kindInt},
			{flag: "env", arg: "ENVIRONMENT_ID", usage: "the environment", path: "environment_id"},
			{flag: "title", arg: "TEXT", usage: "title", path: "title"},
			{flag: "vault", arg: "VAULT_ID", usage: "a vault whose credentials the session may use (repeatable)", path: "vault_ids", kind: kindList},
			metadataFld,
		},
		update: []field{{flag: "title", arg: "TEXT", usage: "title", path: "title"}, metadataFld},
		fix: func(body map[string]any, _ io.Reader) error {
			v, ok := body["agent_version"]
			if !ok {
				return nil
			}
			delete(body, "agent_version")
			id, _ := body["agent"].(string)
			if id == "" {
				return usagef("--agent-version needs --agent")
			}
			body["agent"] = map[string]any{"type": "agent", "id": id, "version": v}
			return nil
		},
		listFilters: []field{
			{flag: "agent", arg: "AGENT_ID", usage: "only sessions of this agent", path: "agent_id"},
			{flag: "status", arg: "STATUS", usage: "only sessions in this status: idle, running, rescheduling or terminated (repeatable)", path: "statuses"},
		},
		createDetails: "Example:\n  hangar sessions create --agent agent_... --env env_...\n  hangar chat sesn_...\n",
	}
	cmds := append(r.crud(), eventsCommand(), interruptCommand())
	return &command{name: "sessions", summary: "Manage sessions: an agent at work in an environment, and their events.", subs: cmds}
}

func interruptCommand() *command {
	return &command{name: "interrupt", args: "SESSION_ID", summary: "Interrupt a session's running turn (sends user.interrupt).",
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, "SESSION_ID"); err != nil {
				return err
			}
			raw, err := c.sendEvents(ctx, args[0], map[string]any{"type": "user.interrupt"})
			if err != nil {
				return err
			}
			return c.printEventsSent(raw)
		}}
}

func eventsCommand() *command {
	r := resource{name: "events", singular: "event", path: "/v1/sessions/%s/events", parents: []string{"SESSION_ID"}, cmd: "sessions events",
		cols: eventCols(),
		listFilters: []field{
			{flag: "type", arg: "TYPE", usage: "only events of this type, e.g. agent.message (repeatable)", path: "types"},
		},
	}
	list := r.crud()[0] // events have list only (and send, below)
	var message string
	b := newBody()
	send := &command{name: "send", args: "SESSION_ID", summary: "Send events to a session: a user message, or any events as JSON.",
		details: "With --file the body is {\"events\":[...]} as the API takes it.\n\n" +
			"Example:\n  hangar sessions events send sesn_... --message 'run the tests'\n",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&message, "message", "", "send a user.message with this `TEXT`")
			b.register(fs)
		},
		run: func(ctx context.Context, c *cli, args []string) error {
			if err := positional(args, "SESSION_ID"); err != nil {
				return err
			}
			body, err := b.build(c.env.stdin)
			if err != nil {
				return err
			}
			if message != "" {
				body["events"] = []any{userMessageEvent(message)}
			}
			if body["events"] == nil {
				return usagef("give --message or --file")
			}
			raw, err := c.call(ctx, http.MethodPost, "/v1/sessions/"+url.PathEscape(args[0])+"/events", nil, body)
			if err != nil {
				return err
			}
			return c.printEventsSent(raw)
		}}
	return &command{name: "events", summary: "List and send a session's events.", subs: []*command{list, send}}
}

// eventCols are the table columns of events.
func eventCols() []column {
	return []column{{header: "ID", path: "id"}, {header: "TYPE", path: "type"},
		{header: "SUMMARY", fn: eventSummary}, {header: "PROCESSED", path: "processed_at"}}
}

// eventSummary is a short description of an event for tables.
func eventSummary(ev map[string]any) string {
	switch cell(ev["type"]) {
	case "user.message", "agent.message", "agent.tool_result", "agent.mcp_tool_result", "user.custom_tool_result":
		return contentText(ev["content"])
	case "agent.tool_use", "agent.custom_tool_use", "agent.mcp_tool_use":
		return cell(ev["name"]) + " " + cell(ev["input"])
	case "session.status_idle":
		return cell(lookup(ev, "stop_reason.type"))
	case "session.error":
		return cell(lookup(ev, "error.type")) + ": " + cell(lookup(ev, "error.message"))
	case "user.tool_confirmation":
		return cell(ev["result"])
	}
	return ""
}

// contentText joins the text blocks of a content array.
func contentText(v any) string {
	blocks, _ := v.([]any)
	var parts []string
	for _, b := range blocks {
		if t := cell(lookup(b, "text")); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "\n")
}

func userMessageEvent(text string) map[string]any {
	return map[string]any{"type": "user.message", "content": []any{map[string]any{"type": "text", "text": text}}}
}

func (c *cli) sendEvents(ctx context.Context, sessionID string, events ...any) ([]byte, error) {
	return c.call(ctx, http.MethodPost, "/v1/sessions/"+url.PathEscape(sessionID)+"/events", nil, map[string]any{"events": events})
}

func (c *cli) printEventsSent(raw []byte) error {
	return c.printList(raw, eventCols(), "")
}

func vaultsCommand() *command {
	fields := []field{{flag: "name", arg: "NAME", usage: "display name", path: "display_name"}, metadataFld}
	r := resource{name: "vaults", singular: "vault", path: "/v1/vaults", id: "VAULT_ID", archivable: true, deletable: true,
		create: fields, update: fields,
		cols:          []column{{header: "ID", path: "id"}, {header: "NAME", path: "display_name"}, createdCol},
		createDetails: "Example:\n  hangar vaults create --name keys\n  hangar vaults credentials create vlt_... --secret-name ANTHROPIC_API_KEY --secret-value - <key.txt\n",
	}
	cmds := append(r.crud(), credentialsCommand())
	return &command{name: "vaults", summary: "Manage vaults and their credentials (secret values are write-only).", subs: cmds}
}

func credentialsCommand() *command {
	auth := func(update bool) []field {
		fs := []field{
			{flag: "name", arg: "NAME", usage: "display name", path: "display_name"},
			{flag: "secret-value", arg: "VALUE", usage: "environment_variable secret (- reads it from stdin)", path: "auth.secret_value"},
			{flag: "token", arg: "TOKEN", usage: "static_bearer token (- reads it from stdin)", path: "auth.token"},
			metadataFld,
		}
		if update {
			return fs
		}
		return append(fs,
			field{flag: "type", arg: "TYPE", usage: "environment_variable, static_bearer or mcp_oauth (default: from the other flags)", path: "auth.type"},
			field{flag: "secret-name", arg: "NAME", usage: "environment_variable: the variable's name, e.g. ANTHROPIC_API_KEY", path: "auth.secret_name"},
			field{flag: "allowed-host", arg: "HOST", usage: "environment_variable: a host the secret may be sent to (repeatable; default any)", path: "auth.networking.allowed_hosts", kind: kindList},
			field{flag: "mcp-server-url", arg: "URL", usage: "static_bearer: the MCP server the token is for", path: "auth.mcp_server_url"},
		)
	}
	r := resource{name: "credentials", singular: "credential", path: "/v1/vaults/%s/credentials", parents: []string{"VAULT_ID"},
		cmd: "vaults credentials", id: "CREDENTIAL_ID", archivable: true, deletable: true, create: auth(false), update: auth(true),
		cols: []column{{header: "ID", path: "id"}, {header: "NAME", path: "display_name"}, {header: "TYPE", path: "auth.type"},
			{header: "FOR", fn: func(row map[string]any) string {
				if s := cell(lookup(row, "auth.secret_name")); s != "" {
					return s
				}
				return cell(lookup(row, "auth.mcp_server_url"))
			}}, createdCol},
		fix: fixCredential,
		createDetails: "Secret values never come back from the API.\n\n" +
			"Example (a session's own model key):\n  hangar vaults credentials create vlt_... --secret-name ANTHROPIC_API_KEY --secret-value - <key.txt\n",
	}
	return &command{name: "credentials", summary: "Manage a vault's credentials.", subs: r.crud()}
}

// fixCredential infers auth.type and networking from the flags given, and reads secrets
// given as "-" from stdin (so they stay out of shell history and process lists).
func fixCredential(body map[string]any, stdin io.Reader) error {
	auth, ok := body["auth"].(map[string]any)
	if !ok {
		return nil
	}
	for _, k := range []string{"secret_value", "token"} {
		if auth[k] != "-" {
			continue
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line == "" {
			return fmt.Errorf("read the secret from stdin: %v", err)
		}
		auth[k] = line
	}
	if auth["type"] == nil {
		switch {
		case auth["secret_name"] != nil || auth["secret_value"] != nil:
			auth["type"] = "environment_variable"
		case auth["token"] != nil:
			auth["type"] = "static_bearer"
		}
	}
	if auth["type"] == "environment_variable" {
		if nw, ok := auth["networking"].(map[string]any); ok && nw["allowed_hosts"] != nil {
			nw["type"] = "limited"
		} else if auth["networking"] == nil && auth["secret_name"] != nil {
			auth["networking"] = map[string]any{"type": "unrestricted"}
		}
	}
	return nil
}
