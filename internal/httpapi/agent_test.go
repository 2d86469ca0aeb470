package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

// fullAgentBody uses every create field.
const fullAgentBody = `{
	"name": "researcher",
	"model": {"id": "claude-opus-4-8", "speed": "fast", "effort": "high"},
	"description": "Finds things out",
	"system": "You are careful.",
	"tools": [
		{"type": "agent_toolset_20260401",
		 "default_config": {"permission_policy": {"type": "always_ask"}},
		 "configs": [
			{"name": "bash", "enabled": false},
			{"name": "web_fetch", "type": "web_fetch", "allowed_domains": ["example.com"], "max_content_tokens": 5000,
			 "url_sources": {"user_input": "all", "client_tool_results": {"type": "only", "tools": [{"type": "tool_reference", "name": "lookup"}]}}}
		 ]},
		{"type": "mcp_toolset", "mcp_server_name": "docs", "configs": [{"name": "search", "permission_policy": {"type": "always_ask"}}]},
		{"type": "custom", "name": "lookup", "description": "Look a thing up",
		 "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}
	],
	"mcp_servers": [{"type": "url", "name": "docs", "url": "https://mcp.example.com/mcp"}],
	"skills": [{"type": "anthropic", "skill_id": "xlsx"}, {"type": "custom", "skill_id": "skill_abc", "version": "3"}],
	"metadata": {"team": "research"},
	"execution_identity": {"type": "service_account"}
}`

func createAgent(t *testing.T, h http.Handler, body string) *hangar.Agent {
	t.Helper()
	var a hangar.Agent
	apiOK(t, h, "POST", "/v1/agents", body, &a)
	return &a
}

func TestAgentCreateGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"agent_create_minimal", `{"name":"minimal","model":"claude-sonnet-4-6"}`},
		{"agent_create_full", fullAgentBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestServer(t)
			body := apiOK(t, s, "POST", "/v1/agents", tc.body, nil)
			checkGolden(t, tc.name, body)
		})
	}
}

