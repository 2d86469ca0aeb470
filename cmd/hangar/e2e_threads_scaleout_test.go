package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
)

// TestE2EThreadsScaleOutPostgres runs a multiagent session on two Hangar instances sharing
// one PostgreSQL database: a child thread's events, written by whichever instance runs the
// turn, reach the child thread's SSE stream on both instances (through the PostgreSQL
// listener on the other one), with that thread's events only, and the session streams on
// both show the cross-posted thread status events.
func TestE2EThreadsScaleOutPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	onDB := func(c *Config) { c.DatabaseURL = hangar.Secret(url) }
	a, b := startServer(t, onDB), startServer(t, onDB)
	ctx := testContext(t)

	helper := newAgent(t, a.Client, "Helper", scriptMetadata(t,
		[]scriptStep{{"message": "first answer"}},
		[]scriptStep{{"message": "second answer"}},
	))
	lead := newAgent(t, b.Client, "Lead", scriptMetadata(t,
		[]scriptStep{delegateStep("delegate_to_helper", "part one"), {"message": "lead done"}},
		[]scriptStep{delegateStep("delegate_to_helper", "part two"), {"message": "lead done again"}},
	), coordinatorOption(helper.ID))
	env := newEnvironment(t, a.Client, "threads")
	sess := newSession(t, a.Client, lead.ID, env.ID)

	onB := openStream(t, ctx, b.Client, sess.ID)
	send(t, a.Client, sess.ID, userMessage("go"))
	var childID string
	for _, ev := range readUntil(t, onB, isIdle) {
		if ev.Type == "session.thread_created" {
			childID = ev.SessionThreadID
		}
	}
	if childID == "" {
		t.Fatal("instance B's session stream showed no session.thread_created")
	}

	threadStream := func(c anthropic.Client) *ssestream.Stream[anthropic.BetaManagedAgentsStreamSessionThreadEventsUnion] {
		s := c.Beta.Sessions.Threads.Events.StreamEvents(ctx, childID, anthropic.BetaSessionThreadEventStreamParams{SessionID: sess.ID})
		if err := s.Err(); err != nil {
			t.Fatalf("open thread stream: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	childOnA, childOnB := threadStream(a.Client), threadStream(b.Client)
	onA := openStream(t, ctx, a.Client, sess.ID)
	send(t, b.Client, sess.ID, userMessage("again"))
	wantChild := []string{"session.thread_status_running", "agent.thread_message_received", "agent.message", "agent.thread_message_sent", "session.thread_status_idle"}
	var streamed [2][]string
	for i, s := range []*ssestream.Stream[anthropic.BetaManagedAgentsStreamSessionThreadEventsUnion]{childOnA, childOnB} {
		for s.Next() {
			ev := s.Current()
			if ev.Type == "session.usage" || strings.HasPrefix(ev.Type, "span.") {
				continue
			}
			streamed[i] = append(streamed[i], ev.Type)
			if ev.Type == "agent.message" && !strings.Contains(ev.RawJSON(), `"text":"second answer"`) {
				t.Errorf("instance %c: thread stream carried another thread's message %s", 'A'+i, ev.RawJSON())
			}
			if ev.Type == "session.thread_status_idle" {
				break
			}
		}
		if !slices.Equal(streamed[i], wantChild) {
			t.Errorf("instance %c: thread stream %v (err %v), want %v", 'A'+i, streamed[i], s.Err(), wantChild)
		}
	}
	for i, s := range []*sdkStream{onA, onB} {
		var crossPosted int
		for _, ev := range readUntil(t, s, isIdle) {
			if strings.HasPrefix(ev.Type, "session.thread_status_") && ev.SessionThreadID == childID {
				crossPosted++
			}
			if ev.Type == "agent.message" && strings.Contains(ev.RawJSON(), `"text":"second answer"`) {
				t.Errorf("instance %c: the child's message reached the session stream", 'A'+i)
			}
		}
		if crossPosted != 2 {
			t.Errorf("instance %c: %d cross-posted child thread status events, want 2", 'A'+i, crossPosted)
		}
	}
}
