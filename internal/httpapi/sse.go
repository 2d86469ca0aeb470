package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
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
	return s.stream(w, r, pathID(r, "session_id"), "")
}

// stream serves the event stream of a session's primary view (thread "") or of one child
// thread (docs/threads.md): only the events that view shows are sent.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, id, thread string) error {
	q := r.URL.Query()
	deltas := queryValues(q, "event_deltas")
	if len(deltas) > maxEventDeltas {
		return invalidf("event_deltas: at most %d values are allowed", maxEventDeltas)
	}
	for _, d := range deltas {
		// Each previewed type gets its event_start / event_delta frames (sse_deltas.go).
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
	if !resume {
		// A stream without a resume point starts after the session's last stored event.
		// Live events alone would not do: on PostgreSQL the hub hears of stored events
		// through the listener, which may deliver events stored before this request
		// after the subscription (an old session.status_idle would end a client's wait
		// at once). Reading the position before subscribing and replaying from it loses
		// nothing stored in between.
		if after, err = s.lastSeq(ctx, id, thread); err != nil {
			return err
		}
		resume = true
	}
	// Subscribe first, then check the session: a session deleted in between is reported
	// as not found instead of leaving a stream that never ends.
	live, cancel := s.subscribe(id, deltas) // sse_deltas.go
	if _, err := s.store.GetSession(ctx, id); err != nil {
		cancel()
		return err
	}

	sw := newSSEWriter(w, r)
	if err := sw.open(); err != nil {
		cancel()
		sw.close()
		return nil // the client is gone
	}
	last := int64(0)
	if resume {
		last = after
		err := s.replay(ctx, sw, id, thread, &last)
		if hangar.IsKind(err, hangar.KindNotFound) {
			err = nil // deleted since the subscription: session.deleted comes live
		}
		if err != nil {
			if !errors.Is(err, errClientGone) {
				s.log.ErrorContext(ctx, "replay events", "session_id", id, "request_id", w.Header().Get("request-id"), "err", err)
				sw.fail(err)
			}
			cancel()
			sw.close()
			return nil
		}
	}
	if sw.conn != nil {
		// A hijacked stream outlives the handler: returning lets net/http release the
		// connection's buffers and goroutines, leaving one small goroutine per idle stream.
		// It ends when the client hangs up, a write fails, after session.deleted, or when
		// the hub closes its subscription (server shutdown).
		go s.pump(nil, sw, live, cancel, last, thread)
		return nil
	}
	s.pump(ctx.Done(), sw, live, cancel, last, thread)
	return nil
}

// pump writes live events (skipping those at or below last, already replayed) and pings
// until the stream ends, then releases the subscription and the connection.
func (s *Server) pump(done <-chan struct{}, sw *sseWriter, live <-chan *hangar.Event, cancel func(), last int64, thread string) {
	defer sw.close()
	defer cancel()
	interval := s.cfg.SSEPing
	if interval <= 0 {
		interval = 15 * time.Second
	}
	ping := time.NewTicker(interval)
	defer ping.Stop()
	for {
		select {
		case <-done:
			return
		case <-sw.gone:
			return
		case <-ping.C:
			if sw.ping() != nil {
				return
			}
		case ev, ok := <-live:
			if !ok {
				return // dropped as a slow subscriber, or the hub is closing
			}
			if ev.Seq > 0 && ev.Seq <= last {
				continue // already sent by the replay
			}
			if !inView(ev, thread) {
				continue // another thread's (threads.go)
			}
			if sw.event(*ev) != nil {
				return
			}
			if ev.Seq > last {
				last = ev.Seq
			}
			if ev.Type == hangar.EventSessionDeleted {
				return
			}
		}
	}
}

