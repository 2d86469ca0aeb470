package main

import (
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/memory"
)

// builtinEngines is the registry of agent engines this binary ships.
func builtinEngines() *engine.Registry {
	r := engine.NewRegistry()
	r.Register("scripted", scripted.New)
	return r
}

// builtinProviders is the registry of sandbox providers this binary ships.
func builtinProviders() *provider.Registry {
	r := provider.NewRegistry()
	r.Register("memory", memory.New)
	return r
}
