package main

import (
	"context"
	"log/slog"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/dream"
)

// newDreams builds the dream runner (docs/dreams.md): dreams call the Messages API at the
// model upstream, with the server's credential, like the outcome grader. Without a
// credential dreams end failed saying so. owner is this instance's lease owner ID, so
// that instances sharing a database claim each dream once; a claim lasts as long as a
// session lease (HANGAR_LEASE_TTL).
func newDreams(cfg Config, store hangar.Store, owner string, log *slog.Logger) *dream.Runner {
	var model dream.Model
	if cfg.UpstreamKey != "" || cfg.UpstreamAuthToken != "" {
		model = dream.NewMessages(dream.MessagesConfig{BaseURL: cfg.UpstreamURL, APIKey: cfg.UpstreamKey.Reveal(), AuthToken: cfg.UpstreamAuthToken.Reveal()})
	}
	return dream.New(dream.Config{Store: store, Model: model, Owner: owner, ClaimTTL: cfg.LeaseTTL, Logger: log.With("component", "dream")})
}

// runDreams runs r until ctx ends and closes the returned channel when it has stopped.
func runDreams(ctx context.Context, r *dream.Runner) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return done
}
