package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// crudResult is one CRUD operation measured under load.
type crudResult struct {
	Op         string        `json:"op"`
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RPS        float64       `json:"requests_per_second"`
	Latency    summary       `json:"latency"`
	FirstError string        `json:"first_error,omitempty"`
}

// maxRequestsPerOp bounds each CRUD loop by count as well as by time.
const maxRequestsPerOp = 2_000_000

// crudOp sends one request; i is a per-op sequence number for unique names.
type crudOp struct {
	name string
	do   func(ctx context.Context, a *api, i int64) error
}

// runCRUD measures create agent, get agent, list agents and create session, each for d
// with workers concurrent keep-alive connections.
func runCRUD(ctx context.Context, a *api, fx fixture, workers int, d time.Duration) ([]crudResult, error) {
	// Agents that get agent reads in turn; filled by the create phase.
	var (
		mu     sync.Mutex
		agents []string
	)
	ops := []crudOp{
		{"create agent", func(ctx context.Context, a *api, i int64) error {
			id, err := a.createAgent(ctx, fmt.Sprintf("bench-%d", i))
			if err == nil && i < 10_000 {
				mu.Lock()
				agents = append(agents, id)
				mu.Unlock()
			}
			return err
		}},
		{"get agent", func(ctx context.Context, a *api, i int64) error {
			id := agents[int(i)%len(agents)]
			return a.do(ctx, http.MethodGet, "/v1/agents/"+id, nil, nil)
		}},
		{"list agents (limit 20)", func(ctx context.Context, a *api, i int64) error {
			return a.do(ctx, http.MethodGet, "/v1/agents?limit=20", nil, nil)
		}},
		{"create session", func(ctx context.Context, a *api, i int64) error {
			_, err := a.createSession(ctx, fx.agentID, fx.envID)
			return err
		}},
	}
	var results []crudResult
	for _, op := range ops {
		if op.name == "get agent" && len(agents) == 0 {
			agents = append(agents, fx.agentID)
		}
		r := loadOp(ctx, a, op, workers, d)
		results = append(results, r)
		if err := ctx.Err(); err != nil {
			return results, err
		}
	}
	return results, nil
}

// loadOp runs op from workers goroutines until d has passed or maxRequestsPerOp were sent.
func loadOp(ctx context.Context, a *api, op crudOp, workers int, d time.Duration) crudResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		seq      atomic.Int64
		errCount atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, workers)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			samples := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				i := seq.Add(1)
				if i > maxRequestsPerOp {
					break
				}
				t0 := time.Now()
				err := op.do(ctx, a, i)
				el := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						break // the deadline cut this request short: not an error
					}
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				samples = append(samples, el)
			}
			lat[w] = samples
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, s := range lat {
		all = append(all, s...)
	}
	r := crudResult{
		Op:       op.name,
		Requests: len(all),
		Errors:   int(errCount.Load()),
		Elapsed:  elapsed,
		RPS:      float64(len(all)) / elapsed.Seconds(),
		Latency:  summarize(all),
	}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstError = s
	}
	return r
}
