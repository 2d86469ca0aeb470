package egress_test

import (
	"net"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

func limited(hosts ...string) hangar.Networking {
	return hangar.Networking{Type: "limited", AllowedHosts: hosts}
}

func ptr[T any](v T) *T { return &v }

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	type probe struct {
		addr    string
		allowed bool
		local   bool
	}
	tests := []struct {
		name    string
		policy  hangar.Networking
		probes  []probe
		ignored []string
	}{
		{
			name:   "unrestricted allows any host and port",
			policy: hangar.Networking{Type: "unrestricted"},
			probes: []probe{{addr: "example.com:443", allowed: true}, {addr: "example.com:22", allowed: true}, {addr: "10.0.0.1:8080", allowed: true}},
		},
		{
			name:   "empty type is unrestricted (the API default)",
			policy: hangar.Networking{},
			probes: []probe{{addr: "example.com:443", allowed: true}},
		},
		{
			name:   "limited with no hosts denies everything",
			policy: limited(),
			probes: []probe{{addr: "example.com:443"}, {addr: "127.0.0.1:80"}},
		},
		{
			name:   "exact host on default ports",
			policy: limited("Example.COM."),
			probes: []probe{
				{addr: "example.com:443", allowed: true}, {addr: "EXAMPLE.com:80", allowed: true},
				{addr: "example.com.:443", allowed: true},
				{addr: "example.com:22"}, {addr: "example.com:8443"},
				{addr: "www.example.com:443"}, {addr: "example.com.evil.net:443"}, {addr: "notexample.com:443"},
			},
		},
		{
			name:   "wildcard matches subdomains at any depth, not the apex",
			policy: limited("*.example.com"),
			probes: []probe{
				{addr: "a.example.com:443", allowed: true}, {addr: "a.b.example.com:80", allowed: true},
				{addr: "example.com:443"}, {addr: "aexample.com:443"}, {addr: "a.example.com.evil:443"},
			},
		},
		{
			name:   "explicit port replaces the default ports",
			policy: limited("example.com:8443", "*.svc.test:9000"),
			probes: []probe{
				{addr: "example.com:8443", allowed: true}, {addr: "example.com:443"},
				{addr: "x.svc.test:9000", allowed: true}, {addr: "x.svc.test:443"},
			},
		},
		{
			name:   "IP literals and localhost may reach local addresses",
			policy: limited("127.0.0.1:8080", "::1", "[::1]:9090", "localhost"),
			probes: []probe{
				{addr: "127.0.0.1:8080", allowed: true, local: true}, {addr: "127.0.0.1:8081"},
				{addr: "[::1]:443", allowed: true, local: true}, {addr: "[::1]:9090", allowed: true, local: true},
				{addr: "localhost:80", allowed: true, local: true}, {addr: "127.0.0.2:8080"},
			},
		},
		{
			name:    "malformed entries are ignored and allow nothing",
			policy:  limited("https://x.com", "*", "a b", "x.com:http", "x.com:0", "*.1.2.3.4", "", "ok.com"),
			ignored: []string{"https://x.com", "*", "a b", "x.com:http", "x.com:0", "*.1.2.3.4", ""},
			probes:  []probe{{addr: "x.com:443"}, {addr: "ok.com:443", allowed: true}},
		},
		{
			name:   "package managers",
			policy: hangar.Networking{Type: "limited", AllowPackageManagers: ptr(true)},
			probes: []probe{
				{addr: "registry.npmjs.org:443", allowed: true}, {addr: "pypi.org:443", allowed: true},
				{addr: "files.pythonhosted.org:443", allowed: true}, {addr: "deb.debian.org:80", allowed: true},
				{addr: "proxy.golang.org:443", allowed: true}, {addr: "crates.io:443", allowed: true},
				{addr: "static.crates.io:443", allowed: true}, {addr: "rubygems.org:443", allowed: true},
				{addr: "github.com:443"}, {addr: "registry.npmjs.org:22"},
			},
		},
		{
			name:   "package managers off",
			policy: hangar.Networking{Type: "limited", AllowPackageManagers: ptr(false)},
			probes: []probe{{addr: "registry.npmjs.org:443"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := egress.NewPolicy(tt.policy)
			if err != nil {
				t.Fatalf("NewPolicy: %v", err)
			}
			if strings.Join(p.Ignored, "|") != strings.Join(tt.ignored, "|") {
				t.Errorf("Ignored = %q, want %q", p.Ignored, tt.ignored)
			}
			for _, pr := range tt.probes {
				host, port, err := net.SplitHostPort(pr.addr)
				if err != nil {
					t.Fatal(err)
				}
				got := p.Check(host, port)
				if got.Allowed != pr.allowed || got.Local != pr.local {
					t.Errorf("Check(%s) = %+v, want allowed=%v local=%v", pr.addr, got, pr.allowed, pr.local)
				}
			}
		})
	}
}

func TestPolicyUnknownType(t *testing.T) {
	t.Parallel()
	_, err := egress.NewPolicy(hangar.Networking{Type: "open"})
	if !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Fatalf("err = %v, want invalid_request_error", err)
	}
}