// replay sends the stored events after *last, page by page, advancing *last.
func (s *Server) replay(ctx context.Context, sw *sseWriter, sessionID, thread string, last *int64) error {
	for {
		evs, pr, err := s.store.ListEvents(ctx, sessionID, hangar.EventFilter{
			AfterSeq: *last,
			Thread:   thread,
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

// lastSeq returns the Seq of the last stored event in the stream's view (the session's, or
// one thread's; 0 when it has none). Later events of other views are filtered live.
func (s *Server) lastSeq(ctx context.Context, sessionID, thread string) (int64, error) {
	evs, _, err := s.store.ListEvents(ctx, sessionID, hangar.EventFilter{Thread: thread, Page: hangar.Page{Limit: 1, Desc: true}})
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].Seq, nil
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
	// conn is the hijacked connection of an HTTP/1.1 stream, written directly. Hijacking
	// frees net/http's per-connection buffers and background reader goroutine, halving
	// the memory of an idle stream (docs/benchmarks.md).
	conn  net.Conn
	reqID string
	// gone is closed when a hijacked connection's client hangs up (nil otherwise).
	gone chan struct{}
}

// writeTimeout bounds one write to a hijacked stream, so a client that stopped reading
// cannot hold the handler forever.
const writeTimeout = 30 * time.Second

// maxKeptFrame is the largest frame buffer kept between events; bigger ones are dropped
// after use so a single large event does not pin memory for the stream's lifetime.
const maxKeptFrame = 4 << 10

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
	if sw.r.ProtoMajor == 1 {
		if conn, _, err := sw.rc.Hijack(); err == nil {
			// Drop every reference into net/http's connection state so it can be freed.
			sw.conn, sw.reqID = conn, h.Get("request-id")
			sw.w, sw.r, sw.rc = nil, nil, nil
			sw.gone = make(chan struct{})
			go sw.watch()
			return sw.writeHead(h)
		}
		// Not hijackable (a test recorder, a wrapping middleware): stream through net/http.
	}
	// A server-wide write timeout must not cut a stream that lives for hours.
	_ = sw.rc.SetWriteDeadline(time.Time{})
	sw.w.WriteHeader(http.StatusOK)
	return sw.flush()
}

// writeHead writes the status line and headers on a hijacked connection. The body is
// delimited by closing the connection, which every HTTP/1.1 client understands.
func (sw *sseWriter) writeHead(h http.Header) error {
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	if err := h.Write(&b); err != nil {
		return err
	}
	b.WriteString("\r\n")
	return sw.write([]byte(b.String()))
}

// watch notices the client hanging up: a stream's client sends nothing after its request,
// so a read returns only at EOF or error, including when close ends the stream.
func (sw *sseWriter) watch() {
	defer close(sw.gone)
	var b [1]byte
	for {
		if _, err := sw.conn.Read(b[:]); err != nil {
			return
		}
	}
}

func (sw *sseWriter) requestID() string {
	if sw.w == nil {
		return sw.reqID
	}
	return sw.w.Header().Get("request-id")
}

// close closes a hijacked connection; net/http closes the others.
func (sw *sseWriter) close() {
	if sw.conn != nil {
		sw.conn.Close()
	}
}

// event writes one event frame. Events the store did not number (Seq 0) carry no id:
// line, so they do not move the client's resume point.
func (sw *sseWriter) event(ev hangar.Event) error {
	if ev.Type == "" || strings.ContainsAny(ev.Type, "\r\n") {
		return nil // cannot be framed; never produced by the runner
	}
	data := []byte(ev.Wire)
	if hangar.IsPreview(ev.Type) {
		data = ev.Body // a preview frame's body is its whole wire object (sse_deltas.go)
	}
	if data == nil {
		var err error
		if data, err = json.Marshal(ev); err != nil {
			return nil // a malformed stored body; skipping beats ending the stream
		}
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
	if cap(b) > maxKeptFrame {
		sw.frame = nil
	}
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
	body := mustJSON(errorBody{Type: "error", Error: errorDetail{Type: typ, Message: msg}, RequestID: sw.requestID()})
	_ = sw.write(append(append([]byte("event: error\ndata: "), body...), "\n\n"...))
}

func (sw *sseWriter) write(b []byte) error {
	if sw.conn != nil {
		_ = sw.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := sw.conn.Write(b)
		return err
	}
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
