package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/blob"
	"github.com/hangar-dev/hangar/internal/egress"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/httpapi"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/hangar-dev/hangar/internal/sqlstore"
	"github.com/hangar-dev/hangar/internal/vault"
)

// App is one running Hangar: store, runner and HTTP API wired together. It owns the
// lifecycle context under which all background work runs.
type App struct {
	ctx     context.Context
	cancel  context.CancelFunc
	log     *slog.Logger
	store   hangar.Store
	hub     *pubsub.Hub
	runner  *runner.Runner
	handler http.Handler
	apiKey  string

	egress        *egress.Proxy
	egressCleanup func() // removes the egress socket dir when it is a temporary one
}

// newApp opens the data dir and wires everything. It prints where a generated API key was
// written to stdout.
func newApp(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// Sandboxes bind paths under the data dir, which must therefore be absolute.
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	cfg.DataDir = dataDir
	apiKey := cfg.APIKey
	if apiKey == "" {
		key, created, err := loadOrCreateAPIKey(cfg.dataPath("api-key"))
		if err != nil {
			return nil, err
		}
		apiKey = key
		if created {
			fmt.Fprintf(stdout, "hangar: generated an admin API key in %s (mode 0600)\n", cfg.dataPath("api-key"))
		} else {
			fmt.Fprintf(stdout, "hangar: using the admin API key in %s\n", cfg.dataPath("api-key"))
		}
	}
	engineConfig, err := engineConfigs(cfg)
	if err != nil {
		return nil, err
	}
	features, err := engineFeatures(builtinEngines(), engineConfig, log)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		log.Warn("bubblewrap is not installed: sessions on the local sandbox will fail until it is (Debian/Ubuntu: apt-get install bubblewrap)")
	}
	keyring, err := openKeyring(cfg)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, cfg.dataPath("hangar.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	blobs, err := blob.NewDir(cfg.dataPath("files"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open file store: %w", err)
	}

	proxy, egressCleanup, err := newEgress(cfg, log)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}

	appCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hub := pubsub.New(256)
	run := runner.New(runner.Config{
		Store:           store,
		Hub:             hub,
		Engines:         builtinEngines(),
		EngineConfig:    engineConfig,
		Providers:       builtinProviders(),
		DefaultProvider: defaultProvider,
		DataDir:         cfg.DataDir,
		Egress:          egressAttacher{proxy},
		Secrets:         keyring,
		Watchdog:        cfg.Watchdog,
		MaxRetries:      runner.DefaultMaxRetries,
		Logger:          log,
	})
	if err := run.Start(appCtx); err != nil {
		cancel()
		proxy.Close()
		egressCleanup()
		store.Close()
		return nil, fmt.Errorf("start runner: %w", err)
	}
	api := httpapi.New(httpapi.Config{
		Store:  store,
		Blobs:  blobs,
		Runner: run,
		Hub:    hub,
		Sealer: keyring,
		Logger: log,
		APIKey: apiKey,
		// Agent create and update refuse tools their engine cannot run.
		EngineFeatures: features,
	})
	return &App{ctx: appCtx, cancel: cancel, log: log, store: store, hub: hub, runner: run, egress: proxy, egressCleanup: egressCleanup, handler: api, apiKey: apiKey}, nil
}

// engineFeatures builds each registered engine once, from its config, to read the agent
// features it declares. Factories only decode their config: the CLIs need not be installed.
func engineFeatures(engines *engine.Registry, configs map[string]json.RawMessage, log *slog.Logger) (map[string]httpapi.EngineFeatures, error) {
	out := map[string]httpapi.EngineFeatures{}
	for _, name := range engines.Names() {
		newEngine, _ := engines.Get(name)
		e, err := newEngine(configs[name], engine.Deps{Logger: log.With("engine", name), Clock: hangar.Now})
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", name, err)
		}
		c := e.Capabilities()
		out[name] = httpapi.EngineFeatures{CustomTools: c.CustomTools, ToolConfirmation: c.ToolConfirmation}
	}
	return out, nil
}

// The keyring opens the vault credentials a session names as its model credential.
var _ runner.Secrets = (*vault.Keyring)(nil)

// openKeyring loads the vault key from HANGAR_VAULT_KEY or <data-dir>/vault-key.
func openKeyring(cfg Config) (*vault.Keyring, error) {
	var key []byte
	var err error
	if cfg.VaultKey != "" {
		key, err = vault.ParseKey(cfg.VaultKey)
		if err != nil {
			return nil, fmt.Errorf("HANGAR_VAULT_KEY: %w", err)
		}
	} else if key, err = vault.LoadOrCreateKey(cfg.dataPath("vault-key")); err != nil {
		return nil, fmt.Errorf("vault key: %w", err)
	}
	return vault.NewKeyring(key)
}

// Close stops background work and closes the store.
func (a *App) Close() error {
	a.cancel()
	a.runner.Close()
	a.egress.Close()
	a.egressCleanup()
	a.hub.Close()
	return a.store.Close()
}
