package httpapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hangar-dev/hangar"
)

// threadFixture creates, through the API, a helper agent and a coordinator whose roster
// names it, then (in the store, as the runner would) a session of the coordinator with a
// child thread and events on both threads. It returns the session and child thread IDs.
func threadFixture(t *testing.T, s *Server, st hangar.Store) (sessionID, childID string) {
	t.Helper()
	ctx := context.Background()
	var helper, lead hangar.Agent
	apiOK(t, s, "POST", "/v1/agents", `{"name":"Helper","model":"claude-sonnet-4-6","system":"You help."}`, &helper)
	apiOK(t, s, "POST", "/v1/agents", `{"name":"Lead","model":"claude-sonnet-4-6","multiagent":{"type":"coordinator","agents":["`+helper.ID+`"]}}`, &lead)
	var e envResp
	apiOK(t, s, "POST", "/v1/environments", `{"name":"threads"}`, &e)
	now := testEpoch
	sess := &hangar.Session{
		Type: "session", ID: "sesn_011CThreads0000000000001", Status: hangar.StatusIdle, Agent: lead, EnvironmentID: e.ID,
		Metadata: map[string]string{}, Resources: json.RawMessage(`[]`), VaultIDs: []string{},
		OutcomeEvaluations: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now,
		Usage: hangar.Usage{InputTokens: 30, OutputTokens: 12},
	}
	must(t, st.CreateSession(ctx, sess))
	// Listing creates the primary thread on demand (the runner may not have yet).
	apiOK(t, s, "GET", "/v1/sessions/"+sess.ID+"/threads", "", nil)
	parent := hangar.PrimaryThreadID(sess.ID)
	child := &hangar.Thread{
		ID: "sthr_011CThreadsChild000000001", SessionID: sess.ID, Status: hangar.StatusIdle, Agent: helper,
		ParentThreadID: &parent, Roster: 0, Usage: &hangar.Usage{InputTokens: 10, OutputTokens: 2},
		Stats: hangar.ThreadStats{DurationSeconds: 2, ActiveSeconds: 1.5}, CreatedAt: now, UpdatedAt: now,
	}
	must(t, st.CreateThread(ctx, child))
	ev := func(id, typ string, fields any, thread string, cross bool) hangar.Event {
		e := hangar.NewEvent(typ, fields)
		e.ID, e.ProcessedAt, e.ThreadID, e.CrossPosted = id, &now, thread, cross
		return e
	}
	_, _, err := st.AppendEvents(ctx, hangar.AppendRequest{SessionID: sess.ID, Events: []hangar.Event{
		ev("sevt_01", hangar.EventThreadCreated, map[string]string{"session_thread_id": child.ID, "agent_name": "Helper"}, "", false),
		ev("sevt_02", hangar.EventThreadStatusRunning, map[string]string{"session_thread_id": child.ID, "agent_name": "Helper"}, child.ID, true),
		ev("sevt_03", hangar.EventAgentMessage, map[string]any{"content": []map[string]string{{"type": "text", "text": "done"}}}, child.ID, false),
		ev("sevt_04", hangar.EventThreadMessageReceived, map[string]any{"from_session_thread_id": child.ID, "from_agent_name": "Helper", "content": []map[string]string{{"type": "text", "text": "done"}}}, "", false),
	}})
	must(t, err)
	return sess.ID, child.ID
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestThreads(t *testing.T) {
	t.Parallel()
	s, st := newTestServer(t)
	id, child := threadFixture(t, s, st)
	base := "/v1/sessions/" + id + "/threads"

	var list struct {
		Data     []threadWire `json:"data"`
		NextPage *string      `json:"next_page"`
	}
	body := apiOK(t, s, "GET", base, "", &list)
	checkGolden(t, "thread_list", body)
	if len(list.Data) != 2 || list.Data[0].ParentThreadID != nil || list.Data[1].ID != child {
		t.Fatalf("threads %+v, want the primary (created on demand) then the child", list.Data)
	}
	primary := list.Data[0]
	if primary.ID != hangar.PrimaryThreadID(id) || primary.Agent.Name != "Lead" || string(primary.Agent.Multiagent) != "null" {
		t.Errorf("primary thread %+v", primary)
	}
	if u := list.Data[1].Usage; u == nil || u.InputTokens != 10 || u.ActiveSeconds != 1.5 {
		t.Errorf("child usage %+v", u)
	}
	apiOK(t, s, "GET", base+"?statuses[]=running", "", &list)
	if len(list.Data) != 0 {
		t.Errorf("statuses[]=running listed %d threads", len(list.Data))
	}
	apiError(t, apiDo(t, s, "GET", base+"?statuses[]=bogus", ""), 400, "invalid_request_error")

	var got threadWire
	checkGolden(t, "thread_get", apiOK(t, s, "GET", base+"/"+child, "", &got))
	apiError(t, apiDo(t, s, "GET", base+"/sthr_missing", ""), 404, "not_found_error")
	apiError(t, apiDo(t, s, "GET", "/v1/sessions/sesn_missing/threads", ""), 404, "not_found_error")

	var evs struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	apiOK(t, s, "GET", base+"/"+child+"/events", "", &evs)
	if len(evs.Data) != 2 || evs.Data[0].ID != "sevt_02" || evs.Data[1].ID != "sevt_03" {
		t.Errorf("child events %+v, want sevt_02, sevt_03", evs.Data)
	}
	apiOK(t, s, "GET", base+"/"+primary.ID+"/events", "", &evs)
	if len(evs.Data) != 3 || evs.Data[1].ID != "sevt_02" {
		t.Errorf("primary events %+v, want the primary view (cross-posted included)", evs.Data)
	}
	apiOK(t, s, "GET", "/v1/sessions/"+id+"/events", "", &evs)
	if len(evs.Data) != 3 {
		t.Errorf("session events %+v: the child's own events leaked into the session view", evs.Data)
	}

	apiError(t, apiDo(t, s, "POST", base+"/"+primary.ID+"/archive", ""), 400, "invalid_request_error")
	_, err := st.UpdateThread(context.Background(), id, child, func(t *hangar.Thread) error { t.Status = hangar.StatusRunning; return nil })
	must(t, err)
	apiError(t, apiDo(t, s, "POST", base+"/"+child+"/archive", ""), 409, "invalid_request_error")
	_, err = st.UpdateThread(context.Background(), id, child, func(t *hangar.Thread) error { t.Status = hangar.StatusIdle; return nil })
	must(t, err)
	apiOK(t, s, "POST", base+"/"+child+"/archive", "", &got)
	if got.ArchivedAt == nil {
		t.Error("archive did not set archived_at")
	}
	apiOK(t, s, "POST", base+"/"+child+"/archive", "", &got) // twice: a no-op
}

func TestCoordinatorNeedsCustomTools(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, func(c *Config) {
		c.EngineFeatures = map[string]EngineFeatures{"claude": {CustomTools: true, ToolConfirmation: true}, "codex": {}}
	})
	var helper hangar.Agent
	apiOK(t, s, "POST", "/v1/agents", `{"name":"Helper","model":"claude-sonnet-4-6"}`, &helper)
	msg := apiError(t, apiDo(t, s, "POST", "/v1/agents", `{"name":"Lead","model":"claude-sonnet-4-6","engine":"codex","multiagent":{"type":"coordinator","agents":["`+helper.ID+`"]}}`), 400, "invalid_request_error")
	if want := "multiagent: engine \"codex\""; len(msg) < len(want) || msg[:len(want)] != want {
		t.Errorf("message %q", msg)
	}
}

