package main

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// listEventIDs returns the ids (and types) of a session's events in order via auto-paging.
func listEventIDs(t *testing.T, c anthropic.Client, sessionID string, p anthropic.BetaSessionEventListParams) (ids, types []string) {
	t.Helper()
	iter := c.Beta.Sessions.Events.ListAutoPaging(testContext(t), sessionID, p)
	for iter.Next() {
		ev := iter.Current()
		ids = append(ids, ev.ID)
		types = append(types, ev.Type)
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("list events: %v", err)
	}
	return ids, types
}

func streamIDs(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func TestE2EEventsEchoTurn(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	env := newEnvironment(t, c, "env")
	a := newAgent(t, c, "echo", nil)
	s := newSession(t, c, a.ID, env.ID)

	stream := openStream(t, ctx, c, s.ID)
	var all []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, text := range []string{"hello", "second turn"} {
		sent := send(t, c, s.ID, userMessage(text))
		if sent[0].Type != "user.message" || sent[0].ID == "" {
			t.Fatalf("send echo = %+v", sent[0])
		}
		turn := readUntil(t, stream, isIdle)
		all = append(all, turn...)

		got := withoutSpans(turn)
		wantTypes := []string{"user.message", "session.status_running", "agent.message", "session.status_idle"}
		if !slices.Equal(eventTypes(got), wantTypes) {
			t.Fatalf("turn %q: stream types %v, want %v", text, eventTypes(got), wantTypes)
		}
		if got[0].ID != sent[0].ID {
			t.Errorf("streamed user.message id %s, send returned %s", got[0].ID, sent[0].ID)
		}
		if txt := agentText(got[2]); txt != "echo: "+text {
			t.Errorf("agent.message text = %q, want %q", txt, "echo: "+text)
		}
		if sr := got[3].AsSessionStatusIdle().StopReason; sr.Type != "end_turn" {
			t.Errorf("stop_reason = %q, want end_turn (%s)", sr.Type, got[3].RawJSON())
		}
		for _, ev := range turn {
			// User events may stream before they are processed (processed_at null).
			if ev.ID == "" || (!strings.HasPrefix(ev.Type, "user.") && ev.ProcessedAt.IsZero()) {
				t.Errorf("event without id or processed_at: %s", ev.RawJSON())
			}
		}
	}

	t.Run("list returns the streamed events in order", func(t *testing.T) {
		ids, _ := listEventIDs(t, c, s.ID, anthropic.BetaSessionEventListParams{})
		if !slices.Equal(ids, streamIDs(all)) {
			t.Errorf("list ids  %v\nstream ids %v", ids, streamIDs(all))
		}
		paged, _ := listEventIDs(t, c, s.ID, anthropic.BetaSessionEventListParams{Limit: anthropic.Int(3)})
		if !slices.Equal(paged, ids) {
			t.Errorf("paged list %v differs from %v", paged, ids)
		}
		desc, _ := listEventIDs(t, c, s.ID, anthropic.BetaSessionEventListParams{Order: anthropic.BetaSessionEventListParamsOrderDesc})
		slices.Reverse(desc)
		if !slices.Equal(desc, ids) {
			t.Errorf("desc list reversed %v differs from %v", desc, ids)
		}
	})

	t.Run("list filters by type", func(t *testing.T) {
		_, types := listEventIDs(t, c, s.ID, anthropic.BetaSessionEventListParams{
			Types: []anthropic.BetaManagedAgentsSessionEventType{"agent.message", "session.status_idle"},
		})
		want := []string{"agent.message", "session.status_idle", "agent.message", "session.status_idle"}
		if !slices.Equal(types, want) {
			t.Errorf("types = %v, want %v", types, want)
		}
	})

	t.Run("session is idle again", func(t *testing.T) {
		got, err := c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != "idle" {
			t.Errorf("status = %q, want idle", got.Status)
		}
	})

	t.Run("delete ends the stream with session.deleted", func(t *testing.T) {
		if _, err := c.Beta.Sessions.Delete(ctx, s.ID, anthropic.BetaSessionDeleteParams{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		readUntil(t, stream, isType("session.deleted"))
		for stream.Next() {
			t.Errorf("event after session.deleted: %s", stream.Current().RawJSON())
		}
		if ctx.Err() != nil {
			t.Errorf("stream stayed open after session.deleted until the test deadline")
		}
	})
}

func TestE2ECustomToolRoundTrip(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client
	ctx := testContext(t)

	env := newEnvironment(t, c, "env")
	meta := scriptMetadata(t,
		[]scriptStep{{"custom_tool_use": map[string]any{"name": "get_weather", "input": map[string]any{"city": "Paris"}}}},
		[]scriptStep{{"message": "It is sunny in Paris."}},
	)
	a, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:     "weather",
		Model:    anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		Metadata: meta,
		Tools: []anthropic.BetaAgentNewParamsToolUnion{{OfCustom: &anthropic.BetaManagedAgentsCustomToolParams{
			Name:        "get_weather",
			Description: "Current weather for a city",
			InputSchema: anthropic.BetaManagedAgentsCustomToolInputSchemaParam{
				Properties: map[string]any{"city": map[string]any{"type": "string"}},
				Required:   []string{"city"},
			},
		}}},
	}, scriptedEngine())
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	s := newSession(t, c, a.ID, env.ID)
	stream := openStream(t, ctx, c, s.ID)

	send(t, c, s.ID, userMessage("weather in Paris?"))
	first := withoutSpans(readUntil(t, stream, isIdle))
	wantTypes := []string{"user.message", "session.status_running", "agent.custom_tool_use", "session.status_idle"}
	if !slices.Equal(eventTypes(first), wantTypes) {
		t.Fatalf("first turn types %v, want %v", eventTypes(first), wantTypes)
	}
	use := first[2].AsAgentCustomToolUse()
	checkShape(t, "agent.custom_tool_use", use)
	checkShape(t, "session.status_idle", first[3].AsSessionStatusIdle())
	if use.Name != "get_weather" || use.Input["city"] != "Paris" {
		t.Errorf("custom_tool_use = %s", first[2].RawJSON())
	}
	sr := first[3].AsSessionStatusIdle().StopReason
	if sr.Type != "requires_action" || !slices.Equal(sr.EventIDs, []string{use.ID}) {
		t.Fatalf("stop_reason = %s, want requires_action with [%s]", first[3].JSON.StopReason.Raw(), use.ID)
	}

	got, err := c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "idle" {
		t.Errorf("status while awaiting the tool result = %q, want idle", got.Status)
	}

	send(t, c, s.ID, anthropic.BetaManagedAgentsEventParamsUnion{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{
		CustomToolUseID: use.ID,
		Content: []anthropic.BetaManagedAgentsUserCustomToolResultEventParamsContentUnion{
			{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: `{"sky":"clear"}`}},
		},
	}})
	second := withoutSpans(readUntil(t, stream, isIdle))
	wantTypes = []string{"user.custom_tool_result", "session.status_running", "agent.message", "session.status_idle"}
	if !slices.Equal(eventTypes(second), wantTypes) {
		t.Fatalf("second turn types %v, want %v", eventTypes(second), wantTypes)
	}
	checkShape(t, "user.custom_tool_result", second[0].AsUserCustomToolResult())
	if id := second[0].AsUserCustomToolResult().CustomToolUseID; id != use.ID {
		t.Errorf("custom_tool_use_id echoed as %q, want %q", id, use.ID)
	}
	if txt := agentText(second[2]); txt != "It is sunny in Paris." {
		t.Errorf("agent.message = %q", txt)
	}
	if sr := second[3].AsSessionStatusIdle().StopReason; sr.Type != "end_turn" {
		t.Errorf("stop_reason = %q, want end_turn", sr.Type)
	}

	t.Run("result for an unknown tool use is rejected", func(t *testing.T) {
		_, err := c.Beta.Sessions.Events.Send(ctx, s.ID, anthropic.BetaSessionEventSendParams{Events: []anthropic.BetaManagedAgentsEventParamsUnion{
			{OfUserCustomToolResult: &anthropic.BetaManagedAgentsUserCustomToolResultEventParams{CustomToolUseID: "sevt_011Cnope0000000000000000"}},
		}})
		apiErr := asAPIError(t, err)
		if apiErr.StatusCode != http.StatusBadRequest && apiErr.StatusCode != http.StatusConflict && apiErr.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want a 4xx refusal", apiErr.StatusCode)
		}
	})
}

