// Package envbuild runs environment builds: when an environment lists packages, its
// provider (a provider.Builder) installs them once, in the background, into a reusable
// layer that the environment's sessions mount (docs/sandboxes.md "Environment builds").
//
// Builds are keyed by content (provider name + packages), so environments with the same
// packages share one layer, and a build's state and log live on disk under the server's
// data dir: a ready layer survives restarts; a failed build is retried after a restart
// (failures are often transient: a registry outage), or at once when the packages change.
package envbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Build states, as the environment's "state" field shows them.
const (
	StatePreparing = "preparing"
	StateReady     = "ready"
	StateFailed    = "failed"
)

// Providers resolves an environment's provider name ("" = the server default) to its
// registered name and instance (internal/runner.Runner.Provider).
type Providers interface {
	Provider(name string) (string, provider.Provider, error)
}

// Config configures a Manager.
type Config struct {
	// Dir holds one directory per build: its state and log.
	Dir       string
	Providers Providers
	Logger    *slog.Logger
	// Timeout bounds one build; 0 means 30 minutes.
	Timeout time.Duration
	// Egress, when set, attaches a build to the egress proxy (cmd/hangar: under the
	// environment's networking, with the package registries allowed) and returns the unix
	// socket for provider.BuildSpec.EgressSocket and a function that detaches it. Without
	// it builds use the host's network.
	Egress func(ctx context.Context, id string, networking *hangar.Networking) (socket string, detach func(), err error)
}

// Manager starts builds and reports their state. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	builds map[string]*build
	// restored is closed once the layers recorded ready at a vendor were confirmed at
	// start (restore.go); Collect waits for it.
	restored chan struct{}

	// collectMu serializes Collect; uses caches the recorded (key, environment) pairs;
	// collecting and collectAgain coalesce CollectSoon calls (guarded by mu) (gc.go).
	collectMu    sync.Mutex
	usesMu       sync.Mutex
	uses         map[string]bool
	collecting   bool
	collectAgain bool
}

// build is one key's build.
type build struct {
	key   string
	done  chan struct{} // closed when the build has ended
	state record        // guarded by Manager.mu
	log   *logFile
}

// record is a build's persisted state (Dir/<key>/state.json).
type record struct {
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	Layer   string `json:"layer,omitempty"`
	// Provider (the registered name), Packages and Environment are the build's input: a
	// ready layer at a vendor is confirmed with them after a restart
	// (provider.LayerChecker), which also tells vercel its key → snapshot mapping again.
	Provider    string                    `json:"provider,omitempty"`
	Packages    *hangar.Packages          `json:"packages,omitempty"`
	Environment *hangar.EnvironmentConfig `json:"environment,omitempty"`
}

// New returns a manager; Close stops its running builds.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" || cfg.Providers == nil {
		return nil, errors.New("envbuild: Dir and Providers are required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("envbuild: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: log, ctx: ctx, cancel: cancel, builds: map[string]*build{}, restored: make(chan struct{})}
	m.wg.Add(1)
	go m.restore()
	return m, nil
}

// Close cancels the running builds and waits for them to end.
func (m *Manager) Close() {
	m.mu.Lock() // ensure starts builds under mu: none starts after this
	m.cancel()
	m.mu.Unlock()
	m.wg.Wait()
}

