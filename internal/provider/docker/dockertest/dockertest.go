// Package dockertest starts a private, real Docker engine (dockerd from Debian's docker.io)
// for tests, with its own data, exec and socket paths and no iptables or bridge changes,
// and gives it a small Debian image built once with debootstrap (no registry is needed).
package dockertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Image is the reference the base image is imported as.
const Image = "hangar-test/debian:bookworm-minbase"

// RuntimeGVisor is the runtime name under which Start registers runsc, when installed.
const RuntimeGVisor = "runsc"

// HasGVisor reports whether runsc is installed (Start then registers it).
func HasGVisor() bool {
	_, err := exec.LookPath("runsc")
	return err == nil
}

// Daemon is a running private dockerd.
type Daemon struct {
	// Host is the engine's API address (unix://...).
	Host string
	dir  string
	cmd  *exec.Cmd
	exit chan error
	// podman is the podman command line (with its storage flags) when the engine is
	// podman's API service.
	podman []string
}

// CacheDir returns where the base image's tarball is kept: HANGAR_CACHE_DIR, else the
// user cache dir + /hangar; "docker" under it.
func CacheDir() (string, error) {
	dir := os.Getenv("HANGAR_CACHE_DIR")
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(c, "hangar")
	}
	return filepath.Join(dir, "docker"), nil
}

// Start starts dockerd with its state under a new temporary directory and waits until it
// answers. The error says why when dockerd is missing or cannot start.
func Start(ctx context.Context) (*Daemon, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, errors.New("dockerd is not installed (scripts/install-test-deps installs docker.io)")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("dockerd needs root")
	}
	// Short: the socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "hd")
	if err != nil {
		return nil, err
	}
	d := &Daemon{Host: "unix://" + filepath.Join(dir, "docker.sock"), dir: dir, exit: make(chan error, 1)}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	// gVisor (runsc from Debian) as the runtime "runsc" when installed: ptrace (no KVM
	// here), no network (gVisor then has only its own loopback), and host unix sockets allowed
	// so the egress socket bound in can be reached.
	daemonJSON := "{}"
	if runsc, err := exec.LookPath("runsc"); err == nil {
		daemonJSON = fmt.Sprintf(`{"runtimes": {%q: {"path": %q, "runtimeArgs": ["--platform=ptrace", "--network=none", "--host-uds=open"]}}}`, RuntimeGVisor, runsc)
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(daemonJSON), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d.cmd = exec.Command(bin, "--config-file", filepath.Join(dir, "daemon.json"),
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", d.Host,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false", "--ip-masq=false",
		"--containerd-namespace", "hangar-test-"+filepath.Base(dir),
		"--cgroup-parent", "hangar-test-"+filepath.Base(dir),
		// Root here cannot raise RLIMIT_NOFILE past the hard limit (feasibility.md §A).
		"--default-ulimit", "nofile=20000:20000",
	)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	if err := d.waitReady(ctx, "dockerd"); err != nil {
		return nil, err
	}
	return d, nil
}

// StartPodman starts podman's Docker-compatible API service (podman system service) with
// its storage, run and temporary directories under a new temporary directory, the runc
// runtime (crun needs a cgroup tweak on hybrid hosts, feasibility.md §A) and cgroupfs.
func StartPodman(ctx context.Context) (*Daemon, error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, errors.New("podman is not installed (scripts/install-test-deps installs it)")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the podman tests need root")
	}
	dir, err := os.MkdirTemp("", "hp")
	if err != nil {
		return nil, err
	}
	// Root here cannot raise RLIMIT_NOFILE past the hard limit (feasibility.md §A).
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &Daemon{Host: "unix://" + filepath.Join(dir, "podman.sock"), dir: dir, exit: make(chan error, 1)}
	d.podman = []string{bin, "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "overlay", "--runtime", "runc",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer log.Close()
	d.cmd = exec.Command(d.podman[0], append(d.podman[1:], "system", "service", "--time", "0", d.Host)...)
	d.cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start podman: %w", err)
	}
	if err := d.waitReady(ctx, "podman system service"); err != nil {
		return nil, err
	}
	return d, nil
}

// waitReady waits until the engine answers; on failure it closes d.
func (d *Daemon) waitReady(ctx context.Context, what string) error {
	dir := d.dir
	go func() { d.exit <- d.cmd.Wait() }()
	cli, err := d.Client()
	if err != nil {
		d.Close()
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The engines have no readiness notification without systemd: ask until one answers.
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		if _, err := cli.Ping(ctx); err == nil {
			return nil
		}
		select {
		case err := <-d.exit:
			d.exit <- err
			out, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
			d.Close()
			return fmt.Errorf("%s exited (%v): %s", what, err, tail(string(out)))
		case <-ctx.Done():
			d.Close()
			return fmt.Errorf("%s did not answer: %w", what, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// Client returns a client of the daemon.
func (d *Daemon) Client() (*client.Client, error) {
	return client.NewClientWithOpts(client.WithHost(d.Host), client.WithAPIVersionNegotiation())
}

// Close stops the engine (SIGTERM; dockerd stops its containers, podman's are removed
// first) and removes its state.
func (d *Daemon) Close() {
	if d.podman != nil {
		exec.Command(d.podman[0], append(d.podman[1:], "rm", "--all", "--force", "--time", "0")...).Run()
	}
	if d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exit:
		case <-time.After(30 * time.Second):
			d.cmd.Process.Kill()
			<-d.exit
		}
	}
	// Shims, conmons and runsc sandboxes outlive their engine (by design, for live
	// restore); those of this private engine name its directory on their command line.
	d.killLeftovers()
	// Volumes and containers of the data root may still be mounted.
	exec.Command("sh", "-c", `grep -o " $0[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l`, d.dir).Run()
	os.RemoveAll(d.dir)
}

// ImportBase imports the base image (BaseTarball) into the daemon as Image.
func (d *Daemon) ImportBase(ctx context.Context) error {
	tarball, err := BaseTarball(ctx)
	if err != nil {
		return err
	}
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	cli, err := d.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: f, SourceName: "-"}, Image, image.ImportOptions{})
	if err != nil {
		return fmt.Errorf("import %s: %w", tarball, err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil || strings.Contains(string(out), `"error"`) {
		return fmt.Errorf("import %s: %v %s", tarball, err, out)
	}
	return nil
}

// BaseTarball returns the path of a tarball of a Debian bookworm minbase root filesystem,
// built once with debootstrap (about a minute) and kept under CacheDir. The mirror is
// HANGAR_DEBIAN_MIRROR, default http://deb.debian.org/debian.
func BaseTarball(ctx context.Context) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "debian-bookworm-minbase.tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", errors.New("debootstrap is not installed (scripts/install-test-deps installs it)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	root, err := os.MkdirTemp(dir, "rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	mirror := os.Getenv("HANGAR_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	if b, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "bookworm", root, mirror).CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap: %w: %s", err, tail(string(b)))
	}
	exec.CommandContext(ctx, "chroot", root, "apt-get", "clean").Run()
	tmp := out + ".tmp"
	if b, err := exec.CommandContext(ctx, "tar", "-C", root, "-cf", tmp, ".").CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("tar the rootfs: %w: %s", err, b)
	}
	return out, os.Rename(tmp, out)
}

// killLeftovers SIGKILLs the processes whose command line names the engine's directory.
func (d *Daemon) killLeftovers() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := os.Getpid()
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), d.dir+"/") {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(f, "/proc/%d/cmdline", &pid); err == nil && pid != self {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
