package runner_test

import (
	"testing"

	"github.com/hangar-dev/hangar"
)

// Runner.UpdateSession (session_update.go): the update's event is stored with the session
// change and published live; a refused update stores and publishes nothing.
func TestUpdateSessionPublishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start()
	id := e.session("scripted", nil, "")
	s := e.subscribe(id)

	ev := hangar.NewEvent(hangar.EventSessionUpdated, nil)
	ev.ID = hangar.NewID(hangar.PrefixEvent)
	now := hangar.Now()
	ev.ProcessedAt = &now
	evs := []hangar.Event{ev}
	title := "renamed"
	sess, err := e.runner.UpdateSession(e.ctx, id, evs, func(s *hangar.Session) error {
		s.Title = &title
		evs[0].Body = []byte(`{"title":"renamed"}`)
		return nil
	})
	if err != nil || sess.Title == nil || *sess.Title != title {
		t.Fatalf("UpdateSession = %+v, %v", sess, err)
	}
	got := s.until(hangar.EventSessionUpdated)
	if last := got[len(got)-1]; last.ID != ev.ID || string(last.Body) != `{"title":"renamed"}` {
		t.Errorf("published %s %s", last.ID, last.Body)
	}
	if stored := e.list(id); len(stored) != 1 || stored[0].Type != hangar.EventSessionUpdated || e.get(id).Title == nil {
		t.Errorf("stored %d events, session title %v", len(stored), e.get(id).Title)
	}

	refused := hangar.NewEvent(hangar.EventSessionUpdated, nil)
	refused.ID = hangar.NewID(hangar.PrefixEvent)
	_, err = e.runner.UpdateSession(e.ctx, id, []hangar.Event{refused}, func(*hangar.Session) error {
		return hangar.Errorf(hangar.KindConflict, "no")
	})
	if !hangar.IsKind(err, hangar.KindConflict) || len(e.list(id)) != 1 {
		t.Errorf("refused update: %v, %d events", err, len(e.list(id)))
	}
	_, err = e.runner.UpdateSession(e.ctx, "sesn_missing", []hangar.Event{refused}, func(*hangar.Session) error { return nil })
	if !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("missing session: %v", err)
	}
}
