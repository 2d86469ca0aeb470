package httpapi

import (
	"context"
	"sync"

	"github.com/hangar-dev/hangar"
)

// Where sessions meet the work queue: a session on a self_hosted environment gets a work
// item when it is created and again when new input arrives after its item stopped; its item
// is stopped when the session is archived or deleted. Environment keys are issued here too.

// workWaiters wakes long polls of an environment when an item is queued there. The zero
// value is ready. It is per process: a poll on another instance finds the item on its
// next poll (block_ms is under a second).
type workWaiters struct {
	mu sync.Mutex
	ch map[string]chan struct{}
	// onIdle, when set (tests), is called as a poll starts waiting.
	onIdle func(envID string)
}

// channel returns the channel the next wake of envID closes.
func (ww *workWaiters) channel(envID string) <-chan struct{} {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	if ww.ch == nil {
		ww.ch = map[string]chan struct{}{}
	}
	c, ok := ww.ch[envID]
	if !ok {
		c = make(chan struct{})
		ww.ch[envID] = c
	}
	return c
}

// wake wakes every poll of envID waiting now.
func (ww *workWaiters) wake(envID string) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	if c, ok := ww.ch[envID]; ok {
		close(c)
		delete(ww.ch, envID)
	}
}

func (ww *workWaiters) idle(envID string) {
	ww.mu.Lock()
	f := ww.onIdle
	ww.mu.Unlock()
	if f != nil {
		f(envID)
	}
}

// selfHosted reports whether environment id is self_hosted.
func (s *Server) selfHosted(ctx context.Context, id string) (bool, error) {
	env, err := s.store.GetEnvironment(ctx, id)
	if err != nil {
		return false, err
	}
	return env.Config.Type == "self_hosted", nil
}

// enqueueSessionWork queues a work item for sess if its environment is self_hosted and it
// has no live item, and wakes the environment's polls.
func (s *Server) enqueueSessionWork(ctx context.Context, sess *hangar.Session) error {
	ok, err := s.selfHosted(ctx, sess.EnvironmentID)
	if err != nil || !ok {
		return err
	}
	item := &hangar.Work{
		ID: s.newID(hangar.PrefixWork), EnvironmentID: sess.EnvironmentID,
		Data:  hangar.WorkData{Type: hangar.WorkDataSession, ID: sess.ID},
		State: hangar.WorkQueued, Metadata: map[string]string{}, CreatedAt: s.now(),
	}
	if _, created, err := s.store.EnqueueWork(ctx, item); err != nil || !created {
		return err
	}
	s.workWake.wake(sess.EnvironmentID)
	return nil
}

// requeueOnInput queues a new item when events that start a turn reach a session of a
// self_hosted environment whose item has stopped (or that never had one).
func (s *Server) requeueOnInput(ctx context.Context, sess *hangar.Session, evs []clientEvent) error {
	for _, ev := range evs {
		if ev.Type == hangar.EventUserMessage || ev.Type == hangar.EventUserDefineOutcome {
			return s.enqueueSessionWork(ctx, sess)
		}
	}
	return nil
}

// stopSessionWork asks the live item of a session to stop: force when the session is gone.
func (s *Server) stopSessionWork(ctx context.Context, sessionID string, force bool) error {
	item, err := s.store.SessionWork(ctx, sessionID)
	if hangar.IsKind(err, hangar.KindNotFound) {
		return nil
	}
	if err != nil || !item.Live() {
		return err
	}
	now := s.now()
	_, err = s.store.UpdateWork(ctx, item.EnvironmentID, item.ID, func(w *hangar.Work) error {
		if !w.Live() {
			return nil
		}
		return w.Stop(force, now)
	})
	return err
}

// enqueueHealthcheck queues the healthcheck item of a new self_hosted environment (CMA
// §6.3's data type "healthcheck"; its id is the environment's, so it has one live at a
// time). A worker answers it by acknowledging and stopping it, which is how the queue's
// stats show that a worker is serving the environment before any session exists.
func (s *Server) enqueueHealthcheck(ctx context.Context, envID string) error {
	item := &hangar.Work{
		ID: s.newID(hangar.PrefixWork), EnvironmentID: envID,
		Data:  hangar.WorkData{Type: hangar.WorkDataHealthcheck, ID: envID},
		State: hangar.WorkQueued, Metadata: map[string]string{}, CreatedAt: s.now(),
	}
	if _, created, err := s.store.EnqueueWork(ctx, item); err != nil || !created {
		return err
	}
	s.workWake.wake(envID)
	return nil
}

// endEnvironmentWork ends the queue of an environment being archived (its live items
// force-stopped) or deleted (its items deleted); either way its key stops working. Waiting
// polls are woken, and find nothing.
func (s *Server) endEnvironmentWork(ctx context.Context, envID string, purge bool) error {
	if _, err := s.store.EndEnvironmentWork(ctx, envID, purge, s.now()); err != nil {
		return err
	}
	s.workWake.wake(envID)
	return nil
}

// issueEnvironmentKey makes a new key for a self_hosted environment, replacing any, and
// returns it: the only time it is shown.
func (s *Server) issueEnvironmentKey(ctx context.Context, envID string) (string, error) {
	key := hangar.NewToken(hangar.PrefixEnvironmentKey)
	if err := s.store.SetEnvironmentKey(ctx, envID, hangar.HashToken(key), s.now()); err != nil {
		return "", err
	}
	return key, nil
}
