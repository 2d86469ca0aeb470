package main

import (
	"context"
	"fmt"
	"time"
)

// turnResult is the control-plane overhead of a turn with the scripted engine.
type turnResult struct {
	Turns      int     `json:"turns"`
	Sessions   int     `json:"sessions"`
	Failed     int     `json:"failed"`
	Post       summary `json:"post"`        // POST /events round trip
	FirstFrame summary `json:"first_frame"` // POST sent → first SSE frame
	Idle       summary `json:"idle"`        // POST sent → session.status_idle
	FirstEvent string  `json:"first_event"` // type of the first frame, as seen in the last turn
	FirstError string  `json:"first_error,omitempty"`
}

// turnTimeout bounds one turn.
const turnTimeout = 10 * time.Second

// turnStream is one session with an open stream whose frames arrive on ch.
type turnStream struct {
	sessionID string
	conn      *sseConn
	ch        chan frame
}

// runTurns sends turns user messages, round-robin over sessions sessions, one at a time,
// each session having an open SSE stream, and times the first frame and
// session.status_idle after each POST.
func runTurns(ctx context.Context, a *api, fx fixture, turns, sessions int) (turnResult, error) {
	res := turnResult{Turns: turns, Sessions: sessions}
	var streams []*turnStream
	defer func() {
		for _, s := range streams {
			s.conn.close()
		}
	}()
	for range sessions {
		id, err := a.createSession(ctx, fx.agentID, fx.envID)
		if err != nil {
			return res, fmt.Errorf("create session: %w", err)
		}
		c, err := dialSSE(ctx, a.addr, a.key, id, 10*time.Second, false)
		if err != nil {
			return res, fmt.Errorf("open stream: %w", err)
		}
		s := &turnStream{sessionID: id, conn: c, ch: make(chan frame, 256)}
		streams = append(streams, s)
		go func() {
			defer close(s.ch)
			_ = c.readFrames(func(f frame) bool {
				if f.Event == "ping" {
					return true
				}
				select {
				case s.ch <- f:
				default: // the bench fell behind; frames are timed on arrival anyway
				}
				return true
			})
		}()
	}

	var post, first, idle []time.Duration
	for i := range turns {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		s := streams[i%len(streams)]
		drain(s.ch)
		t0 := time.Now()
		err := a.sendMessage(ctx, s.sessionID, "hi")
		tPost := time.Since(t0)
		if err != nil {
			res.Failed++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		post = append(post, tPost)
		gotFirst := false
		timeout := time.NewTimer(turnTimeout)
	wait:
		for {
			select {
			case f, ok := <-s.ch:
				if !ok {
					timeout.Stop()
					return res, fmt.Errorf("turn %d: stream on %s ended", i, s.sessionID)
				}
				if !gotFirst {
					gotFirst = true
					first = append(first, f.At.Sub(t0))
					res.FirstEvent = f.Event
				}
				if f.Event == "session.status_idle" {
					idle = append(idle, f.At.Sub(t0))
					break wait
				}
			case <-timeout.C:
				res.Failed++
				if res.FirstError == "" {
					res.FirstError = fmt.Sprintf("turn %d: no session.status_idle within %v", i, turnTimeout)
				}
				break wait
			case <-ctx.Done():
				timeout.Stop()
				return res, ctx.Err()
			}
		}
		timeout.Stop()
	}
	res.Post = summarize(post)
	res.FirstFrame = summarize(first)
	res.Idle = summarize(idle)
	return res, nil
}

// drain empties ch without blocking.
func drain(ch chan frame) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
