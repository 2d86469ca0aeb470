package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The native engine's bash keeps its shell state between calls in a real bubblewrap
// sandbox, across turns: the directory and a variable set in one turn are there in the
// next.
func TestE2ENativeShellState(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("bubblewrap is not installed (run scripts/install-test-deps)")
	}
	srv, _ := nativeServer(t)
	c := srv.Client
	a := nativeAgent(t, c, "native")
	env := newEnvironment(t, c, "sandbox")
	sess := newSession(t, c, a.ID, env.ID)
	ctx := testContext(t)
	stream := openStream(t, ctx, c, sess.ID)

	send(t, c, sess.ID, userMessage(`TOOL:bash mkdir -p deep/er && cd deep/er && export GREETING=kept`))
	readUntil(t, stream, isIdle)
	send(t, c, sess.ID, userMessage(`TOOL:bash echo "$PWD $GREETING"`))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" {
			result = ev.RawJSON()
		}
	}
	if !strings.Contains(result, "/workspace/deep/er kept") {
		t.Errorf("second turn's bash = %s, want the directory and variable of the first", result)
	}
}
