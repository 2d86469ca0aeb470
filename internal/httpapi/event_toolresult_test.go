package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
)

// user.tool_result is the self_hosted worker's answer to a delegated agent.tool_use: it is
// accepted only on sessions of a self_hosted environment, and processed on receipt.
func TestEventSendToolResult(t *testing.T) {
	t.Parallel()
	e := newSessionEnv(t)
	agent := e.agent("a", 1).ID
	cloud := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, agent, e.environment("env").ID))
	env := e.environment("workers")
	if _, err := e.store.UpdateEnvironment(e.ctx(), env.ID, func(env *hangar.Environment) error {
		env.Config = hangar.EnvironmentConfig{Type: "self_hosted"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hosted := e.session(fmt.Sprintf(`{"agent":%q,"environment_id":%q}`, agent, env.ID))
	result := `{"events":[{"type":"user.tool_result","tool_use_id":"sevt_use","content":[{"type":"text","text":"ok"}],"is_error":false}]}`

	msg := apiError(t, apiDo(t, e.srv, "POST", "/v1/sessions/"+cloud.ID+"/events", result), 400, "invalid_request_error")
	if !strings.Contains(msg, "events[0].type") || !strings.Contains(msg, "self_hosted") {
		t.Errorf("message = %q", msg)
	}

	var page eventPage
	body := apiOK(t, e.srv, "POST", "/v1/sessions/"+hosted.ID+"/events", result, &page)
	if len(page.Data) != 1 || page.Data[0].Type != hangar.EventUserToolResult || page.Data[0].ProcessedAt == nil {
		t.Fatalf("echo = %s", body)
	}
	if !strings.Contains(string(body), `"tool_use_id":"sevt_use","content":[{"type":"text","text":"ok"}],"is_error":false`) {
		t.Errorf("echo = %s", body)
	}
}
