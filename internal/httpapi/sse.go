package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
)

// The event stream (§4.3): GET /v1/sessions/{id}/events/stream answers text/event-stream,
// one frame per event:
//
//	id: <seq>
//	event: <type>
//	data: <the event's JSON on one line>
//
// with "event: ping" keep-alives. Anthropic's stream is live-only. Hangar adds resume: a
// Last-Event-ID header (or last_event_id query parameter) holding the id: of the last frame
// received replays the stored events after it before going live. The handler subscribes to
// the hub before reading the backlog and drops live events it has already sent, so nothing
// falls between the two.
//
// The handler is the stream's only writer. It ends when the client leaves, when the hub
// drops the subscription (a slow reader; the client reconnects with Last-Event-ID), and
// after session.deleted.

// Stream limits.
const (
	maxEventDeltas  = 100
	replayPageLimit = 1000
)

func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	deltas := queryValues(q, "event_deltas")
	if len(deltas) > maxEventDeltas {
		return invalidf("event_deltas: at most %d values are allowed", maxEventDeltas)
	}
	for _, d := range deltas {
		// Accepted and ignored for now: previews are an optimisation, the final events
		// carry the same content.
		if err := checkOneOf("event_deltas", d, hangar.EventAgentMessage, hangar.EventAgentThinking); err != nil {
			return err
		}
	}
	after, resume, err := lastEventID(r)
	if err != nil {
		return err
	}
	if s.cfg.Hub == nil {
		return hangar.Errorf(hangar.KindUnavailable, "event streaming is not configured")
	}
	ctx := r.Context()
	id := pathID(r, "session_id")
	// Subscribe first, then check the session: a session deleted in between is reported
	// as not found instead of leaving a stream that never ends.
	live, cancel := s.cfg.Hub.Subscribe(id)
	defer cancel()
	if _, err := s.store.GetSession(ctx, id); err != nil {
		return err
	}

	sw := newSSEWriter(w, r)
	if err := sw.open(); err != nil {
		return nil // the client is gone
	}
	last := int64(0)
	if resume {
		last = after
		if err := s.replay(ctx, sw, id, &last); err != nil {
			if !errors.Is(err, errClientGone) {
				s.log.ErrorContext(ctx, "replay events", "session_id", id, "request_id", w.Header().Get("request-id"), "err", err)
				sw.fail(err)
			}
			return nil
		}
	}

	interval := s.cfg.SSEPing
	if interval <= 0 {
		interval = 15 * time.Second
	}
	ping := time.NewTicker(interval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			if sw.ping() != nil {
				return nil
			}
		case ev, ok := <-live:
			if !ok {
				return nil // dropped as a slow subscriber, or the hub is closing
			}
			if ev.Seq > 0 && ev.Seq <= last {
				continue // already sent by the replay
			}
			if sw.event(ev) != nil {
				return nil
			}
			if ev.Seq > last {
				last = ev.Seq
			}
			if ev.Type == hangar.EventSessionDeleted {
				return nil
			}
		}
	}
}

// replay sends the stored events after *last, page by page, advancing *last.
func (s *Server) replay(ctx context.Context, sw *sseWriter, sessionID string, last *int64) error {
	for {
		evs, pr, err := s.store.ListEvents(ctx, sessionID, hangar.EventFilter{
			AfterSeq: *last,
			Page:     hangar.Page{Limit: replayPageLimit},
		})
		if err != nil {
			if ctx.Err() != nil {
				return errClientGone
			}
			return err
		}
		for _, ev := range evs {
			if ev.Seq <= *last {
				continue
			}
			if err := sw.event(ev); err != nil {
				return errClientGone
			}
			*last = ev.Seq
		}
		if len(evs) == 0 || pr.Next == "" {
			return nil
		}
	}
}

// lastEventID reads the resume point: the Last-Event-ID header, else the last_event_id
// query parameter. resume is false when neither is set.
func lastEventID(r *http.Request) (seq int64, resume bool, err error) {
	name, v := "Last-Event-ID", strings.TrimSpace(r.Header.Get("Last-Event-ID"))
	if v == "" {
		name, v = "last_event_id", r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, invalidf("%s: must be the id of a stream frame, a non-negative integer (got %q)", name, v)
	}
	return n, true, nil
}

var errClientGone = errors.New("client disconnected")

// sseWriter writes server-sent events and flushes each one.
type sseWriter struct {
	w     http.ResponseWriter
	r     *http.Request
	rc    *http.ResponseController
	frame []byte
}

func newSSEWriter(w http.ResponseWriter, r *http.Request) *sseWriter {
	return &sseWriter{w: w, r: r, rc: http.NewResponseController(w)}
}

// open writes the stream's headers and flushes them, so the client sees the stream (and
// the subscription is in place) before any event.
func (sw *sseWriter) open() error {
	h := sw.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if sw.r.ProtoMajor == 1 {
		h.Set("Connection", "keep-alive")
	}
	// A server-wide write timeout must not cut a stream that lives for hours.
	_ = sw.rc.SetWriteDeadline(time.Time{})
	sw.w.WriteHeader(http.StatusOK)
	return sw.flush()
}

// event writes one event frame. Events the store did not number (Seq 0) carry no id:
// line, so they do not move the client's resume point.
func (sw *sseWriter) event(ev hangar.Event) error {
	if ev.Type == "" || strings.ContainsAny(ev.Type, "\r\n") {
		return nil // cannot be framed; never produced by the runner
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil // a malformed stored body; skipping beats ending the stream
	}
	b := sw.frame[:0]
	if ev.Seq > 0 {
		b = append(b, "id: "...)
		b = strconv.AppendInt(b, ev.Seq, 10)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, ev.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	sw.frame = b
	return sw.write(b)
}

// ping writes a keep-alive frame, which every SDK skips.
func (sw *sseWriter) ping() error {
	return sw.write([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\n"))
}

// fail ends the stream with an error frame, which the SDKs raise as an API error.
func (sw *sseWriter) fail(err error) {
	kind, msg := hangar.ErrorKind(err), "internal server error"
	var he *hangar.Error
	if errors.As(err, &he) && kind != hangar.KindInternal {
		msg = he.Message
	}
	_, typ := statusOf(kind)
	body := mustJSON(errorBody{Type: "error", Error: errorDetail{Type: typ, Message: msg}, RequestID: sw.w.Header().Get("request-id")})
	_ = sw.write(append(append([]byte("event: error\ndata: "), body...), "\n\n"...))
}

func (sw *sseWriter) write(b []byte) error {
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	return sw.flush()
}

func (sw *sseWriter) flush() error {
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
