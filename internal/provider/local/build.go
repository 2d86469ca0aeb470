package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Environment builds (docs/sandboxes.md "Environment builds").
//
// bubblewrap 0.8 (Debian 12) has no overlay mounts, and an overlay needs either root or
// a kernel overlay mount of our own, so a layer is not an upper dir over the host's /usr
// but a prefix of its own: a directory mounted read-only at layerPath in every sandbox of
// the environment, with PATH, LD_LIBRARY_PATH, NODE_PATH, PYTHONPATH and GEM_PATH pointing
// into it (the scheme of Heroku's apt buildpack). apt packages are unpacked into it with
// dpkg-deb -x, which needs no root; the other managers install into layerPath/usr/local.
// The build runs in the same sandbox as sessions, but with the layer writable and the apt
// metadata readable; its network is the build's egress proxy attachment when it has one
// (like a session's), else the host's.
const (
	layerPath = "/opt/hangar/env"
	layersDir = ".layers" // under the state dir; session IDs never start with a dot
)

// layerEnv is the environment of sandboxes with a layer: the layer's directories first.
var layerEnv = [][2]string{
	{"PATH", layerPath + "/usr/local/bin:" + layerPath + "/usr/bin:" + layerPath + "/bin:" + sandboxPath},
	{"LD_LIBRARY_PATH", layerPath + "/usr/lib/x86_64-linux-gnu:" + layerPath + "/usr/lib/aarch64-linux-gnu:" + layerPath + "/usr/lib:" + layerPath + "/lib/x86_64-linux-gnu:" + layerPath + "/lib"},
	{"NODE_PATH", layerPath + "/usr/local/lib/node_modules"},
	{"PYTHONPATH", layerPath + "/usr/local/lib/python3/site-packages"},
	{"GEM_PATH", layerPath + "/usr/local/lib/gems"},
}

// buildScript installs $HANGAR_<MANAGER> (space-separated, validated by
// provider.CheckPackages) into $L. set -f: entries like "foo*" must not glob.
const buildScript = `set -eu
set -f
L=` + layerPath + `
step() { echo "==> $*"; }
if [ -n "${HANGAR_APT:-}" ]; then
	step "apt: resolving $HANGAR_APT"
	out=$(apt-get install --simulate --no-install-recommends -o Debug::NoLocking=1 $HANGAR_APT 2>&1) || { echo "$out"; echo "apt: cannot resolve $HANGAR_APT" >&2; exit 1; }
	pkgs=$(echo "$out" | awk '/^Inst /{print $2}')
	if [ -n "$pkgs" ]; then
		step "apt: downloading" $pkgs
		mkdir -p /tmp/debs && cd /tmp/debs
		apt-get download -o Debug::NoLocking=1 $pkgs
		set +f
		for d in *.deb; do step "apt: unpacking $d"; dpkg-deb -x "$d" "$L"; done
		set -f
		cd /
	else
		step "apt: already installed on the host: $HANGAR_APT"
	fi
fi
if [ -n "${HANGAR_NPM:-}" ]; then
	step "npm: installing $HANGAR_NPM"
	npm install -g --prefix "$L/usr/local" --no-audit --no-fund --no-update-notifier --cache /tmp/npm-cache $HANGAR_NPM
fi
if [ -n "${HANGAR_GO:-}" ]; then
	step "go: installing $HANGAR_GO"
	GOBIN="$L/usr/local/bin" GOPATH=/tmp/go GOCACHE=/tmp/go-cache go install $HANGAR_GO
fi
if [ -n "${HANGAR_PIP:-}" ]; then
	step "pip: installing $HANGAR_PIP"
	python3 -m pip install --no-cache-dir --break-system-packages --target "$L/usr/local/lib/python3/site-packages" $HANGAR_PIP
fi
if [ -n "${HANGAR_CARGO:-}" ]; then
	step "cargo: installing $HANGAR_CARGO"
	CARGO_HOME=/tmp/cargo cargo install --root "$L/usr/local" $HANGAR_CARGO
fi
if [ -n "${HANGAR_GEM:-}" ]; then
	step "gem: installing $HANGAR_GEM"
	gem install --no-document --install-dir "$L/usr/local/lib/gems" --bindir "$L/usr/local/bin" $HANGAR_GEM
fi
step "done"
`

// passEnv are the server's environment variables a build inherits: proxies, registry
// settings and CA bundles the installers need on this host.
var passEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS", "GOTOOLCHAIN",
	"npm_config_registry", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
	// CA bundles of hosts behind a TLS-inspecting proxy (paths under the bound /etc/ssl).
	"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}

func isProxyVar(k string) bool {
	return strings.HasSuffix(strings.ToLower(k), "_proxy")
}

// buildMounts are host paths a build reads besides the sandbox system: the apt and dpkg
// state (to resolve and download packages) and the resolver config (network).
var buildMounts = []string{"/etc/apt", "/etc/dpkg", "/etc/resolv.conf", "/var/lib/apt", "/var/lib/dpkg", "/var/cache/apt", "/etc/npmrc"}

