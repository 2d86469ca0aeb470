package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// Session extras: session.updated events, the usage object (active_seconds, list_cost),
// deployment_id, agent_with_overrides and agent updates (session_update.go,
// session_overrides.go).

// sessionEvents lists the session's events of type typ, as wire JSON.
func (e *sessionEnv) sessionEvents(id, typ string) []json.RawMessage {
	e.t.Helper()
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	apiOK(e.t, e.srv, "GET", "/v1/sessions/"+id+"/events?limit=100", "", &page)
	var out []json.RawMessage
	for _, ev := range page.Data {
		var head struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(ev, &head)
		if head.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func TestSessionUpdatedEvents(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("a", 1)
	env := e.environment("env")
	s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q,"title":"first","metadata":{"keep":"1"},
		"budget":{"type":"limit","max_list_cost":{"amount":"500","currency":"USD"}}}`, a.ID, env.ID))

	steps := []struct {
		name, body string
		golden     string // "" when the update must emit no event
	}{
		{"title and metadata", `{"title":"second","metadata":{"add":"2"}}`, "session_updated_title_metadata"},
		{"same values emit nothing", `{"title":"second","metadata":{"add":"2"}}`, ""},
		{"title cleared", `{"title":null}`, "session_updated_title_cleared"},
		{"budget replaced", `{"budget":{"type":"limit","max_list_cost":{"amount":"900","currency":"USD"}}}`, "session_updated_budget"},
		{"budget removed", `{"budget":null}`, "session_updated_budget_removed"},
		{"metadata emptied", `{"metadata":{"keep":null,"add":null}}`, "session_updated_metadata_emptied"},
		{"agent tools", `{"agent":{"tools":[{"type":"agent_toolset_20260401"}]}}`, "session_updated_agent"},
		{"agent tools unchanged", `{"agent":{"tools":[{"type":"agent_toolset_20260401"}]}}`, ""},
	}
	seen := 0
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID, st.body, nil)
			evs := e.sessionEvents(s.ID, hangar.EventSessionUpdated)
			if st.golden == "" {
				if len(evs) != seen {
					t.Fatalf("%d session.updated events, want %d (no new one)", len(evs), seen)
				}
				return
			}
			if len(evs) != seen+1 {
				t.Fatalf("%d session.updated events, want %d", len(evs), seen+1)
			}
			seen++
			checkGolden(t, st.golden, evs[len(evs)-1])
		})
	}

	var got struct {
		Agent struct {
			Tools []map[string]any `json:"tools"`
		} `json:"agent"`
		Budget *hangar.Budget `json:"budget"`
	}
	apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID, "", &got)
	if len(got.Agent.Tools) != 1 || got.Agent.Tools[0]["type"] != "agent_toolset_20260401" || got.Budget != nil {
		t.Errorf("session after updates: tools %v budget %v", got.Agent.Tools, got.Budget)
	}
	var agent struct {
		Version int               `json:"version"`
		Tools   []json.RawMessage `json:"tools"`
	}
	apiOK(t, e.srv, "GET", "/v1/agents/"+a.ID, "", &agent)
	if agent.Version != 1 || len(agent.Tools) != 0 {
		t.Errorf("agent changed by a session update: version %d tools %d", agent.Version, len(agent.Tools))
	}
}

func TestSessionUpdateAgentRules(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("a", 1)
	env := e.environment("env")
	create := func(extra string) sessionJSON {
		return e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q%s}`, a.ID, env.ID, extra))
	}
	cases := []struct {
		name, status, body string
		code               int
		want               string
	}{
		{"running", hangar.StatusRunning, `{"agent":{"tools":[]}}`, 409, "only while it is idle"},
		{"rescheduling", hangar.StatusRescheduling, `{"agent":{"mcp_servers":[]}}`, 409, "only while it is idle"},
		{"terminated", hangar.StatusTerminated, `{"agent":{"tools":[]}}`, 409, "terminated"},
		{"not an object", "", `{"agent":"agent_1"}`, 400, "agent: expected object"},
		{"other field", "", `{"agent":{"system":"x"}}`, 400, "agent.system: extra inputs are not permitted"},
		{"bad tool", "", `{"agent":{"tools":[{"type":"nope"}]}}`, 400, "agent.tools[0]"},
		{"mcp toolset without server", "", `{"agent":{"tools":[{"type":"mcp_toolset","mcp_server_name":"gh"}]}}`, 400, "agent."},
		{"vault_ids", "", `{"vault_ids":[]}`, 400, "vault_ids: updating the vaults of a session is not yet supported"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := create("")
			if tt.status != "" {
				e.setStatus(s.ID, tt.status)
			}
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID, tt.body), tt.code, "invalid_request_error")
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
			if n := len(e.sessionEvents(s.ID, hangar.EventSessionUpdated)); n != 0 {
				t.Errorf("%d session.updated events after a refused update", n)
			}
		})
	}
	t.Run("budget below the cost so far", func(t *testing.T) {
		s := create(`,"budget":{"type":"limit","max_list_cost":{"amount":"500","currency":"USD"}}`)
		if _, err := e.store.UpdateSession(e.ctx(), s.ID, func(s *hangar.Session) error {
			s.AddUsage(hangar.Usage{OutputTokens: 1_000_000}) // $15.00 on claude-sonnet-4-6
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+s.ID, `{"budget":{"type":"limit","max_list_cost":{"amount":"1500","currency":"USD"}}}`), 400, "invalid_request_error")
		if !strings.Contains(msg, "above the session's list cost so far (1500 cents)") {
			t.Errorf("message %q", msg)
		}
		apiOK(t, e.srv, "POST", "/v1/sessions/"+s.ID, `{"budget":{"type":"limit","max_list_cost":{"amount":"1501","currency":"USD"}}}`, nil)
	})
}

