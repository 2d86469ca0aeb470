package pgstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
)

var benchBody = map[string]any{"content": []map[string]string{{"type": "text", "text": "Hello from the benchmark."}}}

func benchEvent() hangar.Event {
	e := hangar.NewEvent(hangar.EventAgentMessage, benchBody)
	e.ID = hangar.NewID(hangar.PrefixEvent)
	return e
}

// BenchmarkAppendEvents appends one agent.message per op, with a session update, as the
// runner does for each streamed event (the twin of sqlstore's), NOTIFY included.
func BenchmarkAppendEvents(b *testing.B) {
	st := open(b, pgtest.URL(b))
	s := newSession(b, st)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.AppendEvents(ctx, hangar.AppendRequest{
			SessionID: s.ID,
			Events:    []hangar.Event{benchEvent()},
			Mutate:    func(s *hangar.Session) error { s.Usage.OutputTokens += 5; return nil },
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotifyLatency times one event from the start of AppendEvents on instance A to
// its delivery to a hub subscriber on instance B (remote) or on A itself (local: with
// PostgreSQL, local streams get events through the same NOTIFY path). It reports p50 and
// p99 besides the mean.
func BenchmarkNotifyLatency(b *testing.B) {
	for _, tc := range []struct {
		name   string
		remote bool
	}{{"remote", true}, {"local", false}} {
		b.Run(tc.name, func(b *testing.B) {
			url := pgtest.URL(b)
			a := newInstance(b, url, nil)
			sub := a
			if tc.remote {
				sub = newInstance(b, url, nil)
			}
			s := newSession(b, a.db)
			ch, cancel := sub.l.Subscribe(s.ID)
			defer cancel()
			ctx := context.Background()
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				stored, _, err := a.db.AppendEvents(ctx, hangar.AppendRequest{SessionID: s.ID, Events: []hangar.Event{benchEvent()}})
				if err != nil {
					b.Fatal(err)
				}
				select {
				case ev := <-ch:
					if ev.Seq != stored[0].Seq {
						b.Fatalf("delivered seq %d, want %d", ev.Seq, stored[0].Seq)
					}
				case <-time.After(10 * time.Second):
					b.Fatal("event not delivered")
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
