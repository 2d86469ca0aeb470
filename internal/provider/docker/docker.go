// Package docker is the sandbox provider over the Docker Engine API (github.com/docker/docker
// client): one container per session, with no network (NetworkMode "none") but the session's
// egress proxy, whose unix socket is bound into the container where Hangar's own binary, the
// container's main process, forwards provider.EgressAddr to it. The workspace and HOME are
// named volumes of the session, so they outlive the container; memory, pids and CPU limits
// are the container's. The same code drives podman through its Docker-compatible API
// service (registered as "podman") and gVisor through the "runtime" setting (runsc).
//
// See docs/sandboxes.md for the settings and their defaults.
package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Config is the provider's JSON config.
type Config struct {
	// Host is the engine API address, e.g. unix:///var/run/docker.sock or
	// tcp://host:2375; default $DOCKER_HOST, else the engine's default socket
	// (podman: unix:///run/podman/podman.sock).
	Host string `json:"host,omitempty"`
	// Image is the default image of sandboxes; environments may pick another.
	Image string `json:"image,omitempty"`
	// Runtime is the OCI runtime of the containers ("" = the engine's default; e.g. runsc
	// for gVisor); environments may pick another.
	Runtime string `json:"runtime,omitempty"`
	// User runs every Exec, as "uid:gid"; default 1000:1000.
	User string `json:"user,omitempty"`
	// Forwarder is the host path of the executable bound into the container and run as
	// "forward --listen ADDR --socket PATH" when the session has an egress socket; default
	// the running executable (hangar). It must run in the image: build hangar with
	// CGO_ENABLED=0 for a static binary.
	Forwarder string `json:"forwarder,omitempty"`
	// NoInit runs the container's main process without the engine's init (docker-init,
	// catatonit), which otherwise reaps the sandbox's orphaned processes.
	NoInit bool `json:"no_init,omitempty"`
	// Limits are the default limits of a sandbox; an environment's sandbox settings
	// override them field by field.
	Limits Limits `json:"limits,omitzero"`
}

// Settings are an environment's EnvironmentConfig.Sandbox settings for this provider.
type Settings struct {
	Image   string `json:"image,omitempty"`
	Runtime string `json:"runtime,omitempty"`
	Limits
}

// Limits are a sandbox's resource limits; zero means "no limit" for CPUs and CPUShares and
// "the default" for MemoryMB and Pids (the same shape as the local provider's).
type Limits struct {
	MemoryMB  int     `json:"memory_mb,omitempty"`
	Pids      int     `json:"pids,omitempty"`
	CPUs      float64 `json:"cpus,omitempty"`
	CPUShares int     `json:"cpu_shares,omitempty"`
}

// Defaults when neither the provider config nor the environment sets them.
const (
	DefaultImage    = "debian:bookworm-slim"
	DefaultUser     = "1000:1000"
	DefaultMemoryMB = 4096
	DefaultPids     = 1024
)

func (l Limits) override(o Limits) Limits {
	if o.MemoryMB != 0 {
		l.MemoryMB = o.MemoryMB
	}
	if o.Pids != 0 {
		l.Pids = o.Pids
	}
	if o.CPUs != 0 {
		l.CPUs = o.CPUs
	}
	if o.CPUShares != 0 {
		l.CPUShares = o.CPUShares
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MemoryMB < 0:
		return fmt.Errorf("memory_mb %d is negative", l.MemoryMB)
	case l.MemoryMB != 0 && l.MemoryMB < 8:
		return fmt.Errorf("memory_mb %d is below 8", l.MemoryMB)
	case l.Pids < 0:
		return fmt.Errorf("pids %d is negative", l.Pids)
	case l.CPUs < 0:
		return fmt.Errorf("cpus %g is negative", l.CPUs)
	case l.CPUShares < 0 || l.CPUShares > 262144:
		return fmt.Errorf("cpu_shares %d is outside 0..262144", l.CPUShares)
	}
	return nil
}

// Provider is the docker (or podman) sandbox provider.
type Provider struct {
	name      string
	log       *slog.Logger
	cli       *client.Client
	image     string
	runtime   string
	user      string
	forwarder string
	init      bool
	limits    Limits
}

// Factory returns the provider.Factory of the provider registered as name ("docker" or
// "podman": the name labels the containers and picks the default host).
func Factory(name string) provider.Factory {
	return func(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
		return New(name, cfg, deps)
	}
}

// New builds the provider registered as name from its JSON config. It does not contact
// the engine: a daemon that is down fails the first Create, not the server's start.
func New(name string, cfg json.RawMessage, deps provider.Deps) (*Provider, error) {
	var c Config
	if err := decodeStrict(cfg, &c); err != nil {
		return nil, fmt.Errorf("%s provider config: %w", name, err)
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch {
	case c.Host != "":
		opts = append(opts, client.WithHost(c.Host))
	case os.Getenv("DOCKER_HOST") != "":
		opts = append(opts, client.FromEnv)
	case name == "podman":
		opts = append(opts, client.WithHost("unix:///run/podman/podman.sock"))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s provider: %w", name, err)
	}
	if c.Forwarder == "" {
		if c.Forwarder, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("%s provider: find the forwarder executable: %w", name, err)
		}
	}
	if c.Forwarder, err = filepath.Abs(c.Forwarder); err != nil {
		return nil, fmt.Errorf("%s provider: forwarder: %w", name, err)
	}
	limits := Limits{MemoryMB: DefaultMemoryMB, Pids: DefaultPids}.override(c.Limits)
	if err := limits.validate(); err != nil {
		return nil, fmt.Errorf("%s provider: limits: %w", name, err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		name: name, log: log, cli: cli,
		image:     orDefault(c.Image, DefaultImage),
		runtime:   c.Runtime,
		user:      orDefault(c.User, DefaultUser),
		forwarder: c.Forwarder,
		init:      !c.NoInit,
		limits:    limits,
	}, nil
}

// Close releases the client's connections.
func (p *Provider) Close() error { return p.cli.Close() }

func decodeStrict(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Capabilities implements provider.Provider.
func (p *Provider) Capabilities() provider.Capabilities { return capabilities() }

func capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true}
}

