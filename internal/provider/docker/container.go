package docker

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Paths inside a container.
const (
	forwarderPath = "/run/hangar/hangar"
	socketPath    = "/run/hangar/egress.sock"
	readyPath     = "/tmp/.hangar-forward-ready"
	sandboxPath   = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// containerSpec is what one session's container is made of.
type containerSpec struct {
	session, image, runtime string
	workDir, homeDir        string
	limits                  Limits
	egress                  string // host path of the egress socket, "" when none
	mounts                  []provider.Mount
}

func (c containerSpec) validate() error {
	const name = "docker"
	if err := checkPath(name, "work dir", c.workDir); err != nil {
		return err
	}
	if err := checkPath(name, "home dir", c.homeDir); err != nil {
		return err
	}
	if within(c.workDir, c.homeDir) || within(c.homeDir, c.workDir) {
		return hangar.Errorf(hangar.KindInvalidRequest, "docker sandbox: work dir %q and home dir %q overlap", c.workDir, c.homeDir)
	}
	for _, m := range c.mounts {
		if err := checkPath(name, "mount target", m.Target); err != nil {
			return err
		}
		if !filepath.IsAbs(m.Source) {
			return hangar.Errorf(hangar.KindInvalidRequest, "docker sandbox: mount source %q is not absolute", m.Source)
		}
	}
	return nil
}

// containerName and volumeName name a session's container and volumes, so that a session
// has at most one of each on an engine.
func containerName(session string) string    { return "hangar-" + session }
func volumeName(session, what string) string { return "hangar-" + session + "-" + what }

var removeOptions = container.RemoveOptions{Force: true}

// createContainer creates (not starts) the session's container, replacing one left from
// an earlier Create, and its volumes unless they exist.
func (p *Provider) createContainer(ctx context.Context, c containerSpec) (string, error) {
	if err := p.pullIfMissing(ctx, c.image); err != nil {
		return "", err
	}
	labels := map[string]string{labelProvider: p.name, labelSession: c.session}
	mounts := []mount.Mount{}
	for _, v := range []struct{ what, target string }{{"workspace", c.workDir}, {"home", c.homeDir}} {
		name := volumeName(c.session, v.what)
		if _, err := p.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels}); err != nil {
			return "", fmt.Errorf("create volume %s: %w", name, err)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: v.target})
	}
	for _, m := range c.mounts {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	// The main process keeps the container up: the egress forwarder when there is a proxy
	// to reach, else a sleep. Execs are its siblings.
	cmd := []string{"sleep", "infinity"}
	if c.egress != "" {
		mounts = append(mounts,
			mount.Mount{Type: mount.TypeBind, Source: p.forwarder, Target: forwarderPath, ReadOnly: true},
			mount.Mount{Type: mount.TypeBind, Source: c.egress, Target: socketPath, ReadOnly: true})
		cmd = []string{forwarderPath, "forward", "--listen", provider.EgressAddr, "--socket", socketPath, "--ready", readyPath}
	}
	cfg := &container.Config{
		Image:      c.image,
		Cmd:        cmd,
		Entrypoint: []string{},
		// The main process is root so that the setup exec (root) has its capabilities;
		// every Exec runs as p.user, without any.
		User:       "0:0",
		Env:        []string{"PATH=" + sandboxPath, "HOME=" + c.homeDir, "LANG=C.UTF-8"},
		WorkingDir: c.workDir,
		Hostname:   "sandbox",
		Labels:     labels,
	}
	init := p.init
	host := &container.HostConfig{
		NetworkMode: "none",
		Mounts:      mounts,
		Runtime:     c.runtime,
		Init:        &init,
		// A fresh /tmp per start: also where the forwarder's ready file and Exec's pid
		// files live, which must not survive a restart.
		Tmpfs:       map[string]string{"/tmp": "rw,nosuid,nodev,exec,mode=1777"},
		CapDrop:     []string{"NET_RAW", "MKNOD", "AUDIT_WRITE", "SYS_CHROOT"},
		SecurityOpt: []string{"no-new-privileges"},
		Resources: container.Resources{
			Memory:    int64(c.limits.MemoryMB) << 20,
			NanoCPUs:  int64(c.limits.CPUs * 1e9),
			CPUShares: int64(c.limits.CPUShares),
		},
	}
	if c.limits.MemoryMB != 0 {
		host.MemorySwap = host.Memory // no swap beyond the limit
	}
	if c.limits.Pids != 0 {
		pids := int64(c.limits.Pids)
		host.PidsLimit = &pids
	}
	name := containerName(c.session)
	if err := p.cli.ContainerRemove(ctx, name, removeOptions); err != nil && !client.IsErrNotFound(err) {
		return "", fmt.Errorf("remove the earlier container: %w", err)
	}
	resp, err := p.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	return resp.ID, nil
}

// setupScript runs as root in a container that was just started: it gives the agent's
// user the volumes (new ones are root's) and a passwd entry, and waits for the egress
// forwarder to listen. $1 is "chown" on the first boot; $2 and $3 are the work dir and home,
// $4 the uid:gid and $5 whether to wait for the forwarder.
const setupScript = `set -e
if [ "$1" = chown ]; then
	chown "$4" "$2" "$3"
	uid=${4%%:*}; gid=${4##*:}
	grep -q "^[^:]*:[^:]*:$uid:" /etc/passwd 2>/dev/null || echo "agent:x:$uid:$gid:agent:$3:/bin/sh" >> /etc/passwd || true
	grep -q "^[^:]*:[^:]*:$gid:" /etc/group 2>/dev/null || echo "agent:x:$gid:" >> /etc/group || true
fi
if [ "$5" = 1 ]; then
	i=0
	while [ ! -e ` + readyPath + ` ]; do
		i=$((i+1))
		if [ $i -gt 2000 ]; then echo "hangar: the egress forwarder did not start" >&2; exit 125; fi
		sleep 0.005
	done
fi`

// boot starts the container and prepares it (setupScript).
func (s *Sandbox) boot(ctx context.Context, first bool) error {
	if err := s.p.cli.ContainerStart(ctx, s.h.Container, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	chown, wait := "-", "0"
	if first {
		chown = "chown"
	}
	if s.h.Egress {
		wait = "1"
	}
	out, code, err := s.run(ctx, "0:0", "/bin/sh", "-c", setupScript, "setup", chown, s.h.WorkDir, s.h.HomeDir, s.p.user, wait)
	if err != nil {
		return fmt.Errorf("set the container up: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("set the container up: exit %d: %s", code, out)
	}
	return nil
}