func TestE2EInterrupt(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c := srv.Client

	env := newEnvironment(t, c, "env")
	meta := scriptMetadata(t, []scriptStep{
		{"message": "working on it"},
		{"sleep_ms": 10 * 60 * 1000},
		{"message": "done"},
	})
	a := newAgent(t, c, "sleeper", meta)
	s := newSession(t, c, a.ID, env.ID)

	// The sleep step lasts ten minutes: only a working interrupt ends the turn in time.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream := openStream(t, ctx, c, s.ID)

	send(t, c, s.ID, userMessage("go"))
	readUntil(t, stream, isType("agent.message"))
	got, err := c.Beta.Sessions.Get(ctx, s.ID, anthropic.BetaSessionGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "running" {
		t.Errorf("status during the turn = %q, want running", got.Status)
	}

	interrupt := anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}}
	sent := send(t, c, s.ID, interrupt)
	rest := withoutSpans(readUntil(t, stream, isIdle))
	types := eventTypes(rest)
	if !slices.Contains(types, "user.interrupt") {
		t.Errorf("interrupt not echoed on the stream: %v", types)
	}
	for _, ev := range rest {
		if ev.Type == "user.interrupt" {
			checkShape(t, "user.interrupt", ev.AsUserInterrupt())
		}
		if ev.Type == "user.interrupt" && ev.ID != sent[0].ID {
			t.Errorf("streamed interrupt id %s, send returned %s", ev.ID, sent[0].ID)
		}
		if ev.Type == "agent.message" {
			t.Errorf("agent kept talking after the interrupt: %s", ev.RawJSON())
		}
	}
	if sr := rest[len(rest)-1].AsSessionStatusIdle().StopReason; sr.Type != "end_turn" {
		t.Errorf("stop_reason after interrupt = %q, want end_turn", sr.Type)
	}

	// The session takes new work after an interrupt.
	send(t, c, s.ID, userMessage("again"))
	next := withoutSpans(readUntil(t, stream, isType("agent.message")))
	if txt := agentText(next[len(next)-1]); txt != "working on it" && txt != "echo: again" {
		t.Errorf("next turn said %q", txt)
	}
}

