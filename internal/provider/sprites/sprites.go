// Package sprites runs sandboxes on Sprites (sprites.dev, Fly.io's persistent
// Firecracker sandboxes) through its public API (https://api.sprites.dev; Bearer token):
// POST/GET/DELETE /v1/sprites, exec over a websocket whose binary frames multiplex
// stdin, stdout, stderr, stdin EOF and the exit code, the exec sessions' kill endpoint,
// the filesystem API (fs/read, fs/write) and the DNS-based network policy.
//
// No vendor SDK is used; the wire format follows the Sprites API reference and its
// SDKs' protocol constants. docs/sandboxes.md ("Cloud providers") lists what maps to
// what.
package sprites

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Config is the provider's JSON config (cmd/hangar builds it from SPRITES_TOKEN).
type Config struct {
	// Token authenticates (Authorization: Bearer). A plain string because hangar.Secret
	// does not marshal; New moves it into a Secret.
	Token string `json:"token,omitempty"`
	// APIURL is the API base; default https://api.sprites.dev.
	APIURL string `json:"api_url,omitempty"`
}

// Provider creates sprites.
type Provider struct {
	cfg   Config
	token hangar.Secret
	api   *cloud.Client
}

// New is the provider factory.
func New(raw json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	var cfg Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("sprites provider config: %w", err)
		}
	}
	return NewProvider(cfg)
}

// NewProvider returns a provider for cfg.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("sprites provider: no token (set SPRITES_TOKEN)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.sprites.dev"
	}
	cfg.APIURL = strings.TrimSuffix(cfg.APIURL, "/")
	token := hangar.Secret(cfg.Token)
	cfg.Token = ""
	return &Provider{cfg: cfg, token: token, api: &cloud.Client{Vendor: "sprites", BaseURL: cfg.APIURL,
		Header: http.Header{"Authorization": {"Bearer " + token.Reveal()}}, HTTP: &http.Client{}}}, nil
}

// Capabilities: stdin and output stream both ways over the exec websocket, exec
// sessions can be killed, sprites persist (they hibernate when idle) so Recover
// reattaches by name, and egress is filtered by domain. Isolated: Firecracker microVMs.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true, Remote: true}
}

// rule is a NetworkPolicyRule.
type rule struct {
	Action string `json:"action"`
	Domain string `json:"domain"`
}

// policy maps networking: limited to a DNS policy allowing the hosts and denying the
// rest. Sprites filter by domain name, so IPs and CIDRs are refused.
func policy(env hangar.EnvironmentConfig) ([]rule, error) {
	limited, hosts := cloud.Limited(env)
	if !limited {
		return nil, nil
	}
	var rules []rule
	for _, h := range hosts {
		if net.ParseIP(h) != nil || strings.Contains(h, "/") {
			return nil, cloud.Unsupported("sprites", "networking.allowed_hosts must be domain names (Sprites filter egress by DNS), got %q", h)
		}
		rules = append(rules, rule{Action: "allow", Domain: h})
	}
	return append(rules, rule{Action: "deny", Domain: "*"}), nil
}

// Create creates a sprite named hangar-<random>, applies the network policy and
// prepares the session's directories.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	rules, err := policy(spec.Environment)
	if err != nil {
		return nil, err
	}
	var suffix [8]byte
	rand.Read(suffix[:])
	name := "hangar-" + hex.EncodeToString(suffix[:])
	if err := p.api.JSON(ctx, http.MethodPost, "/v1/sprites", nil, map[string]string{"name": name}, nil); err != nil {
		return nil, err
	}
	s := &Sandbox{p: p, h: cloud.Handle{ID: name, WorkDir: spec.WorkDir, HomeDir: spec.HomeDir}, running: map[*execution]bool{}}
	if rules != nil {
		err = p.api.JSON(ctx, http.MethodPost, s.path("/policy/network"), nil, map[string]any{"rules": rules}, nil)
	}
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		s.Destroy(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Recover reattaches to a sprite by name; one that no longer exists is not_found.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	h, err := cloud.DecodeHandle("sprites", raw)
	if err != nil {
		return nil, err
	}
	if err := p.api.JSON(ctx, http.MethodGet, "/v1/sprites/"+h.ID, nil, nil, nil); err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("sprite", h.ID)
		}
		return nil, err
	}
	return &Sandbox{p: p, h: h, running: map[*execution]bool{}}, nil
}

// Check lists sprites (one at most) to verify that the API answers and takes the token
// (GET /v1/providers).
func (p *Provider) Check(ctx context.Context) error {
	return p.api.JSON(ctx, http.MethodGet, "/v1/sprites", url.Values{"max_results": {"1"}}, nil, nil)
}

// stopTimeout bounds best-effort calls made after the caller's context ended.
const stopTimeout = 30 * time.Second
