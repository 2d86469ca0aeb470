package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hangar-dev/hangar"
)

// The self-hosted work queue, W1–W8 (CMA §6.3; docs/self-hosted.md): workers poll an
// environment for work items, acknowledge them, keep their lease with heartbeats and stop
// them. Who may call what is decided in work_auth.go.

const (
	// defaultReclaimMS is the poll's reclaim_older_than_ms when omitted (CMA's default).
	defaultReclaimMS = 5000
	// maxBlockMS caps block_ms, as CMA does.
	maxBlockMS = 999
	// workersPollingWindow is how recent a poll must be for stats' workers_polling.
	workersPollingWindow = 30 * time.Second
	maxWorkerIDChars     = 256
)

// workWire is BetaSelfHostedWork.
type workWire struct {
	Type              string            `json:"type"`
	ID                string            `json:"id"`
	EnvironmentID     string            `json:"environment_id"`
	Data              hangar.WorkData   `json:"data"`
	State             string            `json:"state"`
	Secret            *string           `json:"secret"`
	Metadata          map[string]string `json:"metadata"`
	CreatedAt         time.Time         `json:"created_at"`
	AcknowledgedAt    *time.Time        `json:"acknowledged_at"`
	StartedAt         *time.Time        `json:"started_at"`
	LatestHeartbeatAt *time.Time        `json:"latest_heartbeat_at"`
	StopRequestedAt   *time.Time        `json:"stop_requested_at"`
	StoppedAt         *time.Time        `json:"stopped_at"`
}

func workOut(w *hangar.Work) workWire {
	return workWire{Type: "work", ID: w.ID, EnvironmentID: w.EnvironmentID, Data: w.Data, State: w.State,
		Metadata: orEmpty(w.Metadata), CreatedAt: w.CreatedAt, AcknowledgedAt: w.AcknowledgedAt, StartedAt: w.StartedAt,
		LatestHeartbeatAt: w.LatestHeartbeatAt, StopRequestedAt: w.StopRequestedAt, StoppedAt: w.StoppedAt}
}

// workSecret is the poll's secret: URL-safe base64 of a JSON object carrying the sessions
// token, which is what the SDK workers decode.
func workSecret(token string) string {
	b, _ := json.Marshal(map[string]string{"sessions_token": token})
	return base64.RawURLEncoding.EncodeToString(b)
}

// heartbeatWire is BetaSelfHostedWorkHeartbeatResponse.
type heartbeatWire struct {
	Type          string `json:"type"`
	LastHeartbeat string `json:"last_heartbeat"`
	LeaseExtended bool   `json:"lease_extended"`
	State         string `json:"state"`
	TTLSeconds    int64  `json:"ttl_seconds"`
}

// workStatsWire is BetaSelfHostedWorkQueueStats.
type workStatsWire struct {
	Type           string     `json:"type"`
	Depth          int64      `json:"depth"`
	Pending        int64      `json:"pending"`
	OldestQueuedAt *time.Time `json:"oldest_queued_at"`
	WorkersPolling int64      `json:"workers_polling"`
}

// selfHostedEnvironment returns the environment of the request, which must be self_hosted.
func (s *Server) selfHostedEnvironment(r *http.Request) (*hangar.Environment, error) {
	env, err := s.store.GetEnvironment(r.Context(), pathID(r, "environment_id"))
	if err != nil {
		return nil, err
	}
	if env.Config.Type != "self_hosted" {
		return nil, invalidf("environment %s is not self_hosted; only self_hosted environments have a work queue", env.ID)
	}
	return env, nil
}

// queryInt parses an optional integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, lo, hi int64) (int64, bool, error) {
	v := r.URL.Query().Get(name)
	if !r.URL.Query().Has(name) {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, false, invalidf("%s: must be an integer between %d and %d", name, lo, hi)
	}
	return n, true, nil
}

