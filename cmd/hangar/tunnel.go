package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hangar-dev/hangar"
	tnl "github.com/hangar-dev/hangar/internal/tunnel"
)

// newTunnelHub builds the server end of tunnels (docs/tunnels.md): it parks connector
// connections and dials through them for the egress proxy.
func newTunnelHub(store hangar.Store, log *slog.Logger) *tnl.Hub {
	return tnl.NewHub(tnl.HubConfig{Store: store, Logger: log.With("component", "tunnel")})
}

// withTunnels serves connector connections at tnl.ConnectPath; they authenticate with
// the tunnel's token, not the API key.
func withTunnels(next http.Handler, hub *tnl.Hub) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(tnl.ConnectPath, hub)
	mux.Handle("/", next)
	return mux
}

const tunnelUsage = `Usage: hangar tunnel --url URL --tunnel TUNNEL_ID [flags]

Run the private-network end of a tunnel (docs/tunnels.md): keep connections open to the
Hangar server so that agents' MCP servers under the tunnel's domain are reached through
this machine. Run it where the MCP servers (or their gateway) are reachable.

Flags:
  --url URL         the Hangar server (env HANGAR_URL)
  --tunnel ID       the tunnel (tnl_...)
  --token TOKEN     the tunnel's connector token (env HANGAR_TUNNEL_TOKEN; from
                    POST /v1/tunnels/{id}/reveal_token)
  --gateway H:P     send every stream to this address (your gateway, which must serve a
                    certificate issued by a CA registered on the tunnel); default: dial
                    the host the server asks for, resolved on this machine
  --idle N          idle connections to keep open (default 4)
  -v                log every stream
`

// tunnelCommand runs `hangar tunnel`.
func tunnelCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hangar tunnel", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", getenv("HANGAR_URL"), "")
	id := fs.String("tunnel", "", "")
	token := fs.String("token", getenv("HANGAR_TUNNEL_TOKEN"), "")
	gateway := fs.String("gateway", "", "")
	idle := fs.Int("idle", 4, "")
	verbose := fs.Bool("v", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, tunnelUsage)
			return 0
		}
		fmt.Fprintf(stderr, "hangar tunnel: %v\n\n%s", err, tunnelUsage)
		return 2
	}
	if *url == "" || !strings.HasPrefix(*id, hangar.PrefixTunnel) || *token == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hangar tunnel: --url, --tunnel and --token (or HANGAR_TUNNEL_TOKEN) are required\n\n%s", tunnelUsage)
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	log.Info("tunnel connector starting", "server", *url, "tunnel", *id, "gateway", *gateway, "idle", *idle)
	err := tnl.NewConnector(tnl.ConnectorConfig{Server: *url, TunnelID: *id, Token: *token, Gateway: *gateway, Idle: *idle, Logger: log}).Run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "hangar tunnel:", err)
		return 1
	}
	return 0
}