// TestAgentCreateResolves checks defaults the response fills in, field by field.
func TestAgentCreateResolves(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	tests := []struct {
		name  string
		body  string
		field string // top-level response field
		want  string // its JSON
	}{
		{"bare model gets standard speed", `{"name":"a1","model":"claude-opus-4-8"}`, "model", `{"id":"claude-opus-4-8","speed":"standard"}`},
		{"model object keeps speed", `{"name":"a2","model":{"id":"claude-opus-4-8","speed":"fast"}}`, "model", `{"id":"claude-opus-4-8","speed":"fast"}`},
		{"effort object form", `{"name":"a3","model":{"id":"m","effort":{"type":"max"},"inference_geo":"us"}}`, "model", `{"id":"m","speed":"standard","effort":{"type":"max"},"inference_geo":"us"}`},
		{"empty lists", `{"name":"a4","model":"m"}`, "tools", `[]`},
		{"empty servers", `{"name":"a5","model":"m"}`, "mcp_servers", `[]`},
		{"empty skills", `{"name":"a6","model":"m"}`, "skills", `[]`},
		{"empty metadata", `{"name":"a7","model":"m"}`, "metadata", `{}`},
		{"null description", `{"name":"a8","model":"m"}`, "description", `null`},
		{"empty description is null", `{"name":"a9","model":"m","description":""}`, "description", `null`},
		{"null system", `{"name":"a10","model":"m","system":null}`, "system", `null`},
		{"multiagent null", `{"name":"a11","model":"m"}`, "multiagent", `null`},
		{"execution identity default", `{"name":"a12","model":"m"}`, "execution_identity", `{"type":"service_account"}`},
		{"archived_at null", `{"name":"a13","model":"m"}`, "archived_at", `null`},
		{"version 1", `{"name":"a14","model":"m"}`, "version", `1`},
		{"type agent", `{"name":"a15","model":"m"}`, "type", `"agent"`},
		{"toolset defaults", `{"name":"a16","model":"m","tools":[{"type":"agent_toolset_20260401"}]}`, "tools",
			`[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[]}]`},
		{"tool config inherits default", `{"name":"a17","model":"m","tools":[{"type":"agent_toolset_20260401","default_config":{"enabled":false,"permission_policy":{"type":"auto"}},"configs":[{"name":"read"}]}]}`, "tools",
			`[{"type":"agent_toolset_20260401","default_config":{"enabled":false,"permission_policy":{"type":"auto"}},"configs":[{"name":"read","type":"read","enabled":false,"permission_policy":{"type":"auto"}}]}]`},
		{"mcp toolset defaults", `{"name":"a18","model":"m","tools":[{"type":"mcp_toolset","mcp_server_name":"x"}],"mcp_servers":[{"type":"url","name":"x","url":"http://localhost:9/mcp"}]}`, "tools",
			`[{"type":"mcp_toolset","mcp_server_name":"x","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[]}]`},
		{"skill versions", `{"name":"a19","model":"m","skills":[{"type":"custom","skill_id":"skill_1"},{"type":"anthropic","skill_id":"pdf","version":"2"}]}`, "skills",
			`[{"type":"custom","skill_id":"skill_1","version":"latest"},{"type":"anthropic","skill_id":"pdf","version":"2"}]`},
		{"mcp server type defaults to url", `{"name":"a20","model":"m","tools":[{"type":"mcp_toolset","mcp_server_name":"x"}],"mcp_servers":[{"name":"x","url":"https://h/mcp"}]}`, "mcp_servers",
			`[{"type":"url","name":"x","url":"https://h/mcp"}]`},
		{"aws role identity", `{"name":"a21","model":"m","execution_identity":{"type":"aws_role","role_arn":"arn:aws:iam::1:role/x"}}`, "execution_identity",
			`{"type":"aws_role","role_arn":"arn:aws:iam::1:role/x"}`},
		{"web search location", `{"name":"a22","model":"m","tools":[{"type":"agent_toolset_20260401","configs":[{"name":"web_search","user_location":{"type":"approximate","city":"Paris"}}]}]}`, "tools",
			`[{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_allow"}},"configs":[{"name":"web_search","type":"web_search","enabled":true,"permission_policy":{"type":"always_allow"},"user_location":{"city":"Paris","country":null,"region":null,"timezone":null,"type":"approximate"}}]}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]json.RawMessage
			apiOK(t, s, "POST", "/v1/agents", tc.body, &got)
			if diff := cmp.Diff(compactJSON(t, tc.want), compactJSON(t, string(got[tc.field]))); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.field, diff)
			}
		})
	}
}

func compactJSON(t testing.TB, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAgentEngine(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]string{
		"claude-opus-4-8":         hangar.EngineClaude,
		"gpt-5-codex":             hangar.EngineCodex,
		"o3":                      hangar.EngineCodex,
		"o4-mini":                 hangar.EngineCodex,
		"o1-preview":              hangar.EngineCodex,
		"codex-mini-latest":       hangar.EngineCodex,
		"gemini-2.5-pro":          hangar.EngineGemini,
		"openrouter/qwen3-coder":  hangar.EngineOpenCode,
		"anthropic/claude-sonnet": hangar.EngineOpenCode,
		"some-other-model":        hangar.EngineClaude,
	} {
		if got := inferEngine(model); got != want {
			t.Errorf("inferEngine(%q) = %q, want %q", model, got, want)
		}
	}

	s, _ := newTestServer(t)
	a := createAgent(t, s, `{"name":"g","model":"gemini-2.5-pro"}`)
	if a.Engine != hangar.EngineGemini {
		t.Errorf("inferred engine = %q, want gemini", a.Engine)
	}
	a = createAgent(t, s, `{"name":"x","model":"claude-opus-4-8","engine":"scripted"}`)
	if a.Engine != hangar.EngineScripted {
		t.Errorf("explicit engine = %q, want scripted", a.Engine)
	}
	msg := apiError(t, apiDo(t, s, "POST", "/v1/agents", `{"name":"y","model":"m","engine":"nope"}`), 400, "invalid_request_error")
	if !strings.HasPrefix(msg, "engine:") {
		t.Errorf("message %q does not name the field", msg)
	}

	// A model change re-infers an inferred engine but keeps an explicit one.
	var u hangar.Agent
	apiOK(t, s, "POST", "/v1/agents/"+createAgent(t, s, `{"name":"z","model":"claude-opus-4-8"}`).ID, `{"model":"gpt-5"}`, &u)
	if u.Engine != hangar.EngineCodex {
		t.Errorf("engine after model change = %q, want codex", u.Engine)
	}
	apiOK(t, s, "POST", "/v1/agents/"+a.ID, `{"model":"gpt-5"}`, &u)
	if u.Engine != hangar.EngineScripted {
		t.Errorf("explicit engine after model change = %q, want scripted", u.Engine)
	}

	// With a restricted engine list, an inferred engine that is not enabled falls back to
	// the first enabled one.
	s2, _ := newTestServer(t, func(c *Config) { c.Engines = []string{hangar.EngineScripted} })
	if a := createAgent(t, s2, `{"name":"r","model":"claude-opus-4-8"}`); a.Engine != hangar.EngineScripted {
		t.Errorf("fallback engine = %q, want scripted", a.Engine)
	}
}

// withEngineFeatures declares claude and scripted with every feature, codex with none;
// gemini is left out and so is not checked.
func withEngineFeatures(c *Config) {
	c.EngineFeatures = map[string]EngineFeatures{
		hangar.EngineClaude:   {CustomTools: true, ToolConfirmation: true},
		hangar.EngineScripted: {CustomTools: true, ToolConfirmation: true},
		hangar.EngineCodex:    {},
	}
}

func TestAgentEngineFeatures(t *testing.T) {
	t.Parallel()
	const (
		custom   = `{"type":"custom","name":"lookup","description":"d","input_schema":{"type":"object"}}`
		askAll   = `{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}}}`
		askBash  = `{"type":"agent_toolset_20260401","configs":[{"name":"read"},{"name":"bash","permission_policy":{"type":"always_ask"}}]}`
		askMCP   = `{"type":"mcp_toolset","mcp_server_name":"docs","configs":[{"name":"search","permission_policy":{"type":"always_ask"}}]}`
		allowAll = `{"type":"agent_toolset_20260401"}`
		docs     = `,"mcp_servers":[{"type":"url","name":"docs","url":"https://mcp.example.com/mcp"}]`
	)
	agent := func(engine, extra string, tools ...string) string {
		return `{"name":"a","model":"m","engine":"` + engine + `","tools":[` + strings.Join(tools, ",") + `]` + extra + `}`
	}
	for _, tc := range []struct {
		name string
		body string
		want string // error message; "" means accepted
	}{
		{"custom tool on codex", agent("codex", "", allowAll, custom),
			`tools[1]: engine "codex" does not support custom tools; engines that do: claude, scripted`},
		{"always_ask default on codex", agent("codex", "", askAll),
			`tools[0].default_config.permission_policy: engine "codex" does not support always_ask permission policies (tool confirmation); engines that do: claude, scripted`},
		{"always_ask tool config on codex", agent("codex", "", askBash),
			`tools[0].configs[1].permission_policy: engine "codex" does not support always_ask permission policies (tool confirmation); engines that do: claude, scripted`},
		{"always_ask mcp tool on codex", agent("codex", docs, askMCP),
			`tools[0].configs[0].permission_policy: engine "codex" does not support always_ask permission policies (tool confirmation); engines that do: claude, scripted`},
		{"inferred codex engine", `{"name":"a","model":"gpt-5","tools":[` + custom + `]}`,
			`tools[0]: engine "codex" does not support custom tools; engines that do: claude, scripted`},
		{"plain toolset on codex", agent("codex", "", allowAll), ""},
		{"everything on claude", agent("claude", docs, askAll, askMCP, custom), ""},
		{"everything on scripted", agent("scripted", docs, askBash, askMCP, custom), ""},
		{"engine not declared", agent("gemini", "", askAll, custom), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, st := newTestServer(t, withEngineFeatures)
			if tc.want == "" {
				createAgent(t, s, tc.body)
				return
			}
			msg := apiError(t, apiDo(t, s, "POST", "/v1/agents", tc.body), 400, "invalid_request_error")
			if msg != tc.want {
				t.Errorf("message = %q, want %q", msg, tc.want)
			}
			if list, _, err := st.ListAgents(t.Context(), hangar.AgentFilter{}); err != nil || len(list) != 0 {
				t.Errorf("refused agent was stored: %v %v", list, err)
			}
		})
	}

	// Without EngineFeatures nothing is checked.
	s, _ := newTestServer(t)
	createAgent(t, s, agent("codex", "", askAll, custom))
}

func TestAgentUpdateEngineFeatures(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, withEngineFeatures)
	a := createAgent(t, s, `{"name":"a","model":"gpt-5","tools":[{"type":"agent_toolset_20260401"}]}`)
	if a.Engine != hangar.EngineCodex {
		t.Fatalf("engine = %q, want codex", a.Engine)
	}
	path := "/v1/agents/" + a.ID
	for _, tc := range []struct{ name, body, want string }{
		{"add a custom tool", `{"tools":[{"type":"custom","name":"lookup","description":"d","input_schema":{"type":"object"}}]}`,
			`tools[0]: engine "codex" does not support custom tools; engines that do: claude, scripted`},
		{"add always_ask", `{"tools":[{"type":"agent_toolset_20260401","default_config":{"permission_policy":{"type":"always_ask"}}}]}`,
			`tools[0].default_config.permission_policy: engine "codex" does not support always_ask permission policies (tool confirmation); engines that do: claude, scripted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, s, "POST", path, tc.body), 400, "invalid_request_error")
			if msg != tc.want {
				t.Errorf("message = %q, want %q", msg, tc.want)
			}
		})
	}
	var after hangar.Agent
	apiOK(t, s, "GET", path, "", &after)
	if after.Version != 1 {
		t.Errorf("refused updates changed the agent: version %d", after.Version)
	}

	// Switching to an engine that has the feature in the same update is accepted; switching
	// back to codex is then refused.
	var u hangar.Agent
	apiOK(t, s, "POST", path, `{"engine":"claude","tools":[{"type":"custom","name":"lookup","description":"d","input_schema":{"type":"object"}}]}`, &u)
	if u.Version != 2 || u.Engine != hangar.EngineClaude {
		t.Errorf("update = v%d engine %q, want v2 claude", u.Version, u.Engine)
	}
	msg := apiError(t, apiDo(t, s, "POST", path, `{"engine":"codex"}`), 400, "invalid_request_error")
	if !strings.HasPrefix(msg, `tools[0]: engine "codex" does not support custom tools`) {
		t.Errorf("engine switch message = %q", msg)
	}
}

