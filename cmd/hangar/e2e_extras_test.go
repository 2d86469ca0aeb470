package main

import (
	"slices"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func TestE2EAgentListCreatedAt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	a := newAgent(t, c, "first", nil)
	b := newAgent(t, c, "second", nil)

	tests := []struct {
		name string
		p    anthropic.BetaAgentListParams
		want []string
	}{
		{"gte first", anthropic.BetaAgentListParams{CreatedAtGte: anthropic.Time(a.CreatedAt)}, []string{a.ID, b.ID}},
		{"lte far past", anthropic.BetaAgentListParams{CreatedAtLte: anthropic.Time(a.CreatedAt.Add(-time.Hour))}, nil},
		{"gte far future", anthropic.BetaAgentListParams{CreatedAtGte: anthropic.Time(time.Now().Add(time.Hour))}, nil},
		{"window with fractional seconds", anthropic.BetaAgentListParams{
			CreatedAtGte: anthropic.Time(a.CreatedAt.Add(-1500 * time.Microsecond)),
			CreatedAtLte: anthropic.Time(b.CreatedAt.Add(1500 * time.Microsecond)),
		}, []string{a.ID, b.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := c.Beta.Agents.List(ctx, tt.p)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			var got []string
			for _, ag := range page.Data {
				got = append(got, ag.ID)
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestE2EQueuedMessages sends a batch of two messages and one more while the first turn
// runs: each is answered in order, one turn per message.
func TestE2EQueuedMessages(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	a := newAgent(t, c, "echo", nil)
	s := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	stream := openStream(t, ctx, c, s.ID)

	send(t, c, s.ID, userMessage("one"), userMessage("two"))
	send(t, c, s.ID, userMessage("three"))
	var replies []string
	for len(replies) < 3 {
		ev := readUntil(t, stream, isType("agent.message"))
		replies = append(replies, agentText(ev[len(ev)-1]))
	}
	want := []string{"echo: one", "echo: two", "echo: three"}
	if !slices.Equal(replies, want) {
		t.Errorf("replies %v, want %v", replies, want)
	}
	readUntil(t, stream, isIdle)
}

func TestE2EInitialEvents(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	a := newAgent(t, c, "echo", nil)
	env := newEnvironment(t, c, "env")
	s, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)},
		EnvironmentID: env.ID,
		InitialEvents: []anthropic.BetaSessionNewParamsInitialEventUnion{{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
			Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: "boot"}}},
		}}},
	})
	if err != nil {
		t.Fatalf("create with initial_events: %v", err)
	}
	// The stream may open after the turn ended: wait on the list instead.
	stream := openStream(t, ctx, c, s.ID)
	ids, types := listEventIDs(t, c, s.ID, anthropic.BetaSessionEventListParams{})
	if !slices.Contains(types, "session.status_idle") {
		readUntil(t, stream, isIdle)
		ids, types = listEventIDs(t, c, s.ID, anthropic.BetaSessionEventListParams{})
	}
	if len(ids) == 0 || types[0] != "user.message" || !slices.Contains(types, "agent.message") {
		t.Errorf("events after initial_events: %v", types)
	}
}

func TestE2EEventDeltas(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)
	a := newAgent(t, c, "echo", nil)
	s := newSession(t, c, a.ID, newEnvironment(t, c, "env").ID)
	stream := c.Beta.Sessions.Events.StreamEvents(ctx, s.ID, anthropic.BetaSessionEventStreamParams{
		EventDeltas: []anthropic.BetaManagedAgentsDeltaType{"agent.message"},
	})
	if err := stream.Err(); err != nil {
		t.Fatalf("stream with event_deltas: %v", err)
	}
	defer stream.Close()
	send(t, c, s.ID, userMessage("hello"))
	evs := readUntil(t, stream, isIdle)
	if !slices.Contains(eventTypes(evs), "agent.message") {
		t.Errorf("no agent.message: %v", eventTypes(evs))
	}
}