func TestPolicyZeroDeniesAll(t *testing.T) {
	t.Parallel()
	var p *egress.Policy
	if p.Check("example.com", "443").Allowed {
		t.Error("nil policy allowed a host")
	}
	if (&egress.Policy{}).Check("example.com", "443").Allowed {
		t.Error("zero policy allowed a host")
	}
}

// FuzzPolicy checks invariants of the matcher: a limited policy never allows a host that
// is neither an allowed entry nor a subdomain of a wildcard entry, never allows a port
// other than the entry's, and never panics.
func FuzzPolicy(f *testing.F) {
	f.Add("example.com", "example.com", "443")
	f.Add("*.example.com", "a.example.com", "80")
	f.Add("*.example.com", "example.com", "443")
	f.Add("example.com:8443", "example.com", "8443")
	f.Add("[::1]:9", "::1", "9")
	f.Add("EXAMPLE.com.", "example.COM", "443")
	f.Add("*.", ".", "443")
	f.Fuzz(func(t *testing.T, entry, host, port string) {
		p, err := egress.NewPolicy(limited(entry))
		if err != nil {
			t.Fatal(err)
		}
		d := p.Check(host, port)
		if !d.Allowed {
			if d.Local {
				t.Fatalf("denied but local: %q %q %q", entry, host, port)
			}
			return
		}
		// Allowed: the normalized host must equal the entry's host or end in "." + the
		// wildcard suffix, and the port must be the entry's or a default one.
		norm := func(s string) string { return strings.ToLower(strings.TrimSuffix(strings.Trim(s, "[]"), ".")) }
		e := strings.TrimSpace(entry)
		wild := strings.HasPrefix(e, "*.")
		e = strings.TrimPrefix(e, "*.")
		eport := ""
		if h, pt, err := net.SplitHostPort(e); err == nil && !strings.Contains(strings.Trim(e, "[]"), "::") {
			e, eport = h, pt
		} else if h, pt, err := net.SplitHostPort(e); err == nil && strings.HasPrefix(e, "[") {
			e, eport = h, pt
		}
		h, eh := norm(host), norm(e)
		switch {
		case wild && !strings.HasSuffix(h, "."+eh):
			t.Fatalf("entry %q allowed host %q", entry, host)
		case !wild && h != eh && !sameIP(h, eh):
			t.Fatalf("entry %q allowed host %q", entry, host)
		}
		if eport == "" && port != "443" && port != "80" || eport != "" && port != eport {
			t.Fatalf("entry %q allowed port %q", entry, port)
		}
		if len(p.Ignored) != 0 {
			t.Fatalf("ignored entry %q allowed %q", entry, host)
		}
	})
}

// sameIP reports whether a and b are the same IP address in different spellings.
func sameIP(a, b string) bool {
	x, y := net.ParseIP(a), net.ParseIP(b)
	return x != nil && y != nil && x.Equal(y)
}
