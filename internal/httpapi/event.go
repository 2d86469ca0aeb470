package httpapi

import (
	"net/http"

	"github.com/hangar-dev/hangar"
)

// Session events (§4): clients send user events; the runner appends them to the session's
// log and emits the agent's events. GET lists the log; the stream is in sse.go.

// eventsEnvelope is the {data} body of POST .../events.
type eventsEnvelope struct {
	Data []hangar.Event `json:"data"`
}

func (s *Server) sendEvents(w http.ResponseWriter, r *http.Request) error {
	var req sendEventsRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	evs, err := validateEvents("events", req.Events, sendableEvents)
	if err != nil {
		return err
	}
	if err := s.resolveRubrics(r.Context(), "events", evs); err != nil { // outcome.go
		return err
	}
	id := pathID(r, "session_id")
	sess, err := s.store.GetSession(r.Context(), id)
	if err != nil {
		return err
	}
	// The runner enforces these in its transaction too; checking here answers early.
	if sess.ArchivedAt != nil {
		return conflictf("session %s is archived and accepts no new events", sess.ID)
	}
	if sess.Status == hangar.StatusTerminated {
		return conflictf("session %s is terminated and accepts no new events", sess.ID)
	}
	if err := checkBudget(sess, evs); err != nil {
		return err
	}
	if err := s.checkToolResults(r, sess, evs); err != nil {
		return err
	}
	if err := s.checkSystemMessages(r.Context(), sess, evs); err != nil { // system_message.go
		return err
	}
	stored, err := s.runner().Send(r.Context(), id, s.storedEvents(evs), r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	if err := s.requeueOnInput(r.Context(), sess, evs); err != nil { // work_queue.go
		return err
	}
	if stored == nil {
		stored = []hangar.Event{}
	}
	encode(w, http.StatusOK, eventsEnvelope{Data: stored})
	return nil
}

// storedEvents gives validated client events their IDs. Events the contract processes on
// receipt (custom tool results) carry processed_at already; the others stay null until the
// runner has processed them.
func (s *Server) storedEvents(evs []clientEvent) []hangar.Event {
	out := make([]hangar.Event, len(evs))
	for i, ev := range evs {
		out[i] = hangar.Event{ID: s.newID(hangar.PrefixEvent), Type: ev.Type, Body: ev.Body}
		if ev.Type == hangar.EventUserCustomToolResult || ev.Type == hangar.EventUserDefineOutcome || ev.Type == hangar.EventUserToolResult {
			now := s.now()
			out[i].ProcessedAt = &now
		}
		if ev.Type == hangar.EventUserDefineOutcome {
			out[i].Body = withOutcomeID(ev.Body, s.newID(hangar.PrefixOutcome))
		}
	}
	return out
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 1000, 1000, false)
	if err != nil {
		return err
	}
	f := hangar.EventFilter{Page: page}
	if f.ProcessedAt, err = parseTimeRange(q, "created_at"); err != nil {
		return err
	}
	for _, t := range queryValues(q, "types") {
		if t == "" {
			return invalidf("types: must not contain empty values")
		}
		if !contains(f.Types, t) {
			f.Types = append(f.Types, t)
		}
	}
	id := pathID(r, "session_id")
	if _, err := s.store.GetSession(r.Context(), id); err != nil {
		return err
	}
	evs, pr, err := s.store.ListEvents(r.Context(), id, f)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []hangar.Event{}
	}
	encode(w, http.StatusOK, listEnvelope[hangar.Event]{Data: evs, NextPage: strOrNil(pr.Next)})
	return nil
}

// checkToolResults accepts user.tool_result only on sessions of a self_hosted environment,
// whose worker runs the agent toolset's calls. The runner checks that each answers a
// delegated agent.tool_use still awaiting its result.
func (s *Server) checkToolResults(r *http.Request, sess *hangar.Session, evs []clientEvent) error {
	for i, ev := range evs {
		if ev.Type != hangar.EventUserToolResult {
			continue
		}
		env, err := s.store.GetEnvironment(r.Context(), sess.EnvironmentID)
		if err != nil {
			return err
		}
		if env.Config.Type != "self_hosted" {
			return invalidf("events[%d].type: %q events are accepted only on sessions of a self_hosted environment (environment %s is %q)", i, ev.Type, env.ID, env.Config.Type)
		}
		return nil
	}
	return nil
}
