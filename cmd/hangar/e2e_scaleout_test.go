package main

import (
	"io"
	"slices"
	"strconv"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
)

// TestE2EScaleOutPostgres runs two Hangar instances on one PostgreSQL database
// (docs/deployment.md): a turn run by instance A streams on B too, frame for frame and in
// sequence order; a stream on B resumes with Last-Event-ID over events appended on A; and
// deleting the session on A ends B's stream with session.deleted.
func TestE2EScaleOutPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	onDB := func(c *Config) { c.DatabaseURL = hangar.Secret(url) }
	a, b := startServer(t, onDB), startServer(t, onDB)
	ctx := testContext(t)

	// Resources created on one instance are there on the other.
	env := newEnvironment(t, a.Client, "env")
	ag := newAgent(t, b.Client, "echo", nil)
	s := newSession(t, a.Client, ag.ID, env.ID)

	onA := openStream(t, ctx, a.Client, s.ID)
	onB := openStream(t, ctx, b.Client, s.ID)
	raw := openRawStream(t, ctx, b.URL, s.ID, "", nil)

	send(t, a.Client, s.ID, userMessage("one"))
	turnA, turnB := readUntil(t, onA, isIdle), readUntil(t, onB, isIdle)
	if !slices.Equal(streamIDs(turnA), streamIDs(turnB)) {
		t.Fatalf("instance B streamed %v\ninstance A streamed %v", eventTypes(turnB), eventTypes(turnA))
	}
	want := []string{"user.message", "session.status_running", "agent.message", "session.status_idle"}
	if got := eventTypes(withoutSpans(turnB)); !slices.Equal(got, want) {
		t.Fatalf("instance B streamed %v, want %v", got, want)
	}
	// Frame ids on B are the session's sequence numbers, with no gap.
	var lastSeq int64
	for range turnB {
		f, err := raw.next()
		if err != nil {
			t.Fatalf("raw stream on B: %v", err)
		}
		if seq, err := strconv.ParseInt(f.ID, 10, 64); err != nil || seq != lastSeq+1 {
			t.Fatalf("frame id %q on B after %d, want %d", f.ID, lastSeq, lastSeq+1)
		}
		lastSeq++
	}
	raw.close()

	// A second turn on A while B's raw stream is gone; resuming on B replays it, then
	// goes live.
	send(t, a.Client, s.ID, userMessage("two"))
	missed := streamIDs(readUntil(t, onA, isIdle))
	readUntil(t, onB, isIdle)
	resumed := openRawStream(t, ctx, b.URL, s.ID, "", map[string]string{"Last-Event-ID": strconv.FormatInt(lastSeq, 10)})
	var replay []string
	for len(replay) < len(missed) {
		f, err := resumed.next()
		if err != nil {
			t.Fatalf("resumed stream on B after %d of %d events: %v", len(replay), len(missed), err)
		}
		if seq, _ := strconv.ParseInt(f.ID, 10, 64); seq != lastSeq+1 {
			t.Fatalf("resumed frame id %q after %d", f.ID, lastSeq)
		}
		lastSeq++
		replay = append(replay, decodeFrame(t, f).ID)
	}
	if !slices.Equal(replay, missed) {
		t.Fatalf("replay on B %v\nwant %v", replay, missed)
	}
	sent := send(t, a.Client, s.ID, userMessage("three"))
	f, err := resumed.next()
	if err != nil {
		t.Fatalf("live on B after the replay: %v", err)
	}
	if ev := decodeFrame(t, f); ev.ID != sent[0].ID || f.ID != strconv.FormatInt(lastSeq+1, 10) {
		t.Errorf("first live frame on B is %s %s (id %s), want the new user.message %s (id %d)", ev.Type, ev.ID, f.ID, sent[0].ID, lastSeq+1)
	}
	readUntil(t, onA, isIdle)

	if _, err := a.Client.Beta.Sessions.Delete(ctx, s.ID, anthropic.BetaSessionDeleteParams{}); err != nil {
		t.Fatalf("delete on A: %v", err)
	}
	readUntil(t, onB, isType("session.deleted"))
	for onB.Next() {
		t.Errorf("event on B after session.deleted: %s", onB.Current().RawJSON())
	}
	if ctx.Err() != nil {
		t.Errorf("B's stream stayed open after session.deleted until the test deadline")
	}
}

func TestParseConfigDatabaseURL(t *testing.T) {
	t.Parallel()
	const envURL, flagURL = "postgres://env@db/hangar", "postgres://flag@db/hangar"
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want hangar.Secret
	}{
		{"unset: SQLite", nil, "", ""},
		{"env", nil, envURL, envURL},
		{"flag over env", []string{"--database-url", flagURL}, envURL, flagURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "HANGAR_DATABASE_URL" {
					return tc.env
				}
				return ""
			}
			cfg, err := parseConfig(tc.args, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DatabaseURL != tc.want {
				t.Errorf("DatabaseURL = %q, want %q", string(cfg.DatabaseURL), string(tc.want))
			}
		})
	}
}
