// Package applecontainer is the sandbox provider of the macOS VM runtimes driven through
// their command-line tools: Apple's container CLI (github.com/apple/container, registered as
// "apple-container") and AgentStep's mvm, Firecracker microVMs on macOS (registered as
// "apple-firecracker"). Each session gets one lightweight VM, named after the session, that
// lives until Destroy; Exec runs "container exec -i" or "mvm exec" with the CLI's stdio
// piped, so stdin and output stream both ways. Files go through exec (cat), which both
// CLIs have, rather than a copy subcommand that only some versions have.
//
// A VM cannot bind-mount the host's unix socket of the egress proxy, so the provider
// bridges it to TCP on the host address the VMs reach (egress_host), and starts a relay
// inside the sandbox on provider.EgressAddr (socat by default). See docs/sandboxes.md.
//
// Both tools exist only on macOS: elsewhere Create fails with an invalid_request_error.
// Tests run the real code path against a fake CLI (see fakecli_test.go).
package applecontainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Config is the provider's JSON config.
type Config struct {
	// CLI is the path of the container (or mvm) executable; default the name looked up
	// in PATH.
	CLI string `json:"cli,omitempty"`
	// Image is the default image of apple-container sandboxes (environments may pick
	// another); mvm VMs boot mvm's own image.
	Image string `json:"image,omitempty"`
	// User runs every Exec, as "uid:gid" or a name; default 1000:1000.
	User string `json:"user,omitempty"`
	// NetPolicy is mvm's --net-policy for environments with unrestricted networking
	// ("" = mvm's default); limited environments get "allow:" and their allowed hosts.
	NetPolicy string `json:"net_policy,omitempty"`
	// EgressHost is the host's address as the VMs see it, where the provider bridges the
	// egress proxy's socket to TCP; default 192.168.64.1 for apple-container (the
	// gateway of its default vmnet network), none for mvm. Sessions with an egress proxy
	// fail to start without one.
	EgressHost string `json:"egress_host,omitempty"`
	// EgressRelay is the command run inside the sandbox for the session's lifetime to
	// relay provider.EgressAddr to the bridge; {listen_host}, {listen_port}, {host} and
	// {port} are replaced. Default: DefaultEgressRelay, a perl script (perl-base, in
	// every Debian and Ubuntu image, slim ones too), which Create waits for.
	EgressRelay []string `json:"egress_relay,omitempty"`
	// CPUs and MemoryMB size the VM (0 = the CLI's default).
	CPUs     int `json:"cpus,omitempty"`
	MemoryMB int `json:"memory_mb,omitempty"`
	// TestAnyOS is for tests only: it lets the provider run on a host other than macOS,
	// against a fake CLI. Never set it in production.
	TestAnyOS bool `json:"test_any_os,omitempty"`
}

// Settings are an environment's EnvironmentConfig.Sandbox settings for this provider.
type Settings struct {
	Image    string `json:"image,omitempty"`
	CPUs     int    `json:"cpus,omitempty"`
	MemoryMB int    `json:"memory_mb,omitempty"`
}

// Defaults.
const (
	DefaultImage = "debian:bookworm-slim"
	DefaultUser  = "1000:1000"
)

// DefaultEgressRelay relays provider.EgressAddr inside the sandbox to the host bridge: a
// process per connection, one more per direction, half-closes passed on. It prints one
// line once it listens.
var DefaultEgressRelay = []string{"perl", "-e", relayScript}

const relayScript = `use IO::Socket::INET;
$SIG{CHLD} = "IGNORE";
$| = 1;
my $l = IO::Socket::INET->new(LocalAddr => "{listen_host}:{listen_port}", Listen => 128, ReuseAddr => 1) or die "relay: listen: $!\n";
print "listening\n";
sub pump {
	my ($r, $w) = @_;
	my $b;
	while (my $n = sysread($r, $b, 65536)) {
		for (my $o = 0; $o < $n;) { my $m = syswrite($w, $b, $n - $o, $o); defined $m or return; $o += $m }
	}
	shutdown($w, 1);
}
while (1) {
	my $c = $l->accept or next;
	if (!fork) {
		close $l;
		my $u = IO::Socket::INET->new(PeerAddr => "{host}:{port}") or exit 1;
		if (fork) { pump($c, $u); wait } else { pump($u, $c) }
		exit 0;
	}
	close $c;
}`

// Provider is the apple-container or apple-firecracker provider.
type Provider struct {
	d    dialect
	log  *slog.Logger
	cfg  Config
	goos string
	// relayReady: the egress relay prints a line once it listens (the default one).
	relayReady bool
	mu         sync.Mutex
	ready      bool // Available succeeded once
}