// Build implements provider.Builder: it installs spec.Packages into
// stateDir/.layers/<key> (built in a temporary directory, renamed when complete) and
// returns that directory. An existing layer is returned at once.
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	if spec.Key == "" || strings.ContainsAny(spec.Key, `/\.`) {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "local build: bad key %q", spec.Key)
	}
	if err := provider.CheckPackages(&spec.Packages); err != nil {
		return "", err
	}
	log := spec.Log
	if log == nil {
		log = io.Discard
	}
	final := filepath.Join(p.stateDir, layersDir, spec.Key)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		fmt.Fprintf(log, "==> layer %s already built\n", spec.Key)
		return final, nil
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	tmp := final + ".tmp-" + hex.EncodeToString(rnd[:])
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("local build: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if spec.EgressSocket != "" {
		if _, err := os.Stat(spec.EgressSocket); err != nil {
			return "", fmt.Errorf("local build %s: egress socket: %w", spec.Key, err)
		}
	}
	args := []string{"--unshare-all"}
	if spec.EgressSocket == "" {
		args = append(args, "--share-net") // no proxy: the host's network
	}
	args = append(args, "--unshare-user", "--disable-userns",
		"--die-with-parent", "--new-session",
		"--uid", sandboxUID, "--gid", sandboxUID, "--hostname", "sandbox",
	)
	args = append(args, p.system...)
	for _, m := range buildMounts {
		if _, err := os.Stat(m); err == nil {
			args = append(args, "--ro-bind", m, m)
		}
	}
	if spec.EgressSocket != "" {
		args = append(args,
			"--ro-bind", p.forwarder, forwarderPath,
			"--ro-bind", spec.EgressSocket, socketPath)
	}
	args = append(args,
		"--proc", "/proc", "--remount-ro", "/proc",
		"--dev", "/dev", "--tmpfs", "/tmp",
		"--bind", tmp, layerPath,
		"--remount-ro", "/",
		"--chdir", "/tmp",
		"--clearenv",
		"--setenv", "PATH", sandboxPath,
		"--setenv", "HOME", "/tmp",
		"--setenv", "LANG", "C.UTF-8",
	)
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok && (spec.EgressSocket == "" || !isProxyVar(k)) {
			args = append(args, "--setenv", k, v)
		}
	}
	if spec.EgressSocket != "" {
		// apt, npm, go, pip, cargo and gem all honour these.
		proxy := "http://" + provider.EgressAddr
		for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
			args = append(args, "--setenv", k, proxy)
		}
	}
	pk := spec.Packages
	for _, l := range []struct {
		name string
		list []string
	}{{"APT", pk.Apt}, {"NPM", pk.Npm}, {"GO", provider.GoPackages(pk)}, {"PIP", pk.Pip}, {"CARGO", pk.Cargo}, {"GEM", pk.Gem}} {
		if len(l.list) > 0 {
			args = append(args, "--setenv", "HANGAR_"+l.name, strings.Join(l.list, " "))
		}
	}
	args = append(args, "--")
	if spec.EgressSocket != "" {
		args = append(args, "/bin/sh", "-c", forwardScript, "sh")
	}
	args = append(args, "/bin/sh", "-c", buildScript)
	cmd := exec.CommandContext(ctx, p.bwrap, args...)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // a process that escaped the kill cannot hold the log pipe open forever
	fmt.Fprintf(log, "==> building layer %s: %s\n", spec.Key, provider.Describe(pk))
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("local build %s: %w", spec.Key, ctx.Err())
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("local build %s: the installers failed (exit status %d); see the build log", spec.Key, exit.ExitCode())
		}
		return "", fmt.Errorf("local build %s: %w", spec.Key, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if fi, serr := os.Stat(final); serr == nil && fi.IsDir() {
			return final, nil // built concurrently
		}
		return "", fmt.Errorf("local build %s: %w", spec.Key, err)
	}
	return final, nil
}

// checkLayer returns an invalid_request_error unless layer is a directory the provider
// built.
func (p *Provider) checkLayer(layer string) error {
	if layer == "" {
		return nil
	}
	if filepath.Dir(layer) != filepath.Join(p.stateDir, layersDir) {
		return hangar.Errorf(hangar.KindInvalidRequest, "local sandbox: layer %q is not one of this provider's", layer)
	}
	if fi, err := os.Stat(layer); err != nil || !fi.IsDir() {
		return hangar.NotFound("environment layer", filepath.Base(layer))
	}
	return nil
}

// Check implements provider.Checker: bwrap must be able to start a sandbox.
func (p *Provider) Check(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, p.bwrap, "--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "--", "/bin/true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("bubblewrap cannot create a sandbox: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

var (
	_ provider.Builder = (*Provider)(nil)
	_ provider.Checker = (*Provider)(nil)
)
