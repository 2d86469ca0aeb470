package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ConnectorConfig configures a Connector.
type ConnectorConfig struct {
	// Server is the Hangar server's base URL (http or https).
	Server   string
	TunnelID string
	Token    string
	// Gateway, when set, is the host:port every stream goes to (the network's gateway,
	// which routes by TLS SNI or Host); otherwise each stream dials the host:port the
	// server asks for, resolved inside this network.
	Gateway string
	// Idle is how many idle connections to keep open; 0 means 4.
	Idle   int
	HTTP   *http.Client
	Logger *slog.Logger
	// Dial connects to targets (default net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Ready, when set, is called each time a connection is parked on the server.
	Ready func()
}

// Connector runs the private-network end of a tunnel.
type Connector struct{ cfg ConnectorConfig }

// NewConnector returns a connector; call Run.
func NewConnector(cfg ConnectorConfig) *Connector {
	if cfg.Idle <= 0 {
		cfg.Idle = 4
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		cfg.Dial = d.DialContext
	}
	return &Connector{cfg: cfg}
}

// ErrUnauthorized: the server refused the tunnel ID or token.
var ErrUnauthorized = errors.New("the server refused the tunnel ID or token (rotated? archived?)")

// Run keeps Idle connections parked on the server until ctx ends. It returns
// ErrUnauthorized when the server refuses the token, and nil when ctx ends.
func (c *Connector) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range c.cfg.Idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.worker(ctx, cancel)
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); errors.Is(err, ErrUnauthorized) {
		return err
	}
	return nil
}

// worker parks one connection at a time; when the server asks it to dial, it hands the
// connection to a stream goroutine and parks a fresh one.
func (c *Connector) worker(ctx context.Context, fail context.CancelCauseFunc) {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := c.connect(ctx)
		if errors.Is(err, ErrUnauthorized) {
			fail(err)
			return
		}
		if err != nil {
			c.cfg.Logger.Warn("tunnel: connect to server", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = 500 * time.Millisecond
		if c.cfg.Ready != nil {
			c.cfg.Ready()
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		line, err := readLine(conn)
		stop()
		if err != nil {
			conn.Close()
			continue // the server closed it (shutdown, or more idle connections than it keeps)
		}
		go c.stream(ctx, conn, line)
	}
}

// connect opens one connection to the server and upgrades it.
func (c *Connector) connect(ctx context.Context) (io.ReadWriteCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.cfg.Server, "/")+ConnectPath+c.cfg.TunnelID, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", Protocol)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		return nil, ErrUnauthorized
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		return nil, fmt.Errorf("server answered %s", resp.Status)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, errors.New("the HTTP client did not hand over the upgraded connection")
	}
	return rwc, nil
}

// stream serves one DIAL request: it dials the target, answers, and copies bytes both
// ways until either side closes.
func (c *Connector) stream(ctx context.Context, conn io.ReadWriteCloser, line string) {
	defer conn.Close()
	addr, ok := strings.CutPrefix(line, "DIAL ")
	if !ok {
		io.WriteString(conn, "ERR unknown request\n")
		return
	}
	target := addr
	if c.cfg.Gateway != "" {
		target = c.cfg.Gateway
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	up, err := c.cfg.Dial(dctx, "tcp", target)
	cancel()
	if err != nil {
		c.cfg.Logger.Warn("tunnel: dial target", "addr", addr, "target", target, "err", err)
		io.WriteString(conn, "ERR "+strings.ReplaceAll(err.Error(), "\n", " ")+"\n")
		return
	}
	defer up.Close()
	if _, err := io.WriteString(conn, "OK\n"); err != nil {
		return
	}
	c.cfg.Logger.Debug("tunnel: stream", "addr", addr, "target", target)
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, conn); closeWrite(up); done <- struct{}{} }()
	go func() { io.Copy(conn, up); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}
