package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
)

// Stream reconnection: a dropped stream is reopened at once, then with growing pauses;
// after maxReconnects failures in a row the turn fails.
const maxReconnects = 5

func reconnectDelay(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	return time.Duration(1<<min(failures-2, 4)) * 250 * time.Millisecond
}

// stallTimeout is how long the stream may carry nothing, not even a keep-alive (Hangar
// pings every 15 s, the contract suggests 15–30 s), before it is treated as dropped.
const stallTimeout = 2 * time.Minute

// abandonTimeout bounds the interrupt sent to the remote when a run is killed.
const abandonTimeout = 5 * time.Second

// pendingUse is a remote event awaiting the client's answer.
type pendingUse struct {
	answer string // the client event type that answers it
	thread string // session_thread_id of a cross-posted sub-agent call, echoed back
}

// item is what a stream reader goroutine hands the run: a frame or the error that ended
// the stream.
type item struct {
	f   frame
	err error
}

// run is one turn on the remote. Its goroutine (main) owns the remote session's stream and
// every field below mu except those mu guards; Send and Interrupt are called from the
// runner's goroutine.
type run struct {
	e      *Engine
	spec   engine.Spec
	events chan engine.Event
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	cancel context.CancelFunc
	err    error

	mu      sync.Mutex
	pending map[string]pendingUse // remote event ID → awaited answer
	session string                // remote session ID, once known

	tok      token
	st       *stream
	frames   chan item
	connQuit chan struct{} // closed to release the current stream's reader
	backlog  []frame       // events recovered by listing after a reconnect
	failures int           // consecutive stream failures

	emitted     map[string]bool // remote event IDs emitted as engine events (valid Refs)
	seen        map[string]bool // remote event IDs handled, to drop replays
	msgID       string          // remote ID of this turn's user.message
	open        bool            // this turn's events have begun
	lastFrameID string          // last SSE id: seen (Hangar remotes number frames)
	lastAt      string          // processed_at of the last event seen
	remoteErr   *engine.Error   // the remote's session.error, reported when the turn ends
	stopSeen    bool
	interrupted bool
}

// errStopped ends a run interrupted before its message reached the remote.
var errStopped = errors.New("anthropic: interrupted")

func (r *run) Events() <-chan engine.Event { return r.events }

func (r *run) Wait() error {
	<-r.done
	return r.err
}

// Interrupt implements engine.Run: the run's goroutine posts user.interrupt to the remote
// (or abandons a turn still being set up) and ends once the remote session is idle.
func (r *run) Interrupt(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	return nil
}

// Send implements engine.Run: it forwards the client's answer to the remote event it
// answers (the engine-local ID is the remote event ID).
func (r *run) Send(ctx context.Context, in engine.Input) error {
	r.mu.Lock()
	p, ok := r.pending[in.ToolUseID]
	if ok && p.answer == in.Type {
		delete(r.pending, in.ToolUseID)
	}
	sess := r.session
	r.mu.Unlock()
	if !ok || p.answer != in.Type {
		return hangar.Errorf(hangar.KindInvalidRequest, "anthropic: %s for %s, which awaits no such answer", in.Type, in.ToolUseID)
	}
	select {
	case <-r.done:
		return errors.New("anthropic: run ended")
	default:
	}
	ev := map[string]any{"type": in.Type}
	switch in.Type {
	case hangar.EventUserCustomToolResult:
		ev["custom_tool_use_id"] = in.ToolUseID
		if len(in.Content) > 0 && string(in.Content) != "null" {
			ev["content"] = in.Content
		}
		ev["is_error"] = in.IsError
	case hangar.EventUserToolConfirmation:
		ev["tool_use_id"] = in.ToolUseID
		ev["result"] = "deny"
		if in.Allow {
			ev["result"] = "allow"
		} else if in.DenyMessage != "" {
			ev["deny_message"] = in.DenyMessage
		}
	}
	if p.thread != "" {
		ev["session_thread_id"] = p.thread
	}
	if _, err := r.post(ctx, sess, ev); err != nil {
		return engineError("forward the answer to the remote session", err)
	}
	return nil
}

