package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/hangar-dev/hangar"
)

// Session threads, T1–T5 (docs/threads.md): the threads of a multiagent session, their
// events and their streams. The primary thread is the session-level view: its events and
// stream are the session's (the primary thread's events plus those cross-posted to it).

// threadWire is the session_thread object.
type threadWire struct {
	Type           string             `json:"type"`
	ID             string             `json:"id"`
	SessionID      string             `json:"session_id"`
	Status         string             `json:"status"`
	Agent          sessionAgentWire   `json:"agent"`
	ParentThreadID *string            `json:"parent_thread_id"`
	Usage          *threadUsageWire   `json:"usage"`
	Stats          hangar.ThreadStats `json:"stats"`
	WorkflowRunID  *string            `json:"workflow_run_id"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
	ArchivedAt     *time.Time         `json:"archived_at"`
}

// threadUsageWire is a thread's cumulative usage.
type threadUsageWire struct {
	hangar.Usage
	ActiveSeconds float64 `json:"active_seconds"`
}

// threadOut converts a stored thread. The primary thread's usage is the session's minus its
// children's (the runner adds every model request to the session).
func threadOut(t *hangar.Thread, sess *hangar.Session, all []*hangar.Thread) *threadWire {
	agent := sessionOut(&hangar.Session{Agent: t.Agent}).Agent
	agent.Multiagent = json.RawMessage(`null`)
	out := &threadWire{
		Type: "session_thread", ID: t.ID, SessionID: t.SessionID, Status: t.Status, Agent: agent,
		ParentThreadID: t.ParentThreadID, Stats: t.Stats,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, ArchivedAt: t.ArchivedAt,
	}
	if out.Status == "" {
		out.Status = hangar.StatusIdle
	}
	usage := t.Usage
	if t.ParentThreadID == nil && sess != nil && !isCoordinatorSession(sess) {
		// A single-agent session's only thread: the session's own figures.
		out.Status = sess.Status
		if out.Status == "" {
			out.Status = hangar.StatusIdle
		}
		out.Stats = hangar.ThreadStats{DurationSeconds: sess.Stats.DurationSeconds, ActiveSeconds: sess.Stats.ActiveSeconds}
		out.Usage = &threadUsageWire{Usage: sess.Usage, ActiveSeconds: sess.Stats.ActiveSeconds}
		return out
	}
	if t.ParentThreadID == nil && sess != nil {
		u := sess.Usage
		for _, c := range all {
			if c.ParentThreadID != nil && c.Usage != nil {
				u.InputTokens -= c.Usage.InputTokens
				u.OutputTokens -= c.Usage.OutputTokens
				u.CacheReadInputTokens -= c.Usage.CacheReadInputTokens
				u.CacheCreation.Ephemeral1hInputTokens -= c.Usage.CacheCreation.Ephemeral1hInputTokens
				u.CacheCreation.Ephemeral5mInputTokens -= c.Usage.CacheCreation.Ephemeral5mInputTokens
			}
		}
		usage = &u
		if out.Status == hangar.StatusIdle && t.UpdatedAt.Equal(t.CreatedAt) {
			usage = nil // never ran
		}
	}
	if usage != nil {
		out.Usage = &threadUsageWire{Usage: *usage, ActiveSeconds: t.Stats.ActiveSeconds}
	}
	return out
}

// isCoordinatorSession reports whether a session's agent has a coordinator roster.
func isCoordinatorSession(sess *hangar.Session) bool {
	var m struct {
		Type string `json:"type"`
	}
	return !isNull(sess.Agent.Multiagent) && json.Unmarshal(sess.Agent.Multiagent, &m) == nil && m.Type == "coordinator"
}

// sessionThreads returns a session's threads, creating its primary thread when nobody has
// yet (every session has one; the runner creates it for multiagent sessions, and the ID is
// derived from the session's, so both create the same one).
func (s *Server) sessionThreads(ctx context.Context, sess *hangar.Session, f hangar.ThreadFilter) ([]*hangar.Thread, hangar.PageResult, error) {
	if _, err := s.store.GetThread(ctx, sess.ID, hangar.PrimaryThreadID(sess.ID)); hangar.IsKind(err, hangar.KindNotFound) {
		if err := s.store.CreateThread(ctx, hangar.NewPrimaryThread(sess)); err != nil && !hangar.IsKind(err, hangar.KindConflict) {
			return nil, hangar.PageResult{}, err
		}
	} else if err != nil {
		return nil, hangar.PageResult{}, err
	}
	return s.store.ListThreads(ctx, sess.ID, f)
}

// T1: GET /v1/sessions/{session_id}/threads
func (s *Server) listThreads(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 1000, 1000, false)
	if err != nil {
		return err
	}
	f := hangar.ThreadFilter{Page: page}
	for _, st := range queryValues(q, "statuses") {
		if err := checkOneOf("statuses", st, hangar.StatusRunning, hangar.StatusIdle, hangar.StatusRescheduling, hangar.StatusTerminated); err != nil {
			return err
		}
		f.Statuses = append(f.Statuses, st)
	}
	ctx := r.Context()
	sess, err := s.store.GetSession(ctx, pathID(r, "session_id"))
	if err != nil {
		return err
	}
	single := !isCoordinatorSession(sess)
	if single {
		// A single-agent session's only thread shows the session's status, which the
		// stored thread does not track: filter on what is shown instead.
		f.Statuses = nil
	}
	ts, pr, err := s.sessionThreads(ctx, sess, f)
	if err != nil {
		return err
	}
	all := ts
	if pr.Next != "" || len(f.Statuses) > 0 || page.Cursor != nil {
		// The primary thread's usage needs every child's.
		if all, _, err = s.store.ListThreads(ctx, sess.ID, hangar.ThreadFilter{Page: hangar.Page{Limit: 1000}}); err != nil {
			return err
		}
	}
	out := make([]*threadWire, 0, len(ts))
	statuses := queryValues(q, "statuses")
	for _, t := range ts {
		o := threadOut(t, sess, all)
		if single && len(statuses) > 0 && !slices.Contains(statuses, o.Status) {
			continue
		}
		out = append(out, o)
	}
	encode(w, http.StatusOK, listEnvelope[*threadWire]{Data: out, NextPage: strOrNil(pr.Next)})
	return nil
}

// thread loads the session and thread of a request.
func (s *Server) thread(r *http.Request) (*hangar.Session, *hangar.Thread, []*hangar.Thread, error) {
	ctx := r.Context()
	sess, err := s.store.GetSession(ctx, pathID(r, "session_id"))
	if err != nil {
		return nil, nil, nil, err
	}
	all, _, err := s.sessionThreads(ctx, sess, hangar.ThreadFilter{Page: hangar.Page{Limit: 1000}})
	if err != nil {
		return nil, nil, nil, err
	}
	id := pathID(r, "thread_id")
	for _, t := range all {
		if t.ID == id {
			return sess, t, all, nil
		}
	}
	return nil, nil, nil, hangar.NotFound("thread", id)
}

// T2: GET /v1/sessions/{session_id}/threads/{thread_id}
func (s *Server) getThread(w http.ResponseWriter, r *http.Request) error {
	sess, t, all, err := s.thread(r)
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, threadOut(t, sess, all))
	return nil
}

// T3: POST /v1/sessions/{session_id}/threads/{thread_id}/archive. An archived child thread
// takes no more delegations. The primary thread is archived with its session; a running
// thread must go idle first. Archiving twice is a no-op.
func (s *Server) archiveThread(w http.ResponseWriter, r *http.Request) error {
	sess, t, all, err := s.thread(r)
	if err != nil {
		return err
	}
	if t.ParentThreadID == nil {
		return invalidf("thread_id: %s is the primary thread; archive the session instead", t.ID)
	}
	now := s.now()
	t, err = s.store.UpdateThread(r.Context(), sess.ID, t.ID, func(t *hangar.Thread) error {
		if t.ArchivedAt != nil {
			return nil
		}
		if t.Status == hangar.StatusRunning || t.Status == hangar.StatusRescheduling {
			return conflictf("thread %s is %s; interrupt it or wait until it is idle", t.ID, t.Status)
		}
		t.ArchivedAt, t.UpdatedAt = &now, now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, threadOut(t, sess, all))
	return nil
}

// threadView is the EventFilter.Thread of a thread: "" (the session's view) for the
// primary thread.
func threadView(t *hangar.Thread) string {
	if t.ParentThreadID == nil {
		return ""
	}
	return t.ID
}

// T4: GET /v1/sessions/{session_id}/threads/{thread_id}/events
func (s *Server) listThreadEvents(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r.URL.Query(), 1000, 1000, false)
	if err != nil {
		return err
	}
	sess, t, _, err := s.thread(r)
	if err != nil {
		return err
	}
	evs, pr, err := s.store.ListEvents(r.Context(), sess.ID, hangar.EventFilter{Thread: threadView(t), Page: page})
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []hangar.Event{}
	}
	encode(w, http.StatusOK, listEnvelope[hangar.Event]{Data: evs, NextPage: strOrNil(pr.Next)})
	return nil
}

// T5: GET /v1/sessions/{session_id}/threads/{thread_id}/stream
func (s *Server) streamThread(w http.ResponseWriter, r *http.Request) error {
	sess, t, _, err := s.thread(r)
	if err != nil {
		return err
	}
	return s.stream(w, r, sess.ID, threadView(t))
}

// inView reports whether a stream of thread (see threadView) shows ev; session.deleted
// ends every stream.
func inView(ev *hangar.Event, thread string) bool {
	switch {
	case ev.Type == hangar.EventSessionDeleted:
		return true
	case thread == "":
		return ev.OnPrimary()
	default:
		return ev.ThreadID == thread
	}
}
