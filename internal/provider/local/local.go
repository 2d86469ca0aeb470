// Package local is the sandbox provider for Linux hosts: each Exec runs under bubblewrap
// (bwrap) in fresh user, mount, pid, ipc, uts, cgroup and network namespaces (only lo), with
// the host's system directories read-only, a private /tmp, and the session's workspace and
// HOME bound writable from the server's state directory. Memory, pids and cpu limits are
// enforced per sandbox with a cgroup (v1 or v2). When the session has an egress proxy, its
// unix socket is bound into the sandbox and Hangar's own binary runs inside as a forwarder
// from provider.EgressAddr to it, so the sandbox can reach that proxy and nothing else.
//
// See docs/sandboxes.md for the settings and their defaults.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Config is the local provider's JSON config.
type Config struct {
	// Bwrap is the bubblewrap executable; default "bwrap" on PATH.
	Bwrap string `json:"bwrap,omitempty"`
	// StateDir holds one directory per sandbox (workspace and home); default
	// DataDir/sandboxes.
	StateDir string `json:"state_dir,omitempty"`
	// Forwarder is the executable run inside the sandbox as "forward --listen ADDR --socket
	// PATH" when the session has an egress socket; default the running executable (hangar).
	Forwarder string `json:"forwarder,omitempty"`
	// Limits are the default limits of a sandbox; an environment's sandbox settings
	// override them field by field.
	Limits Limits `json:"limits,omitzero"`
	// DisableLimits runs sandboxes without a cgroup (no memory/pids/cpu limits). Without
	// it, Create fails when the cgroup cannot be set up.
	DisableLimits bool `json:"disable_limits,omitempty"`
	// CgroupParent is the cgroup, relative to each hierarchy's root, under which the
	// sandboxes' cgroups are created; default "hangar".
	CgroupParent string `json:"cgroup_parent,omitempty"`
}

// Limits are a sandbox's resource limits; zero means "no limit" for CPUs and CPUShares and
// "the default" for MemoryMB and Pids. They are also the shape of an environment's
// EnvironmentConfig.Sandbox settings for this provider.
type Limits struct {
	MemoryMB  int     `json:"memory_mb,omitempty"`
	Pids      int     `json:"pids,omitempty"`
	CPUs      float64 `json:"cpus,omitempty"`       // CFS quota in CPUs, e.g. 1.5
	CPUShares int     `json:"cpu_shares,omitempty"` // relative weight, 1024 = normal
}

// Default limits when neither the provider config nor the environment sets them.
const (
	DefaultMemoryMB = 4096
	DefaultPids     = 1024
)

// override returns l with the non-zero fields of o.
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
	case l.Pids < 0:
		return fmt.Errorf("pids %d is negative", l.Pids)
	case l.CPUs < 0:
		return fmt.Errorf("cpus %g is negative", l.CPUs)
	case l.CPUShares < 0 || l.CPUShares > 262144:
		return fmt.Errorf("cpu_shares %d is outside 0..262144", l.CPUShares)
	case l.MemoryMB != 0 && l.MemoryMB < 8:
		return fmt.Errorf("memory_mb %d is below 8", l.MemoryMB)
	}
	return nil
}

// Provider is the local (bubblewrap) sandbox provider.
type Provider struct {
	log       *slog.Logger
	bwrap     string
	stateDir  string
	forwarder string
	limits    Limits
	cgroups   *cgroupRoot // nil when limits are disabled
	system    []string    // bwrap args for the read-only host system, computed once
}

