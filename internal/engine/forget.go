package engine

import "context"

// Forgetter is implemented by engines that keep some of a session's state outside its
// sandbox and the store (files under the data dir, caches): the runner calls Forget
// when the session is deleted, after its last run has ended, so that state goes with
// it. Forget must succeed for a session the engine knows nothing of.
type Forgetter interface {
	Forget(ctx context.Context, sessionID string) error
}