// post sends events to a remote session and returns the ID of the first stored one.
func (r *run) post(ctx context.Context, sessionID string, events ...any) (string, error) {
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	err := r.e.c.do(ctx, http.MethodPost, "/v1/sessions/"+url.PathEscape(sessionID)+"/events", nil, map[string]any{"events": events}, &out)
	if err != nil || len(out.Data) == 0 {
		return "", err
	}
	return out.Data[0].ID, nil
}

func (r *run) emit(ctx context.Context, ev engine.Event) error {
	select {
	case r.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// main runs the turn: set up the remote session, open its stream, make sure the remote is
// not busy with an earlier turn, post the message, and translate events until it idles.
func (r *run) main(ctx context.Context) error {
	defer r.closeStream()
	err := r.begin(ctx)
	switch {
	case errors.Is(err, errStopped):
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	for {
		f, stopped, err := r.nextFrame(ctx)
		if err != nil {
			if ctx.Err() != nil {
				r.abandon(ctx)
				if r.interrupted {
					return nil
				}
				return ctx.Err()
			}
			return err
		}
		if stopped {
			r.interrupted = true
			if _, err := r.post(ctx, r.tok.Session, map[string]string{"type": hangar.EventUserInterrupt}); err != nil {
				r.e.log.Warn("interrupt remote session", "remote_session", r.tok.Session, "err", err)
				return nil
			}
			continue
		}
		end, err := r.handle(ctx, f)
		if end {
			if r.interrupted {
				return nil
			}
			return err
		}
		if err != nil {
			return err
		}
	}
}

// begin does everything up to the posted user.message. It returns errStopped when
// interrupted first.
func (r *run) begin(ctx context.Context) error {
	// An interrupt cancels the set-up calls; the message itself is posted under ctx.
	setupCtx, cancelSetup := context.WithCancel(ctx)
	defer cancelSetup()
	go func() {
		select {
		case <-r.stop:
			cancelSetup()
		case <-setupCtx.Done():
		}
	}()
	stopped := func() bool {
		select {
		case <-r.stop:
			return true
		default:
			return false
		}
	}

	spec, err := specOf(&r.spec.Session.Agent, r.e.cfg.AgentEngine)
	if err != nil {
		return &engine.Error{Type: "unknown_error", Message: "the agent cannot run on the remote: " + err.Error()}
	}
	fresh, err := r.resolveSession(setupCtx, spec, false)
	for attempt := 0; ; attempt++ {
		if stopped() {
			return errStopped
		}
		if err != nil {
			return err
		}
		if err = r.connect(ctx, ""); err == nil && !fresh {
			err = r.settle(ctx)
		}
		if err == nil {
			if stopped() {
				return errStopped
			}
			r.msgID, err = r.post(ctx, r.tok.Session, map[string]any{"type": hangar.EventUserMessage, "content": r.spec.Content})
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, errStopped) {
			return err
		}
		gone := errors.Is(err, errNoSession) || isStatus(err, http.StatusNotFound) || isStatus(err, http.StatusConflict)
		if !gone || fresh || attempt > 0 {
			return engineError("start the remote turn", err)
		}
		// The remote session of the token is gone (deleted, archived or terminated):
		// continue in a new one, without the earlier conversation.
		r.e.log.Warn("remote session is gone; starting a new one", "session", r.spec.Session.ID, "remote_session", r.tok.Session, "err", err)
		fresh, err = r.resolveSession(setupCtx, spec, true)
	}
}

// resolveSession picks the remote session of the turn: the resume token's (when the agent
// configuration is unchanged), the one a restarted server finds by metadata, or a new one.
// It reports the token with EventResume. fresh is true for a new remote session.
func (r *run) resolveSession(ctx context.Context, spec agentSpec, forceNew bool) (fresh bool, err error) {
	tok := parseToken(r.spec.Resume)
	if !forceNew && tok.Session != "" && tok.Config == spec.hash {
		return false, r.useSession(ctx, tok)
	}
	if tok.Session != "" && tok.Config != spec.hash && !forceNew {
		r.e.log.Info("agent configuration changed; starting a new remote session", "session", r.spec.Session.ID)
	}
	ref, err := r.e.ensureAgent(ctx, r.spec.Session.Agent.ID, spec)
	if err != nil {
		return false, engineError("prepare the remote agent", err)
	}
	tok = token{Agent: ref.ID, Version: ref.Version, Config: spec.hash}
	if !forceNew && r.spec.Turn > 0 && r.spec.Resume == "" {
		// A restarted server lost the token: find the session by its metadata.
		id, err := r.e.findSession(ctx, ref, r.spec.Session.ID)
		if err != nil {
			return false, engineError("find the remote session", err)
		}
		if id != "" {
			tok.Session = id
			return false, r.useSession(ctx, tok)
		}
	}
	if tok.Environment, err = r.e.ensureEnvironment(ctx); err != nil {
		return false, engineError("prepare the remote environment", err)
	}
	if tok.Session, err = r.e.createSession(ctx, ref, tok.Environment, r.spec.Session); err != nil {
		return false, engineError("create the remote session", err)
	}
	return true, r.useSession(ctx, tok)
}

func (r *run) useSession(ctx context.Context, tok token) error {
	r.tok = tok
	r.lastFrameID, r.lastAt = "", "" // positions in another session's stream mean nothing here
	r.mu.Lock()
	r.session = tok.Session
	r.mu.Unlock()
	return r.emit(ctx, engine.Event{Type: engine.EventResume, Resume: tok.String()})
}

// connect opens the remote session's stream (replacing any open one) and starts its reader.
func (r *run) connect(ctx context.Context, lastID string) error {
	st, err := r.e.c.openStream(ctx, r.tok.Session, lastID)
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return errNoSession
		}
		return err
	}
	r.closeStream()
	r.st, r.connQuit = st, make(chan struct{})
	frames, quit := make(chan item, 16), r.connQuit
	r.frames = frames
	go func() {
		for {
			f, err := st.next()
			select {
			case frames <- item{f, err}:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return nil
}

func (r *run) closeStream() {
	if r.st != nil {
		r.st.close()
		close(r.connQuit)
		r.st = nil
	}
}

// nextFrame returns the next remote frame, reconnecting a dropped stream. stopped reports
// an interrupt request, once.
func (r *run) nextFrame(ctx context.Context) (f frame, stopped bool, err error) {
	for {
		if len(r.backlog) > 0 {
			f, r.backlog = r.backlog[0], r.backlog[1:]
			return f, false, nil
		}
		var stop <-chan struct{}
		if !r.stopSeen {
			stop = r.stop
		}
		stall := time.NewTimer(stallTimeout)
		select {
		case <-stall.C:
			if err := r.reconnect(ctx, errors.New("the stream carried nothing for "+stallTimeout.String())); err != nil {
				return frame{}, false, err
			}
		case <-ctx.Done():
			stall.Stop()
			return frame{}, false, ctx.Err()
		case <-stop:
			stall.Stop()
			r.stopSeen = true
			return frame{}, true, nil
		case it := <-r.frames:
			stall.Stop()
			if it.err == nil && it.f.event == "comment" {
				r.failures = 0
				continue
			}
			if it.err == nil && it.f.event != "error" {
				r.failures = 0
				if it.f.id != "" {
					r.lastFrameID = it.f.id
				}
				return it.f, false, nil
			}
			cause := it.err
			if cause == nil {
				cause = errors.New("stream error frame: " + string(it.f.data))
			}
			if err := r.reconnect(ctx, cause); err != nil {
				return frame{}, false, err
			}
		}
	}
}

// reconnect reopens a dropped stream. A remote that numbers its frames (Hangar) replays
// what followed Last-Event-ID; for one that does not (Anthropic's stream is live-only), the
// events since the last one seen are listed, and handle drops those already handled.
func (r *run) reconnect(ctx context.Context, cause error) error {
	for {
		r.failures++
		if r.failures > maxReconnects {
			return &engine.Error{Type: "model_request_failed_error", Message: "lost the remote session's event stream", Err: cause}
		}
		r.e.log.Warn("remote event stream dropped; reconnecting", "remote_session", r.tok.Session, "attempt", r.failures, "err", cause)
		if d := reconnectDelay(r.failures); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		lastID := r.lastFrameID
		err := r.connect(ctx, lastID)
		if err == nil && lastID == "" {
			err = r.recover(ctx)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errNoSession) {
			return &engine.Error{Type: "unknown_error", Message: "the remote session is gone", Err: err}
		}
		cause = err
	}
}

// recover lists the remote events processed since the last one seen into the backlog.
func (r *run) recover(ctx context.Context) error {
	q := url.Values{"order": {"asc"}}
	if r.lastAt != "" {
		q.Set("created_at[gte]", r.lastAt)
	}
	var evs []json.RawMessage
	err := list(ctx, r.e.c, "/v1/sessions/"+url.PathEscape(r.tok.Session)+"/events", q, func(ev json.RawMessage) bool {
		evs = append(evs, ev)
		return false
	})
	if err != nil {
		return err
	}
	for _, ev := range evs {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(ev, &head) == nil && head.Type != "" {
			r.backlog = append(r.backlog, frame{event: head.Type, data: ev, replayed: true})
		}
	}
	return nil
}

// settle makes sure the remote session is not still busy with an earlier turn (a run that
// was killed, or a server that restarted): a running session, or one waiting on a tool
// answer nobody will send, is interrupted and awaited, so this turn's events are its own.
func (r *run) settle(ctx context.Context) error {
	var rs remoteSession
	path := "/v1/sessions/" + url.PathEscape(r.tok.Session)
	if err := r.e.c.do(ctx, http.MethodGet, path, nil, nil, &rs); err != nil {
		if isStatus(err, http.StatusNotFound) {
			return errNoSession
		}
		return err
	}
	if rs.ArchivedAt != nil || rs.Status == hangar.StatusTerminated {
		return errNoSession
	}
	busy := rs.Status != hangar.StatusIdle
	if !busy {
		var last page[json.RawMessage]
		q := url.Values{"types[]": {hangar.EventStatusIdle}, "order": {"desc"}, "limit": {"1"}}
		if err := r.e.c.do(ctx, http.MethodGet, path+"/events", q, nil, &last); err != nil {
			return err
		}
		busy = len(last.Data) > 0 && stopReason(last.Data[0]) == "requires_action"
	}
	if !busy {
		return nil
	}
	r.e.log.Info("remote session still busy; interrupting it before the turn", "remote_session", r.tok.Session, "status", rs.Status)
	if _, err := r.post(ctx, r.tok.Session, map[string]string{"type": hangar.EventUserInterrupt}); err != nil {
		return err
	}
	for {
		f, stopped, err := r.nextFrame(ctx)
		if err != nil {
			return err
		}
		if stopped {
			return errStopped
		}
		switch f.event {
		case hangar.EventStatusIdle:
			if stopReason(f.data) != "requires_action" {
				return nil
			}
		case hangar.EventStatusTerminated, hangar.EventSessionDeleted:
			return errNoSession
		}
	}
}

func stopReason(ev json.RawMessage) string {
	var b struct {
		StopReason struct {
			Type string `json:"type"`
		} `json:"stop_reason"`
	}
	_ = json.Unmarshal(ev, &b)
	return b.StopReason.Type
}

// abandon interrupts the remote turn of a run killed by its context, so the remote does
// not keep working (and billing) for nobody.
func (r *run) abandon(ctx context.Context) {
	if r.msgID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	if _, err := r.post(ctx, r.tok.Session, map[string]string{"type": hangar.EventUserInterrupt}); err != nil {
		r.e.log.Warn("interrupt abandoned remote turn", "remote_session", r.tok.Session, "err", err)
	}
}

var _ engine.Run = (*run)(nil)
