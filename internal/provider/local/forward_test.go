package local

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestForward(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	// The unix side reads the whole request (until the client's half-close), then answers.
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append([]byte("pong:"), b...))
			}()
		}
	}()

	// A free port; Forward reports readiness, not its address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- Forward(ctx, addr, sock, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Forward: %v", err)
	}

	for _, msg := range []string{"ping", "second connection"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(msg))
		c.(*net.TCPConn).CloseWrite()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "pong:"+msg {
			t.Errorf("through the forwarder: %q, %v; want %q", got, err, "pong:"+msg)
		}
	}

	// An open connection does not keep Forward from returning when ctx ends.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.Write([]byte("x"))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Forward after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Forward did not return after cancel")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still listening after Forward returned")
	}
}

func TestForwardListenError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Forward(context.Background(), l.Addr().String(), "/nonexistent.sock", nil); err == nil {
		t.Error("Forward on a busy port succeeded")
	}
}