// TestThreadsSingleAgent: a session without a roster has one thread, the primary, which
// mirrors the session.
func TestThreadsSingleAgent(t *testing.T) {
	t.Parallel()
	s, st := newTestServer(t)
	var a hangar.Agent
	apiOK(t, s, "POST", "/v1/agents", `{"name":"Solo","model":"claude-sonnet-4-6"}`, &a)
	var e envResp
	apiOK(t, s, "POST", "/v1/environments", `{"name":"solo"}`, &e)
	sess := &hangar.Session{
		Type: "session", ID: "sesn_011CSolo000000000000001", Status: hangar.StatusRunning, Agent: a, EnvironmentID: e.ID,
		Metadata: map[string]string{}, Resources: json.RawMessage(`[]`), VaultIDs: []string{},
		OutcomeEvaluations: json.RawMessage(`[]`), CreatedAt: testEpoch, UpdatedAt: testEpoch,
		Usage: hangar.Usage{InputTokens: 5},
	}
	must(t, st.CreateSession(context.Background(), sess))
	var list struct {
		Data []threadWire `json:"data"`
	}
	apiOK(t, s, "GET", "/v1/sessions/"+sess.ID+"/threads", "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != hangar.PrimaryThreadID(sess.ID) || list.Data[0].Status != hangar.StatusRunning ||
		list.Data[0].Usage == nil || list.Data[0].Usage.InputTokens != 5 {
		t.Fatalf("threads %+v, want the primary thread mirroring the session", list.Data)
	}
	// statuses[] filters on the status shown: the session's, not the stored thread's.
	for _, tt := range []struct {
		statuses string
		want     int
	}{
		{"statuses[]=running", 1},
		{"statuses[]=idle", 0},
		{"statuses[]=idle&statuses[]=running", 1},
	} {
		apiOK(t, s, "GET", "/v1/sessions/"+sess.ID+"/threads?"+tt.statuses, "", &list)
		if len(list.Data) != tt.want {
			t.Errorf("%s: %d threads, want %d", tt.statuses, len(list.Data), tt.want)
		}
	}
}
