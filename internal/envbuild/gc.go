package envbuild

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Garbage collection of built layers (docs/sandboxes.md "Environment builds").
//
// A layer is garbage when no environment's current packages map to its key any more (the
// environment was deleted, or its packages or provider changed) and no session that may
// still run on it is alive. Which layer a session's sandbox was made from is not stored,
// so the manager remembers the environments whose sessions started from each key
// (<dir>/<key>/environments.json, written by Layer): a key is kept while any of those
// environments has a session that is not terminated (idle sessions included: their sandbox may be recovered
// as it was). A key with no such record (built before the record existed) is kept while
// any session at all is alive.
//
// Collect runs at server start and after each environment update or deletion; removing a
// layer is the provider's business (LayerCollector): local deletes
// <state-dir>/.layers/<key>, docker and podman remove the hangar-env-<key> images (an image
// a container still uses is refused by the engine and kept for the next sweep). The
// build's own directory (state, log) goes with it.

// LayerCollector is implemented by builders whose layers can be listed and removed.
type LayerCollector interface {
	// BuiltLayers returns the keys of the layers the provider holds.
	BuiltLayers(ctx context.Context) ([]string, error)
	// RemoveLayer removes every layer of key; removing a missing one is not an error.
	RemoveLayer(ctx context.Context, key string) error
}

// CollectStore is the part of hangar.Store that Collect reads.
type CollectStore interface {
	ListEnvironments(ctx context.Context, f hangar.EnvironmentFilter) ([]*hangar.Environment, hangar.PageResult, error)
	ListSessions(ctx context.Context, f hangar.SessionFilter) ([]*hangar.Session, hangar.PageResult, error)
}

// usesFile lists the environments whose sessions started from a key's layer.
const usesFile = "environments.json"

// noteUse records that env uses key (once per process and pair).
func (m *Manager) noteUse(key, dir, envID string) {
	m.usesMu.Lock()
	defer m.usesMu.Unlock()
	if m.uses == nil {
		m.uses = map[string]bool{}
	}
	if m.uses[key+"/"+envID] {
		return
	}
	ids, _ := readUses(dir)
	if !slices.Contains(ids, envID) {
		ids = append(ids, envID)
		b, _ := json.Marshal(ids)
		if err := os.WriteFile(filepath.Join(dir, usesFile), b, 0o600); err != nil {
			m.log.Warn("record environment build use", "key", key, "err", err)
			return
		}
	}
	m.uses[key+"/"+envID] = true
}

func readUses(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, usesFile))
	if err != nil {
		return nil, err
	}
	var ids []string
	return ids, json.Unmarshal(b, &ids)
}

