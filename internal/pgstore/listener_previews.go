package pgstore

import "github.com/hangar-dev/hangar"

// previewHub is a Hub that filters live preview frames by subscription
// (internal/pubsub.Hub).
type previewHub interface {
	SubscribePreviews(sessionID string, types []string) (<-chan *hangar.Event, func())
}

// SubscribePreviews is Subscribe for a stream that also wants live preview frames
// (docs/streaming.md). The frames cross instances like every unstored event (Publish);
// with a hub that cannot filter them the stream gets none.
func (l *Listener) SubscribePreviews(sessionID string, types []string) (<-chan *hangar.Event, func()) {
	ph, ok := l.hub.(previewHub)
	if !ok {
		return l.Subscribe(sessionID)
	}
	return l.watchWhile(sessionID, func() (<-chan *hangar.Event, func()) { return ph.SubscribePreviews(sessionID, types) })
}