// pollWork (W1) claims the environment's next item, waiting up to block_ms for one. No item
// is a JSON null.
func (s *Server) pollWork(w http.ResponseWriter, r *http.Request) error {
	block, _, err := queryInt(r, "block_ms", 1, maxBlockMS)
	if err != nil {
		return err
	}
	reclaim, ok, err := queryInt(r, "reclaim_older_than_ms", 0, 1<<40)
	if err != nil {
		return err
	}
	if !ok {
		reclaim = defaultReclaimMS
	}
	workerID := r.Header.Get("Anthropic-Worker-ID")
	if len(workerID) > maxWorkerIDChars {
		return invalidf("Anthropic-Worker-ID: must be at most %d characters", maxWorkerIDChars)
	}
	env, err := s.selfHostedEnvironment(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if workerID != "" {
		if err := s.store.RecordWorkerPoll(ctx, env.ID, workerID, s.now()); err != nil {
			return err
		}
	}
	var deadline <-chan time.Time
	if block > 0 {
		t := time.NewTimer(time.Duration(block) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	for {
		// Take the wake channel before looking, so an enqueue between the look and the wait
		// is not missed.
		wake := s.workWake.channel(env.ID)
		token := hangar.NewToken(hangar.PrefixSessionsToken)
		now := s.now()
		item, err := s.store.ClaimWork(ctx, hangar.WorkClaim{EnvironmentID: env.ID, WorkerID: workerID, Now: now,
			ReclaimBefore: now.Add(-time.Duration(reclaim) * time.Millisecond), TokenHash: hangar.HashToken(token),
			NewID: s.newID(hangar.PrefixWork)})
		if err != nil {
			return err
		}
		if item != nil {
			out := workOut(item)
			secret := workSecret(token)
			out.Secret = &secret
			encode(w, http.StatusOK, out)
			return nil
		}
		if deadline == nil {
			break
		}
		s.workWake.idle(env.ID)
		select {
		case <-wake:
			continue
		case <-deadline:
		case <-ctx.Done():
		}
		break
	}
	encode(w, http.StatusOK, nil)
	return nil
}

// ackWork (W2): queued → starting.
func (s *Server) ackWork(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	item, err := s.store.UpdateWork(r.Context(), pathID(r, "environment_id"), pathID(r, "work_id"), func(w *hangar.Work) error {
		return w.Ack(now)
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, workOut(item))
	return nil
}

// heartbeatWork (W3) extends the lease. The item of a session that is gone, archived or
// terminated is asked to stop, so its worker lets go.
func (s *Server) heartbeatWork(w http.ResponseWriter, r *http.Request) error {
	ttlSec, _, err := queryInt(r, "desired_ttl_seconds", 1, 1<<31)
	if err != nil {
		return err
	}
	ttl := hangar.ClampWorkTTL(ttlSec)
	expected := r.URL.Query().Get("expected_last_heartbeat")
	ctx := r.Context()
	envID, id := pathID(r, "environment_id"), pathID(r, "work_id")
	cur, err := s.store.GetWork(ctx, envID, id)
	if err != nil {
		return err
	}
	sessionOver := false
	if cur.Data.Type == hangar.WorkDataSession {
		sess, err := s.store.GetSession(ctx, cur.Data.ID)
		switch {
		case hangar.IsKind(err, hangar.KindNotFound):
			sessionOver = true
		case err != nil:
			return err
		default:
			sessionOver = sess.ArchivedAt != nil || sess.Status == hangar.StatusTerminated
		}
	}
	now := s.now()
	var res hangar.HeartbeatResult
	_, err = s.store.UpdateWork(ctx, envID, id, func(w *hangar.Work) error {
		if sessionOver && w.State != hangar.WorkStopped && w.State != hangar.WorkStopping {
			if err := w.Stop(false, now); err != nil {
				return err
			}
		}
		var err error
		res, err = w.Heartbeat(expected, ttl, now)
		return err
	})
	var pe *hangar.PreconditionError
	if errors.As(err, &pe) {
		s.writePrecondition(w, pe)
		return nil
	}
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, heartbeatWire{Type: "work_heartbeat", LastHeartbeat: res.LastHeartbeat,
		LeaseExtended: res.LeaseExtended, State: res.State, TTLSeconds: int64(res.TTL / time.Second)})
	return nil
}

// writePrecondition answers a stale heartbeat with 412 in the error envelope, with the
// server's view of the lease in error.details (which the SDK worker logs) and the error
// code the SDKs name (heartbeat_precondition_failed).
func (s *Server) writePrecondition(w http.ResponseWriter, pe *hangar.PreconditionError) {
	var last any
	if pe.Current.LastHeartbeat != "" {
		last = pe.Current.LastHeartbeat
	}
	type details struct {
		ErrorCode    string         `json:"error_code"`
		CurrentState map[string]any `json:"current_state"`
	}
	type detail struct {
		Type    string  `json:"type"`
		Message string  `json:"message"`
		Details details `json:"details"`
	}
	w.Header().Set("x-should-retry", "false")
	encode(w, http.StatusPreconditionFailed, struct {
		Type      string `json:"type"`
		Error     detail `json:"error"`
		RequestID string `json:"request_id,omitempty"`
	}{Type: "error", RequestID: w.Header().Get("request-id"), Error: detail{
		Type: string(hangar.KindInvalidRequest), Message: pe.Error(),
		Details: details{ErrorCode: "heartbeat_precondition_failed", CurrentState: map[string]any{
			"state": pe.Current.State, "last_heartbeat": last, "lease_extended": false, "ttl_seconds": int64(pe.Current.TTL / time.Second),
		}},
	}})
}

type stopWorkRequest struct {
	Force *bool `json:"force"`
}

// stopWork (W4): queued or forced → stopped; running → stopping. A stopped item whose
// session still has a turn in progress is queued again, so a worker picks the turn up.
func (s *Server) stopWork(w http.ResponseWriter, r *http.Request) error {
	var req stopWorkRequest
	if err := s.decodeOptional(w, r, &req); err != nil {
		return err
	}
	now := s.now()
	ctx := r.Context()
	item, err := s.store.UpdateWork(ctx, pathID(r, "environment_id"), pathID(r, "work_id"), func(w *hangar.Work) error {
		return w.Stop(req.Force != nil && *req.Force, now)
	})
	if err != nil {
		return err
	}
	if item.State == hangar.WorkStopped && item.Data.Type == hangar.WorkDataSession {
		sess, err := s.store.GetSession(ctx, item.Data.ID)
		if err == nil && sess.ArchivedAt == nil && (sess.Status == hangar.StatusRunning || sess.Status == hangar.StatusRescheduling) {
			if err := s.enqueueSessionWork(ctx, sess); err != nil {
				return err
			}
		}
	}
	encode(w, http.StatusOK, workOut(item))
	return nil
}

// decodeOptional is decode for bodies that may be empty.
func (s *Server) decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return invalidf("read body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeBytes(body, v)
}

// listWork (W5) lists an environment's items, newest first.
func (s *Server) listWork(w http.ResponseWriter, r *http.Request) error {
	page, err := parsePage(r.URL.Query(), 20, 100, true)
	if err != nil {
		return err
	}
	env, err := s.selfHostedEnvironment(r)
	if err != nil {
		return err
	}
	items, res, err := s.store.ListWork(r.Context(), hangar.WorkFilter{EnvironmentID: env.ID, Page: page})
	if err != nil {
		return err
	}
	out := listEnvelope[workWire]{Data: make([]workWire, 0, len(items)), NextPage: strOrNil(res.Next)}
	for _, it := range items {
		out.Data = append(out.Data, workOut(it))
	}
	encode(w, http.StatusOK, out)
	return nil
}

// getWork (W6).
func (s *Server) getWork(w http.ResponseWriter, r *http.Request) error {
	item, err := s.store.GetWork(r.Context(), pathID(r, "environment_id"), pathID(r, "work_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, workOut(item))
	return nil
}

type updateWorkRequest struct {
	Metadata map[string]*string `json:"metadata"`
}

// updateWork (W7) patches metadata: a string upserts a key, null deletes it.
func (s *Server) updateWork(w http.ResponseWriter, r *http.Request) error {
	var req updateWorkRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if req.Metadata == nil {
		return invalidf("metadata: field required")
	}
	if err := validateMetadataPatch("metadata", req.Metadata); err != nil {
		return err
	}
	item, err := s.store.UpdateWork(r.Context(), pathID(r, "environment_id"), pathID(r, "work_id"), func(w *hangar.Work) error {
		md, err := patchMetadata("metadata", w.Metadata, req.Metadata, false)
		if err != nil {
			return err
		}
		w.Metadata = md
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, workOut(item))
	return nil
}

// workStats (W8).
func (s *Server) workStats(w http.ResponseWriter, r *http.Request) error {
	env, err := s.selfHostedEnvironment(r)
	if err != nil {
		return err
	}
	st, err := s.store.WorkStats(r.Context(), env.ID, s.now().Add(-workersPollingWindow))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, workStatsWire{Type: "work_queue_stats", Depth: st.Depth, Pending: st.Pending,
		OldestQueuedAt: st.OldestQueuedAt, WorkersPolling: st.WorkersPolling})
	return nil
}

// rotateEnvironmentKey (Hangar extension) replaces a self_hosted environment's key and
// returns the environment with the new key, shown this once.
func (s *Server) rotateEnvironmentKey(w http.ResponseWriter, r *http.Request) error {
	env, err := s.selfHostedEnvironment(r)
	if err != nil {
		return err
	}
	out := s.environmentView(env)
	if out.EnvironmentKey, err = s.issueEnvironmentKey(r.Context(), env.ID); err != nil {
		return err
	}
	encode(w, http.StatusOK, out)
	return nil
}
