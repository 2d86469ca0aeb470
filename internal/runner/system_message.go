package runner

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// system.message (docs/streaming.md): the API stores a client's system.message with
// processed_at null; the next turn of the session hands the text of every such message up
// to the one accompanying its user.message (stored right after it, in the same request)
// to an engine that declares Capabilities.SystemMessages as Spec.System, and marks them
// processed once the run has started. The API refuses system.message for sessions of
// other engines, so none is left pending for them.

// systemMessages lists the session's unprocessed system.message events that go with the
// turn of msg: those stored before it and the one accompanying it.
func (r *Runner) systemMessages(ctx context.Context, st *session, msg hangar.Event) ([]hangar.Event, error) {
	var out []hangar.Event
	f := hangar.EventFilter{Types: []string{hangar.EventSystemMessage}, Page: hangar.Page{Limit: 100}}
	for {
		evs, page, err := r.store.ListEvents(ctx, st.id, f)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.ProcessedAt == nil && (msg.Seq == 0 || ev.Seq <= msg.Seq+1) {
				out = append(out, ev)
			}
		}
		if page.Next == "" || len(evs) == 0 {
			return out, nil
		}
		c, err := hangar.DecodeCursor(page.Next)
		if err != nil {
			return nil, err
		}
		f.Page.Cursor = &c
	}
}

// systemSpec sets spec.System for an engine that takes system turns and returns the IDs
// of the events it holds, to mark processed once the run started.
func (r *Runner) systemSpec(ctx context.Context, st *session, msg hangar.Event, eng engine.Engine, spec *engine.Spec) ([]string, error) {
	if !eng.Capabilities().SystemMessages {
		return nil, nil
	}
	evs, err := r.systemMessages(ctx, st, msg)
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		var body struct {
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		json.Unmarshal(ev.Body, &body)
		texts := make([]string, 0, len(body.Content))
		for _, b := range body.Content {
			texts = append(texts, b.Text)
		}
		spec.System = append(spec.System, strings.Join(texts, "\n"))
		ids = append(ids, ev.ID)
	}
	return ids, nil
}

// systemDelivered marks the system.message events a run started with processed.
func (r *Runner) systemDelivered(ctx context.Context, st *session, ids []string) {
	if len(ids) == 0 {
		return
	}
	if err := r.store.MarkProcessed(ctx, st.id, ids, r.now()); err != nil {
		r.log.Warn("mark system messages processed", "session", st.id, "err", err)
	}
}
