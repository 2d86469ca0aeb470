package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// fanoutResult is SSE fan-out: memory per idle stream and delivery latency to many
// subscribers of one session.
type fanoutResult struct {
	Streams        int           `json:"streams"`          // idle streams asked for
	StreamsOpen    int           `json:"streams_open"`     // idle streams that opened
	StreamSessions int           `json:"stream_sessions"`  // sessions they were spread over
	OpenErrors     int           `json:"open_errors"`      // failed opens
	OpenTime       time.Duration `json:"open_time_ns"`     // time to open them all
	RSSBefore      int64         `json:"rss_before_bytes"` // server VmRSS before
	RSSAfter       int64         `json:"rss_after_bytes"`  // server VmRSS with the streams open
	PerStream      int64         `json:"rss_per_stream_bytes"`
	ThreadsAfter   int           `json:"server_threads_after"`
	FDsAfter       int           `json:"server_fds_after"`
	StillOpen      int           `json:"still_open"` // idle streams alive after the latency rounds

	Subscribers     int     `json:"subscribers"`
	SubscribersOpen int     `json:"subscribers_open"`
	Rounds          int     `json:"rounds"`
	Delivered       int     `json:"delivered"` // agent.message frames received, all rounds
	Delivery        summary `json:"delivery"`  // POST sent → agent.message at each subscriber
	Idle            summary `json:"idle"`      // POST sent → session.status_idle at each subscriber
	BenchRSS        int64   `json:"bench_rss_bytes"`
	FirstError      string  `json:"first_error,omitempty"`
}

const (
	dialers     = 32               // concurrent stream opens
	openTimeout = 15 * time.Second // one stream open
	openBudget  = 3 * time.Minute  // all stream opens of one phase
	roundBudget = 30 * time.Second // one delivery round
)

// runFanout opens streams idle streams over sessions sessions, measures the server's RSS
// before and after, then opens subscribers readers on one more session and times delivery
// of rounds user messages to each of them while the idle streams stay open.
func runFanout(ctx context.Context, a *api, srv *server, fx fixture, streams, sessions, subscribers, rounds int) (fanoutResult, error) {
	res := fanoutResult{Streams: streams, StreamSessions: sessions, Subscribers: subscribers, Rounds: rounds}
	var ids []string
	for range max(1, sessions) {
		id, err := a.createSession(ctx, fx.agentID, fx.envID)
		if err != nil {
			return res, fmt.Errorf("create session: %w", err)
		}
		ids = append(ids, id)
	}
	// Warm up the stream path so the baseline holds its code and first allocations.
	warm, _, _ := openStreams(ctx, a, ids, 16, true)
	closeAll(warm)
	time.Sleep(time.Second)
	before, err := readProcStatus(srv.pid())
	if err != nil {
		return res, err
	}
	res.RSSBefore = before.RSS

	t0 := time.Now()
	idle, nerr, firstErr := openStreams(ctx, a, ids, streams, true)
	res.OpenTime = time.Since(t0)
	defer func() { closeAll(idle) }()
	res.StreamsOpen, res.OpenErrors, res.FirstError = len(idle), nerr, firstErr
	time.Sleep(2 * time.Second) // let the server's per-stream goroutines settle
	after, err := readProcStatus(srv.pid())
	if err != nil {
		return res, err
	}
	res.RSSAfter, res.ThreadsAfter = after.RSS, after.Threads
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.pid())); err == nil {
		res.FDsAfter = len(fds)
	}
	if len(idle) > 0 {
		res.PerStream = (res.RSSAfter - res.RSSBefore) / int64(len(idle))
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}

	if subscribers > 0 && rounds > 0 {
		if err := deliveryRounds(ctx, a, fx, &res); err != nil {
			return res, err
		}
	}
	res.StillOpen = countAlive(idle)
	if st, err := readProcStatus(os.Getpid()); err == nil {
		res.BenchRSS = st.RSS
	}
	return res, nil
}

// arrival is one frame of interest at one subscriber.
type arrival struct {
	event string
	at    time.Time
}

