package pubsub_test

import (
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/pubsub"
)

func frame(typ, body string) hangar.Event {
	return hangar.Event{SessionID: "sesn_a", Type: typ, Body: []byte(body), Wire: []byte(body)}
}

// TestHubPreviewsOnlyToOptedIn: preview frames reach only the subscriptions that asked
// for previews of their type; stored events reach everyone.
func TestHubPreviewsOnlyToOptedIn(t *testing.T) {
	t.Parallel()
	h := pubsub.New(16)
	defer h.Close()
	plain, c1 := h.Subscribe("sesn_a")
	defer c1()
	both, c2 := h.SubscribePreviews("sesn_a", []string{hangar.EventAgentMessage, hangar.EventAgentThinking})
	defer c2()
	msgs, c3 := h.SubscribePreviews("sesn_a", []string{hangar.EventAgentMessage})
	defer c3()
	none, c4 := h.SubscribePreviews("sesn_a", nil)
	defer c4()

	h.Publish(frame(hangar.EventStart, `{"type":"event_start","event":{"type":"agent.thinking","id":"sevt_1"}}`))
	h.Publish(frame(hangar.EventStart, `{"type":"event_start","event":{"type":"agent.message","id":"sevt_2"}}`))
	h.Publish(frame(hangar.EventDelta, `{"type":"event_delta","event_id":"sevt_2"}`))
	h.Publish(event("sesn_a", 1))

	tests := []struct {
		name string
		ch   <-chan *hangar.Event
		want []string
	}{
		{"plain", plain, []string{hangar.EventAgentMessage}},
		{"both", both, []string{hangar.EventStart, hangar.EventStart, hangar.EventDelta, hangar.EventAgentMessage}},
		{"agent.message only", msgs, []string{hangar.EventStart, hangar.EventDelta, hangar.EventAgentMessage}},
		{"no types", none, []string{hangar.EventAgentMessage}},
	}
	for _, tt := range tests {
		var got []string
		for range tt.want {
			ev, ok := recv(t, tt.ch)
			if !ok {
				t.Fatalf("%s: closed", tt.name)
			}
			got = append(got, ev.Type)
		}
		for i := range tt.want {
			if got[i] != tt.want[i] {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
				break
			}
		}
		select {
		case ev := <-tt.ch:
			t.Errorf("%s: extra %s", tt.name, ev.Type)
		default:
		}
	}
}
