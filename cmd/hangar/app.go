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
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/blob"
	"github.com/hangar-dev/hangar/internal/console"
	"github.com/hangar-dev/hangar/internal/egress"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/envbuild"
	"github.com/hangar-dev/hangar/internal/httpapi"
	"github.com/hangar-dev/hangar/internal/pubsub"
	"github.com/hangar-dev/hangar/internal/runner"
	"github.com/hangar-dev/hangar/internal/schedule"
	tnl "github.com/hangar-dev/hangar/internal/tunnel"
	"github.com/hangar-dev/hangar/internal/vault"
	"github.com/hangar-dev/hangar/internal/webhook"
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
	builds        *envbuild.Manager
	egressCleanup func() // removes the egress socket dir when it is a temporary one

	// eventsDone waits for the PostgreSQL event listener to stop (a no-op on SQLite).
	eventsDone func()
	// webhooksDone is closed when the webhook dispatcher has stopped (docs/webhooks.md).
	webhooksDone chan struct{}
	// scheduleDone is closed when the deployment scheduler has stopped (docs/deployments.md).
	scheduleDone chan struct{}
	// dreamsDone is closed when the dream runner has stopped (docs/dreams.md).
	dreamsDone chan struct{}
	// tunnels holds tunnel connectors' connections (docs/tunnels.md).
	tunnels *tnl.Hub

	// metrics is served at /metrics (metrics.go); unlock releases the single-node lock on
	// the SQLite database (a no-op on PostgreSQL); grace bounds how long Serve lets
	// running turns finish after the signal to stop (serve.go).
	metrics     *metrics
	unlock      func()
	grace       time.Duration
	stopTracing func(context.Context) error
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
	providerConfig, err := providerConfigs(cfg)
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
	store, pg, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	blobs, err := blob.NewDir(cfg.dataPath("files"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("open file store: %w", err)
	}

	// Tunnels (docs/tunnels.md): connectors park connections here; the egress proxy dials
	// tunnel hosts through them.
	tunnels := newTunnelHub(store, log)
	proxy, egressCleanup, err := newEgress(cfg, log, tunnels)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}

	appCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hub := pubsub.New(256)
	events, eventsDone := startEvents(appCtx, hub, pg, log)
	// Durability (serve.go, docs/deployment.md): a random lease owner ID per process, and
	// on SQLite a lock that makes this process the only runner of the database.
	instance := hangar.NewID("inst_")
	exclusive, unlock := singleNode(cfg, log)
	m := newMetrics(store, hub.Subscribers, instance)
	tracer, stopTracing, err := newTracer(ctx, cfg.OTelExporter, instance, stdout)
	if err != nil {
		unlock()
		cancel()
		proxy.Close()
		egressCleanup()
		store.Close()
		return nil, err
	}
	layers := &buildLayers{}
	// mcp_oauth credentials (docs/egress.md): refreshed on the MCP route and validated by
	// POST .../mcp_oauth_validate.
	oauth := egress.NewOAuth(egress.OAuthConfig{Store: store, Sealer: keyring, Logger: log.With("component", "mcp-oauth")})
	var run *runner.Runner // the proxy reports MCP credential failures to the runner made below
	attacher := egressAttacher{p: proxy, publicURL: cfg.PublicURL, oauth: oauth, onMCPError: func(sessionID, server, credential, msg string) {
		run.ReportMCPFailure(sessionID, server, credential, msg)
	}}
	run = runner.New(runner.Config{
		Layers:            layers,
		Blobs:             blobs,
		Store:             store,
		Hub:               events,
		Engines:           builtinEngines(),
		EngineConfig:      engineConfig,
		ProviderConfig:    providerConfig,
		Providers:         withExtraProviders(builtinProviders(), cfg.ExtraProviders),
		DefaultProvider:   defaultProvider,
		DataDir:           cfg.DataDir,
		Egress:            meteredEgress{next: attacher, proxy: proxy, m: m.egress},
		Secrets:           keyring,
		Watchdog:          cfg.Watchdog,
		SelfHostedTimeout: cfg.SelfHostedTimeout,
		MaxRetries:        runner.DefaultMaxRetries,
		Logger:            log,
		Instance:          instance,
		LeaseTTL:          cfg.LeaseTTL,
		Exclusive:         exclusive,
		Metrics:           m,
		Events:            runnerEvents(pg, events),
		Tracer:            tracer,
		Grader:            newGrader(cfg),
	})
	builds, err := newBuilds(cfg.DataDir, run, layers, envbuild.Config{Logger: log.With("component", "envbuild"), Egress: buildEgress(proxy)})
	if err == nil {
		err = run.Start(appCtx)
	}
	if err != nil {
		unlock()
		cancel()
		proxy.Close()
		egressCleanup()
		store.Close()
		return nil, fmt.Errorf("start runner: %w", err)
	}
	// Garbage collection (gc.go): unneeded environment layers now and after each
	// environment update or deletion; Kubernetes objects left without a live session.
	gcNames := providerNames(cfg)
	collectLayers := func() { builds.CollectSoon(store, gcNames) }
	collectLayers()
	go sweepOrphans(appCtx, run, store, gcNames, log)
	// Webhooks (docs/webhooks.md): one dispatcher per instance delivers the outbox; the
	// store's claims keep instances sharing a database off each other's deliveries.
	webhooksDone := make(chan struct{})
	go func() {
		defer close(webhooksDone)
		webhook.New(webhook.Config{Store: store, Secrets: keyring, Owner: instance, Logger: log.With("component", "webhook")}).Run(appCtx)
	}()
	// Dreams (docs/dreams.md): one runner per instance; store claims keep instances
	// sharing a database off each other's dreams.
	dreams := newDreams(cfg, store, instance, log)
	api := httpapi.New(httpapi.Config{
		Store:  collectingStore{Store: store, collect: collectLayers},
		Blobs:  blobs,
		Runner: run,
		Hub:    events,
		Sealer: keyring,
		Logger: log,
		APIKey: apiKey,
		// Agent create and update refuse tools their engine cannot run.
		EngineFeatures: features,
		// The web console at / (docs/console.md).
		Console: console.New(),
		// Environment builds and GET /v1/providers (docs/sandboxes.md).
		Builds:    builds,
		Providers: run,
		// Dreams wakes the dream runner; PublicURL is where enrollment URLs point.
		Dreams:    dreams,
		PublicURL: cfg.PublicURL,
		// POST /v1/vaults/{vid}/credentials/{cid}/mcp_oauth_validate.
		CredentialValidator: oauth,
	})
	// Deployment schedules (docs/deployments.md): one scheduler per instance; the store's
	// conditional claim of each fire keeps instances sharing a database from doubling runs.
	scheduleDone := make(chan struct{})
	go func() {
		defer close(scheduleDone)
		schedule.New(schedule.Config{Store: store, Runner: api, Logger: log.With("component", "schedule")}).Run(appCtx)
	}()
	dreamsDone := runDreams(appCtx, dreams)
	go sweepExpiredFiles(appCtx, api, log.With("component", "files")) // file_sweep.go
	return &App{dreamsDone: dreamsDone, ctx: appCtx, cancel: cancel, log: log, store: store, hub: hub, eventsDone: eventsDone, webhooksDone: webhooksDone, scheduleDone: scheduleDone, runner: run, builds: builds, egress: proxy, egressCleanup: egressCleanup,
		handler: m.handler(withTunnels(withPublicEgress(api, proxy, cfg.PublicURL), tunnels), apiKey), tunnels: tunnels, apiKey: apiKey, metrics: m, unlock: unlock, grace: cfg.ShutdownGrace, stopTracing: stopTracing}, nil
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
		out[name] = httpapi.EngineFeatures{CustomTools: c.CustomTools, ToolConfirmation: c.ToolConfirmation, SystemMessages: c.SystemMessages}
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
	a.builds.Close()
	a.runner.Close()
	a.egress.Close()
	a.egressCleanup()
	a.eventsDone()
	<-a.webhooksDone
	<-a.scheduleDone
	<-a.dreamsDone
	a.tunnels.Close()
	a.hub.Close()
	err := a.store.Close()
	a.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if terr := a.stopTracing(ctx); terr != nil {
		a.log.Warn("flush traces", "err", terr)
	}
	return err
}