func TestE2EStreamResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		resume func(seq string) (header map[string]string, query string)
	}{
		{"Last-Event-ID header", func(seq string) (map[string]string, string) {
			return map[string]string{"Last-Event-ID": seq}, ""
		}},
		{"last_event_id query", func(seq string) (map[string]string, string) {
			return nil, "?last_event_id=" + seq
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			c := srv.Client
			ctx := testContext(t)

			env := newEnvironment(t, c, "env")
			a := newAgent(t, c, "echo", nil)
			s := newSession(t, c, a.ID, env.ID)

			// The SDK stream watches everything; the raw stream drops out early.
			watch := openStream(t, ctx, c, s.ID)
			raw := openRawStream(t, ctx, srv.URL, s.ID, "", nil)

			send(t, c, s.ID, userMessage("one"))
			var seen []frameEvent
			lastSeq := int64(0)
			for len(seen) < 2 {
				f, err := raw.next()
				if err != nil {
					t.Fatalf("raw stream: %v", err)
				}
				seq, err := strconv.ParseInt(f.ID, 10, 64)
				if err != nil || seq <= lastSeq {
					t.Fatalf("frame id %q is not an increasing sequence number (after %d)", f.ID, lastSeq)
				}
				lastSeq = seq
				seen = append(seen, decodeFrame(t, f))
			}
			raw.close()

			// Let the first turn finish and run a second one while disconnected.
			all := readUntil(t, watch, isIdle)
			send(t, c, s.ID, userMessage("two"))
			all = append(all, readUntil(t, watch, isIdle)...)
			for i, ev := range seen {
				if ev.ID != all[i].ID {
					t.Fatalf("raw frame %d is %s, SDK stream has %s", i, ev.ID, all[i].ID)
				}
			}
			missed := streamIDs(all[len(seen):])

			header, query := tt.resume(strconv.FormatInt(lastSeq, 10))
			resumed := openRawStream(t, ctx, srv.URL, s.ID, query, header)
			var replay []string
			for len(replay) < len(missed) {
				f, err := resumed.next()
				if err != nil {
					t.Fatalf("resumed stream after %d of %d events: %v", len(replay), len(missed), err)
				}
				seq, _ := strconv.ParseInt(f.ID, 10, 64)
				if seq <= lastSeq {
					t.Fatalf("replayed frame id %q not after %d (duplicate)", f.ID, lastSeq)
				}
				lastSeq = seq
				replay = append(replay, decodeFrame(t, f).ID)
			}
			if !slices.Equal(replay, missed) {
				t.Fatalf("replay %v\nwant   %v", replay, missed)
			}

			// Live events follow the replay with no duplicate in between.
			sent := send(t, c, s.ID, userMessage("three"))
			f, err := resumed.next()
			if err != nil {
				t.Fatalf("live after replay: %v", err)
			}
			if ev := decodeFrame(t, f); ev.ID != sent[0].ID {
				t.Errorf("first live frame is %s %s, want the new user.message %s", ev.Type, ev.ID, sent[0].ID)
			}
		})
	}
}
