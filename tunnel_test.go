package hangar

import (
	"testing"
	"time"
)

func TestTunnelDomainOf(t *testing.T) {
	for _, tt := range []struct {
		host, want string
		ok         bool
	}{
		{"tabc.tunnel.hangar.internal", "tabc.tunnel.hangar.internal", true},
		{"mcp.tabc.tunnel.hangar.internal", "tabc.tunnel.hangar.internal", true},
		{"a.b.TABC.tunnel.hangar.internal.", "tabc.tunnel.hangar.internal", true},
		{"tunnel.hangar.internal", "", false},
		{".tunnel.hangar.internal", "", false},
		{"example.com", "", false},
		{"tabc.tunnel.hangar.internal.evil.com", "", false},
	} {
		got, ok := TunnelDomainOf(tt.host)
		if got != tt.want || ok != tt.ok {
			t.Errorf("TunnelDomainOf(%q) = %q, %v; want %q, %v", tt.host, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTunnelTokenMatches(t *testing.T) {
	tn := &Tunnel{TokenHash: TunnelTokenHash("hgtnl_secret")}
	if !tn.TokenMatches("hgtnl_secret") || tn.TokenMatches("hgtnl_other") || tn.TokenMatches("") {
		t.Error("TokenMatches disagrees with TunnelTokenHash")
	}
	now := time.Now()
	tn.ArchivedAt = &now
	if tn.TokenMatches("hgtnl_secret") {
		t.Error("an archived tunnel's token still matches")
	}
}