// Collect removes the layers this installation built (those with a build directory) that
// no environment and no live session needs, from every provider in providers that is a
// LayerCollector, and their build directories. It
// returns the keys removed; a key whose removal failed is logged and kept for the next
// sweep.
func (m *Manager) Collect(ctx context.Context, st CollectStore, providers []string) ([]string, error) {
	m.collectMu.Lock() // one sweep at a time: an update during a sweep runs after it
	defer m.collectMu.Unlock()
	select { // the vendor layers recorded ready are known (vercel's) once restore ran
	case <-m.restored:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	envs, err := allEnvironments(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("collect layers: %w", err)
	}
	current := map[string]bool{}
	for _, e := range envs {
		if !provider.HasPackages(e.Config.Packages) {
			continue
		}
		name := e.Config.Provider
		if name == "" {
			if name, _, err = m.cfg.Providers.Provider(""); err != nil {
				// The default provider is unavailable now: the key cannot be computed,
				// so nothing is removed.
				m.log.Warn("layer collection skipped: the default provider is unavailable", "environment", e.ID, "err", err)
				return nil, nil
			}
		}
		current[Key(name, *e.Config.Packages)] = true
	}
	live, err := liveEnvironments(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("collect layers: %w", err)
	}
	// The keys this installation built (its build directories): a layer another Hangar
	// built on a shared container engine is never touched. Each with the providers that
	// hold it.
	keys := map[string][]LayerCollector{}
	if entries, err := os.ReadDir(m.cfg.Dir); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				keys[e.Name()] = nil
			}
		}
	}
	for _, name := range providers {
		_, p, err := m.cfg.Providers.Provider(name)
		if err != nil {
			continue // not configured here: it holds nothing of ours
		}
		c, ok := p.(LayerCollector)
		if !ok {
			continue
		}
		ks, err := c.BuiltLayers(ctx)
		if err != nil {
			// Typically a container engine that is not running here.
			m.log.Debug("list built layers", "provider", name, "err", err)
			continue
		}
		for _, k := range ks {
			if _, ours := keys[k]; ours {
				keys[k] = append(keys[k], c)
			}
		}
	}
	var removed []string
	for _, key := range sortedKeys(keys) {
		if current[key] || !m.unused(key, live) {
			continue
		}
		m.mu.Lock()
		b := m.builds[key]
		m.mu.Unlock()
		if b != nil {
			select {
			case <-b.done:
			default:
				continue // being built right now
			}
		}
		var errs []error
		for _, c := range keys[key] {
			errs = append(errs, c.RemoveLayer(ctx, key))
		}
		if err := errors.Join(errs...); err != nil {
			m.log.Warn("layer not removed; retried at the next collection", "key", key, "err", err)
			continue
		}
		m.mu.Lock()
		delete(m.builds, key)
		m.mu.Unlock()
		m.usesMu.Lock()
		for k := range m.uses {
			if strings.HasPrefix(k, key+"/") {
				delete(m.uses, k)
			}
		}
		m.usesMu.Unlock()
		if err := os.RemoveAll(filepath.Join(m.cfg.Dir, key)); err != nil {
			m.log.Warn("remove build dir", "key", key, "err", err)
		}
		m.log.Info("environment layer removed", "key", key)
		removed = append(removed, key)
	}
	return removed, nil
}

// CollectSoon runs Collect in the background; a call while one runs makes it run once
// more afterwards. Close waits for it.
func (m *Manager) CollectSoon(st CollectStore, providers []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return
	}
	if m.collecting {
		m.collectAgain = true
		return
	}
	m.collecting = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			if _, err := m.Collect(m.ctx, st, providers); err != nil && m.ctx.Err() == nil {
				m.log.Warn("collect environment layers", "err", err)
			}
			m.mu.Lock()
			again := m.collectAgain && m.ctx.Err() == nil
			m.collecting, m.collectAgain = again, false
			m.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// unused reports whether no live session may run on key's layer. live holds the
// environments with live sessions.
func (m *Manager) unused(key string, live map[string]bool) bool {
	ids, err := readUses(filepath.Join(m.cfg.Dir, key))
	if err != nil {
		return len(live) == 0 // no record: only when no session is alive at all
	}
	for _, id := range ids {
		if live[id] {
			return false
		}
	}
	return true
}

func allEnvironments(ctx context.Context, st CollectStore) ([]*hangar.Environment, error) {
	var out []*hangar.Environment
	page := hangar.Page{Limit: 100}
	for {
		es, pr, err := st.ListEnvironments(ctx, hangar.EnvironmentFilter{IncludeArchived: true, Page: page})
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
		if pr.Next == "" {
			return out, nil
		}
		c, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return nil, err
		}
		page.Cursor = &c
	}
}

// liveEnvironments returns the IDs of the environments that have a session not
// terminated.
func liveEnvironments(ctx context.Context, st CollectStore) (map[string]bool, error) {
	out := map[string]bool{}
	page := hangar.Page{Limit: 100}
	for {
		ss, pr, err := st.ListSessions(ctx, hangar.SessionFilter{IncludeArchived: true, Page: page,
			Statuses: []string{hangar.StatusIdle, hangar.StatusRunning, hangar.StatusRescheduling}})
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			out[s.EnvironmentID] = true
		}
		if pr.Next == "" {
			return out, nil
		}
		c, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return nil, err
		}
		page.Cursor = &c
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