func TestAgentGet(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	a := createAgent(t, s, fullAgentBody)
	apiOK(t, s, "POST", "/v1/agents/"+a.ID, `{"description":"v2"}`, nil)

	body := apiOK(t, s, "GET", "/v1/agents/"+a.ID, "", nil)
	checkGolden(t, "agent_get", body)

	var v1, latest hangar.Agent
	apiOK(t, s, "GET", "/v1/agents/"+a.ID+"?version=1", "", &v1)
	apiOK(t, s, "GET", "/v1/agents/"+a.ID+"?beta=true", "", &latest)
	if v1.Version != 1 || *v1.Description != "Finds things out" {
		t.Errorf("version 1 = v%d %q", v1.Version, *v1.Description)
	}
	if latest.Version != 2 || *latest.Description != "v2" {
		t.Errorf("latest = v%d %q", latest.Version, *latest.Description)
	}

	for _, tc := range []struct {
		path   string
		status int
		typ    string
	}{
		{"/v1/agents/" + a.ID + "?version=0", 400, "invalid_request_error"},
		{"/v1/agents/" + a.ID + "?version=-1", 400, "invalid_request_error"},
		{"/v1/agents/" + a.ID + "?version=abc", 400, "invalid_request_error"},
		{"/v1/agents/" + a.ID + "?version=3", 404, "not_found_error"},
		{"/v1/agents/agent_011CMissing", 404, "not_found_error"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			apiError(t, apiDo(t, s, "GET", tc.path, ""), tc.status, tc.typ)
		})
	}
}