// Factory returns the provider.Factory of "apple-container" or "apple-firecracker".
func Factory(name string) provider.Factory {
	return func(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
		return New(name, cfg, deps)
	}
}

// New builds the provider registered as name. It runs nothing: a host without the CLI
// fails Create (and Available), not the server's start.
func New(name string, raw json.RawMessage, deps provider.Deps) (*Provider, error) {
	d, ok := dialects[name]
	if !ok {
		return nil, fmt.Errorf("applecontainer: unknown provider name %q", name)
	}
	var c Config
	if err := decodeStrict(raw, &c); err != nil {
		return nil, fmt.Errorf("%s provider config: %w", name, err)
	}
	if c.CPUs < 0 || c.MemoryMB < 0 {
		return nil, fmt.Errorf("%s provider config: negative cpus or memory_mb", name)
	}
	c.Image = orDefault(c.Image, DefaultImage)
	c.User = orDefault(c.User, DefaultUser)
	relayReady := len(c.EgressRelay) == 0
	if relayReady {
		c.EgressRelay = DefaultEgressRelay
	}
	c.EgressHost = orDefault(c.EgressHost, d.egressHost)
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{d: d, log: log, cfg: c, goos: runtime.GOOS, relayReady: relayReady}, nil
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Capabilities implements provider.Provider. Sandboxes are VMs (Isolated). Network is
// true only for mvm, whose --net-policy enforces an allow-list; apple-container VMs have
// the host's network, so limited networking is refused rather than pretended.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Isolated: true, Network: p.d.netPolicy}
}

// Available reports why the provider cannot run sandboxes on this host (nil when it can):
// an invalid_request_error off macOS or without the CLI, and the CLI's own complaint when
// its services are down.
func (p *Provider) Available(ctx context.Context) error {
	p.mu.Lock()
	ready := p.ready
	p.mu.Unlock()
	if ready {
		return nil
	}
	if p.goos != "darwin" && !p.cfg.TestAnyOS {
		return hangar.Errorf(hangar.KindInvalidRequest, "%s is only available on macOS (this host is %s)", p.d.name, p.goos)
	}
	bin, err := exec.LookPath(orDefault(p.cfg.CLI, p.d.bin))
	if err != nil {
		return hangar.Errorf(hangar.KindInvalidRequest, "%s: the %s CLI is not installed (%s)", p.d.name, p.d.bin, p.d.install)
	}
	for _, args := range p.d.check {
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			return hangar.Errorf(hangar.KindInvalidRequest, "%s: %s %s failed: %v: %s (%s)", p.d.name, p.d.bin, strings.Join(args, " "), err, bytes.TrimSpace(out), p.d.install)
		}
	}
	p.mu.Lock()
	p.ready = true
	p.mu.Unlock()
	return nil
}

// Check implements provider.Checker (GET /v1/providers): Available.
func (p *Provider) Check(ctx context.Context) error { return p.Available(ctx) }

// cli runs the CLI to completion and returns its stdout; a failure carries its stderr.
func (p *Provider) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, orDefault(p.cfg.CLI, p.d.bin), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", p.d.bin, args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// handle is the JSON inside a sandbox's provider.Handle.
type handle struct {
	Session string `json:"session"`
	Name    string `json:"name"` // the container's or VM's name
	WorkDir string `json:"work_dir"`
	HomeDir string `json:"home_dir"`
}

// vmName is the name of a session's container or VM.
func vmName(session string) string {
	return "hangar-" + strings.ToLower(strings.ReplaceAll(session, "_", "-"))
}