// New is the provider.Factory of the local provider. It fails when bwrap is missing or the
// state directory cannot be created.
func New(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	var c Config
	if err := decodeStrict(cfg, &c); err != nil {
		return nil, fmt.Errorf("local provider config: %w", err)
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("local provider: needs Linux (bubblewrap), not %s", runtime.GOOS)
	}
	if c.Bwrap == "" {
		c.Bwrap = "bwrap"
	}
	bwrap, err := exec.LookPath(c.Bwrap)
	if err != nil {
		return nil, fmt.Errorf("local provider: bubblewrap (%s) not found: install it with `apt-get install bubblewrap` (Debian/Ubuntu)", c.Bwrap)
	}
	if c.StateDir == "" {
		if deps.DataDir == "" {
			return nil, errors.New("local provider: no state_dir configured and no data dir")
		}
		c.StateDir = filepath.Join(deps.DataDir, "sandboxes")
	}
	stateDir, err := filepath.Abs(c.StateDir)
	if err != nil {
		return nil, fmt.Errorf("local provider: state_dir: %w", err)
	}
	if c.Forwarder == "" {
		if c.Forwarder, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("local provider: find the forwarder executable: %w", err)
		}
	}
	if c.Forwarder, err = filepath.Abs(c.Forwarder); err != nil {
		return nil, fmt.Errorf("local provider: forwarder: %w", err)
	}
	limits := Limits{MemoryMB: DefaultMemoryMB, Pids: DefaultPids}.override(c.Limits)
	if err := limits.validate(); err != nil {
		return nil, fmt.Errorf("local provider: limits: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(stateDir, systemDir), 0o700); err != nil {
		return nil, fmt.Errorf("local provider: %w", err)
	}
	if err := writeSystemFiles(filepath.Join(stateDir, systemDir)); err != nil {
		return nil, fmt.Errorf("local provider: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{
		log:       log,
		bwrap:     bwrap,
		stateDir:  stateDir,
		forwarder: c.Forwarder,
		limits:    limits,
		system:    systemArgs(filepath.Join(stateDir, systemDir)),
	}
	if !c.DisableLimits {
		parent := c.CgroupParent
		if parent == "" {
			parent = "hangar"
		}
		if p.cgroups, err = detectCgroups("/sys/fs/cgroup", parent); err != nil {
			return nil, fmt.Errorf("local provider: %w (set \"disable_limits\": true to run without limits)", err)
		}
	}
	return p, nil
}

func decodeStrict(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// Capabilities implements provider.Provider.
func (p *Provider) Capabilities() provider.Capabilities { return capabilities() }

func capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true}
}

// handle is the JSON inside a local sandbox's provider.Handle.
type handle struct {
	Session      string           `json:"session"`
	Dir          string           `json:"dir"` // host: Dir/workspace and Dir/home
	WorkDir      string           `json:"work_dir"`
	HomeDir      string           `json:"home_dir"`
	Limits       Limits           `json:"limits"`
	EgressSocket string           `json:"egress_socket,omitempty"`
	Mounts       []provider.Mount `json:"mounts,omitempty"`
	Layer        string           `json:"layer,omitempty"` // host dir mounted at layerPath (build.go)
}

// systemDir, under the state dir, holds the passwd, group and hosts files bound into every
// sandbox. Session IDs never start with a dot.
const systemDir = ".system"

// Create implements provider.Provider. It returns an invalid_request_error for bad
// environment sandbox settings or paths, and an error when the cgroup cannot be set up.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.SessionID == "" || strings.ContainsAny(spec.SessionID, `/\`) || strings.HasPrefix(spec.SessionID, ".") {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "local sandbox: bad session id %q", spec.SessionID)
	}
	var env Limits
	if err := decodeStrict(spec.Environment.Sandbox, &env); err != nil {
		return nil, &hangar.Error{Kind: hangar.KindInvalidRequest, Message: "environment sandbox settings for the local provider: " + err.Error(), Err: err}
	}
	limits := p.limits.override(env)
	if err := limits.validate(); err != nil {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "environment sandbox settings: %v", err)
	}
	h := handle{
		Session:      spec.SessionID,
		Dir:          filepath.Join(p.stateDir, spec.SessionID),
		WorkDir:      orDefault(spec.WorkDir, "/workspace"),
		HomeDir:      orDefault(spec.HomeDir, "/home/agent"),
		Limits:       limits,
		EgressSocket: spec.EgressSocket,
		Mounts:       spec.Mounts,
		Layer:        spec.Layer,
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	if err := p.checkLayer(h.Layer); err != nil {
		return nil, err
	}
	for _, d := range []string{h.workspace(), h.home()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create local sandbox %s: %w", spec.SessionID, err)
		}
	}
	sb, err := p.open(h)
	if err != nil {
		os.RemoveAll(h.Dir)
		return nil, fmt.Errorf("create local sandbox %s: %w", spec.SessionID, err)
	}
	return sb, nil
}

