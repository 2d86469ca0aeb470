package main

import (
	"context"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

// TestTunnelCommand: `hangar tunnel` checks its flags, prints its usage, and exits 1 with
// a clear message when the server refuses the token.
func TestTunnelCommand(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	tn, err := srv.Client.Beta.Tunnels.New(testContext(t), anthropic.BetaTunnelNewParams{})
	if err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return "" }
	for _, tt := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"help", []string{"--help"}, 0, "Usage: hangar tunnel"},
		{"no flags", nil, 2, "are required"},
		{"bad tunnel id", []string{"--url", srv.URL, "--tunnel", "x", "--token", "t"}, 2, "are required"},
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		{"wrong token", []string{"--url", srv.URL, "--tunnel", tn.ID, "--token", "hgtnl_wrong", "--idle", "1"}, 1, "refused the tunnel ID or token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			code := tunnelCommand(context.Background(), tt.args, env, &out, &out)
			if code != tt.code || !strings.Contains(out.String(), tt.out) {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, out.String())
			}
		})
	}
}
