package main

import (
	"testing"
)

func TestZDebug(t *testing.T) {
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	env := newEnvironment(t, c, "env")
	a := newAgent(t, c, "echo", nil)
	t.Logf("agent: %s", a.RawJSON())
	t.Logf("env: %s", env.RawJSON())
	s := newSession(t, c, a.ID, env.ID)
	t.Logf("session: %s", s.RawJSON())
	raw := openRawStream(t, ctx, srv.URL, s.ID, "", nil)
	res := send(t, c, s.ID, userMessage("hi"))
	t.Logf("send: %s", res[0].RawJSON())
	for {
		f, err := raw.next()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("id=%s event=%s data=%s", f.ID, f.Event, f.Data)
		if f.Event == "session.status_idle" {
			break
		}
	}
}
