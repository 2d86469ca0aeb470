package main

import (
	"encoding/json"
	"fmt"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/factory"
	"github.com/hangar-dev/hangar/internal/engine/gemini"
	"github.com/hangar-dev/hangar/internal/engine/opencode"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/local"
	"github.com/hangar-dev/hangar/internal/provider/memory"
)

// builtinEngines is the registry of agent engines this binary ships.
func builtinEngines() *engine.Registry {
	r := engine.NewRegistry()
	r.Register("claude", claudecode.New)
	r.Register("codex", codex.New)
	r.Register("factory", factory.New)
	r.Register("gemini", gemini.New)
	r.Register("opencode", opencode.New)
	r.Register("scripted", scripted.New)
	return r
}

// builtinProviders is the registry of sandbox providers this binary ships.
func builtinProviders() *provider.Registry {
	r := provider.NewRegistry()
	r.Register("local", local.New)
	r.Register("memory", memory.New)
	return r
}

// defaultProvider runs sessions whose environment names no provider.
const defaultProvider = "local"

// engineConfigs is the JSON config each engine factory receives.
func engineConfigs(cfg Config) (map[string]json.RawMessage, error) {
	cache := cfg.CacheDir
	if cache == "" {
		var err error
		if cache, err = cacheDir(func(string) string { return "" }); err != nil {
			return nil, err
		}
	}
	withCache, err := json.Marshal(map[string]string{"cache_dir": cache})
	if err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	out := map[string]json.RawMessage{}
	for name := range installers() {
		out[name] = withCache
	}
	return out, nil
}
