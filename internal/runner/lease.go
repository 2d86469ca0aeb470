package runner

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Leases. A session's turns run on exactly one runner at a time: the one holding the
// session's lease, a store row naming the owner (Config.Instance) with an expiry.
//
//   - A runner acquires the lease when a client message arrives for a session nobody
//     runs (Send), or when it takes over an orphaned session (takeOver): one with work
//     left (status running or rescheduling, or a user.message with processed_at null)
//     whose lease is missing or expired. Acquisition is one atomic conditional write
//     (Store.AcquireLease), so two runners never both win.
//   - While it holds leases, the runner's heartbeat (keep) renews all of them every
//     LeaseTTL/3 in one write. A lease that did not come back from the renewal was taken
//     over: the session's goroutine is stopped and its local work dropped.
//   - Every event a turn writes is fenced by the lease (AppendRequest.LeaseOwner): a
//     runner that lost a session cannot write into its log any more, even before its
//     heartbeat notices.
//   - The lease is released when the session has nothing left to run (its queue is empty
//     and no turn is active), on Shutdown and on Close. A runner that dies keeps its
//     leases until they expire; then any other runner takes its sessions over (at once,
//     for the next process on a single node: Config.Exclusive).
//
// Taking a session over reads what the previous owner left in the store (claimLocked in
// recover.go): a turn cut mid-way is retried once, queued messages run in order.

const (
	// DefaultLeaseTTL is the default Config.LeaseTTL.
	DefaultLeaseTTL = 15 * time.Second
	// takeoverBatch is how many orphaned sessions one scan claims.
	takeoverBatch = 100
)

// acquireLocked tries to lease st for this runner and, when it gets the lease, loads the
// session's work from the store (claimLocked; everything when full, else only a turn
// left in flight). The caller holds st.mu and r.life for reading.
func (r *Runner) acquireLocked(ctx context.Context, st *session, full bool) (bool, error) {
	return r.acquireAt(ctx, st, r.now(), full)
}

func (r *Runner) acquireAt(ctx context.Context, st *session, now time.Time, full bool) (bool, error) {
	ok, err := r.store.AcquireLease(ctx, st.id, r.owner, now, r.now().Add(r.cfg.LeaseTTL))
	if err != nil || !ok {
		return false, err
	}
	st.leased, st.leaseGen = true, r.leaseGen.Add(1)
	if err := r.claimLocked(ctx, st, full); err != nil {
		r.dropLocked(st)
		if rerr := r.store.ReleaseLease(context.WithoutCancel(ctx), st.id, r.owner); rerr != nil {
			r.log.Warn("release lease", "session", st.id, "err", rerr)
		}
		return false, fmt.Errorf("take session %s: %w", st.id, err)
	}
	return true, nil
}

// dropLocked forgets the local work of a session whose lease this runner no longer holds
// (or is giving up) and stops its goroutine. The caller holds st.mu.
func (r *Runner) dropLocked(st *session) {
	st.leased = false
	st.queue, st.attempts, st.turns = nil, 0, -1
	if st.active {
		st.cancel()
	}
}

// releaseLocked gives up the lease of a session with nothing left to run. The caller
// holds st.mu.
func (r *Runner) releaseLocked(ctx context.Context, st *session) {
	if !st.leased {
		return
	}
	st.leased = false
	st.turns = -1
	if st.deleted {
		return
	}
	if err := r.store.ReleaseLease(context.WithoutCancel(ctx), st.id, r.owner); err != nil {
		r.log.Warn("release lease", "session", st.id, "err", err)
	}
}

// keep is the heartbeat: every LeaseTTL/3 it renews this runner's leases, stops the
// sessions whose lease was taken over, and takes over orphaned sessions.
func (r *Runner) keep(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.renew(ctx)
		if r.draining.Load() {
			continue
		}
		if err := r.takeOver(ctx, false); err != nil && ctx.Err() == nil {
			r.log.Warn("take over orphaned sessions", "err", err)
		}
	}
}

// renew extends this runner's leases and drops the sessions it no longer holds. A lease
// acquired while the renewal ran is not in its result without being lost: gen tells them
// apart. A lease the store holds for this runner but no session goroutine uses (its
// release failed) is released.
func (r *Runner) renew(ctx context.Context) {
	gen := r.leaseGen.Load()
	held, err := r.store.RenewLeases(ctx, r.owner, r.now().Add(r.cfg.LeaseTTL))
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("renew leases", "err", err)
		}
		return
	}
	r.mu.Lock()
	sessions := make([]*session, 0, len(r.sessions))
	for _, st := range r.sessions {
		sessions = append(sessions, st)
	}
	r.mu.Unlock()
	for _, st := range sessions {
		st.mu.Lock()
		if st.leased && !st.deleted && st.leaseGen <= gen && !slices.Contains(held, st.id) {
			r.log.Warn("lost the lease of a session to another instance; stopping it here", "session", st.id)
			r.dropLocked(st)
		}
		st.mu.Unlock()
	}
	for _, id := range held {
		r.mu.Lock()
		st := r.sessions[id]
		r.mu.Unlock()
		if st == nil {
			st = r.session(id)
		}
		st.mu.Lock()
		if !st.leased && !st.deleted {
			// Usually released since the renewal read it; a no-op then.
			r.log.Debug("releasing a lease this instance holds but does not use", "session", id)
			if err := r.store.ReleaseLease(ctx, id, r.owner); err != nil && ctx.Err() == nil {
				r.log.Warn("release lease", "session", id, "err", err)
			}
		}
		st.mu.Unlock()
	}
}

// takeOver leases the orphaned sessions of the store and runs their work. With all (at
// Start under Config.Exclusive), every lease counts as expired.
func (r *Runner) takeOver(ctx context.Context, all bool) error {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.available() != nil || r.draining.Load() {
		return nil
	}
	for {
		now, limit := r.now(), takeoverBatch
		if all {
			// Every lease counts as expired, this runner's new ones too, so sessions taken
			// would come back on a next page: take them all in one list.
			now, limit = time.Unix(0, math.MaxInt64), math.MaxInt32
		}
		ids, err := r.store.ListOrphanedSessions(ctx, now, limit)
		if err != nil {
			return fmt.Errorf("list orphaned sessions: %w", err)
		}
		taken, err := r.takeOverSessions(ctx, ids, now)
		// A full batch may hide more orphans behind it: go on while this makes progress.
		if err != nil || all || len(ids) < limit || taken == 0 {
			return err
		}
	}
}

// takeOverSessions leases the given orphaned sessions, judging leases at now, and runs
// their work. It returns how many it took. The caller holds r.life for reading.
func (r *Runner) takeOverSessions(ctx context.Context, ids []string, now time.Time) (int, error) {
	taken := 0
	for _, id := range ids {
		st := r.session(id)
		st.mu.Lock()
		if st.leased || st.deleted {
			st.mu.Unlock()
			continue
		}
		ok, err := r.acquireAt(ctx, st, now, true)
		if err != nil {
			if ctx.Err() != nil {
				st.mu.Unlock()
				return taken, ctx.Err()
			}
			r.log.Error("take over session", "session", id, "err", err)
		}
		if ok {
			taken++
			r.log.Info("took over session", "session", id, "instance", r.owner)
			if r.cfg.Metrics != nil {
				r.cfg.Metrics.Takeover()
			}
			if len(st.queue) > 0 && !st.active {
				r.startLoop(st)
			} else if !st.active {
				r.releaseLocked(ctx, st)
			}
		}
		st.mu.Unlock()
	}
	return taken, nil
}
