package httpapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// badInputFixtures are the resources every bad-input case can refer to in its path and body
// as {agent}, {env}, {session}, {vault} and {file}.
type badInputFixtures struct {
	agent, env, session, vault, file string
}

func (f badInputFixtures) expand(s string) string {
	return strings.NewReplacer("{agent}", f.agent, "{env}", f.env, "{session}", f.session, "{vault}", f.vault, "{file}", f.file).Replace(s)
}

// setupBadInput creates one resource of each kind: agents and environments through the API,
// the others directly in the store (so this table does not depend on their create handlers).
func setupBadInput(t *testing.T, s *Server, st hangar.Store) badInputFixtures {
	t.Helper()
	ctx := context.Background()
	var f badInputFixtures
	var a hangar.Agent
	apiOK(t, s, "POST", "/v1/agents", `{"name":"fixture","model":"claude-sonnet-4-6"}`, &a)
	f.agent = a.ID
	var e envResp
	apiOK(t, s, "POST", "/v1/environments", `{"name":"fixture"}`, &e)
	f.env = e.ID

	now := testEpoch
	sess := &hangar.Session{
		Type: "session", ID: "sesn_011CFixture00000000000001", Status: hangar.StatusIdle, Agent: a, EnvironmentID: e.ID,
		Metadata: map[string]string{}, Resources: json.RawMessage(`[]`), VaultIDs: []string{},
		OutcomeEvaluations: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateSession(ctx, sess); err != nil {
		t.Fatalf("create session fixture: %v", err)
	}
	f.session = sess.ID
	v := &hangar.Vault{Type: "vault", ID: "vlt_011CFixture00000000000001", DisplayName: "fixture", Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateVault(ctx, v); err != nil {
		t.Fatalf("create vault fixture: %v", err)
	}
	f.vault = v.ID
	file := &hangar.File{Type: "file", ID: "file_011CFixture0000000000001", Filename: "a.txt", MimeType: "text/plain", SizeBytes: 1, CreatedAt: now, Downloadable: true}
	if err := st.CreateFile(ctx, file); err != nil {
		t.Fatalf("create file fixture: %v", err)
	}
	f.file = file.ID
	return f
}

// storeSnapshot renders everything the store holds that a request could have changed.
func storeSnapshot(t *testing.T, st hangar.Store, f badInputFixtures) string {
	t.Helper()
	ctx := context.Background()
	all := hangar.Page{Limit: 1000}
	var out []any
	add := func(what string, v any, err error) {
		if err != nil {
			t.Fatalf("snapshot %s: %v", what, err)
		}
		out = append(out, what, v)
	}
	agents, _, err := st.ListAgents(ctx, hangar.AgentFilter{IncludeArchived: true, Page: all})
	add("agents", agents, err)
	for _, a := range agents {
		vs, _, err := st.ListAgentVersions(ctx, a.ID, all)
		add("versions "+a.ID, vs, err)
	}
	envs, _, err := st.ListEnvironments(ctx, hangar.EnvironmentFilter{IncludeArchived: true, Page: all})
	add("environments", envs, err)
	sessions, _, err := st.ListSessions(ctx, hangar.SessionFilter{IncludeArchived: true, Page: all})
	add("sessions", sessions, err)
	for _, s := range sessions {
		evs, _, err := st.ListEvents(ctx, s.ID, hangar.EventFilter{Page: all})
		add("events "+s.ID, evs, err)
	}
	vaults, _, err := st.ListVaults(ctx, hangar.VaultFilter{IncludeArchived: true, Page: all})
	add("vaults", vaults, err)
	for _, v := range vaults {
		creds, _, err := st.ListCredentials(ctx, v.ID, hangar.VaultFilter{IncludeArchived: true, Page: all})
		add("credentials "+v.ID, creds, err)
	}
	files, _, err := st.ListFiles(ctx, hangar.FileFilter{Page: all})
	add("files", files, err)
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type badInputCase struct {
	name   string
	method string
	path   string
	body   string
	status int
	typ    string // error.type
	noAuth bool
	cfg    func(*Config)
}

const (
	errInvalid  = "invalid_request_error"
	errNotFound = "not_found_error"
)

func badInputCases() []badInputCase {
	long := func(n int) string { return strings.Repeat("x", n) }
	agent := func(extra string) string { return `{"name":"bad","model":"claude-sonnet-4-6"` + extra + `}` }
	tool := func(t string) string { return agent(`,"tools":[` + t + `]`) }
	var tools129 []string
	for range 129 {
		tools129 = append(tools129, `{"type":"mcp_toolset","mcp_server_name":"x"}`)
	}
	env := func(config string) string { return `{"name":"bad-env","config":` + config + `}` }
	meta17 := `{` + metadataPairs(17) + `}`
	msg := func(ev string) string { return `{"events":[` + ev + `]}` }

	return []badInputCase{
		// Cross-cutting.
		{name: "no api key", method: "POST", path: "/v1/agents", body: agent(""), status: 401, typ: "authentication_error", noAuth: true},
		{name: "unknown route", method: "GET", path: "/v1/agentz", status: 404, typ: errNotFound},
		{name: "body too large", method: "POST", path: "/v1/agents", body: agent(`,"system":"` + long(2000) + `"`), status: 413, typ: "request_too_large",
			cfg: func(c *Config) { c.MaxBodyBytes = 1024 }},

		// Agents: create.
		{name: "agent empty body", method: "POST", path: "/v1/agents", body: "", status: 400, typ: errInvalid},
		{name: "agent body is an array", method: "POST", path: "/v1/agents", body: `[]`, status: 400, typ: errInvalid},
		{name: "agent truncated JSON", method: "POST", path: "/v1/agents", body: `{"name":`, status: 400, typ: errInvalid},
		{name: "agent trailing data", method: "POST", path: "/v1/agents", body: agent("") + `{}`, status: 400, typ: errInvalid},
		{name: "agent missing name", method: "POST", path: "/v1/agents", body: `{"model":"m"}`, status: 400, typ: errInvalid},
		{name: "agent empty name", method: "POST", path: "/v1/agents", body: `{"name":"","model":"m"}`, status: 400, typ: errInvalid},
		{name: "agent name too long", method: "POST", path: "/v1/agents", body: `{"name":"` + long(257) + `","model":"m"}`, status: 400, typ: errInvalid},
		{name: "agent name not a string", method: "POST", path: "/v1/agents", body: `{"name":7,"model":"m"}`, status: 400, typ: errInvalid},
		{name: "agent missing model", method: "POST", path: "/v1/agents", body: `{"name":"bad"}`, status: 400, typ: errInvalid},
		{name: "agent model number", method: "POST", path: "/v1/agents", body: `{"name":"bad","model":42}`, status: 400, typ: errInvalid},
		{name: "agent model without id", method: "POST", path: "/v1/agents", body: `{"name":"bad","model":{"speed":"fast"}}`, status: 400, typ: errInvalid},
		{name: "agent model bad speed", method: "POST", path: "/v1/agents", body: `{"name":"bad","model":{"id":"m","speed":"ludicrous"}}`, status: 400, typ: errInvalid},
		{name: "agent model bad effort", method: "POST", path: "/v1/agents", body: `{"name":"bad","model":{"id":"m","effort":"extreme"}}`, status: 400, typ: errInvalid},
		{name: "agent model unknown field", method: "POST", path: "/v1/agents", body: `{"name":"bad","model":{"id":"m","temperature":1}}`, status: 400, typ: errInvalid},
		{name: "agent description too long", method: "POST", path: "/v1/agents", body: agent(`,"description":"` + long(2049) + `"`), status: 400, typ: errInvalid},
		{name: "agent system too long", method: "POST", path: "/v1/agents", body: agent(`,"system":"` + long(100_001) + `"`), status: 400, typ: errInvalid},
		{name: "agent unknown field", method: "POST", path: "/v1/agents", body: agent(`,"temperature":0.2`), status: 400, typ: errInvalid},
		{name: "agent tools not an array", method: "POST", path: "/v1/agents", body: agent(`,"tools":{"type":"custom"}`), status: 400, typ: errInvalid},
		{name: "agent tool unknown type", method: "POST", path: "/v1/agents", body: tool(`{"type":"computer_20250124"}`), status: 400, typ: errInvalid},
		{name: "agent tool without type", method: "POST", path: "/v1/agents", body: tool(`{"name":"x"}`), status: 400, typ: errInvalid},
		{name: "agent tool not an object", method: "POST", path: "/v1/agents", body: tool(`"bash"`), status: 400, typ: errInvalid},
		{name: "agent toolset unknown tool", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401","configs":[{"name":"teleport"}]}`), status: 400, typ: errInvalid},
		{name: "agent toolset duplicate config", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401","configs":[{"name":"bash"},{"name":"bash"}]}`), status: 400, typ: errInvalid},
		{name: "agent toolset twice", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401"},{"type":"agent_toolset_20260401"}`), status: 400, typ: errInvalid},
		{name: "agent toolset unknown field", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401","mode":"all"}`), status: 400, typ: errInvalid},
		{name: "agent bad permission policy", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"sometimes"}}}`), status: 400, typ: errInvalid},
		{name: "agent enabled not a bool", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401","default_config":{"enabled":"yes"}}`), status: 400, typ: errInvalid},
		{name: "agent web option on bash", method: "POST", path: "/v1/agents", body: tool(`{"type":"agent_toolset_20260401","configs":[{"name":"bash","allowed_domains":["x.com"]}]}`), status: 400, typ: errInvalid},
		{name: "agent custom tool bad name", method: "POST", path: "/v1/agents", body: tool(`{"type":"custom","name":"no spaces","description":"d","input_schema":{"type":"object"}}`), status: 400, typ: errInvalid},
		{name: "agent custom tool name too long", method: "POST", path: "/v1/agents", body: tool(`{"type":"custom","name":"` + long(129) + `","description":"d","input_schema":{"type":"object"}}`), status: 400, typ: errInvalid},
		{name: "agent custom tool no description", method: "POST", path: "/v1/agents", body: tool(`{"type":"custom","name":"t","input_schema":{"type":"object"}}`), status: 400, typ: errInvalid},
		{name: "agent custom tool no schema", method: "POST", path: "/v1/agents", body: tool(`{"type":"custom","name":"t","description":"d"}`), status: 400, typ: errInvalid},
		{name: "agent custom tool array schema", method: "POST", path: "/v1/agents", body: tool(`{"type":"custom","name":"t","description":"d","input_schema":{"type":"array"}}`), status: 400, typ: errInvalid},
		{name: "agent custom tool duplicate", method: "POST", path: "/v1/agents", body: tool(`{"type":"custom","name":"t","description":"d","input_schema":{"type":"object"}},{"type":"custom","name":"t","description":"d","input_schema":{"type":"object"}}`), status: 400, typ: errInvalid},
		{name: "agent too many tools", method: "POST", path: "/v1/agents", body: tool(strings.Join(tools129, ",")), status: 400, typ: errInvalid},
		{name: "agent mcp toolset unknown server", method: "POST", path: "/v1/agents", body: tool(`{"type":"mcp_toolset","mcp_server_name":"ghost"}`), status: 400, typ: errInvalid},
		{name: "agent mcp server unreferenced", method: "POST", path: "/v1/agents", body: agent(`,"mcp_servers":[{"type":"url","name":"docs","url":"https://mcp.example.com"}]`), status: 400, typ: errInvalid},
		{name: "agent mcp server bad url", method: "POST", path: "/v1/agents", body: agent(`,"tools":[{"type":"mcp_toolset","mcp_server_name":"d"}],"mcp_servers":[{"type":"url","name":"d","url":"ftp://x"}]`), status: 400, typ: errInvalid},
		{name: "agent mcp server duplicate", method: "POST", path: "/v1/agents", body: agent(`,"tools":[{"type":"mcp_toolset","mcp_server_name":"d"}],"mcp_servers":[{"type":"url","name":"d","url":"https://a"},{"type":"url","name":"d","url":"https://b"}]`), status: 400, typ: errInvalid},
		{name: "agent mcp server bad type", method: "POST", path: "/v1/agents", body: agent(`,"tools":[{"type":"mcp_toolset","mcp_server_name":"d"}],"mcp_servers":[{"type":"stdio","name":"d","url":"https://a"}]`), status: 400, typ: errInvalid},
		{name: "agent skill bad type", method: "POST", path: "/v1/agents", body: agent(`,"skills":[{"type":"builtin","skill_id":"pdf"}]`), status: 400, typ: errInvalid},
		{name: "agent skill missing id", method: "POST", path: "/v1/agents", body: agent(`,"skills":[{"type":"anthropic"}]`), status: 400, typ: errInvalid},
		{name: "agent metadata too many pairs", method: "POST", path: "/v1/agents", body: agent(`,"metadata":` + meta17), status: 400, typ: errInvalid},
		{name: "agent metadata key too long", method: "POST", path: "/v1/agents", body: agent(`,"metadata":{"` + long(65) + `":"v"}`), status: 400, typ: errInvalid},
		{name: "agent metadata value too long", method: "POST", path: "/v1/agents", body: agent(`,"metadata":{"k":"` + long(513) + `"}`), status: 400, typ: errInvalid},
		{name: "agent metadata value not a string", method: "POST", path: "/v1/agents", body: agent(`,"metadata":{"k":1}`), status: 400, typ: errInvalid},
		{name: "agent unknown engine", method: "POST", path: "/v1/agents", body: agent(`,"engine":"hal9000"`), status: 400, typ: errInvalid},
		{name: "agent aws role without arn", method: "POST", path: "/v1/agents", body: agent(`,"execution_identity":{"type":"aws_role"}`), status: 400, typ: errInvalid},
		{name: "agent multiagent unknown agent", method: "POST", path: "/v1/agents", body: agent(`,"multiagent":{"type":"coordinator","agents":["agent_011CMissing"]}`), status: 400, typ: errInvalid},
		{name: "agent duplicate name", method: "POST", path: "/v1/agents", body: `{"name":"fixture","model":"m"}`, status: 409, typ: errInvalid},

		// Agents: other operations.
		{name: "agents list limit zero", method: "GET", path: "/v1/agents?limit=0", status: 400, typ: errInvalid},
		{name: "agents list limit too big", method: "GET", path: "/v1/agents?limit=101", status: 400, typ: errInvalid},
		{name: "agents list bad page", method: "GET", path: "/v1/agents?page=page_garbage", status: 400, typ: errInvalid},
		{name: "agents list bad created_at", method: "GET", path: "/v1/agents?created_at[gte]=last-tuesday", status: 400, typ: errInvalid},
		{name: "agent get bad version", method: "GET", path: "/v1/agents/{agent}?version=first", status: 400, typ: errInvalid},
		{name: "agent get missing version", method: "GET", path: "/v1/agents/{agent}?version=2", status: 404, typ: errNotFound},
		{name: "agent get missing", method: "GET", path: "/v1/agents/agent_011CMissing", status: 404, typ: errNotFound},
		{name: "agent update stale version", method: "POST", path: "/v1/agents/{agent}", body: `{"version":2,"name":"x"}`, status: 409, typ: errInvalid},
		{name: "agent update clears name", method: "POST", path: "/v1/agents/{agent}", body: `{"name":null}`, status: 400, typ: errInvalid},
		{name: "agent update unknown field", method: "POST", path: "/v1/agents/{agent}", body: `{"archived":true}`, status: 400, typ: errInvalid},
		{name: "agent update missing", method: "POST", path: "/v1/agents/agent_011CMissing", body: `{"name":"x"}`, status: 404, typ: errNotFound},
		{name: "agent archive missing", method: "POST", path: "/v1/agents/agent_011CMissing/archive", status: 404, typ: errNotFound},
		{name: "agent versions bad limit", method: "GET", path: "/v1/agents/{agent}/versions?limit=-5", status: 400, typ: errInvalid},

		// Environments.
		{name: "environment missing name", method: "POST", path: "/v1/environments", body: `{"config":{"type":"cloud"}}`, status: 400, typ: errInvalid},
		{name: "environment name too long", method: "POST", path: "/v1/environments", body: `{"name":"` + long(257) + `"}`, status: 400, typ: errInvalid},
		{name: "environment description too long", method: "POST", path: "/v1/environments", body: `{"name":"e","description":"` + long(1025) + `"}`, status: 400, typ: errInvalid},
		{name: "environment unknown config type", method: "POST", path: "/v1/environments", body: env(`{"type":"kubernetes"}`), status: 400, typ: errInvalid},
		{name: "environment config not an object", method: "POST", path: "/v1/environments", body: env(`"cloud"`), status: 400, typ: errInvalid},
		{name: "environment unknown config field", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","region":"eu"}`), status: 400, typ: errInvalid},
		{name: "environment self_hosted with networking", method: "POST", path: "/v1/environments", body: env(`{"type":"self_hosted","networking":{"type":"unrestricted"}}`), status: 400, typ: errInvalid},
		{name: "environment limited packages", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","networking":{"type":"limited"},"packages":{"pip":["requests"]}}`), status: 400, typ: errInvalid},
		{name: "environment host with scheme", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","networking":{"type":"limited","allowed_hosts":["https://x.com"]}}`), status: 400, typ: errInvalid},
		{name: "environment networking unknown field", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","networking":{"type":"unrestricted","allowed_hosts":["x.com"]}}`), status: 400, typ: errInvalid},
		{name: "environment package option injection", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","packages":{"pip":["--index-url=http://evil"]}}`), status: 400, typ: errInvalid},
		{name: "environment package with space", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","packages":{"apt":["curl wget"]}}`), status: 400, typ: errInvalid},
		{name: "environment unknown package manager", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","packages":{"brew":["jq"]}}`), status: 400, typ: errInvalid},
		{name: "environment bad provider", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","provider":"Docker Desktop"}`), status: 400, typ: errInvalid},
		{name: "environment sandbox not an object", method: "POST", path: "/v1/environments", body: env(`{"type":"cloud","sandbox":"big"}`), status: 400, typ: errInvalid},
		{name: "environment bad scope", method: "POST", path: "/v1/environments", body: `{"name":"e","scope":"galaxy"}`, status: 400, typ: errInvalid},
		{name: "environment metadata too many pairs", method: "POST", path: "/v1/environments", body: `{"name":"e","metadata":` + meta17 + `}`, status: 400, typ: errInvalid},
		{name: "environments list limit too big", method: "GET", path: "/v1/environments?limit=1001", status: 400, typ: errInvalid},
		{name: "environment get missing", method: "GET", path: "/v1/environments/env_011CMissing", status: 404, typ: errNotFound},
		{name: "environment update empty name", method: "POST", path: "/v1/environments/{env}", body: `{"name":""}`, status: 400, typ: errInvalid},
		{name: "environment update bad config", method: "POST", path: "/v1/environments/{env}", body: `{"config":{"type":"cloud","networking":{"type":"airgapped"}}}`, status: 400, typ: errInvalid},
		{name: "environment delete missing", method: "DELETE", path: "/v1/environments/env_011CMissing", status: 404, typ: errNotFound},
		{name: "environment delete in use", method: "DELETE", path: "/v1/environments/{env}", status: 409, typ: errInvalid},
		{name: "environment archive missing", method: "POST", path: "/v1/environments/env_011CMissing/archive", status: 404, typ: errNotFound},

		// Sessions (handlers in session.go).
		{name: "session missing agent", method: "POST", path: "/v1/sessions", body: `{"environment_id":"{env}"}`, status: 400, typ: errInvalid},
		{name: "session missing environment", method: "POST", path: "/v1/sessions", body: `{"agent":"{agent}"}`, status: 400, typ: errInvalid},
		{name: "session unknown field", method: "POST", path: "/v1/sessions", body: `{"agent":"{agent}","environment_id":"{env}","priority":1}`, status: 400, typ: errInvalid},
		{name: "session agent wrong type", method: "POST", path: "/v1/sessions", body: `{"agent":42,"environment_id":"{env}"}`, status: 400, typ: errInvalid},
		{name: "session title too long", method: "POST", path: "/v1/sessions", body: `{"agent":"{agent}","environment_id":"{env}","title":"` + long(501) + `"}`, status: 400, typ: errInvalid},
		{name: "session metadata too many pairs", method: "POST", path: "/v1/sessions", body: `{"agent":"{agent}","environment_id":"{env}","metadata":` + meta17 + `}`, status: 400, typ: errInvalid},
		{name: "sessions list limit zero", method: "GET", path: "/v1/sessions?limit=0", status: 400, typ: errInvalid},
		{name: "sessions list bad order", method: "GET", path: "/v1/sessions?order=sideways", status: 400, typ: errInvalid},
		{name: "session get missing", method: "GET", path: "/v1/sessions/sesn_011CMissing", status: 404, typ: errNotFound},
		{name: "session update vault_ids", method: "POST", path: "/v1/sessions/{session}", body: `{"vault_ids":["{vault}"]}`, status: 400, typ: errInvalid},
		{name: "session update title too long", method: "POST", path: "/v1/sessions/{session}", body: `{"title":"` + long(501) + `"}`, status: 400, typ: errInvalid},
		{name: "session delete missing", method: "DELETE", path: "/v1/sessions/sesn_011CMissing", status: 404, typ: errNotFound},
		{name: "session archive missing", method: "POST", path: "/v1/sessions/sesn_011CMissing/archive", status: 404, typ: errNotFound},

		// Events (event.go).
		{name: "events missing list", method: "POST", path: "/v1/sessions/{session}/events", body: `{}`, status: 400, typ: errInvalid},
		{name: "events unknown type", method: "POST", path: "/v1/sessions/{session}/events", body: msg(`{"type":"user.shout","content":[]}`), status: 400, typ: errInvalid},
		{name: "events server-side type", method: "POST", path: "/v1/sessions/{session}/events", body: msg(`{"type":"agent.message","content":[{"type":"text","text":"hi"}]}`), status: 400, typ: errInvalid},
		{name: "events message without content", method: "POST", path: "/v1/sessions/{session}/events", body: msg(`{"type":"user.message"}`), status: 400, typ: errInvalid},
		{name: "events bad confirmation result", method: "POST", path: "/v1/sessions/{session}/events", body: msg(`{"type":"user.tool_confirmation","tool_use_id":"sevt_x","result":"maybe"}`), status: 400, typ: errInvalid},
		{name: "events to missing session", method: "POST", path: "/v1/sessions/sesn_011CMissing/events", body: msg(`{"type":"user.message","content":[{"type":"text","text":"hi"}]}`), status: 404, typ: errNotFound},
		{name: "events list limit zero", method: "GET", path: "/v1/sessions/{session}/events?limit=0", status: 400, typ: errInvalid},
		{name: "events list missing session", method: "GET", path: "/v1/sessions/sesn_011CMissing/events", status: 404, typ: errNotFound},

		// Vaults and credentials (vault.go, credential.go).
		{name: "vault missing display_name", method: "POST", path: "/v1/vaults", body: `{}`, status: 400, typ: errInvalid},
		{name: "vault display_name too long", method: "POST", path: "/v1/vaults", body: `{"display_name":"` + long(256) + `"}`, status: 400, typ: errInvalid},
		{name: "vault unknown field", method: "POST", path: "/v1/vaults", body: `{"display_name":"v","secret":"x"}`, status: 400, typ: errInvalid},
		{name: "vaults list limit too big", method: "GET", path: "/v1/vaults?limit=101", status: 400, typ: errInvalid},
		{name: "vault get missing", method: "GET", path: "/v1/vaults/vlt_011CMissing", status: 404, typ: errNotFound},
		{name: "vault update metadata too many", method: "POST", path: "/v1/vaults/{vault}", body: `{"metadata":` + meta17 + `}`, status: 400, typ: errInvalid},
		{name: "credential missing auth", method: "POST", path: "/v1/vaults/{vault}/credentials", body: `{"display_name":"c"}`, status: 400, typ: errInvalid},
		{name: "credential unknown auth type", method: "POST", path: "/v1/vaults/{vault}/credentials", body: `{"auth":{"type":"password","password":"x"}}`, status: 400, typ: errInvalid},
		{name: "credential bearer without token", method: "POST", path: "/v1/vaults/{vault}/credentials", body: `{"auth":{"type":"static_bearer","mcp_server_url":"https://mcp.example.com"}}`, status: 400, typ: errInvalid},
		{name: "credential in missing vault", method: "POST", path: "/v1/vaults/vlt_011CMissing/credentials", body: `{"auth":{"type":"static_bearer","token":"t","mcp_server_url":"https://mcp.example.com"}}`, status: 404, typ: errNotFound},
		{name: "credential get missing", method: "GET", path: "/v1/vaults/{vault}/credentials/vcrd_011CMissing", status: 404, typ: errNotFound},

		// Files (file.go).
		{name: "file upload not multipart", method: "POST", path: "/v1/files", body: `{"file":"aGVsbG8="}`, status: 400, typ: errInvalid},
		{name: "files list limit zero", method: "GET", path: "/v1/files?limit=0", status: 400, typ: errInvalid},
		{name: "file get missing", method: "GET", path: "/v1/files/file_011CMissing", status: 404, typ: errNotFound},
		{name: "file content missing", method: "GET", path: "/v1/files/file_011CMissing/content", status: 404, typ: errNotFound},
		{name: "file delete missing", method: "DELETE", path: "/v1/files/file_011CMissing", status: 404, typ: errNotFound},

		// Dreams, user profiles and tunnels (dream.go, user_profile.go, tunnel.go).
		{name: "dream no inputs", method: "POST", path: "/v1/dreams", body: `{"model":"claude-sonnet-4-6"}`, status: 400, typ: errInvalid},
		{name: "dream only sessions", method: "POST", path: "/v1/dreams", body: `{"model":"m","inputs":[{"type":"sessions","session_ids":["{session}"]}]}`, status: 400, typ: errInvalid},
		{name: "dream duplicate session", method: "POST", path: "/v1/dreams", body: `{"model":"m","inputs":[{"type":"memory_store","memory_store_id":"memstore_x"},{"type":"sessions","session_ids":["{session}","{session}"]}]}`, status: 400, typ: errInvalid},
		{name: "dream fast speed", method: "POST", path: "/v1/dreams", body: `{"model":{"id":"m","speed":"fast"},"inputs":[{"type":"memory_store","memory_store_id":"memstore_x"},{"type":"sessions","session_ids":["{session}"]}]}`, status: 400, typ: errInvalid},
		{name: "dream missing store", method: "POST", path: "/v1/dreams", body: `{"model":"m","inputs":[{"type":"memory_store","memory_store_id":"memstore_011CMissing"},{"type":"sessions","session_ids":["{session}"]}]}`, status: 404, typ: errNotFound},
		{name: "dreams list bad status", method: "GET", path: "/v1/dreams?statuses[]=sleeping", status: 400, typ: errInvalid},
		{name: "dream cancel missing", method: "POST", path: "/v1/dreams/drm_011CMissing/cancel", status: 404, typ: errNotFound},
		{name: "user profile bad country", method: "POST", path: "/v1/user_profiles", body: `{"external_user_details":{"country":"usa"}}`, status: 400, typ: errInvalid},
		{name: "user profile bad access type", method: "POST", path: "/v1/user_profiles", body: `{"access_type":"reseller"}`, status: 400, typ: errInvalid},
		{name: "user profile get missing", method: "GET", path: "/v1/user_profiles/uprof_011CMissing", status: 404, typ: errNotFound},
		{name: "tunnel name too long", method: "POST", path: "/v1/tunnels", body: `{"display_name":"` + long(256) + `"}`, status: 400, typ: errInvalid},
		{name: "tunnel certificate not PEM", method: "POST", path: "/v1/tunnels/tnl_011CMissing/certificates", body: `{"ca_certificate_pem":"hello"}`, status: 400, typ: errInvalid},
		{name: "tunnel reveal missing", method: "POST", path: "/v1/tunnels/tnl_011CMissing/reveal_token", status: 404, typ: errNotFound},
	}
}

// TestBadInput sends malformed or invalid requests to every resource and checks each answer
// is the right error in the Anthropic envelope, and that the store is unchanged.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range badInputCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts []func(*Config)
			if tc.cfg != nil {
				opts = append(opts, tc.cfg)
			}
			s, st := newTestServer(t, opts...)
			f := setupBadInput(t, s, st)
			before := storeSnapshot(t, st, f)

			path, body := f.expand(tc.path), f.expand(tc.body)
			var rec *httptest.ResponseRecorder
			if tc.noAuth {
				rec = httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest(tc.method, path, strings.NewReader(body)))
			} else {
				rec = apiDo(t, s, tc.method, path, body)
			}
			t.Logf("%d %s", rec.Code, apiError(t, rec, tc.status, tc.typ))

			if diff := cmp.Diff(before, storeSnapshot(t, st, f)); diff != "" {
				t.Errorf("the failed request changed the store (-before +after):\n%s", diff)
			}
		})
	}
}

func TestBadInputTableSize(t *testing.T) {
	if n := len(badInputCases()); n < 50 {
		t.Errorf("bad-input table has %d cases, want at least 50", n)
	}
}
