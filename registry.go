package hangar

import (
	"fmt"
	"slices"
	"sync"
)

// Registry maps plugin names (engines, sandbox providers) to factories of type F. It is a
// value built in cmd/hangar, never a global; internal/engine and internal/provider name
// their instances.
type Registry[F any] struct {
	kind      string
	mu        sync.RWMutex
	factories map[string]F
}

// NewRegistry returns an empty registry; kind names it in panics ("engine", "provider").
func NewRegistry[F any](kind string) *Registry[F] {
	return &Registry[F]{kind: kind, factories: make(map[string]F)}
}

// Register adds a factory under name. It panics when name is empty or taken: a
// programming error.
func (r *Registry[F]) Register(name string, f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic(r.kind + ": Register with an empty name")
	}
	if _, dup := r.factories[name]; dup {
		panic(fmt.Sprintf("%s: Register called twice for %q", r.kind, name))
	}
	r.factories[name] = f
}

// Get returns the factory registered under name.
func (r *Registry[F]) Get(name string) (F, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.factories[name]
	return f, ok
}

// Names returns the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