// Create implements provider.Provider. A session whose VM exists already (the runner
// creates a sandbox again when the egress socket changed after a restart) gets it back,
// started, with its files.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	if err := p.Available(ctx); err != nil {
		return nil, err
	}
	if spec.SessionID == "" || strings.ContainsAny(spec.SessionID, `/\: `) || strings.HasPrefix(spec.SessionID, ".") {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox: bad session id %q", p.d.name, spec.SessionID)
	}
	var set Settings
	if err := decodeStrict(spec.Environment.Sandbox, &set); err != nil {
		return nil, &hangar.Error{Kind: hangar.KindInvalidRequest, Message: fmt.Sprintf("environment sandbox settings for the %s provider: %v", p.d.name, err), Err: err}
	}
	if set.CPUs < 0 || set.MemoryMB < 0 {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "environment sandbox settings: negative cpus or memory_mb")
	}
	c := createSpec{
		name: vmName(spec.SessionID), session: spec.SessionID, provider: p.d.name,
		image:    orDefault(set.Image, p.cfg.Image),
		cpus:     nonZero(set.CPUs, p.cfg.CPUs),
		memoryMB: nonZero(set.MemoryMB, p.cfg.MemoryMB),
		mounts:   spec.Mounts,
	}
	h := handle{Session: spec.SessionID, Name: c.name, WorkDir: orDefault(spec.WorkDir, "/workspace"), HomeDir: orDefault(spec.HomeDir, "/home/agent")}
	for _, d := range []string{h.WorkDir, h.HomeDir} {
		if !path.IsAbs(d) || path.Clean(d) != d || d == "/" {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox: %q must be a clean absolute path other than /", p.d.name, d)
		}
	}
	if n := spec.Environment.Networking; n != nil && n.Type == "limited" {
		if !p.d.netPolicy {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s cannot enforce networking \"limited\": its VMs share the host's network; use apple-firecracker, docker or local", p.d.name)
		}
		hosts := slices.Clone(n.AllowedHosts)
		if p.cfg.EgressHost != "" {
			hosts = append(hosts, p.cfg.EgressHost)
		}
		c.netPolicy = "deny"
		if len(hosts) > 0 {
			c.netPolicy = "allow:" + strings.Join(hosts, ",")
		}
	} else {
		c.netPolicy = p.cfg.NetPolicy
	}
	if len(c.mounts) > 0 && p.d.mount == nil {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s cannot bind host paths into its VMs (mount %s); use an engine whose CLI is in the image", p.d.name, c.mounts[0].Target)
	}
	if spec.EgressSocket != "" && p.cfg.EgressHost == "" {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s: sessions reach the egress proxy over TCP from the VM; set the provider's egress_host to the host address the VMs see (apple-container: 192.168.64.1)", p.d.name)
	}

	state, err := p.state(ctx, c.name)
	if err != nil {
		return nil, fmt.Errorf("create %s sandbox %s: %w", p.d.name, c.session, err)
	}
	switch state {
	case stateMissing:
		_, err = p.cli(ctx, p.d.create(c)...)
	case stateStopped:
		_, err = p.cli(ctx, p.d.start(c.name)...)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s sandbox %s: %w", p.d.name, c.session, err)
	}
	sb := p.sandbox(h)
	if err := sb.setup(ctx); err != nil {
		if state == stateMissing {
			p.cli(context.WithoutCancel(ctx), p.d.remove(c.name)...)
		}
		return nil, fmt.Errorf("create %s sandbox %s: %w", p.d.name, c.session, err)
	}
	if spec.EgressSocket != "" {
		if err := sb.startEgress(ctx, spec.EgressSocket); err != nil {
			sb.Stop(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("create %s sandbox %s: egress: %w", p.d.name, c.session, err)
		}
	}
	return sb, nil
}

func nonZero(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// Recover implements provider.Provider: the VM must still exist (not_found_error
// otherwise); a stopped one is started again.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	var h handle
	if err := json.Unmarshal(raw, &h); err != nil || h.Name == "" || h.Session == "" {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox handle %q is malformed", p.d.name, raw)
	}
	if err := p.Available(ctx); err != nil {
		return nil, err
	}
	state, err := p.state(ctx, h.Name)
	if err != nil {
		return nil, fmt.Errorf("recover %s sandbox %s: %w", p.d.name, h.Session, err)
	}
	switch state {
	case stateMissing:
		return nil, hangar.NotFound(p.d.name+" sandbox", h.Session)
	case stateStopped:
		if _, err := p.cli(ctx, p.d.start(h.Name)...); err != nil {
			return nil, fmt.Errorf("recover %s sandbox %s: %w", p.d.name, h.Session, err)
		}
	}
	return p.sandbox(h), nil
}

// state lists the CLI's containers (or VMs) and reports name's.
func (p *Provider) state(ctx context.Context, name string) (vmState, error) {
	out, err := p.cli(ctx, p.d.list()...)
	if err != nil {
		return 0, err
	}
	states, err := p.d.parseList(out)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", p.d.bin, strings.Join(p.d.list(), " "), err)
	}
	st, ok := states[name]
	if !ok {
		return stateMissing, nil
	}
	return st, nil
}

func (p *Provider) sandbox(h handle) *Sandbox {
	raw, _ := json.Marshal(h)
	return &Sandbox{p: p, h: h, raw: raw, procs: make(map[*process]struct{})}
}

var errDestroyed = errors.New("destroyed")

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Checker  = (*Provider)(nil)
)