func TestSessionUsageWire(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	env := e.environment("env")
	a := e.agent("a", 1)
	gpt, err := e.store.UpdateAgent(e.ctx(), e.agent("b", 1).ID, e.clock(), func(a *hangar.Agent) error {
		a.Model.ID, a.Engine = "gpt-5-codex", hangar.EngineCodex
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	usage := hangar.Usage{InputTokens: 200_000, OutputTokens: 10_000, CacheReadInputTokens: 1_000_000,
		CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 100_000, Ephemeral1hInputTokens: 50_000}}
	// claude-sonnet-4-6: 0.2*3 + 0.01*15 + 1*0.3 + 0.1*3.75 + 0.05*6 = $1.725 → 173 cents.
	cases := []struct {
		name, agent string
		wantCost    *string
	}{
		{"claude model is priced", a.ID, ptr("173")},
		{"model without a list price has no list_cost", gpt.ID, nil},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, tt.agent, env.ID))
			if _, err := e.store.UpdateSession(e.ctx(), s.ID, func(s *hangar.Session) error {
				s.AddUsage(usage)
				s.Stats.ActiveSeconds = 12.5
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Usage struct {
					InputTokens   int64                  `json:"input_tokens"`
					ActiveSeconds *float64               `json:"active_seconds"`
					ListCost      *hangar.MonetaryAmount `json:"list_cost"`
				} `json:"usage"`
				DeploymentID *string `json:"deployment_id"`
			}
			body := apiOK(t, e.srv, "GET", "/v1/sessions/"+s.ID, "", &got)
			if !strings.Contains(string(body), `"deployment_id":null`) {
				t.Errorf("deployment_id not null in %s", body)
			}
			if got.Usage.InputTokens != 200_000 || got.Usage.ActiveSeconds == nil || *got.Usage.ActiveSeconds != 12.5 {
				t.Errorf("usage = %+v", got.Usage)
			}
			switch {
			case tt.wantCost == nil && got.Usage.ListCost != nil:
				t.Errorf("list_cost = %+v, want absent", got.Usage.ListCost)
			case tt.wantCost != nil && (got.Usage.ListCost == nil || got.Usage.ListCost.Amount != *tt.wantCost || got.Usage.ListCost.Currency != "USD"):
				t.Errorf("list_cost = %+v, want %s USD", got.Usage.ListCost, *tt.wantCost)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestSessionDeploymentFilter(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("a", 1)
	env := e.environment("env")
	plain := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, a.ID, env.ID))
	var dep struct {
		ID string `json:"id"`
	}
	apiOK(t, e.srv, "POST", "/v1/deployments", fmt.Sprintf(`{"name":"nightly","agent":%q,"environment_id":%q,
		"initial_events":[{"type":"user.message","content":[{"type":"text","text":"go"}]}]}`, a.ID, env.ID), &dep)
	run, err := e.srv.RunDeployment(e.ctx(), dep.ID, hangar.TriggerContext{Type: "manual"})
	if err != nil || run.SessionID == nil {
		t.Fatalf("run deployment: %v %+v", err, run)
	}
	var got struct {
		DeploymentID *string `json:"deployment_id"`
	}
	apiOK(t, e.srv, "GET", "/v1/sessions/"+*run.SessionID, "", &got)
	if got.DeploymentID == nil || *got.DeploymentID != dep.ID {
		t.Errorf("deployment_id = %v, want %s", got.DeploymentID, dep.ID)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"?deployment_id=" + dep.ID, []string{*run.SessionID}},
		{"?deployment_id=depl_other", []string{}},
		{"", []string{*run.SessionID, plain.ID}}, // newest first
	} {
		var page sessionPage
		apiOK(t, e.srv, "GET", "/v1/sessions"+tt.query, "", &page)
		if got := ids(page.Data); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("list%s = %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestSessionAgentWithOverrides(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	a := e.agent("a", 2)
	env := e.environment("env")
	t.Run("overrides the snapshot only", func(t *testing.T) {
		body := apiOK(t, e.srv, "POST", "/v1/sessions", fmt.Sprintf(`{"environment_id":%q,"agent":{"type":"agent_with_overrides","id":%q,"version":1,
			"model":"claude-opus-4-6","system":"overridden","tools":[{"type":"agent_toolset_20260401"}],"skills":[]}}`, env.ID, a.ID), nil)
		checkGolden(t, "session_create_overrides", body)
		var agent struct {
			Version int     `json:"version"`
			System  *string `json:"system"`
			Model   struct {
				ID string `json:"id"`
			} `json:"model"`
		}
		apiOK(t, e.srv, "GET", "/v1/agents/"+a.ID, "", &agent)
		if agent.Version != 2 || agent.Model.ID != "claude-sonnet-4-6" || agent.System == nil || *agent.System != "prompt v2" {
			t.Errorf("agent changed: %+v", agent)
		}
	})
	t.Run("latest version without overrides", func(t *testing.T) {
		s := e.session(fmt.Sprintf(`{"environment_id":%q,"agent":{"type":"agent_with_overrides","id":%q}}`, env.ID, a.ID))
		if s.Agent.Version != 2 || s.Agent.System == nil || *s.Agent.System != "prompt v2" {
			t.Errorf("agent = %+v", s.Agent)
		}
	})
	cases := []struct {
		name, agent string
		code        int
		want        string
	}{
		{"missing id", `{"type":"agent_with_overrides"}`, 400, "agent.id: field required"},
		{"bad version", fmt.Sprintf(`{"type":"agent_with_overrides","id":%q,"version":0}`, a.ID), 400, "agent.version: must be at least 1"},
		{"unknown field", fmt.Sprintf(`{"type":"agent_with_overrides","id":%q,"name":"x"}`, a.ID), 400, "agent.name: extra inputs are not permitted"},
		{"null model", fmt.Sprintf(`{"type":"agent_with_overrides","id":%q,"model":null}`, a.ID), 400, "agent.model: cannot be null"},
		{"bad tool", fmt.Sprintf(`{"type":"agent_with_overrides","id":%q,"tools":[{"type":"nope"}]}`, a.ID), 400, "agent.tools[0]"},
		{"long system", fmt.Sprintf(`{"type":"agent_with_overrides","id":%q,"system":%q}`, a.ID, strings.Repeat("x", 100001)), 400, "agent.system"},
		{"missing agent", `{"type":"agent_with_overrides","id":"agent_missing"}`, 404, "agent_missing"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			typ := "invalid_request_error"
			if tt.code == 404 {
				typ = "not_found_error"
			}
			msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions", fmt.Sprintf(`{"environment_id":%q,"agent":%s}`, env.ID, tt.agent)), tt.code, typ)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
		})
	}
}