// Key is the content key of a build: the provider's name and the sorted package lists.
func Key(providerName string, pk hangar.Packages) string {
	norm := func(l []string) []string {
		l = slices.Clone(l)
		slices.Sort(l)
		return slices.Compact(l)
	}
	b, _ := json.Marshal([]any{"v1", providerName, norm(pk.Apt), norm(pk.Cargo), norm(pk.Gem), norm(pk.Go), norm(pk.Npm), norm(pk.Pip)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Status returns env's build state, starting its build if none is known (a new
// environment, changed packages, or a server restart).
// state is "" when env has nothing to build; message explains a failure.
func (m *Manager) Status(env *hangar.Environment) (state, message string) {
	if !provider.HasPackages(env.Config.Packages) {
		return "", ""
	}
	b, err := m.ensure(env)
	if err != nil {
		return StateFailed, err.Error()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return b.state.State, b.state.Message
}

// Log returns env's build log so far; nil when it has nothing to build.
func (m *Manager) Log(env *hangar.Environment) ([]byte, error) {
	if !provider.HasPackages(env.Config.Packages) {
		return nil, nil
	}
	b, err := m.ensure(env)
	if err != nil {
		return []byte(err.Error() + "\n"), nil
	}
	return b.log.bytes(), nil
}

// Layer waits for env's build and returns its layer ("" when it has nothing to build).
// A failed build is an invalid_request_error naming the failure; ctx ending stops the
// wait, not the build.
func (m *Manager) Layer(ctx context.Context, env *hangar.Environment) (string, error) {
	if !provider.HasPackages(env.Config.Packages) {
		return "", nil
	}
	b, err := m.ensure(env)
	if err != nil {
		return "", err
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b.state.State != StateReady {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "environment %s: its build failed: %s (see GET /v1/environments/%s/build_log)", env.ID, b.state.Message, env.ID)
	}
	// A session of env starts from this layer: it is kept while env has live sessions.
	m.noteUse(b.key, filepath.Join(m.cfg.Dir, b.key), env.ID)
	return b.state.Layer, nil
}

// ensure returns the build of env's packages, loading a finished one from disk or
// starting it.
func (m *Manager) ensure(env *hangar.Environment) (*build, error) {
	name, p, err := m.cfg.Providers.Provider(env.Config.Provider)
	if err != nil {
		return nil, err
	}
	builder, ok := p.(provider.Builder)
	if !ok {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "environment %s: the %s sandbox provider cannot install packages; use the local provider or remove config.packages", env.ID, name)
	}
	pk := *env.Config.Packages
	return m.load(name, p, builder, Key(name, pk), env.Config, pk)
}

// load returns key's build: the known one, a ready one on disk (confirmed first when its
// layer is at a vendor), else a new build.
func (m *Manager) load(name string, p provider.Provider, builder provider.Builder, key string, cfg hangar.EnvironmentConfig, pk hangar.Packages) (*build, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.builds[key]; ok {
		return b, nil
	}
	if m.ctx.Err() != nil {
		return nil, hangar.Errorf(hangar.KindUnavailable, "environment builds are shut down")
	}
	dir := filepath.Join(m.cfg.Dir, key)
	b := &build{key: key, done: make(chan struct{}), log: &logFile{path: filepath.Join(dir, "build.log")}}
	if rec, err := readRecord(dir); err == nil && rec.State == StateReady {
		if _, err := os.Stat(rec.Layer); err == nil {
			b.state = rec
			close(b.done)
			m.builds[key] = b
			return b, nil
		}
		if checker, ok := p.(provider.LayerChecker); ok && rec.Layer != "" {
			// A vendor's layer: preparing until the vendor confirms it (confirm).
			b.state = record{State: StatePreparing}
			m.builds[key] = b
			m.wg.Add(1)
			go m.confirm(checker, p, builder, name, key, dir, cfg, pk, rec, b)
			return b, nil
		}
	}
	if err := begin(b, dir); err != nil {
		return nil, fmt.Errorf("envbuild: %w", err)
	}
	b.state = record{State: StatePreparing}
	m.builds[key] = b
	m.wg.Add(1)
	go m.run(p, builder, name, key, dir, cfg, pk, b)
	return b, nil
}

// begin prepares b's directory and empty log for a build and records it as preparing.
func begin(b *build, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := b.log.reset(); err != nil {
		return err
	}
	writeRecord(dir, record{State: StatePreparing})
	return nil
}

// confirm asks the vendor whether rec's layer, recorded ready by an earlier server run,
// still exists: it is used as it is when it does, or when the vendor cannot say (an outage
// should not cost a rebuild; sessions then fail with the vendor's error), and built again
// when it is gone.
func (m *Manager) confirm(checker provider.LayerChecker, p provider.Provider, builder provider.Builder, name, key, dir string,
	cfg hangar.EnvironmentConfig, pk hangar.Packages, rec record, b *build) {
	ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
	ok, err := checker.LayerExists(ctx, provider.BuildSpec{Key: key, Packages: pk, Environment: cfg}, rec.Layer)
	cancel()
	end := func(state record) {
		m.mu.Lock()
		b.state = state
		m.mu.Unlock()
		close(b.done)
		m.wg.Done()
	}
	switch {
	case m.ctx.Err() != nil:
		end(record{State: StateFailed, Message: "environment builds are shut down"})
		return
	case err != nil:
		m.log.Warn("environment layer not confirmed; using it as recorded", "key", key, "layer", rec.Layer, "err", err)
		end(rec)
		return
	case ok:
		end(rec)
		return
	}
	m.log.Info("environment layer gone at the provider; building it again", "key", key, "layer", rec.Layer)
	if err := begin(b, dir); err != nil {
		end(record{State: StateFailed, Message: err.Error()})
		return
	}
	fmt.Fprintf(b.log, "==> layer %s no longer exists at the %s provider: building it again\n", rec.Layer, name)
	m.run(p, builder, name, key, dir, cfg, pk, b)
}

func (m *Manager) run(p provider.Provider, builder provider.Builder, name, key, dir string, cfg hangar.EnvironmentConfig, pk hangar.Packages, b *build) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Timeout)
	defer cancel()
	start := time.Now()
	spec := provider.BuildSpec{Key: key, Packages: pk, Environment: cfg, Log: b.log}
	layer, err := m.build(ctx, p, name, builder, spec)
	rec := record{State: StateReady, Layer: layer, Provider: name, Packages: &pk, Environment: &cfg}
	if err != nil {
		rec = record{State: StateFailed, Message: err.Error()}
		fmt.Fprintf(b.log, "==> build failed after %s: %v\n", time.Since(start).Round(time.Millisecond), err)
		m.log.Warn("environment build failed", "key", key, "err", err)
	} else {
		fmt.Fprintf(b.log, "==> ready in %s\n", time.Since(start).Round(time.Millisecond))
		m.log.Info("environment built", "key", key, "duration", time.Since(start))
	}
	if rec.State == StateReady || m.ctx.Err() == nil {
		writeRecord(dir, rec)
	}
	b.log.close()
	// A failure stays in memory (its log readable) until a restart retries it.
	m.mu.Lock()
	b.state = rec
	m.mu.Unlock()
	close(b.done)
}

// build runs one build, through the egress proxy when one is configured and the provider
// builds on this machine. A remote provider's build runs on the vendor's network (its
// build sandbox or image builder cannot reach the proxy's socket); its Build says whether
// the environment's networking policy applies there.
func (m *Manager) build(ctx context.Context, p provider.Provider, name string, builder provider.Builder, spec provider.BuildSpec) (string, error) {
	if p.Capabilities().Remote {
		fmt.Fprintf(spec.Log, "==> network: the %s provider builds on the vendor's network, not through the egress proxy\n", name)
		return builder.Build(ctx, spec)
	}
	if m.cfg.Egress != nil {
		sock, detach, err := m.cfg.Egress(ctx, "build_"+spec.Key, spec.Environment.Networking)
		if err != nil {
			return "", fmt.Errorf("attach the build to the egress proxy: %w", err)
		}
		if detach != nil {
			defer detach()
		}
		spec.EgressSocket = sock
		fmt.Fprintf(spec.Log, "==> network: the egress proxy only\n")
	}
	return builder.Build(ctx, spec)
}

func readRecord(dir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

func writeRecord(dir string, rec record) {
	b, _ := json.Marshal(rec)
	tmp := filepath.Join(dir, "state.json.tmp")
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, filepath.Join(dir, "state.json"))
	}
}

// logFile is a build's log: appended to a file, and read back whole by GET build_log.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func (l *logFile) reset() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.f = f
	l.mu.Unlock()
	return nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil
	}
	return l.f.Write(p)
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func (l *logFile) bytes() []byte {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return nil
	}
	return bytes.Clone(b)
}
