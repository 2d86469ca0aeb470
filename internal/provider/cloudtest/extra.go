package cloudtest

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// RunExec checks what the conformance suite leaves out and the cloud clients build by
// hand (each vendor passes directory, environment and HOME its own way): Env, Dir, the
// work dir and HOME defaults, stderr kept apart from stdout, an exact exit code, output
// larger than one frame or chunk, and a context cancelled while the command runs.
// streamed says whether the vendor streams output before the command exits.
func RunExec(t *testing.T, streamed bool, newProvider func(t *testing.T) provider.Provider) {
	t.Helper()
	create := func(t *testing.T) provider.Sandbox {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sb, err := newProvider(t).Create(ctx, provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), WorkDir: "/workspace", HomeDir: "/home/agent"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		t.Cleanup(func() { sb.Destroy(context.Background()) })
		return sb
	}
	run := func(t *testing.T, sb provider.Sandbox, spec provider.ExecSpec) (string, string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := sb.Exec(ctx, spec)
		if err != nil {
			t.Fatalf("Exec %v: %v", spec.Args, err)
		}
		p.Stdin().Close()
		errc := make(chan string, 1)
		go func() { b, _ := io.ReadAll(p.Stderr()); errc <- string(b) }()
		out, err := io.ReadAll(p.Stdout())
		if err != nil {
			t.Fatalf("read stdout: %v", err)
		}
		code, err := p.Wait()
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		return string(out), <-errc, code
	}

	t.Run("env, dirs, stderr and exit code", func(t *testing.T) {
		t.Parallel()
		sb := create(t)
		out, errOut, code := run(t, sb, provider.ExecSpec{Args: []string{"sh", "-c", `echo "$FOO|$(pwd)|$HOME"; echo oops >&2; exit 3`},
			Env: []string{"FOO=it's a bar"}})
		if want := "it's a bar|/workspace|/home/agent\n"; out != want || errOut != "oops\n" || code != 3 {
			t.Errorf("got %q, stderr %q, exit %d; want %q, %q, 3", out, errOut, code, want, "oops\n")
		}
		if out, _, _ := run(t, sb, provider.ExecSpec{Args: []string{"pwd"}, Dir: "/tmp"}); out != "/tmp\n" {
			t.Errorf("pwd in Dir /tmp = %q", out)
		}
		if out, _, _ := run(t, sb, provider.ExecSpec{Args: []string{"sh", "-c", "echo $HOME"}, Env: []string{"HOME=/tmp"}}); out != "/tmp\n" {
			t.Errorf("HOME from Env = %q", out)
		}
	})

	t.Run("large output", func(t *testing.T) {
		t.Parallel()
		out, _, code := run(t, create(t), provider.ExecSpec{Args: []string{"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a"}})
		if len(out) != 300000 || strings.Trim(out, "a") != "" || code != 0 {
			t.Errorf("got %d bytes (exit %d), want 300000 a's", len(out), code)
		}
	})

	t.Run("cancelled context ends the command", func(t *testing.T) {
		t.Parallel()
		sb := create(t)
		ctx, cancel := context.WithCancel(context.Background())
		p, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", "echo started; exec sleep 600"}})
		if err != nil {
			t.Fatal(err)
		}
		p.Stdin().Close()
		go io.Copy(io.Discard, p.Stderr())
		if streamed { // cancel once the command surely runs
			buf := make([]byte, 8)
			if _, err := io.ReadFull(p.Stdout(), buf); err != nil || string(buf) != "started\n" {
				t.Fatalf("read %q, %v", buf, err)
			}
		}
		cancel()
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the command outlived its context")
		}
	})
}