// deliveryRounds opens res.Subscribers reading streams on a new session and sends
// res.Rounds messages, one at a time, timing each subscriber's agent.message.
func deliveryRounds(ctx context.Context, a *api, fx fixture, res *fanoutResult) error {
	id, err := a.createSession(ctx, fx.agentID, fx.envID)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	subs, nerr, firstErr := openStreams(ctx, a, []string{id}, res.Subscribers, false)
	res.SubscribersOpen = len(subs)
	if nerr > 0 && res.FirstError == "" {
		res.FirstError = fmt.Sprintf("%d subscriber opens failed: %s", nerr, firstErr)
	}
	if len(subs) == 0 {
		return nil
	}
	arrivals := make(chan arrival, 2*len(subs))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer closeAll(subs) // ends the readers before wg.Wait
	for _, c := range subs {
		wg.Go(func() {
			_ = c.readFrames(func(f frame) bool {
				if f.Event == "agent.message" || f.Event == "session.status_idle" {
					select {
					case arrivals <- arrival{f.Event, f.At}:
					default: // collector gave up on this round
					}
				}
				return true
			})
		})
	}

	var delivery, idleLat []time.Duration
	for r := range res.Rounds {
		for len(arrivals) > 0 {
			<-arrivals
		}
		t0 := time.Now()
		if err := a.sendMessage(ctx, id, fmt.Sprintf("round %d", r)); err != nil {
			return fmt.Errorf("round %d: send: %w", r, err)
		}
		deadline := time.NewTimer(roundBudget)
		msgs, idles := 0, 0
	collect:
		for msgs < len(subs) || idles < len(subs) {
			select {
			case ar := <-arrivals:
				if ar.event == "agent.message" {
					msgs++
					delivery = append(delivery, ar.at.Sub(t0))
				} else {
					idles++
					idleLat = append(idleLat, ar.at.Sub(t0))
				}
			case <-deadline.C:
				if res.FirstError == "" {
					res.FirstError = fmt.Sprintf("round %d: %d/%d agent.message and %d/%d session.status_idle within %v",
						r, msgs, len(subs), idles, len(subs), roundBudget)
				}
				break collect
			case <-ctx.Done():
				deadline.Stop()
				return ctx.Err()
			}
		}
		deadline.Stop()
		res.Delivered += msgs
	}
	res.Delivery = summarize(delivery)
	res.Idle = summarize(idleLat)
	return nil
}

// openStreams opens n streams spread round-robin over sessionIDs with a few concurrent
// dialers. It stops early when opens keep failing or openBudget has passed.
func openStreams(ctx context.Context, a *api, sessionIDs []string, n int, hold bool) (conns []*sseConn, nerr int, firstErr string) {
	ctx, cancel := context.WithTimeout(ctx, openBudget)
	defer cancel()
	maxErrors := int64(max(50, n/20))
	out := make([]*sseConn, n)
	var (
		next   atomic.Int64
		errs   atomic.Int64
		first  atomic.Value
		wg     sync.WaitGroup
		failed = func(err error) {
			if errs.Add(1) >= maxErrors {
				cancel()
			}
			first.CompareAndSwap(nil, err.Error())
		}
	)
	for range min(dialers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := dialSSE(ctx, a.addr, a.key, sessionIDs[i%len(sessionIDs)], openTimeout, hold)
				if err != nil {
					failed(err)
					continue
				}
				out[i] = c
			}
		})
	}
	wg.Wait()
	for _, c := range out {
		if c != nil {
			conns = append(conns, c)
		}
	}
	if s, ok := first.Load().(string); ok {
		firstErr = s
	}
	return conns, int(errs.Load()), firstErr
}

// countAlive checks held streams concurrently and returns how many are still open.
func countAlive(conns []*sseConn) int {
	var (
		alive atomic.Int64
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range min(64, len(conns)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				if conns[i].alive() {
					alive.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(alive.Load())
}

func closeAll(conns []*sseConn) {
	for _, c := range conns {
		c.close()
	}
}
