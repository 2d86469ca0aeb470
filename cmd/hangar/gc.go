package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/runner"
)

// Garbage collection (docs/sandboxes.md): environment layers no environment or live
// session needs (envbuild.Manager.Collect) at start and after each environment update or
// deletion, and at start the Kubernetes objects this installation left without a live
// session (kubernetes.Provider.SweepOrphans).

// installationVar names the installation ID shared by every instance of one Hangar.
const installationVar = "HANGAR_INSTALLATION_ID"

// installationID returns the installation ID kept in the data dir (created on first
// use), "" without an existing data dir. HANGAR_INSTALLATION_ID (read with the kubernetes settings)
// overrides it: instances sharing a PostgreSQL store but not a data dir must set it alike.
func installationID(cfg Config) string {
	if cfg.DataDir == "" {
		return ""
	}
	path := cfg.dataPath("installation-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b))
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := "hangar-" + hex.EncodeToString(rnd[:])
	// The data dir is the server's (newApp creates it first): a command that only builds
	// provider configs must not create one in its working directory.
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return ""
	}
	return id
}

// collectingStore is the store the HTTP API writes through: an environment update or
// deletion schedules a layer collection afterwards.
type collectingStore struct {
	hangar.Store
	collect func()
}

func (s collectingStore) UpdateEnvironment(ctx context.Context, id string, fn func(e *hangar.Environment) error) (*hangar.Environment, error) {
	e, err := s.Store.UpdateEnvironment(ctx, id, fn)
	if err == nil {
		s.collect()
	}
	return e, err
}

func (s collectingStore) DeleteEnvironment(ctx context.Context, id string) error {
	err := s.Store.DeleteEnvironment(ctx, id)
	if err == nil {
		s.collect()
	}
	return err
}

// orphanSweeper is implemented by providers that can delete what a crashed instance left
// (kubernetes).
type orphanSweeper interface {
	SweepOrphans(ctx context.Context, live func(sessionID string) (bool, error)) ([]string, error)
}

// sweepOrphans runs the sweep of the providers that have one, bounded by a minute; a
// provider that cannot be created here (no cluster configured) is skipped.
func sweepOrphans(ctx context.Context, run *runner.Runner, store hangar.Store, names []string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	live := func(id string) (bool, error) {
		s, err := store.GetSession(ctx, id)
		if hangar.IsKind(err, hangar.KindNotFound) {
			return false, nil
		}
		if err != nil {
			return true, err // unknown: keep
		}
		return s.Status != hangar.StatusTerminated, nil
	}
	for _, name := range names {
		if name != "kubernetes" {
			continue // instantiating every provider to ask would contact every vendor
		}
		_, p, err := run.Provider(name)
		if err != nil {
			log.Debug("orphan sweep skipped", "provider", name, "err", err)
			continue
		}
		s, ok := p.(orphanSweeper)
		if !ok {
			continue
		}
		deleted, err := s.SweepOrphans(ctx, live)
		for _, d := range deleted {
			log.Info("deleted an orphaned sandbox object", "provider", name, "object", d)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("orphan sweep", "provider", name, "err", err)
		}
	}
}

// providerNames lists the providers the server registers.
func providerNames(cfg Config) []string {
	return withExtraProviders(builtinProviders(), cfg.ExtraProviders).Names()
}