func TestAgentList(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, createAgent(t, s, `{"name":"`+n+`","model":"claude-sonnet-4-6"}`).ID)
	}
	apiOK(t, s, "POST", "/v1/agents/"+ids[1]+"/archive", "", nil)

	body := apiOK(t, s, "GET", "/v1/agents", "", nil)
	checkGolden(t, "agent_list", body)

	list := func(query string) ([]string, *string) {
		t.Helper()
		var page listEnvelope[hangar.Agent]
		apiOK(t, s, "GET", "/v1/agents"+query, "", &page)
		var got []string
		for _, a := range page.Data {
			got = append(got, a.ID)
		}
		return got, page.NextPage
	}
	if got, next := list(""); !cmp.Equal(got, []string{ids[0], ids[2]}) || next != nil {
		t.Errorf("default list = %v next %v, want archived excluded and no next page", got, next)
	}
	got, next := list("?include_archived=true&limit=2")
	if !cmp.Equal(got, ids[:2]) || next == nil {
		t.Fatalf("first page = %v next %v", got, next)
	}
	if got, next := list("?include_archived=true&limit=2&page=" + *next); !cmp.Equal(got, ids[2:]) || next != nil {
		t.Errorf("second page = %v next %v", got, next)
	}
	// Times come from the test clock: one second per call, so the agents' created_at are
	// distinct. created_at[gte] of the third agent selects only it.
	var third hangar.Agent
	apiOK(t, s, "GET", "/v1/agents/"+ids[2], "", &third)
	ts := third.CreatedAt.Format("2006-01-02T15:04:05Z07:00")
	if got, _ := list("?created_at[gte]=" + ts); !cmp.Equal(got, ids[2:]) {
		t.Errorf("created_at[gte] = %v, want %v", got, ids[2:])
	}
	if got, _ := list("?include_archived=true&created_at[lte]=" + ts); len(got) != 3 {
		t.Errorf("created_at[lte] = %v, want all three", got)
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?page=bogus", "?include_archived=maybe", "?created_at[gte]=yesterday"} {
		apiError(t, apiDo(t, s, "GET", "/v1/agents"+q, ""), 400, "invalid_request_error")
	}
}

