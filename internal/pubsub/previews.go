package pubsub

import "github.com/hangar-dev/hangar"

// SubscribePreviews is Subscribe for a stream that also wants the live preview frames
// (event_start, event_delta; docs/streaming.md) of the given previewed event types
// (agent.message, agent.thinking). Plain subscriptions never receive preview frames.
func (h *Hub) SubscribePreviews(sessionID string, types []string) (<-chan *hangar.Event, func()) {
	s := &subscriber{ch: make(chan *hangar.Event, h.buffer)}
	if len(types) > 0 {
		s.previews = make(map[string]bool, len(types))
		for _, t := range types {
			s.previews[t] = true
		}
	}
	return h.subscribe(sessionID, s)
}
