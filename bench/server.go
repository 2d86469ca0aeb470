package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one `hangar serve` child process on a loopback port with its own data dir.
type server struct {
	cmd     *exec.Cmd
	addr    string // host:port
	apiKey  string
	logPath string
	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid after exited is closed
}

// buildServer compiles pkg into dir and returns the binary's path.
func buildServer(ctx context.Context, pkg, dir string) (string, error) {
	bin := filepath.Join(dir, "hangar")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// startServer starts bin on a free loopback port with dataDir and waits until /healthz
// answers 200 or ctx ends. env is added to the child's environment (GOGC=50, say). The
// child inherits this process's RLIMIT_NOFILE.
func startServer(ctx context.Context, bin, dataDir, logPath string, env []string) (*server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	key, err := randomKey()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create server log: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor

	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn")
	cmd.Env = append(append(os.Environ(), env...), "HANGAR_API_KEY="+key)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{cmd: cmd, addr: addr, apiKey: key, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w (server log: %s)\n%s", err, logPath, tail(logPath, 2000))
	}
	return s, nil
}

// waitHealthy polls GET /healthz every 50 ms for at most limit.
func (s *server) waitHealthy(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before it was healthy: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("server not healthy after %v: %w", limit, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop asks the server to shut down (SIGTERM), and kills it after 15 s.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// pid is the server's process ID.
func (s *server) pid() int { return s.cmd.Process.Pid }

// procStatus is the part of /proc/PID/status the bench reports.
type procStatus struct {
	RSS     int64 // bytes (VmRSS)
	HWM     int64 // bytes (VmHWM, peak RSS)
	Threads int
}

// readProcStatus reads /proc/PID/status.
func readProcStatus(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	if st.RSS, err = parseVmRSS(string(b)); err != nil {
		return procStatus{}, err
	}
	st.HWM, _ = parseStatusKB(string(b), "VmHWM:")
	if v, ok := statusField(string(b), "Threads:"); ok {
		st.Threads, _ = strconv.Atoi(v)
	}
	return st, nil
}

// parseVmRSS returns VmRSS in bytes from the text of /proc/PID/status.
func parseVmRSS(status string) (int64, error) { return parseStatusKB(status, "VmRSS:") }

func parseStatusKB(status, key string) (int64, error) {
	v, ok := statusField(status, key)
	if !ok {
		return 0, fmt.Errorf("no %s in /proc status", key)
	}
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s %q: %w", key, v, err)
	}
	return kb * 1024, nil
}

func statusField(status, key string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// raiseNoFile raises RLIMIT_NOFILE to want (raising the hard limit too when privileged),
// or else to the hard limit, and returns the soft limit now in force. Children started
// afterwards inherit it.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return lim.Cur, nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "sk-bench-" + hex.EncodeToString(b[:]), nil
}

// tail returns at most the last n bytes of the file at path.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-n)
	b := make([]byte, fi.Size()-off)
	k, _ := f.ReadAt(b, off)
	return string(b[:k])
}
