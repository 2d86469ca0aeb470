package egress

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hangar-dev/hangar"
)

// PackageManagerHosts returns the registry hosts that networking.allow_package_managers
// adds to a limited policy (on the default ports, 443 and 80).
func PackageManagerHosts() []string {
	return []string{
		"registry.npmjs.org", "registry.yarnpkg.com",
		"pypi.org", "files.pythonhosted.org",
		"deb.debian.org",
		"proxy.golang.org", "sum.golang.org",
		"crates.io", "static.crates.io", "index.crates.io",
		"rubygems.org", "index.rubygems.org",
	}
}

// Policy decides which destinations a session may reach through the forward proxy (HTTP
// CONNECT and absolute-form http:// requests). Model traffic to the configured upstream is
// not subject to it. The zero value denies everything.
//
// Rules for networking "limited":
//   - "example.com" allows exactly that host (case-insensitive, a trailing dot ignored) on
//     ports 443 and 80;
//   - "*.example.com" allows every subdomain of example.com at any depth, not example.com
//     itself, on ports 443 and 80;
//   - a ":port" suffix ("example.com:8443", "*.example.com:8443", "[::1]:8080") allows
//     that port only, instead of 443 and 80;
//   - IP literals match only the same literal: no name resolution takes place to match;
//   - entries that are none of these are ignored (they allow nothing).
//
// "unrestricted" (or an empty type) allows every host on every port. Whatever the policy,
// the proxy refuses to connect to loopback, link-local and unspecified addresses unless the
// entry that allowed the host names "localhost" or an IP literal (see Proxy).
type Policy struct {
	unrestricted bool
	rules        []rule
	// Ignored lists the allowed_hosts entries that could not be parsed.
	Ignored []string
}

type rule struct {
	host     string // normalized host, or the suffix after "*." for a wildcard
	wildcard bool
	port     string // "" means the default ports, 443 and 80
}

// NewPolicy builds the policy of networking n. It returns an invalid_request_error for an
// unknown networking type.
func NewPolicy(n hangar.Networking) (*Policy, error) {
	switch n.Type {
	case "", "unrestricted":
		return &Policy{unrestricted: true}, nil
	case "limited":
	default:
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "networking.type: must be \"unrestricted\" or \"limited\" (got %q)", n.Type)
	}
	p := &Policy{}
	for _, h := range n.AllowedHosts {
		r, ok := parseRule(h)
		if !ok {
			p.Ignored = append(p.Ignored, h)
			continue
		}
		p.rules = append(p.rules, r)
	}
	if n.AllowPackageManagers != nil && *n.AllowPackageManagers {
		for _, h := range PackageManagerHosts() {
			p.rules = append(p.rules, rule{host: h})
		}
	}
	return p, nil
}

// Unrestricted reports whether the policy allows every host.
func (p *Policy) Unrestricted() bool { return p.unrestricted }

// parseRule parses one allowed_hosts entry.
func parseRule(entry string) (rule, bool) {
	s := strings.TrimSpace(entry)
	var r rule
	if strings.HasPrefix(s, "*.") {
		r.wildcard = true
		s = s[2:]
	}
	host := s
	if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err != nil {
		// Not a bare IP literal: an optional :port may follow.
		if h, port, err := net.SplitHostPort(s); err == nil {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
				return rule{}, false
			}
			host, r.port = h, port
		} else if strings.Contains(s, ":") || strings.ContainsAny(s, "[]") {
			return rule{}, false
		}
	}
	host = normalizeHost(host)
	if host == "" || !validHost(host) {
		return rule{}, false
	}
	if r.wildcard {
		if _, err := netip.ParseAddr(host); err == nil {
			return rule{}, false // "*.1.2.3.4" means nothing
		}
	}
	r.host = host
	return r, true
}

// normalizeHost lowercases host and strips IPv6 brackets and a trailing dot.
func normalizeHost(host string) string {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// validHost reports whether host is an IP literal or a plausible DNS name.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Decision is the outcome of checking one destination.
type Decision struct {
	Allowed bool
	// Local is true when the matching rule names "localhost" or an IP literal, which lets
	// the proxy connect to a loopback or link-local address.
	Local bool
}

// Check decides whether host:port may be reached. host may carry IPv6 brackets; port is
// the decimal port.
func (p *Policy) Check(host, port string) Decision {
	if p == nil {
		return Decision{}
	}
	host = normalizeHost(host)
	if host == "" || !validHost(host) {
		return Decision{}
	}
	if p.unrestricted {
		return Decision{Allowed: true}
	}
	for _, r := range p.rules {
		if !r.matchesPort(port) {
			continue
		}
		if r.wildcard {
			if strings.HasSuffix(host, "."+r.host) {
				return Decision{Allowed: true}
			}
			continue
		}
		if host == r.host {
			_, ipErr := netip.ParseAddr(host)
			return Decision{Allowed: true, Local: ipErr == nil || host == "localhost"}
		}
	}
	return Decision{}
}

func (r rule) matchesPort(port string) bool {
	if r.port == "" {
		return port == "443" || port == "80"
	}
	return port == r.port
}

// String describes the policy for logs.
func (p *Policy) String() string {
	if p.unrestricted {
		return "unrestricted"
	}
	var b strings.Builder
	b.WriteString("limited[")
	for i, r := range p.rules {
		if i > 0 {
			b.WriteString(" ")
		}
		if r.wildcard {
			b.WriteString("*.")
		}
		b.WriteString(r.host)
		if r.port != "" {
			fmt.Fprintf(&b, ":%s", r.port)
		}
	}
	b.WriteString("]")
	return b.String()
}
