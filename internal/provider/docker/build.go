package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Environment builds (docs/sandboxes.md "Environment builds").
//
// A layer is an image: the installers run as root in a container of the environment's
// base image (with the session containers' isolation: no network but the build's egress
// attachment, reached through the forwarder), and the container is committed as
// hangar-env-<key>:<base>, where <base> hashes the base image's reference (the build key
// names only the provider and the packages, and environments of one provider may pick
// different images). Sessions of the environment are containers of that image.
const (
	layerRepoPrefix = "hangar-env-"
	labelBuild      = "dev.hangar.build"
	labelBase       = "dev.hangar.base"
)

// buildKey is what a key must look like to name an image repository.
var buildKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,99}$`)

// layerRef is the image a build of key from the base image base is committed as.
func layerRef(key, base string) string {
	sum := sha256.Sum256([]byte(base))
	return layerRepoPrefix + key + ":base-" + hex.EncodeToString(sum[:6])
}

// buildScript runs as the build container's main process, as root. $1 is 1 when the
// egress forwarder must be started first; $2..$7 are the space-separated apt, npm, go,
// pip, cargo and gem packages (validated by provider.CheckPackages), $8 the base image
// (for messages). The packages are arguments, not environment variables: a commit keeps
// the container's environment in the image. set -f: entries like "foo*" must not glob.
var buildScript = fmt.Sprintf(`set -eu
set -f
export PATH=%[1]s HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1
step() { echo "==> $*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "==> $2: the image $IMAGE has no $1: use an image that has it (the environment's sandbox setting \"image\")" >&2; exit 1; }; }
IMAGE=$8
if [ "$1" = 1 ]; then
	%[2]s forward --listen %[3]s --socket %[4]s --ready %[5]s </dev/null >/dev/null 2>&1 &
	i=0
	while [ ! -e %[5]s ]; do
		i=$((i+1))
		if [ $i -gt 2000 ] || ! kill -0 $! 2>/dev/null; then echo "hangar: the egress forwarder did not start" >&2; exit 125; fi
		sleep 0.005
	done
	export HTTP_PROXY=http://%[3]s HTTPS_PROXY=http://%[3]s http_proxy=http://%[3]s https_proxy=http://%[3]s
	step "network: the egress proxy only"
fi
if [ -n "$2" ]; then
	need apt-get apt
	step "apt: updating the package lists"
	apt-get -q update
	step "apt: installing $2"
	apt-get -q install -y --no-install-recommends $2
	apt-get clean
	rm -rf /var/lib/apt/lists/*
fi
if [ -n "$3" ]; then
	need npm npm
	step "npm: installing $3"
	npm install -g --no-audit --no-fund --no-update-notifier --cache /tmp/npm-cache $3
fi
if [ -n "$4" ]; then
	need go go
	step "go: installing $4"
	GOBIN=/usr/local/bin GOPATH=/tmp/go GOCACHE=/tmp/go-cache go install $4
fi
if [ -n "$5" ]; then
	need python3 pip
	step "pip: installing $5"
	python3 -m pip install --no-cache-dir $5
fi
if [ -n "$6" ]; then
	need cargo cargo
	step "cargo: installing $6"
	CARGO_HOME=/tmp/cargo cargo install --root /usr/local $6
fi
if [ -n "$7" ]; then
	need gem gem
	step "gem: installing $7"
	gem install --no-document $7
fi
step "done"
`, sandboxPath, forwarderPath, provider.EgressAddr, socketPath, readyPath)

// passEnv are the server's registry settings a build inherits (exported by the script, so
// that the committed image does not keep them). Without an egress socket the server's
// proxy variables are passed too.
var passEnv = []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOTOOLCHAIN",
	"npm_config_registry", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"}

var proxyEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Build implements provider.Builder: it runs the installers in a container of the
// environment's base image and commits it as layerRef(spec.Key, base), which it returns.
// An existing image is returned at once; a failed build leaves no image.
func (p *Provider) Build(ctx context.Context, spec provider.BuildSpec) (string, error) {
	if !buildKey.MatchString(spec.Key) {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "%s build: bad key %q", p.name, spec.Key)
	}
	if err := provider.CheckPackages(&spec.Packages); err != nil {
		return "", err
	}
	var set Settings
	if err := decodeStrict(spec.Environment.Sandbox, &set); err != nil {
		return "", &hangar.Error{Kind: hangar.KindInvalidRequest, Message: fmt.Sprintf("environment sandbox settings for the %s provider: %v", p.name, err), Err: err}
	}
	limits := p.limits.override(set.Limits)
	if err := limits.validate(); err != nil {
		return "", hangar.Errorf(hangar.KindInvalidRequest, "environment sandbox settings: %v", err)
	}
	log := spec.Log
	if log == nil {
		log = io.Discard
	}
	base := orDefault(set.Image, p.image)
	ref := layerRef(spec.Key, base)
	if _, err := p.cli.ImageInspect(ctx, ref); err == nil {
		fmt.Fprintf(log, "==> image %s already built\n", ref)
		return ref, nil
	} else if !client.IsErrNotFound(err) {
		return "", fmt.Errorf("%s build %s: %w", p.name, spec.Key, err)
	}
	if spec.EgressSocket != "" {
		if _, err := os.Stat(spec.EgressSocket); err != nil {
			return "", fmt.Errorf("%s build %s: egress socket: %w", p.name, spec.Key, err)
		}
	}
	fmt.Fprintf(log, "==> building image %s from %s: %s\n", ref, base, provider.Describe(spec.Packages))
	if err := p.pullIfMissing(ctx, base); err != nil {
		return "", fmt.Errorf("%s build %s: %w", p.name, spec.Key, err)
	}
	baseInfo, err := p.cli.ImageInspect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("%s build %s: inspect %s: %w", p.name, spec.Key, base, err)
	}
	id, err := p.createBuildContainer(ctx, spec, set, base, limits)
	if err != nil {
		return "", fmt.Errorf("%s build %s: %w", p.name, spec.Key, err)
	}
	// The container goes whatever happens; only its committed image stays.
	defer p.cli.ContainerRemove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	steps := &stepWriter{w: log}
	code, err := p.runBuildContainer(ctx, id, steps)
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s build %s: %w", p.name, spec.Key, ctx.Err())
	case err != nil:
		return "", fmt.Errorf("%s build %s: %w", p.name, spec.Key, err)
	case code != 0:
		what := "the installers"
		if s := steps.last(); s != "" {
			what = s
		}
		return "", fmt.Errorf("%s build %s: %s failed (exit status %d); see the build log", p.name, spec.Key, what, code)
	}
	if _, err := p.cli.ContainerCommit(ctx, id, container.CommitOptions{
		Reference: ref,
		Comment:   "hangar environment build: " + provider.Describe(spec.Packages),
		Changes:   baseChanges(baseInfo),
		// Empty but present: podman's API needs a body; the changes above say what differs.
		Config: &container.Config{},
	}); err != nil {
		return "", fmt.Errorf("%s build %s: commit: %w", p.name, spec.Key, err)
	}
	fmt.Fprintf(log, "==> committed %s\n", ref)
	return ref, nil
}

// baseChanges is commitChanges for the base image's config, which may be absent.
func baseChanges(info image.InspectResponse) []string {
	c := info.Config
	if c == nil {
		return commitChanges(nil, nil, "", "")
	}
	return commitChanges(c.Entrypoint, c.Cmd, c.User, c.WorkingDir)
}

// commitChanges restores the base image's entrypoint, command, user and working dir in
// the committed image, which would otherwise keep the build container's.
func commitChanges(entrypoint, cmd []string, user, workDir string) []string {
	js := func(l []string) string {
		if l == nil {
			l = []string{}
		}
		b, _ := json.Marshal(l)
		return string(b)
	}
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	out := []string{"ENTRYPOINT " + js(entrypoint), "CMD " + js(cmd), "USER " + orDefault(user, "0")}
	if workDir != "" {
		out = append(out, "WORKDIR "+workDir)
	}
	return out
}

// createBuildContainer creates (not starts) the container running buildScript.
func (p *Provider) createBuildContainer(ctx context.Context, spec provider.BuildSpec, set Settings, base string, limits Limits) (string, error) {
	pk := spec.Packages
	var pre strings.Builder
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			fmt.Fprintf(&pre, "export %s=%s\n", k, shellQuote(v))
		}
	}
	mounts := []mount.Mount{}
	egress := "0"
	network := "" // the engine's default network: the build's way out when it has no proxy
	if spec.EgressSocket != "" {
		egress, network = "1", "none"
		mounts = append(mounts,
			mount.Mount{Type: mount.TypeBind, Source: p.forwarder, Target: forwarderPath, ReadOnly: true},
			mount.Mount{Type: mount.TypeBind, Source: spec.EgressSocket, Target: socketPath, ReadOnly: true})
	} else {
		for _, k := range proxyEnv {
			if v, ok := os.LookupEnv(k); ok {
				fmt.Fprintf(&pre, "export %s=%s\n", k, shellQuote(v))
			}
		}
	}
	cfg := &container.Config{
		Image:      base,
		Entrypoint: []string{},
		Cmd: []string{"/bin/sh", "-c", pre.String() + buildScript, "build", egress,
			strings.Join(pk.Apt, " "), strings.Join(pk.Npm, " "), strings.Join(provider.GoPackages(pk), " "),
			strings.Join(pk.Pip, " "), strings.Join(pk.Cargo, " "), strings.Join(pk.Gem, " "), base},
		// Root: apt-get install needs it. The environment of the image is left alone (a
		// commit keeps it); the script exports what the installers need.
		User:         "0:0",
		Hostname:     "sandbox",
		AttachStdout: true,
		AttachStderr: true,
		Labels:       map[string]string{labelProvider: p.name, labelBuild: spec.Key, labelBase: base},
	}
	init := p.init
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(network),
		Mounts:      mounts,
		Runtime:     orDefault(set.Runtime, p.runtime),
		Init:        &init,
		// Caches and the forwarder's ready file: not part of the image.
		Tmpfs:       map[string]string{"/tmp": "rw,nosuid,nodev,exec,mode=1777"},
		CapDrop:     []string{"NET_RAW"},
		SecurityOpt: []string{"no-new-privileges"},
		Resources: container.Resources{
			Memory:    int64(limits.MemoryMB) << 20,
			NanoCPUs:  int64(limits.CPUs * 1e9),
			CPUShares: int64(limits.CPUShares),
		},
	}
	if limits.MemoryMB != 0 {
		host.MemorySwap = host.Memory
	}
	if limits.Pids != 0 {
		pids := int64(limits.Pids)
		host.PidsLimit = &pids
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "hangar-build-" + spec.Key + "-" + hex.EncodeToString(rnd[:])
	resp, err := p.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("create the build container: %w", err)
	}
	return resp.ID, nil
}

// runBuildContainer starts the container with its output streamed to log and returns its
// exit status.
func (p *Provider) runBuildContainer(ctx context.Context, id string, log io.Writer) (int, error) {
	// Attached before the start, so that no output is missed.
	conn, err := p.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return 0, fmt.Errorf("attach the build container: %w", err)
	}
	defer conn.Close()
	// The hijacked stream does not watch ctx: closing it ends the copy on cancellation.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := p.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return 0, fmt.Errorf("start the build container: %w", err)
	}
	lw := &lockedWriter{w: log}
	stdcopy.StdCopy(lw, lw, conn.Reader) // ends when the container exits (or ctx ends)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	waitc, errc := p.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitc:
		if w.Error != nil && w.Error.Message != "" {
			return 0, fmt.Errorf("wait for the build container: %s", w.Error.Message)
		}
		return int(w.StatusCode), nil
	case err := <-errc:
		return 0, fmt.Errorf("wait for the build container: %w", err)
	}
}

// lockedWriter serialises writes: the log may be shared with readers of the build log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// stepWriter passes output through and remembers the last "==> step" line, which names
// the installer step a failed build failed in.
type stepWriter struct {
	w       io.Writer
	mu      sync.Mutex
	partial []byte
	step    string
}

func (s *stepWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		if line, ok := strings.CutPrefix(string(s.partial[:i]), "==> "); ok && line != "done" {
			s.step = line
		}
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 4096 { // a long line without a newline is no step
		s.partial = s.partial[:0]
	}
	s.mu.Unlock()
	return s.w.Write(b)
}

func (s *stepWriter) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.step
}

// checkLayer returns an invalid_request_error unless layer is an image reference Build
// returns, and a not_found_error when the engine no longer has it.
func (p *Provider) checkLayer(ctx context.Context, layer string) error {
	if !strings.HasPrefix(layer, layerRepoPrefix) || strings.ContainsAny(layer, "/@") {
		return hangar.Errorf(hangar.KindInvalidRequest, "%s sandbox: layer %q is not one of this provider's images", p.name, layer)
	}
	_, err := p.cli.ImageInspect(ctx, layer)
	switch {
	case client.IsErrNotFound(err):
		return hangar.NotFound("environment layer", layer)
	case err != nil:
		return fmt.Errorf("%s sandbox: inspect the layer %s: %w", p.name, layer, err)
	}
	return nil
}

var _ provider.Builder = (*Provider)(nil)