func TestAgentUpdate(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	a := createAgent(t, s, fullAgentBody)
	path := "/v1/agents/" + a.ID

	var u hangar.Agent
	body := apiOK(t, s, "POST", path, `{"version":1,"name":"researcher-2","description":null,"metadata":{"team":null,"tier":"gold"},"tools":null,"mcp_servers":[]}`, &u)
	checkGolden(t, "agent_update", body)
	if u.Version != 2 || u.Name != "researcher-2" || u.Description != nil || string(u.Tools) != "[]" || !cmp.Equal(u.Metadata, map[string]string{"tier": "gold"}) {
		t.Errorf("update = %+v", u)
	}
	if *u.System != "You are careful." || u.Model.ID != "claude-opus-4-8" || string(u.Skills) == "[]" {
		t.Errorf("omitted fields changed: system %v model %v skills %s", u.System, u.Model, u.Skills)
	}

	// An update that changes nothing creates no version.
	apiOK(t, s, "POST", path, `{"name":"researcher-2","metadata":{"tier":"gold"}}`, &u)
	if u.Version != 2 {
		t.Errorf("no-op update made version %d", u.Version)
	}
	apiOK(t, s, "POST", path, `{}`, &u)
	if u.Version != 2 {
		t.Errorf("empty update made version %d", u.Version)
	}

	// Effort survives a model change that omits it; "" clears system.
	apiOK(t, s, "POST", path, `{"model":{"id":"claude-sonnet-4-6"},"system":""}`, &u)
	if u.Version != 3 || u.Model.ID != "claude-sonnet-4-6" || u.Model.Speed != "standard" || string(u.Model.Effort) != `{"type":"high"}` || u.System != nil {
		t.Errorf("model update = v%d %+v system %v", u.Version, u.Model, u.System)
	}

	tests := []struct {
		name   string
		body   string
		status int
		prefix string // of the error message
	}{
		{"stale version", `{"version":1,"name":"x"}`, 409, "agent version mismatch"},
		{"future version", `{"version":9,"name":"x"}`, 409, "agent version mismatch"},
		{"version zero", `{"version":0}`, 400, "version:"},
		{"name null", `{"name":null}`, 400, "name:"},
		{"name empty", `{"name":""}`, 400, "name:"},
		{"model null", `{"model":null}`, 400, "model:"},
		{"bad model speed", `{"model":{"id":"m","speed":"warp"}}`, 400, "model.speed:"},
		{"unreferenced server", `{"mcp_servers":[{"type":"url","name":"n","url":"https://x/y"}]}`, 400, "mcp_servers[0]:"},
		{"toolset without server", `{"tools":[{"type":"mcp_toolset","mcp_server_name":"n"}]}`, 400, "tools[0].mcp_server_name:"},
		{"too much metadata", `{"metadata":{` + metadataPairs(17) + `}}`, 400, "metadata:"},
		{"unknown field", `{"nickname":"x"}`, 400, "nickname:"},
		{"tools not an array", `{"tools":{}}`, 400, "tools:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ := "invalid_request_error"
			msg := apiError(t, apiDo(t, s, "POST", path, tc.body), tc.status, typ)
			if !strings.HasPrefix(msg, tc.prefix) {
				t.Errorf("message %q, want prefix %q", msg, tc.prefix)
			}
		})
	}
	var after hangar.Agent
	apiOK(t, s, "GET", path, "", &after)
	if after.Version != 3 {
		t.Errorf("failed updates changed the agent: version %d", after.Version)
	}

	apiError(t, apiDo(t, s, "POST", "/v1/agents/agent_011CMissing", `{"name":"x"}`), 404, "not_found_error")

	// Archived agents are read-only.
	apiOK(t, s, "POST", path+"/archive", "", nil)
	apiError(t, apiDo(t, s, "POST", path, `{"name":"again"}`), 409, "invalid_request_error")
}

