package envbuild

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/hangar-dev/hangar/internal/provider"
)

// Layers at a vendor across restarts (docs/sandboxes.md "Environment builds").
//
// A ready record whose layer is a vendor's artefact (a Modal image, a Daytona snapshot,
// an E2B template, a Vercel snapshot) cannot be checked with a stat: at start, restore
// asks each such provider (provider.LayerChecker) whether the layer still exists, and
// the confirmed ones are ready at once, without a build. Confirming also hands vercel its
// key → snapshot mapping again (its snapshots carry no name), so the first collection
// after a restart can remove its unused snapshots. A layer that is gone, or that the
// vendor could not confirm now, is left to the first use of its environment, which
// confirms again (load) and builds it anew when it is gone.

// restore confirms the vendor layers of the ready records in the build directory.
func (m *Manager) restore() {
	defer m.wg.Done()
	defer close(m.restored)
	entries, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if m.ctx.Err() != nil {
			return
		}
		if !e.IsDir() {
			continue
		}
		key, dir := e.Name(), filepath.Join(m.cfg.Dir, e.Name())
		rec, err := readRecord(dir)
		if err != nil || rec.State != StateReady || rec.Layer == "" || rec.Provider == "" || rec.Packages == nil {
			continue // a record of an older version, or nothing to confirm
		}
		if _, err := os.Stat(rec.Layer); err == nil {
			continue // a local layer: load trusts it
		}
		name, p, err := m.cfg.Providers.Provider(rec.Provider)
		if err != nil || name != rec.Provider || Key(name, *rec.Packages) != key {
			continue // not configured here now
		}
		checker, ok := p.(provider.LayerChecker)
		if !ok {
			continue
		}
		spec := provider.BuildSpec{Key: key, Packages: *rec.Packages}
		if rec.Environment != nil {
			spec.Environment = *rec.Environment
		}
		ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
		exists, err := checker.LayerExists(ctx, spec, rec.Layer)
		cancel()
		if err != nil || !exists {
			m.log.Info("environment layer not confirmed at start; checked again at first use", "key", key, "layer", rec.Layer, "exists", exists, "err", err)
			continue
		}
		m.mu.Lock()
		if _, known := m.builds[key]; !known {
			b := &build{key: key, done: make(chan struct{}), state: rec, log: &logFile{path: filepath.Join(dir, "build.log")}}
			close(b.done)
			m.builds[key] = b
		}
		m.mu.Unlock()
	}
}
