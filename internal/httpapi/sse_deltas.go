package httpapi

import "github.com/hangar-dev/hangar"

// Live previews (§4.4, docs/streaming.md): a stream opened with event_deltas[] also gets
// the stream-only event_start / event_delta frames of the previewed types. The hub sends
// preview frames only to subscriptions that asked for them, so other streams see nothing
// new.

// PreviewHub is a Hub that can subscribe a stream to live preview frames
// (internal/pubsub.Hub, pgstore.Listener). With a Hub that is not one, event_deltas is
// accepted and no preview is sent: the final events carry the same content.
type PreviewHub interface {
	SubscribePreviews(sessionID string, types []string) (events <-chan *hangar.Event, cancel func())
}

// subscribe subscribes a stream of sessionID to the hub, with the live previews of
// deltas (validated event types) when there are any.
func (s *Server) subscribe(sessionID string, deltas []string) (<-chan *hangar.Event, func()) {
	if ph, ok := s.cfg.Hub.(PreviewHub); ok && len(deltas) > 0 {
		return ph.SubscribePreviews(sessionID, deltas)
	}
	return s.cfg.Hub.Subscribe(sessionID)
}
