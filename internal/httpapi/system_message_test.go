package httpapi

import (
	"encoding/json"
	"github.com/hangar-dev/hangar"
	"strings"
	"testing"
)

func TestDecodeSystemMessage(t *testing.T) {
	t.Parallel()
	const msg = `{"type":"user.message","content":[{"type":"text","text":"hi"}]}`
	const sys = `{"type":"system.message","content":[{"type":"text","text":"be brief"}]}`
	many := `{"type":"system.message","content":[` + strings.Repeat(`{"type":"text","text":"x"},`, 1000) + `{"type":"text","text":"x"}]}`
	tests := []struct {
		name string
		body string
		want string // "" = valid; else a substring of the error
	}{
		{"after user.message", `{"events":[` + msg + `,` + sys + `]}`, ""},
		{"after user.custom_tool_result", `{"events":[{"type":"user.custom_tool_result","custom_tool_use_id":"sevt_1"},` + sys + `]}`, ""},
		{"after user.tool_result", `{"events":[{"type":"user.tool_result","tool_use_id":"sevt_1"},` + sys + `]}`, ""},
		{"alone", `{"events":[` + sys + `]}`, "events[0]: a system.message must immediately follow the user.message, user.tool_result or user.custom_tool_result event it accompanies"},
		{"after an interrupt", `{"events":[{"type":"user.interrupt"},` + sys + `]}`, "events[1]: a system.message must immediately follow"},
		{"not last", `{"events":[` + msg + `,` + sys + `,` + msg + `]}`, "events[1]: a system.message must be the last event of the request"},
		{"two", `{"events":[` + msg + `,` + sys + `,` + sys + `]}`, "events[1]: a system.message must be the last event"},
		{"content missing", `{"events":[` + msg + `,{"type":"system.message"}]}`, "events[1].content: field required"},
		{"content empty", `{"events":[` + msg + `,{"type":"system.message","content":[]}]}`, "events[1].content: must contain between 1 and 1000 text blocks (got 0)"},
		{"too many blocks", `{"events":[` + msg + `,` + many + `]}`, "events[1].content: must contain between 1 and 1000 text blocks (got 1001)"},
		{"image block", `{"events":[` + msg + `,{"type":"system.message","content":[{"type":"image","source":{"type":"url","url":"https://x/a.png"}}]}]}`, `events[1].content[0].type: must be one of "text" (got "image")`},
		{"empty text", `{"events":[` + msg + `,{"type":"system.message","content":[{"type":"text","text":""}]}]}`, "events[1].content[0].text: must not be empty"},
		{"extra field", `{"events":[` + msg + `,{"type":"system.message","content":[{"type":"text","text":"x"}],"role":"system"}]}`, "events[1].role: extra inputs are not permitted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := decodeSendEvents([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if last := evs[len(evs)-1]; last.Type != "system.message" || string(last.Body) != `{"content":[{"type":"text","text":"be brief"}]}` {
					t.Errorf("last = %s %s", last.Type, last.Body)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := validateEvents("initial_events", []json.RawMessage{json.RawMessage(sys)}, initialEvents); err == nil || !strings.Contains(err.Error(), `"system.message" events are not supported here`) {
		t.Errorf("initial_events err = %v", err)
	}
}

// TestSendSystemMessageEngine: a session whose engine takes system turns stores a
// system.message (processed_at null until a turn delivers it); one whose engine cannot
// gets a 400 naming the engine and the engines that can, and nothing is stored.
func TestSendSystemMessageEngine(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t, func(c *Config) {
		c.EngineFeatures = map[string]EngineFeatures{
			hangar.EngineScripted: {SystemMessages: true},
			hangar.EngineNative:   {SystemMessages: true},
			hangar.EngineCodex:    {},
		}
	})
	env := e.environment("env")
	session := func(engine string) string {
		a := e.agent("a-"+engine, 1)
		if _, err := e.store.UpdateAgent(e.ctx(), a.ID, e.clock(), func(a *hangar.Agent) error {
			a.Engine = engine
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return e.session(`{"agent":"` + a.ID + `","environment_id":"` + env.ID + `"}`).ID
	}
	body := `{"events":[{"type":"user.message","content":[{"type":"text","text":"hi"}]},{"type":"system.message","content":[{"type":"text","text":"be brief"}]}]}`

	var sent struct {
		Data []eventJSON `json:"data"`
	}
	ok := session(hangar.EngineScripted)
	apiOK(t, e.srv, "POST", "/v1/sessions/"+ok+"/events", body, &sent)
	if len(sent.Data) != 2 || sent.Data[1].Type != "system.message" || sent.Data[1].ProcessedAt != nil {
		t.Errorf("echo %+v, want the system.message last with processed_at null", sent.Data)
	}

	refused := session(hangar.EngineCodex)
	msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+refused+"/events", body), 400, "invalid_request_error")
	if !strings.Contains(msg, `events[1]: engine "codex" cannot take system.message events`) || !strings.Contains(msg, "scripted") {
		t.Errorf("message %q", msg)
	}
	var page eventPage
	apiOK(t, e.srv, "GET", "/v1/sessions/"+refused+"/events", "", &page)
	if len(page.Data) != 0 {
		t.Errorf("%d events stored after a refused request", len(page.Data))
	}
	// On a self_hosted environment the native loop runs the session whatever the agent
	// names, and native takes system turns.
	now := e.clock()
	selfHosted := &hangar.Environment{Type: "environment", ID: e.srv.newID(hangar.PrefixEnvironment), Name: "workers",
		Config: hangar.EnvironmentConfig{Type: "self_hosted"}, Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateEnvironment(e.ctx(), selfHosted); err != nil {
		t.Fatal(err)
	}
	a := e.agent("a-codex-self-hosted", 1)
	if _, err := e.store.UpdateAgent(e.ctx(), a.ID, e.clock(), func(a *hangar.Agent) error {
		a.Engine = hangar.EngineCodex
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sh := e.session(`{"agent":"` + a.ID + `","environment_id":"` + selfHosted.ID + `"}`).ID
	apiOK(t, e.srv, "POST", "/v1/sessions/"+sh+"/events", body, nil)
}
