package applecontainer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/hangar-dev/hangar/internal/provider"
)

// egressBridge carries a sandbox's traffic to the egress proxy: a TCP listener on the
// host address the VMs reach, whose connections it pumps to the proxy's unix socket, and
// the relay process inside the sandbox that listens on provider.EgressAddr and connects to
// that listener.
type egressBridge struct {
	ln     net.Listener
	relay  *process
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startEgress bridges the session's egress socket into the sandbox; s.mu is not held.
func (s *Sandbox) startEgress(ctx context.Context, socket string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(s.p.cfg.EgressHost, "0"))
	if err != nil {
		return fmt.Errorf("listen on the egress host: %w", err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &egressBridge{ln: ln, cancel: cancel}
	b.wg.Go(func() { b.serve(bctx, socket) })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	lhost, lport, _ := net.SplitHostPort(provider.EgressAddr)
	r := strings.NewReplacer("{listen_host}", lhost, "{listen_port}", lport, "{host}", s.p.cfg.EgressHost, "{port}", port)
	argv := make([]string, len(s.p.cfg.EgressRelay))
	for i, a := range s.p.cfg.EgressRelay {
		argv[i] = r.Replace(a)
	}
	// A relay left by an earlier server process (its VM outlived it) holds the port.
	s.run(ctx, rootUser, nil, "/bin/sh", "-c", `f=/tmp/.hangar-pid-relay; [ -s $f ] && kill -s KILL "$(cat $f)" 2>/dev/null; rm -f $f; exit 0`)
	relay, err := s.startAs(context.Background(), "relay", s.p.cfg.User, "/", []string{"PATH=" + sandboxPath}, argv)
	if err != nil {
		b.close()
		return fmt.Errorf("start the relay %s: %w", argv[0], err)
	}
	relay.Stdin().Close()
	b.relay = relay
	out := bufio.NewReader(relay.Stdout())
	if s.p.relayReady {
		// The relay listens once it printed its line: sessions may use it right away.
		if _, err := out.ReadString('\n'); err != nil {
			errOut, _ := io.ReadAll(relay.Stderr())
			code, _ := relay.Wait()
			b.close()
			return fmt.Errorf("the relay %s exited (%d) before listening: %s", argv[0], code, strings.TrimSpace(string(errOut)))
		}
	}
	go func() {
		errOut, _ := io.ReadAll(relay.Stderr())
		code, _ := relay.Wait()
		if bctx.Err() == nil {
			s.p.log.Warn("the sandbox's egress relay exited; the session cannot reach the model API",
				"session", s.h.Session, "relay", argv[0], "exit", code, "stderr", strings.TrimSpace(string(errOut)))
		}
	}()
	go io.Copy(io.Discard, out)
	s.mu.Lock()
	s.egress = b
	s.mu.Unlock()
	return nil
}

// serve pumps each accepted connection to a new connection to the unix socket.
func (b *egressBridge) serve(ctx context.Context, socket string) {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Go(func() { pump(ctx, c, socket) })
	}
}

func pump(ctx context.Context, c net.Conn, socket string) {
	defer c.Close()
	var d net.Dialer
	u, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return
	}
	defer u.Close()
	stop := context.AfterFunc(ctx, func() { c.Close(); u.Close() })
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(u, c)
		u.(*net.UnixConn).CloseWrite()
	})
	io.Copy(c, u)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	wg.Wait()
}

// addr is the bridge's host listener address.
func (b *egressBridge) addr() string { return b.ln.Addr().String() }

// close stops the relay and the listener and ends open connections.
func (b *egressBridge) close() {
	b.cancel()
	if b.relay != nil {
		b.relay.Signal(true)
	}
	b.ln.Close()
	b.wg.Wait()
}
