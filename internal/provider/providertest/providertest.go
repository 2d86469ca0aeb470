// Package providertest is the conformance suite every sandbox provider passes.
package providertest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Run runs the conformance suite against providers made by newProvider. The provider
// must implement the builtin commands the suite uses through its sandbox: "echo ARGS",
// "cat" (stdin to stdout), "sh -c 'echo hi'" and "sleep 600"; real providers get them
// from the image.
func Run(t *testing.T, newProvider func(t *testing.T) provider.Provider) {
	t.Helper()
	spec := func(t *testing.T) provider.Spec {
		return provider.Spec{SessionID: hangar.NewID(hangar.PrefixSession), WorkDir: "/workspace", HomeDir: "/home/agent"}
	}
	create := func(t *testing.T, p provider.Provider) provider.Sandbox {
		t.Helper()
		sb, err := p.Create(ctx(t), spec(t))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		t.Cleanup(func() { sb.Destroy(context.Background()) })
		return sb
	}

	t.Run("exec echo", func(t *testing.T) {
		t.Parallel()
		sb := create(t, newProvider(t))
		out, code := run(t, sb, "", "echo", "hello", "world")
		if out != "hello world\n" || code != 0 {
			t.Errorf("echo = %q exit %d, want %q exit 0", out, code, "hello world\n")
		}
		out, code = run(t, sb, "", "sh", "-c", "echo hi")
		if out != "hi\n" || code != 0 {
			t.Errorf("sh -c = %q exit %d", out, code)
		}
	})

	t.Run("exec streams stdin and stdout", func(t *testing.T) {
		t.Parallel()
		prov := newProvider(t)
		if prov.Capabilities().BufferedStdin {
			t.Skip("provider takes stdin up front (Capabilities.BufferedStdin); see \"exec with buffered stdin\"")
		}
		sb := create(t, prov)
		p, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"cat"}})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		r := bufio.NewReader(p.Stdout())
		for _, line := range []string{"one\n", "two\n"} {
			if _, err := io.WriteString(p.Stdin(), line); err != nil {
				t.Fatalf("write stdin: %v", err)
			}
			got, err := readLine(t, r)
			if err != nil || got != line {
				t.Fatalf("read %q (%v), want %q: stdout is not streamed", got, err, line)
			}
		}
		p.Stdin().Close()
		if rest, _ := io.ReadAll(r); len(rest) != 0 {
			t.Errorf("extra output %q", rest)
		}
		if code, err := p.Wait(); err != nil || code != 0 {
			t.Errorf("Wait = %d, %v", code, err)
		}
	})

	t.Run("exec with buffered stdin", func(t *testing.T) {
		t.Parallel()
		sb := create(t, newProvider(t))
		out, code := run(t, sb, "one\ntwo\n", "cat")
		if out != "one\ntwo\n" || code != 0 {
			t.Errorf("cat = %q exit %d, want %q exit 0", out, code, "one\ntwo\n")
		}
	})

	t.Run("exit code", func(t *testing.T) {
		t.Parallel()
		sb := create(t, newProvider(t))
		if _, code := run(t, sb, "", "false"); code == 0 {
			t.Errorf("false exited 0")
		}
	})

	t.Run("signal stops a process", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		if !p.Capabilities().Signals {
			t.Skip("provider does not deliver signals")
		}
		sb := create(t, p)
		proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sleep", "600"}})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if err := proc.Signal(true); err != nil {
			t.Fatalf("Signal: %v", err)
		}
		waitDone(t, func() { proc.Wait() })
	})

	t.Run("files", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		sb := create(t, p)
		if !p.Capabilities().Files {
			if err := sb.PutFile(ctx(t), "x", nil, 0o600); !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("PutFile without Files capability = %v, want ErrUnsupported", err)
			}
			return
		}
		if err := sb.PutFile(ctx(t), "/workspace/dir/a.txt", []byte("alpha"), 0o600); err != nil {
			t.Fatalf("PutFile: %v", err)
		}
		got, err := sb.GetFile(ctx(t), "/workspace/dir/a.txt")
		if err != nil || string(got) != "alpha" {
			t.Errorf("GetFile = %q, %v", got, err)
		}
		got, err = sb.GetFile(ctx(t), "dir/a.txt")
		if err != nil || string(got) != "alpha" {
			t.Errorf("GetFile relative to the work dir = %q, %v", got, err)
		}
		if err := sb.PutFile(ctx(t), "/workspace/dir/a.txt", []byte("beta"), 0o600); err != nil {
			t.Fatalf("PutFile overwrite: %v", err)
		}
		if got, _ := sb.GetFile(ctx(t), "/workspace/dir/a.txt"); string(got) != "beta" {
			t.Errorf("after overwrite GetFile = %q", got)
		}
		if _, err := sb.GetFile(ctx(t), "/workspace/missing"); !hangar.IsKind(err, hangar.KindNotFound) {
			t.Errorf("GetFile missing = %v, want not_found_error", err)
		}
	})

	t.Run("stop and recover keep files", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		if !p.Capabilities().Recover {
			sb := create(t, p)
			if _, err := p.Recover(ctx(t), sb.Handle()); !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("Recover without capability = %v, want ErrUnsupported", err)
			}
			return
		}
		sb := create(t, p)
		if p.Capabilities().Files {
			if err := sb.PutFile(ctx(t), "keep.txt", []byte("kept"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		h := sb.Handle()
		if len(h) == 0 {
			t.Fatal("empty handle")
		}
		if err := sb.Stop(ctx(t)); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := sb.Stop(ctx(t)); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		again, err := p.Recover(ctx(t), h)
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		if string(again.Handle()) != string(h) {
			t.Errorf("recovered handle %q, want %q", again.Handle(), h)
		}
		if p.Capabilities().Files {
			if got, err := again.GetFile(ctx(t), "keep.txt"); err != nil || string(got) != "kept" {
				t.Errorf("file after recover = %q, %v", got, err)
			}
		}
		if out, _ := run(t, again, "", "echo", "back"); out != "back\n" {
			t.Errorf("exec after recover = %q", out)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		sb := create(t, p)
		h := sb.Handle()
		if err := sb.Destroy(ctx(t)); err != nil {
			t.Fatalf("Destroy: %v", err)
		}
		if err := sb.Destroy(ctx(t)); err != nil {
			t.Fatalf("second Destroy: %v", err)
		}
		if _, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"true"}}); err == nil {
			t.Error("Exec after Destroy succeeded")
		}
		if p.Capabilities().Recover {
			if _, err := p.Recover(ctx(t), h); err == nil {
				t.Error("Recover after Destroy succeeded")
			}
		}
	})

	t.Run("sandboxes are separate", func(t *testing.T) {
		t.Parallel()
		p := newProvider(t)
		if !p.Capabilities().Files {
			t.Skip("provider has no file access")
		}
		a, b := create(t, p), create(t, p)
		if string(a.Handle()) == string(b.Handle()) {
			t.Fatalf("two sandboxes share handle %q", a.Handle())
		}
		if err := a.PutFile(ctx(t), "only-a", []byte("a"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := b.GetFile(ctx(t), "only-a"); err == nil {
			t.Error("file written in one sandbox is visible in another")
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// run executes args with stdin and returns stdout and the exit code.
func run(t *testing.T, sb provider.Sandbox, stdin string, args ...string) (string, int) {
	t.Helper()
	p, err := sb.Exec(ctx(t), provider.ExecSpec{Args: args})
	if err != nil {
		t.Fatalf("Exec %v: %v", args, err)
	}
	if stdin != "" {
		io.WriteString(p.Stdin(), stdin)
	}
	p.Stdin().Close()
	go io.Copy(io.Discard, p.Stderr())
	out, err := io.ReadAll(p.Stdout())
	if err != nil {
		t.Fatalf("read stdout of %v: %v", args, err)
	}
	code, err := p.Wait()
	if err != nil {
		t.Fatalf("Wait %v: %v", args, err)
	}
	return string(out), code
}

// readLine reads one line, failing the test when it does not arrive in time.
func readLine(t *testing.T, r *bufio.Reader) (string, error) {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- res{s, err}
	}()
	select {
	case x := <-ch:
		return x.s, x.err
	case <-time.After(30 * time.Second):
		t.Fatal("timed out reading a line of stdout")
		return "", nil
	}
}

func waitDone(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("timed out")
	}
}
