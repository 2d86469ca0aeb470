package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Forward accepts TCP connections on listenAddr and pumps each one, both ways, to a new
// connection to the unix socket at socketPath, passing half-closes on. It calls ready (if
// not nil) once it listens, and returns nil when ctx is done, after closing the listener
// and every open connection. It is what "hangar forward" runs inside a sandbox to reach
// the session's egress proxy.
func Forward(ctx context.Context, listenAddr, socketPath string, ready func()) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listenAddr)
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		<-ctx.Done()
		ln.Close()
	})
	if ready != nil {
		ready()
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("forward: accept: %w", err)
		}
		wg.Go(func() { pump(ctx, c.(*net.TCPConn), socketPath) })
	}
}

// pump joins c to a new connection to the unix socket; it ends when both directions are
// done or ctx is.
func pump(ctx context.Context, c *net.TCPConn, socketPath string) {
	defer c.Close()
	var d net.Dialer
	u, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return
	}
	defer u.Close()
	uc := u.(*net.UnixConn)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
			uc.Close()
		case <-done:
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(uc, c)
		uc.CloseWrite()
	})
	io.Copy(c, uc)
	c.CloseWrite()
	wg.Wait()
	close(done)
}