// metadataPairs returns n JSON object members "k0":"v", "k1":"v", ... (no braces).
func metadataPairs(n int) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = `"k` + strconv.Itoa(i) + `":"v"`
	}
	return strings.Join(pairs, ",")
}

func TestAgentVersionsAndArchive(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	a := createAgent(t, s, `{"name":"v","model":"claude-sonnet-4-6"}`)
	apiOK(t, s, "POST", "/v1/agents/"+a.ID, `{"system":"two"}`, nil)
	apiOK(t, s, "POST", "/v1/agents/"+a.ID, `{"system":"three"}`, nil)

	checkGolden(t, "agent_versions", apiOK(t, s, "GET", "/v1/agents/"+a.ID+"/versions", "", nil))

	var page listEnvelope[hangar.Agent]
	apiOK(t, s, "GET", "/v1/agents/"+a.ID+"/versions?limit=2", "", &page)
	if len(page.Data) != 2 || page.NextPage == nil || page.Data[0].Version != 1 {
		t.Fatalf("versions page 1: %d items next %v", len(page.Data), page.NextPage)
	}
	apiOK(t, s, "GET", "/v1/agents/"+a.ID+"/versions?limit=2&page="+*page.NextPage, "", &page)
	if len(page.Data) != 1 || page.Data[0].Version != 3 || page.NextPage != nil {
		t.Errorf("versions page 2: %+v", page)
	}
	apiError(t, apiDo(t, s, "GET", "/v1/agents/"+a.ID+"/versions?limit=101", ""), 400, "invalid_request_error")
	apiError(t, apiDo(t, s, "GET", "/v1/agents/agent_011CMissing/versions", ""), 404, "not_found_error")

	body := apiOK(t, s, "POST", "/v1/agents/"+a.ID+"/archive", "", nil)
	checkGolden(t, "agent_archive", body)
	var archived hangar.Agent
	_ = json.Unmarshal(body, &archived)
	if archived.ArchivedAt == nil || archived.Version != 3 {
		t.Errorf("archive = %+v", archived)
	}
	// Archiving twice is a no-op.
	apiOK(t, s, "POST", "/v1/agents/"+a.ID+"/archive", "", nil)
	apiError(t, apiDo(t, s, "POST", "/v1/agents/agent_011CMissing/archive", ""), 404, "not_found_error")
}

