package pubsub_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pubsub"
)

func event(session string, seq int64) hangar.Event {
	return hangar.Event{ID: fmt.Sprintf("sevt_%d", seq), SessionID: session, Seq: seq, Type: hangar.EventAgentMessage}
}

// recv returns the next event of ch or fails after a generous deadline.
func recv(t *testing.T, ch <-chan *hangar.Event) (*hangar.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
		return nil, false
	}
}

func TestHubDeliversInOrderPerSession(t *testing.T) {
	t.Parallel()
	h := pubsub.New(16)
	defer h.Close()
	a, cancelA := h.Subscribe("sesn_a")
	defer cancelA()
	b, cancelB := h.Subscribe("sesn_b")
	defer cancelB()

	for i := int64(1); i <= 3; i++ {
		h.Publish(event("sesn_a", i))
	}
	h.Publish(event("sesn_b", 9))
	for i := int64(1); i <= 3; i++ {
		ev, ok := recv(t, a)
		if !ok || ev.Seq != i {
			t.Fatalf("got seq %d (open %v), want %d", ev.Seq, ok, i)
		}
	}
	if ev, _ := recv(t, b); ev.Seq != 9 {
		t.Errorf("session b got seq %d, want 9", ev.Seq)
	}
	select {
	case ev := <-a:
		t.Errorf("session a got an extra event %+v", ev)
	default:
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	h := pubsub.New(2)
	defer h.Close()
	slow, cancelSlow := h.Subscribe("sesn_a")
	defer cancelSlow()
	fast, cancelFast := h.Subscribe("sesn_a")
	defer cancelFast()

	for i := int64(1); i <= 3; i++ {
		h.Publish(event("sesn_a", i))
		if ev, ok := recv(t, fast); !ok || ev.Seq != i {
			t.Fatalf("fast subscriber got seq %d (open %v), want %d", ev.Seq, ok, i)
		}
	}
	// The slow subscriber buffered two events, then was dropped on the third.
	for i := int64(1); i <= 2; i++ {
		if ev, ok := recv(t, slow); !ok || ev.Seq != i {
			t.Fatalf("slow subscriber got seq %d (open %v), want %d", ev.Seq, ok, i)
		}
	}
	if _, ok := recv(t, slow); ok {
		t.Fatal("slow subscriber's channel is still open")
	}
	if got := h.Subscribers(); got != 1 {
		t.Errorf("Subscribers() = %d, want 1", got)
	}
	cancelSlow() // cancelling a dropped subscriber is a no-op
	if got := h.Subscribers(); got != 1 {
		t.Errorf("Subscribers() after cancel of dropped = %d, want 1", got)
	}
}

func TestHubCancelAndClose(t *testing.T) {
	t.Parallel()
	h := pubsub.New(4)
	ch, cancel := h.Subscribe("sesn_a")
	cancel()
	cancel()
	if _, ok := recv(t, ch); ok {
		t.Fatal("channel open after cancel")
	}
	h.Publish(event("sesn_a", 1)) // no subscribers: nothing happens

	ch2, cancel2 := h.Subscribe("sesn_a")
	defer cancel2()
	h.Close()
	h.Close()
	if _, ok := recv(t, ch2); ok {
		t.Fatal("channel open after Close")
	}
	ch3, cancel3 := h.Subscribe("sesn_a")
	defer cancel3()
	if _, ok := recv(t, ch3); ok {
		t.Fatal("subscription after Close is open")
	}
	if got := h.Subscribers(); got != 0 {
		t.Errorf("Subscribers() = %d, want 0", got)
	}
}

func TestHubConcurrent(t *testing.T) {
	t.Parallel()
	h := pubsub.New(8)
	defer h.Close()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			session := fmt.Sprintf("sesn_%d", i%5)
			ch, cancel := h.Subscribe(session)
			defer cancel()
			for range 10 {
				select {
				case <-ch:
				default:
				}
			}
		})
		wg.Go(func() {
			for j := range 20 {
				h.Publish(event(fmt.Sprintf("sesn_%d", i%5), int64(j)))
			}
		})
	}
	wg.Wait()
	if got := h.Subscribers(); got != 0 {
		t.Errorf("Subscribers() = %d after all cancelled, want 0", got)
	}
}

func TestHubManyIdleSubscribers(t *testing.T) {
	t.Parallel()
	h := pubsub.New(4)
	defer h.Close()
	const n = 10_000
	cancels := make([]func(), 0, n)
	for i := range n {
		_, cancel := h.Subscribe(fmt.Sprintf("sesn_%d", i))
		cancels = append(cancels, cancel)
	}
	if got := h.Subscribers(); got != n {
		t.Fatalf("Subscribers() = %d, want %d", got, n)
	}
	for _, c := range cancels {
		c()
	}
	if got := h.Subscribers(); got != 0 {
		t.Fatalf("Subscribers() = %d, want 0", got)
	}
}

// BenchmarkFanout1000 publishes one event to 1,000 subscribers of one session, each
// draining its channel in its own goroutine.
func BenchmarkFanout1000(b *testing.B) {
	h := pubsub.New(1024)
	defer h.Close()
	const n = 1000
	var wg sync.WaitGroup
	for range n {
		ch, _ := h.Subscribe("sesn_bench")
		wg.Go(func() {
			for range ch {
			}
		})
	}
	ev := event("sesn_bench", 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.Publish(ev)
	}
	b.StopTimer()
	h.Close()
	wg.Wait()
}
