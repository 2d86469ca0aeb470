package pgstore_test

import (
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pgstore/pgtest"
)

// TestListenerPreviewsAcrossInstances: a live preview frame published on one instance
// reaches the subscriptions that asked for previews on both instances, with its wire
// body intact, and not the plain subscriptions.
func TestListenerPreviewsAcrossInstances(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	a := newInstance(t, url, nil)
	b := newInstance(t, url, nil)
	s := newSession(t, a.db)
	plainB, c1 := b.l.Subscribe(s.ID)
	defer c1()
	previewsB, c2 := b.l.SubscribePreviews(s.ID, []string{hangar.EventAgentMessage})
	defer c2()
	previewsA, c3 := a.l.SubscribePreviews(s.ID, []string{hangar.EventAgentMessage})
	defer c3()

	// A stored event first: once every subscription has it, both instances are listening
	// for the session (unstored frames published earlier would have no catch-up).
	first := appendEvents(t, a, s.ID, 1)
	for what, ch := range map[string]<-chan *hangar.Event{"plain": plainB, "instance A": previewsA, "instance B": previewsB} {
		if ev := recv(t, what, ch); ev.Seq != first[0].Seq {
			t.Fatalf("%s: got %s (seq %d), want the stored event", what, ev.Type, ev.Seq)
		}
	}

	const body = `{"type":"event_delta","event_id":"sevt_1","delta":{"type":"content_delta","index":0,"content":{"type":"text","text":"hé"}}}`
	a.l.Publish(hangar.Event{SessionID: s.ID, Type: hangar.EventDelta, Body: []byte(body), Wire: []byte(body)})
	for what, ch := range map[string]<-chan *hangar.Event{"instance A": previewsA, "instance B": previewsB} {
		if ev := recv(t, what, ch); ev.Type != hangar.EventDelta || string(ev.Body) != body || ev.Seq != 0 {
			t.Errorf("%s: got %s %s", what, ev.Type, ev.Body)
		}
	}
	// The plain subscription gets the next stored event first: the frame skipped it.
	stored := appendEvents(t, b, s.ID, 1)
	if ev := recv(t, "plain", plainB); ev.Seq != stored[0].Seq {
		t.Errorf("plain subscription got %s (seq %d) first", ev.Type, ev.Seq)
	}
}