func TestAgentDuplicateName(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	createAgent(t, s, `{"name":"dup","model":"m"}`)
	apiError(t, apiDo(t, s, "POST", "/v1/agents", `{"name":"dup","model":"m"}`), 409, "invalid_request_error")
}

func TestAgentMultiagent(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	worker := createAgent(t, s, `{"name":"worker","model":"m"}`)
	apiOK(t, s, "POST", "/v1/agents/"+worker.ID, `{"system":"v2"}`, nil)

	var lead map[string]json.RawMessage
	apiOK(t, s, "POST", "/v1/agents", `{"name":"lead","model":"m","multiagent":{"type":"coordinator","agents":["`+worker.ID+`",{"type":"self"}]}}`, &lead)
	want := `{"type":"coordinator","agents":[{"type":"agent","id":"` + worker.ID + `","version":2},{"type":"self"}]}`
	if diff := cmp.Diff(compactJSON(t, want), compactJSON(t, string(lead["multiagent"]))); diff != "" {
		t.Errorf("multiagent (-want +got):\n%s", diff)
	}
	var leadID string
	_ = json.Unmarshal(lead["id"], &leadID)

	for _, tc := range []struct{ name, multi string }{
		{"missing agent", `{"type":"coordinator","agents":["agent_011CMissing"]}`},
		{"empty roster", `{"type":"coordinator","agents":[]}`},
		{"duplicate", `{"type":"coordinator","agents":["` + worker.ID + `",{"type":"agent","id":"` + worker.ID + `"}]}`},
		{"nested coordinator", `{"type":"coordinator","agents":["` + leadID + `"]}`},
		{"unknown type", `{"type":"swarm"}`},
		{"not an object", `"coordinator"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := apiError(t, apiDo(t, s, "POST", "/v1/agents", `{"name":"bad","model":"m","multiagent":`+tc.multi+`}`), 400, "invalid_request_error")
			if !strings.HasPrefix(msg, "multiagent") {
				t.Errorf("message %q does not name multiagent", msg)
			}
		})
	}

	// null clears on update.
	var u hangar.Agent
	apiOK(t, s, "POST", "/v1/agents/"+leadID, `{"multiagent":null}`, &u)
	if !isNull(u.Multiagent) || u.Version != 2 {
		t.Errorf("cleared multiagent = %s (v%d)", u.Multiagent, u.Version)
	}
}

func TestErrorEnvelopeGolden(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	rec := apiDo(t, s, "POST", "/v1/agents", `{"name":"x","model":"m","tools":[{"type":"custom","name":"has space","description":"d","input_schema":{"type":"object"}}]}`)
	apiError(t, rec, 400, "invalid_request_error")
	checkGolden(t, "error_envelope", rec.Body.Bytes())

	rec = apiDo(t, s, "GET", "/v1/agents/agent_011CMissing", "")
	apiError(t, rec, 404, "not_found_error")
	checkGolden(t, "error_not_found", rec.Body.Bytes())
}
