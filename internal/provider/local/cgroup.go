package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupRoot creates the per-sandbox cgroups, on cgroup v2 (one unified hierarchy with
// the memory and pids controllers) or v1 (one hierarchy per controller).
type cgroupRoot struct {
	v2 bool
	// dirs are the parent directories (one per hierarchy; one on v2) under which each
	// sandbox gets a child named after its session.
	memory, pids, cpu string // v1 parents ("" cpu when the cpu controller is absent)
	unified           string // v2 parent
}

// detectCgroups finds the cgroup hierarchies under fsRoot (normally /sys/fs/cgroup) and
// creates the parent cgroup.
func detectCgroups(fsRoot, parent string) (*cgroupRoot, error) {
	if b, err := os.ReadFile(filepath.Join(fsRoot, "cgroup.controllers")); err == nil {
		ctrls := strings.Fields(string(b))
		if slices.Contains(ctrls, "memory") && slices.Contains(ctrls, "pids") {
			r := &cgroupRoot{v2: true, unified: filepath.Join(fsRoot, parent)}
			enable := "+memory +pids"
			if slices.Contains(ctrls, "cpu") {
				enable += " +cpu"
			}
			if err := os.MkdirAll(r.unified, 0o755); err != nil {
				return nil, fmt.Errorf("cgroup v2: %w", err)
			}
			for _, d := range []string{fsRoot, r.unified} {
				if err := writeFile(filepath.Join(d, "cgroup.subtree_control"), enable); err != nil {
					return nil, fmt.Errorf("cgroup v2: enable controllers: %w", err)
				}
			}
			return r, nil
		}
	}
	r := &cgroupRoot{memory: filepath.Join(fsRoot, "memory", parent), pids: filepath.Join(fsRoot, "pids", parent)}
	if isDir(filepath.Join(fsRoot, "cpu")) {
		r.cpu = filepath.Join(fsRoot, "cpu", parent)
	}
	if !isDir(filepath.Join(fsRoot, "memory")) || !isDir(filepath.Join(fsRoot, "pids")) {
		return nil, fmt.Errorf("no cgroup v2 with memory and pids controllers nor cgroup v1 memory and pids hierarchies under %s", fsRoot)
	}
	for _, d := range r.v1dirs() {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup v1: %w", err)
		}
	}
	return r, nil
}

func (r *cgroupRoot) v1dirs() []string {
	dirs := []string{r.memory, r.pids}
	if r.cpu != "" {
		dirs = append(dirs, r.cpu)
	}
	return dirs
}

// cgroup is one sandbox's cgroup: a directory per hierarchy.
type cgroup struct {
	dirs []string // dirs[0] holds the authoritative cgroup.procs
	v2   bool
}

// create makes (or reuses) the sandbox's cgroup and writes its limits.
func (r *cgroupRoot) create(name string, l Limits) (*cgroup, error) {
	if r.v2 {
		cg := &cgroup{dirs: []string{filepath.Join(r.unified, name)}, v2: true}
		d := cg.dirs[0]
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		w := []kv{{"memory.max", max(l.MemoryMB, 0) << 20}, {"pids.max", l.Pids}}
		if fileExists(filepath.Join(d, "memory.swap.max")) {
			w = append(w, kv{"memory.swap.max", 0})
		}
		if l.CPUShares > 0 && fileExists(filepath.Join(d, "cpu.weight")) {
			// The conversion runc uses from cgroup v1 shares to v2 weight.
			w = append(w, kv{"cpu.weight", 1 + ((l.CPUShares-2)*9999)/262142})
		}
		if err := writeLimits(d, w); err != nil {
			return nil, err
		}
		if l.CPUs > 0 && fileExists(filepath.Join(d, "cpu.max")) {
			if err := writeFile(filepath.Join(d, "cpu.max"), fmt.Sprintf("%d 100000", int(l.CPUs*100000))); err != nil {
				return nil, fmt.Errorf("cgroup cpu.max: %w", err)
			}
		}
		return cg, nil
	}
	cg := &cgroup{}
	mem, pids := filepath.Join(r.memory, name), filepath.Join(r.pids, name)
	cg.dirs = []string{pids, mem}
	if r.cpu != "" {
		cg.dirs = append(cg.dirs, filepath.Join(r.cpu, name))
	}
	for _, d := range cg.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	memw := []kv{{"memory.limit_in_bytes", memValue(l.MemoryMB)}}
	if fileExists(filepath.Join(mem, "memory.memsw.limit_in_bytes")) {
		memw = append(memw, kv{"memory.memsw.limit_in_bytes", memValue(l.MemoryMB)})
	}
	if err := writeLimits(mem, memw); err != nil {
		return nil, err
	}
	if err := writeLimits(pids, []kv{{"pids.max", l.Pids}}); err != nil {
		return nil, err
	}
	if r.cpu != "" {
		cpu := cg.dirs[2]
		w := []kv{{"cpu.cfs_period_us", 100000}, {"cpu.cfs_quota_us", -1}, {"cpu.shares", 1024}}
		if l.CPUs > 0 {
			w[1].v = int(l.CPUs * 100000)
		}
		if l.CPUShares > 0 {
			w[2].v = l.CPUShares
		}
		if err := writeLimits(cpu, w); err != nil {
			return nil, err
		}
	}
	return cg, nil
}

type kv struct {
	k string
	v any
}

// memValue is a v1 memory limit: bytes, or -1 for none.
func memValue(mb int) int {
	if mb <= 0 {
		return -1
	}
	return mb << 20
}

func writeLimits(dir string, w []kv) error {
	for _, x := range w {
		v := fmt.Sprint(x.v)
		if n, ok := x.v.(int); ok && n <= 0 && (x.k == "memory.max" || x.k == "pids.max") {
			v = "max" // no limit
		}
		if err := writeFile(filepath.Join(dir, x.k), v); err != nil {
			return fmt.Errorf("cgroup %s: %w", x.k, err)
		}
	}
	return nil
}

// add moves pid into the cgroup (every hierarchy).
func (cg *cgroup) add(pid int) error {
	for _, d := range cg.dirs {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("cgroup: add process %d to %s: %w", pid, d, err)
		}
	}
	return nil
}

// procs lists the processes in the cgroup; none when it does not exist.
func (cg *cgroup) procs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(cg.dirs[0], "cgroup.procs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// kill ends every process of the cgroup and waits until it is empty. Killing the pid
// namespace's init (bwrap's) takes its whole namespace down; the loop catches stragglers
// forked meanwhile.
func (cg *cgroup) kill() error {
	if cg.v2 && fileExists(filepath.Join(cg.dirs[0], "cgroup.kill")) {
		writeFile(filepath.Join(cg.dirs[0], "cgroup.kill"), "1")
	}
	deadline := time.Now().Add(10 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		pids, err := cg.procs()
		if err != nil {
			return fmt.Errorf("cgroup: list processes: %w", err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %d processes survive SIGKILL", cg.dirs[0], len(pids))
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(delay)
	}
}

// remove deletes the cgroup's directories (they must be empty of processes).
func (cg *cgroup) remove() error {
	var errs []error
	for _, d := range cg.dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("cgroup: remove %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

func writeFile(name, v string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
