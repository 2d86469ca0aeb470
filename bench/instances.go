package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// instancesResult is turn throughput with 1 and with 3 `hangar serve` instances on one
// PostgreSQL database (-database-url): the same sessions' turns, spread over the
// instances, each session pinned to one instance for its POSTs and its stream.
type instancesResult struct {
	Sessions int           `json:"sessions"`
	Turns    int           `json:"turns"` // per setup, over all sessions
	Runs     []instanceRun `json:"runs"`
}

// instanceRun is one setup's measurement.
type instanceRun struct {
	Instances   int     `json:"instances"`
	Turns       int     `json:"turns"`
	Failed      int     `json:"failed"`
	Seconds     float64 `json:"seconds"`
	TurnsPerSec float64 `json:"turns_per_sec"`
	Turn        summary `json:"turn"` // POST sent → session.status_idle
	FirstError  string  `json:"first_error,omitempty"`
}

// runInstances measures turns turns spread over sessions sessions, all sessions running
// concurrently (each one turn at a time), first on one instance, then on three.
func runInstances(ctx context.Context, bin, tmp string, serverEnv []string, dbURL, envBody string, turns, sessions int, logf func(string, ...any)) (instancesResult, error) {
	res := instancesResult{Sessions: sessions, Turns: turns}
	env := append(slices.Clone(serverEnv), "HANGAR_DATABASE_URL="+dbURL)
	var fx fixture // made once: the database outlives the first setup's servers
	for _, n := range []int{1, 3} {
		run, err := runInstanceSetup(ctx, bin, tmp, env, envBody, &fx, n, turns, sessions, logf)
		res.Runs = append(res.Runs, run)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func runInstanceSetup(ctx context.Context, bin, tmp string, env []string, envBody string, fx *fixture, n, turns, sessions int, logf func(string, ...any)) (instanceRun, error) {
	run := instanceRun{Instances: n, Turns: turns}
	apis := make([]*api, n)
	for i := range n {
		name := fmt.Sprintf("instances-%d-%d", n, i)
		srv, err := startServer(ctx, bin, filepath.Join(tmp, name), filepath.Join(tmp, name+".log"), env)
		if err != nil {
			return run, err
		}
		defer srv.stop()
		apis[i] = newAPI(srv.addr, srv.apiKey, 2*sessions/n+4)
	}
	if fx.agentID == "" {
		f, err := setup(ctx, apis[0], envBody)
		if err != nil {
			return run, err
		}
		*fx = f
	}
	logf("instances: %d instance(s), %d turns over %d sessions", n, turns, sessions)

	type pinned struct {
		a  *api
		id string
		ch chan frame
	}
	ss := make([]pinned, sessions)
	for i := range ss {
		a := apis[i%n]
		id, err := a.createSession(ctx, fx.agentID, fx.envID)
		if err != nil {
			return run, fmt.Errorf("create session: %w", err)
		}
		c, err := dialSSE(ctx, a.addr, a.key, id, 10*time.Second, false)
		if err != nil {
			return run, fmt.Errorf("open stream: %w", err)
		}
		defer c.close()
		ss[i] = pinned{a: a, id: id, ch: readInto(c)}
	}

	var mu sync.Mutex
	var lat []time.Duration
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		run.Failed++
		if run.FirstError == "" {
			run.FirstError = err.Error()
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range ss {
		share := turns / sessions
		if i < turns%sessions {
			share++
		}
		wg.Go(func() {
			for range share {
				if ctx.Err() != nil {
					return
				}
				drain(s.ch)
				t0 := time.Now()
				if err := s.a.sendMessage(ctx, s.id, "hi"); err != nil {
					fail(err)
					continue
				}
				if err := waitIdle(ctx, s.ch); err != nil {
					fail(fmt.Errorf("session %s: %w", s.id, err))
					continue
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.Seconds = time.Since(start).Seconds()
	run.Turn = summarize(lat)
	if run.Seconds > 0 {
		run.TurnsPerSec = float64(len(lat)) / run.Seconds
	}
	return run, ctx.Err()
}

// waitIdle waits for session.status_idle on ch, at most turnTimeout.
func waitIdle(ctx context.Context, ch chan frame) error {
	timeout := time.NewTimer(turnTimeout)
	defer timeout.Stop()
	for {
		select {
		case f, ok := <-ch:
			if !ok {
				return fmt.Errorf("stream ended")
			}
			if f.Event == "session.status_idle" {
				return nil
			}
		case <-timeout.C:
			return fmt.Errorf("no session.status_idle within %v", turnTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func writeInstancesMarkdown(w io.Writer, r *instancesResult) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "\n### Turn throughput by instance count (PostgreSQL, scripted engine, %d turns over %d concurrent sessions)\n\n", r.Turns, r.Sessions)
	fmt.Fprintln(w, "| Instances | turns/s | turn p50 | turn p99 | failed |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for _, run := range r.Runs {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %d |\n", run.Instances, trimFloat(run.TurnsPerSec), fmtDur(run.Turn.P50), fmtDur(run.Turn.P99), run.Failed)
		if run.FirstError != "" {
			fmt.Fprintf(w, "\nfirst error (%d instances): %s\n", run.Instances, run.FirstError)
		}
	}
}
