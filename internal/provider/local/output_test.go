package local

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOutputEndsWithEscapedWriter runs process trees in which a process outlives the
// process that Wait waits for while holding stdout and stderr: in bwrap's process group
// (as bwrap's namespace init when a signal ends bwrap during startup), or in a session of
// its own (setsid) that no group signal reaches. Once the process exits, Stdout and Stderr
// must still deliver everything written and then EOF, Wait must return, and a straggler
// in the group must be killed.
func TestOutputEndsWithEscapedWriter(t *testing.T) {
	tests := []struct {
		name   string
		setsid bool   // the escapee leaves the process group
		script string // after the escapee started
		kill   bool
		code   int
		want   string
	}{
		{name: "killed/own session", setsid: true, script: "exec sleep 100", kill: true, code: 128 + int(syscall.SIGKILL)},
		{name: "exited/own session", setsid: true, script: "printf 'last words'; exit 3", code: 3, want: "last words"},
		{name: "killed/group", script: "exec sleep 100", kill: true, code: 128 + int(syscall.SIGKILL)},
		{name: "exited/group", script: "printf 'last words'; exit 3", code: 3, want: "last words"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The escapee holds a FIFO open for writing: EOF on it tells the test it died.
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			escapee := `sh -c 'exec 3>"$0"; echo $$; exec sleep 100' "` + fifo + `"`
			if tt.setsid {
				escapee = "setsid " + escapee
			}
			// "/bin/sh" stands in for bwrap: start runs it through the gate like bwrap.
			p, err := start(t.Context(), "/bin/sh", []string{"-c", escapee + " & read _; " + tt.script}, nil)
			if err != nil {
				t.Fatal(err)
			}
			held := make(chan *os.File, 1)
			go func() {
				f, err := os.Open(fifo) // returns once the escapee opened its end
				if err != nil {
					t.Error(err)
				}
				held <- f
			}()
			out := bufio.NewReader(p.Stdout())
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("escapee pid %q: %v", line, err)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			fifoR := <-held
			if fifoR == nil {
				t.FailNow()
			}
			defer fifoR.Close()
			if tt.kill {
				if err := p.Signal(true); err != nil {
					t.Fatal(err)
				}
			} else {
				p.Stdin().Write([]byte("\n"))
			}
			type result struct {
				out, errOut string
				code        int
			}
			done := make(chan result, 1)
			go func() {
				b, _ := io.ReadAll(out)
				e, _ := io.ReadAll(p.Stderr())
				code, _ := p.Wait()
				done <- result{string(b), string(e), code}
			}()
			deadline := time.NewTimer(20 * time.Second)
			defer deadline.Stop()
			select {
			case r := <-done:
				if r.out != tt.want || r.errOut != "" || r.code != tt.code {
					t.Errorf("stdout %q, stderr %q, code %d; want %q, \"\", %d", r.out, r.errOut, r.code, tt.want, tt.code)
				}
			case <-deadline.C:
				t.Fatal("stdout did not reach EOF: the escaped process holds it open")
			}
			if tt.setsid {
				return // out of reach; t.Cleanup kills it
			}
			died := make(chan struct{})
			go func() {
				io.Copy(io.Discard, fifoR)
				close(died)
			}()
			select {
			case <-died:
			case <-deadline.C:
				t.Fatal("the straggler in the process group is still alive")
			}
		})
	}
}
