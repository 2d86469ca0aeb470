package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hangar-dev/hangar"
)

// benchSession stores an agent-less session to append to.
func benchSession(b *testing.B, st hangar.Store) *hangar.Session {
	b.Helper()
	now := hangar.Now()
	s := &hangar.Session{
		Type: "session", ID: hangar.NewID(hangar.PrefixSession), Status: hangar.StatusIdle,
		Agent:         hangar.Agent{Type: "agent", ID: hangar.NewID(hangar.PrefixAgent), Version: 1, Name: "bench", Tools: json.RawMessage(`[]`)},
		EnvironmentID: hangar.NewID(hangar.PrefixEnvironment), Metadata: map[string]string{},
		CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateSession(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAppendEvents appends one agent.message per op, with a session update, as the
// runner does for each streamed event.
func BenchmarkAppendEvents(b *testing.B) {
	st := openSQLite(b)
	s := benchSession(b, st)
	ctx := context.Background()
	body := map[string]any{"content": []map[string]string{{"type": "text", "text": "Hello from the benchmark."}}}
	b.ReportAllocs()
	for b.Loop() {
		e := hangar.NewEvent(hangar.EventAgentMessage, body)
		e.ID = hangar.NewID(hangar.PrefixEvent)
		if _, _, err := st.AppendEvents(ctx, hangar.AppendRequest{
			SessionID: s.ID,
			Events:    []hangar.Event{e},
			Mutate:    func(s *hangar.Session) error { s.Usage.OutputTokens += 5; return nil },
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetSession reads one session per op from parallel goroutines.
func BenchmarkGetSession(b *testing.B) {
	st := openSQLite(b)
	s := benchSession(b, st)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.GetSession(ctx, s.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