// handle is the JSON inside a docker sandbox's provider.Handle.
type handle struct {
	Session   string `json:"session"`
	Container string `json:"container"`
	WorkDir   string `json:"work_dir"`
	HomeDir   string `json:"home_dir"`
	Egress    bool   `json:"egress,omitempty"` // the container runs the forwarder
	Layer     string `json:"layer,omitempty"`  // the environment's built image (build.go)
}

// Labels on the containers and volumes the provider creates.
const (
	labelProvider = "dev.hangar.provider"
	labelSession  = "dev.hangar.session"
)

// Create implements provider.Provider. Creating a sandbox for a session that has one
// already replaces its container and keeps its volumes (workspace and HOME): the runner
// does so when the egress socket changed (after a restart).
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.SessionID == "" || strings.ContainsAny(spec.SessionID, `/\:`) || strings.HasPrefix(spec.SessionID, ".") {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox: bad session id %q", p.name, spec.SessionID)
	}
	var set Settings
	if err := decodeStrict(spec.Environment.Sandbox, &set); err != nil {
		return nil, &hangar.Error{Kind: hangar.KindInvalidRequest, Message: fmt.Sprintf("environment sandbox settings for the %s provider: %v", p.name, err), Err: err}
	}
	limits := p.limits.override(set.Limits)
	if err := limits.validate(); err != nil {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "environment sandbox settings: %v", err)
	}
	img := orDefault(set.Image, p.image)
	if spec.Layer != "" {
		// The environment's built image (Build), itself made from set.Image.
		if err := p.checkLayer(ctx, spec.Layer); err != nil {
			return nil, err
		}
		img = spec.Layer
	}
	c := containerSpec{
		session: spec.SessionID,
		image:   img,
		runtime: orDefault(set.Runtime, p.runtime),
		workDir: orDefault(spec.WorkDir, "/workspace"),
		homeDir: orDefault(spec.HomeDir, "/home/agent"),
		limits:  limits,
		egress:  spec.EgressSocket,
		mounts:  spec.Mounts,
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.egress != "" {
		if _, err := os.Stat(c.egress); err != nil {
			return nil, fmt.Errorf("%s sandbox %s: egress socket: %w", p.name, c.session, err)
		}
	}
	id, err := p.createContainer(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("create %s sandbox %s: %w", p.name, c.session, err)
	}
	sb := p.sandbox(handle{Session: c.session, Container: id, WorkDir: c.workDir, HomeDir: c.homeDir, Egress: c.egress != "", Layer: spec.Layer})
	if err := sb.boot(ctx, true); err != nil {
		p.cli.ContainerRemove(context.WithoutCancel(ctx), id, removeOptions)
		return nil, fmt.Errorf("create %s sandbox %s: %w", p.name, c.session, err)
	}
	return sb, nil
}

// Recover implements provider.Provider: the container must still exist (a not_found_error
// otherwise), and so must its environment's built image, as for the local provider's
// layers (the runner then creates the sandbox again); a stopped one is started again.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	var h handle
	if err := json.Unmarshal(raw, &h); err != nil || h.Container == "" || h.Session == "" {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox handle %q is malformed", p.name, raw)
	}
	info, err := p.cli.ContainerInspect(ctx, h.Container)
	switch {
	case client.IsErrNotFound(err):
		return nil, hangar.NotFound(p.name+" sandbox", h.Session)
	case err != nil:
		return nil, fmt.Errorf("recover %s sandbox %s: %w", p.name, h.Session, err)
	}
	if h.Layer != "" {
		if err := p.checkLayer(ctx, h.Layer); err != nil {
			return nil, err
		}
	}
	sb := p.sandbox(h)
	if info.State == nil || !info.State.Running {
		if err := sb.boot(ctx, false); err != nil {
			return nil, fmt.Errorf("recover %s sandbox %s: %w", p.name, h.Session, err)
		}
	}
	return sb, nil
}

func (p *Provider) sandbox(h handle) *Sandbox {
	raw, _ := json.Marshal(h)
	return &Sandbox{p: p, h: h, raw: raw, procs: make(map[*process]struct{})}
}

// pullIfMissing pulls ref when the engine does not have it.
func (p *Provider) pullIfMissing(ctx context.Context, ref string) error {
	if _, err := p.cli.ImageInspect(ctx, ref); err == nil || !client.IsErrNotFound(err) {
		return err
	}
	p.log.Info("pulling the sandbox image", "image", ref)
	rc, err := p.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

// reserved are sandbox paths the provider owns; the work dir, home and mounts may not be
// placed on or under them.
var reserved = []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev", "/sys", "/tmp", "/run/hangar"}

// within reports whether p is dir or inside it (both clean, absolute).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func checkPath(name, what, p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox: %s %q must be a clean absolute path other than /", name, what, p)
	}
	for _, r := range reserved {
		if within(p, r) {
			return hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox: %s %q is inside the reserved %s", name, what, p, r)
		}
	}
	return nil
}

var errStopped = errors.New("stopped")

var _ provider.Provider = (*Provider)(nil)