// Recover implements provider.Provider: the sandbox's directories must still exist;
// its cgroup is recreated if it is gone (after a reboot).
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	var h handle
	if err := json.Unmarshal(raw, &h); err != nil || h.Session == "" {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "local sandbox handle %q is malformed", raw)
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	for _, d := range []string{h.workspace(), h.home()} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, hangar.NotFound("local sandbox", h.Session)
		}
	}
	if h.Layer != "" && p.checkLayer(h.Layer) != nil {
		return nil, hangar.NotFound("local sandbox layer", h.Session) // deleted: create again
	}
	sb, err := p.open(h)
	if err != nil {
		return nil, fmt.Errorf("recover local sandbox %s: %w", h.Session, err)
	}
	return sb, nil
}

func (p *Provider) open(h handle) (*Sandbox, error) {
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	sb := &Sandbox{p: p, h: h, raw: raw, procs: make(map[*process]struct{})}
	if p.cgroups != nil {
		if sb.cg, err = p.cgroups.create(h.Session, h.Limits); err != nil {
			return nil, err
		}
	}
	return sb, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (h handle) workspace() string { return filepath.Join(h.Dir, "workspace") }
func (h handle) home() string      { return filepath.Join(h.Dir, "home") }

// reserved are sandbox paths the provider owns; the work dir, home and mounts may not be
// placed on or under them.
var reserved = []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev", "/tmp", "/run/hangar"}

func (h handle) validate() error {
	check := func(what, p string) error {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return hangar.Errorf(hangar.KindInvalidRequest, "local sandbox: %s %q must be a clean absolute path other than /", what, p)
		}
		for _, r := range reserved {
			if within(p, r) {
				return hangar.Errorf(hangar.KindInvalidRequest, "local sandbox: %s %q is inside the reserved %s", what, p, r)
			}
		}
		return nil
	}
	if err := check("work dir", h.WorkDir); err != nil {
		return err
	}
	if err := check("home dir", h.HomeDir); err != nil {
		return err
	}
	if within(h.WorkDir, h.HomeDir) || within(h.HomeDir, h.WorkDir) {
		return hangar.Errorf(hangar.KindInvalidRequest, "local sandbox: work dir %q and home dir %q overlap", h.WorkDir, h.HomeDir)
	}
	for _, m := range h.Mounts {
		if err := check("mount target", m.Target); err != nil {
			return err
		}
		if !filepath.IsAbs(m.Source) {
			return hangar.Errorf(hangar.KindInvalidRequest, "local sandbox: mount source %q is not absolute", m.Source)
		}
	}
	return nil
}

// within reports whether p is dir or inside it (both clean, absolute).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// writeSystemFiles writes the passwd, group and hosts files of the sandboxes: the agent is
// uid 1000 and the host's accounts stay hidden.
func writeSystemFiles(dir string) error {
	files := map[string]string{
		"passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\nagent:x:1000:1000:agent:/home/agent:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":  "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n",
		"hosts":  "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// etcEntries are the host /etc entries bound read-only into sandboxes (when present): what
// programs need to run, find certificates and locales, and nothing secret.
var etcEntries = []string{
	"alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "environment",
	"gai.conf", "host.conf", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
	"locale.alias", "locale.gen", "localtime", "login.defs", "magic", "mime.types",
	"nsswitch.conf", "os-release", "pki", "profile", "profile.d", "protocols", "services",
	"skel", "ssl", "terminfo", "timezone", "gitconfig", "debian_version", "lsb-release",
}

// systemArgs are the bwrap arguments that build the read-only system part of a sandbox.
func systemArgs(sys string) []string {
	args := []string{"--ro-bind", "/usr", "/usr"}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&fs.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", target, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	for _, e := range etcEntries {
		if _, err := os.Stat("/etc/" + e); err == nil {
			args = append(args, "--ro-bind", "/etc/"+e, "/etc/"+e)
		}
	}
	for _, f := range []string{"passwd", "group", "hosts"} {
		args = append(args, "--ro-bind", filepath.Join(sys, f), "/etc/"+f)
	}
	return args
}

var _ provider.Provider = (*Provider)(nil)
