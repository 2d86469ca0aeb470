// Package pubsub fans out live session events to subscribers inside one process. It is
// the single-node hub behind SSE streams: publishers never block, and a subscriber that
// falls behind is dropped (its channel closed) so it reconnects and resumes from the store.
//
// With several instances on PostgreSQL, internal/pgstore's Listener stands in front of the
// hub: it is the only publisher of stored events, feeding them from the database in
// sequence order, so the hub needs no cross-instance logic (docs/deployment.md).
package pubsub

import (
	"encoding/json"
	"sync"

	"github.com/hangar-dev/hangar"
)

// Hub is an in-process publish/subscribe hub keyed by session ID. The zero value is not
// usable; call New. All methods are safe for concurrent use.
type Hub struct {
	buffer int

	mu     sync.RWMutex
	subs   map[string]map[*subscriber]struct{}
	count  int
	closed bool
}

// subscriber is one open subscription. ch is closed exactly once, under Hub.mu, when the
// subscription is removed.
type subscriber struct {
	ch chan *hangar.Event
	// previews are the event types whose live preview frames (event_start,
	// event_delta) the subscriber asked for; nil for none (previews.go).
	previews map[string]bool
}

// New returns a hub whose subscribers each buffer up to buffer events (minimum 1).
func New(buffer int) *Hub {
	if buffer < 1 {
		buffer = 1
	}
	return &Hub{buffer: buffer, subs: make(map[string]map[*subscriber]struct{})}
}

// Subscribe returns a channel of the events of sessionID published from now on, and a
// cancel func that closes it (idempotent). The channel is also closed when the subscriber
// falls more than the hub's buffer behind, and when the hub is closed.
func (h *Hub) Subscribe(sessionID string) (<-chan *hangar.Event, func()) {
	return h.subscribe(sessionID, &subscriber{ch: make(chan *hangar.Event, h.buffer)})
}

func (h *Hub) subscribe(sessionID string, s *subscriber) (<-chan *hangar.Event, func()) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	set := h.subs[sessionID]
	if set == nil {
		set = make(map[*subscriber]struct{})
		h.subs[sessionID] = set
	}
	set[s] = struct{}{}
	h.count++
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		h.remove(sessionID, s)
		h.mu.Unlock()
	}
}

// remove drops s from sessionID's set and closes its channel; a no-op when already gone.
// The caller holds h.mu for writing.
func (h *Hub) remove(sessionID string, s *subscriber) {
	set := h.subs[sessionID]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, sessionID)
	}
	h.count--
	close(s.ch)
}

// Publish delivers ev to every subscriber of ev.SessionID without blocking. Subscribers
// whose buffer is full are dropped.
//
// Subscribers share one read-only copy of the event (a pointer per buffered slot keeps
// each idle subscription small), and with more than one subscriber the event's wire JSON
// is encoded once here (Event.Wire) instead of once per stream.
func (h *Hub) Publish(ev hangar.Event) {
	var slow []*subscriber
	h.mu.RLock()
	set := h.subs[ev.SessionID]
	if len(set) > 1 && ev.Wire == nil {
		if b, err := json.Marshal(ev); err == nil {
			ev.Wire = b
		}
	}
	shared := &ev
	preview := hangar.PreviewOf(&ev)
	for s := range set {
		if preview != "" && !s.previews[preview] {
			continue // previews go only to the streams that asked for them
		}
		select {
		case s.ch <- shared:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	if len(slow) == 0 {
		return
	}
	h.mu.Lock()
	for _, s := range slow {
		h.remove(ev.SessionID, s)
	}
	h.mu.Unlock()
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.count
}

// Close closes every subscription; later subscriptions get a closed channel and later
// publishes are dropped.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for id, set := range h.subs {
		for s := range set {
			h.remove(id, s)
		}
	}
}
