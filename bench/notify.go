package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"
)

// notifyResult is a turn seen across instances: two servers on one PostgreSQL database
// (-database-url), turns sent to A, one stream on A (local) and one on B (remote). With
// PostgreSQL both streams get events through LISTEN/NOTIFY (docs/deployment.md).
type notifyResult struct {
	Turns       int     `json:"turns"`
	Failed      int     `json:"failed"`
	Post        summary `json:"post"`         // POST /events round trip, on A
	LocalFirst  summary `json:"local_first"`  // POST sent → first frame on A
	LocalIdle   summary `json:"local_idle"`   // POST sent → session.status_idle on A
	RemoteFirst summary `json:"remote_first"` // POST sent → first frame on B
	RemoteIdle  summary `json:"remote_idle"`  // POST sent → session.status_idle on B
	FirstError  string  `json:"first_error,omitempty"`
}

// runNotify starts two servers on the database at dbURL and times turns sent to the first
// as both servers' streams see them.
func runNotify(ctx context.Context, bin, tmp string, serverEnv []string, dbURL, envBody string, turns int, logf func(string, ...any)) (notifyResult, error) {
	res := notifyResult{Turns: turns}
	env := append(slices.Clone(serverEnv), "HANGAR_DATABASE_URL="+dbURL)
	var srvs [2]*server
	for i, name := range []string{"notify-a", "notify-b"} {
		srv, err := startServer(ctx, bin, filepath.Join(tmp, name), filepath.Join(tmp, name+".log"), env)
		if err != nil {
			return res, err
		}
		defer srv.stop()
		srvs[i] = srv
	}
	a := newAPI(srvs[0].addr, srvs[0].apiKey, 4)
	fx, err := setup(ctx, a, envBody)
	if err != nil {
		return res, err
	}
	sessionID, err := a.createSession(ctx, fx.agentID, fx.envID)
	if err != nil {
		return res, fmt.Errorf("create session: %w", err)
	}
	logf("notify: servers %s and %s on one database, session %s", srvs[0].addr, srvs[1].addr, sessionID)
	var streams [2]chan frame // local (A), remote (B)
	for i, srv := range srvs {
		c, err := dialSSE(ctx, srv.addr, srv.apiKey, sessionID, 10*time.Second, false)
		if err != nil {
			return res, fmt.Errorf("open stream on %s: %w", srv.addr, err)
		}
		defer c.close()
		streams[i] = readInto(c)
	}

	var post []time.Duration
	var first, idle [2][]time.Duration
	for i := range turns {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		drain(streams[0])
		drain(streams[1])
		t0 := time.Now()
		err := a.sendMessage(ctx, sessionID, "hi")
		if err != nil {
			res.Failed++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		post = append(post, time.Since(t0))
		timeout := time.NewTimer(turnTimeout)
		gotFirst, gotIdle := [2]bool{}, [2]bool{}
		for !gotIdle[0] || !gotIdle[1] {
			var f frame
			var ok bool
			var side int
			select {
			case f, ok = <-streams[0]:
			case f, ok = <-streams[1]:
				side = 1
			case <-timeout.C:
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = fmt.Sprintf("turn %d: no session.status_idle on both servers within %v", i, turnTimeout)
				}
				gotIdle = [2]bool{true, true}
				continue
			case <-ctx.Done():
				timeout.Stop()
				return res, ctx.Err()
			}
			if !ok {
				timeout.Stop()
				return res, fmt.Errorf("turn %d: a stream of %s ended", i, sessionID)
			}
			if !gotFirst[side] {
				gotFirst[side] = true
				first[side] = append(first[side], f.At.Sub(t0))
			}
			if f.Event == "session.status_idle" && !gotIdle[side] {
				gotIdle[side] = true
				idle[side] = append(idle[side], f.At.Sub(t0))
			}
		}
		timeout.Stop()
	}
	res.Post = summarize(post)
	res.LocalFirst, res.LocalIdle = summarize(first[0]), summarize(idle[0])
	res.RemoteFirst, res.RemoteIdle = summarize(first[1]), summarize(idle[1])
	return res, nil
}

// readInto reads c's frames, pings aside, into a channel closed when the stream ends.
func readInto(c *sseConn) chan frame {
	ch := make(chan frame, 256)
	go func() {
		defer close(ch)
		_ = c.readFrames(func(f frame) bool {
			if f.Event == "ping" {
				return true
			}
			select {
			case ch <- f:
			default: // the bench fell behind; frames are timed on arrival anyway
			}
			return true
		})
	}()
	return ch
}

func writeNotifyMarkdown(w io.Writer, n *notifyResult) {
	if n == nil {
		return
	}
	fmt.Fprintf(w, "### Two instances on PostgreSQL (scripted engine, %d turns sent to A, one stream on A and one on B)\n\n", n.Turns)
	fmt.Fprintln(w, "| Measure | n | p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, r := range []struct {
		name string
		s    summary
	}{
		{"POST /events round trip (A)", n.Post},
		{"POST → first SSE frame on A (local)", n.LocalFirst},
		{"POST → first SSE frame on B (remote)", n.RemoteFirst},
		{"POST → `session.status_idle` on A", n.LocalIdle},
		{"POST → `session.status_idle` on B", n.RemoteIdle},
	} {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", r.name, r.s.N, fmtDur(r.s.P50), fmtDur(r.s.P99), fmtDur(r.s.Max))
	}
	if n.Failed > 0 {
		fmt.Fprintf(w, "\n%d turns failed; first: `%s`\n", n.Failed, oneLine(n.FirstError))
	}
	fmt.Fprintln(w)
}
