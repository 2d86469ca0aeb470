package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is the private server of this test process.
type cluster struct {
	dir string
	url string
	// stop is the write end of the supervisor's stdin: it closes when the process exits,
	// and the supervisor then stops the server and removes dir. Kept referenced so it is
	// never finalized (closed) early.
	stop *os.File
}

// startTimeout bounds initdb plus the server becoming ready, on a loaded machine.
const startTimeout = 2 * time.Minute

// supervisor runs the server and, once its stdin reaches EOF (the test process is gone),
// stops it with a fast shutdown and deletes the cluster's directory.
const supervisor = `
"$PGBIN/postgres" -D "$PGDIR/data" -k "$PGDIR" -c listen_addresses= \
	-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
	-c max_connections=300 -c shared_buffers=32MB \
	</dev/null >"$PGDIR/postgres.log" 2>&1 &
pid=$!
read -r _ || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$PGDIR"
`

func startCluster() (*cluster, error) {
	bin, err := serverBin()
	if err != nil {
		return nil, err
	}
	// initdb and postgres refuse to run as root: run them as the postgres user then.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp(socketParent(), "hangar-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	r, w, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sh := exec.Command("/bin/sh", "-c", supervisor)
	sh.Env = append(os.Environ(), "PGBIN="+bin, "PGDIR="+dir)
	sh.Stdin = r
	// Its own process group: a Ctrl-C at the terminal reaches the test process, whose
	// exit then stops the cluster, not the supervisor directly (which would leave dir).
	sh.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := sh.Start(); err != nil {
		r.Close()
		w.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	r.Close()
	exited := make(chan struct{})
	go func() {
		_ = sh.Wait()
		close(exited)
	}()

	c := &cluster{dir: dir, stop: w,
		url: "postgres://postgres@/postgres?host=" + url.QueryEscape(dir) + "&sslmode=disable"}
	if err := c.waitReady(ctx, exited); err != nil {
		w.Close() // the supervisor stops the server and removes dir
		return nil, err
	}
	return c, nil
}

// waitReady connects until the server answers, with a short backoff, until ctx ends or the
// supervisor exits.
func (c *cluster) waitReady(ctx context.Context, exited <-chan struct{}) error {
	backoff := 5 * time.Millisecond
	for {
		conn, err := pgx.Connect(ctx, c.url)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-exited:
			t.Stop()
			return fmt.Errorf("postgres exited while starting: %s", c.log())
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres not ready after %v: %v; log: %s", startTimeout, err, c.log())
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func (c *cluster) log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	return strings.TrimSpace(string(b))
}

// serverBin finds the directory holding initdb and postgres: the newest Debian/Ubuntu
// /usr/lib/postgresql/<version>/bin, else the PATH.
func serverBin() (string, error) { return findBin("/usr/lib/postgresql/*/bin") }

// findBin looks in the directories matching pattern, newest version first, then the PATH.
func findBin(pattern string) (string, error) {
	dirs, _ := filepath.Glob(pattern)
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", &skipError{"pgtest: the PostgreSQL server binaries (initdb, postgres) are not installed " +
		"(Debian/Ubuntu: apt-get install postgresql, or run scripts/install-test-deps); or set " + EnvURL}
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// socketParent returns where the cluster's dir goes: the temp dir, unless its path is too
// long for a unix socket name (about 107 bytes with ".s.PGSQL.5432" and the random part).
func socketParent() string {
	if d := os.TempDir(); len(d) <= 64 {
		return d
	}
	return "/tmp"
}
