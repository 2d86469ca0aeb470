package hangar

import (
	"errors"
	"testing"
	"time"
)

// TestWorkTransitions pins the work item state machine: ack, heartbeat (with its
// precondition), stop.
func TestWorkTransitions(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	claimed := func() *Work {
		w := &Work{ID: "work_1", State: WorkQueued}
		w.Claim(WorkClaim{Now: t0, WorkerID: "w1", TokenHash: "h"})
		return w
	}

	t.Run("ack", func(t *testing.T) {
		if err := (&Work{ID: "work_1", State: WorkQueued}).Ack(t0); !IsKind(err, KindConflict) {
			t.Errorf("ack of an unclaimed item: %v", err)
		}
		w := claimed()
		if err := w.Ack(t0); err != nil || w.State != WorkStarting || !w.AcknowledgedAt.Equal(t0) {
			t.Fatalf("ack: %v %+v", err, w)
		}
		if err := w.Ack(t0); !IsKind(err, KindConflict) {
			t.Errorf("second ack: %v", err)
		}
	})

	t.Run("heartbeat", func(t *testing.T) {
		w := claimed()
		if _, err := w.Heartbeat(NoHeartbeat, time.Minute, t0); !IsKind(err, KindConflict) {
			t.Errorf("heartbeat before ack: %v", err)
		}
		w.Ack(t0)
		res, err := w.Heartbeat(NoHeartbeat, 30*time.Second, t0)
		if err != nil || w.State != WorkActive || !res.LeaseExtended || res.TTL != 30*time.Second || !w.LeaseExpiresAt.Equal(t0.Add(30*time.Second)) {
			t.Fatalf("first heartbeat: %v %+v %+v", err, res, w)
		}
		// Same instant: the token still changes.
		res2, err := w.Heartbeat(res.LastHeartbeat, 30*time.Second, t0)
		if err != nil || res2.LastHeartbeat == res.LastHeartbeat {
			t.Fatalf("second heartbeat: %v %+v", err, res2)
		}
		_, err = w.Heartbeat(res.LastHeartbeat, 30*time.Second, t0)
		var pe *PreconditionError
		if !errors.As(err, &pe) || pe.Current.LastHeartbeat != res2.LastHeartbeat {
			t.Fatalf("stale heartbeat: %v", err)
		}
		if _, err := w.Heartbeat("", 30*time.Second, t0); err != nil {
			t.Errorf("unconditional heartbeat: %v", err)
		}
		w.Stop(false, t0)
		res, err = w.Heartbeat("anything", time.Minute, t0)
		if err != nil || res.State != WorkStopping || res.LeaseExtended {
			t.Errorf("heartbeat while stopping: %v %+v", err, res)
		}
	})

	t.Run("stop", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(w *Work)
			force bool
			want  string
		}{
			{"queued", func(w *Work) {}, false, WorkStopped},
			{"starting", func(w *Work) { w.Ack(t0) }, false, WorkStopping},
			{"active forced", func(w *Work) { w.Ack(t0); w.Heartbeat(NoHeartbeat, time.Minute, t0) }, true, WorkStopped},
		} {
			w := claimed()
			tc.setup(w)
			if err := w.Stop(tc.force, t0); err != nil || w.State != tc.want || w.StopRequestedAt == nil {
				t.Errorf("%s: %v %+v", tc.name, err, w)
			}
			if w.State == WorkStopped && (w.TokenHash != "" || w.StoppedAt == nil) {
				t.Errorf("%s: stopped item keeps its token: %+v", tc.name, w)
			}
		}
		w := claimed()
		w.Stop(true, t0)
		if err := w.Stop(true, t0); !IsKind(err, KindConflict) {
			t.Errorf("stop of a stopped item: %v", err)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		for in, want := range map[int64]time.Duration{0: DefaultWorkTTL, 1: MinWorkTTL, 30: 30 * time.Second, 1 << 30: MaxWorkTTL} {
			if got := ClampWorkTTL(in); got != want {
				t.Errorf("ClampWorkTTL(%d) = %v, want %v", in, got, want)
			}
		}
	})
}

func TestTokens(t *testing.T) {
	a, b := NewToken(PrefixEnvironmentKey), NewToken(PrefixEnvironmentKey)
	if a == b || len(a) != len(PrefixEnvironmentKey)+43 {
		t.Errorf("tokens %q %q", a, b)
	}
	if HashToken(a) == HashToken(b) || HashToken(a) != HashToken(a) || len(HashToken(a)) != 64 {
		t.Error("HashToken is not a stable hex SHA-256")
	}
}
