// Package vercel runs sandboxes on Vercel Sandbox through its public REST API
// (https://vercel.com/api/v1/sandboxes; Bearer token, teamId query): create, command
// start, NDJSON log streaming, command wait and kill, tar.gz file writes, file reads,
// stop. No vendor SDK is used; the wire format follows @vercel/sandbox's API client.
//
// The API takes no stdin for a command, so stdin is buffered until closed and fed from a
// temporary file (Capabilities.BufferedStdin). docs/sandboxes.md ("Cloud providers")
// lists what maps to what.
package vercel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Config is the provider's JSON config (cmd/hangar builds it from VERCEL_* variables).
type Config struct {
	// Token is a Vercel access token (Authorization: Bearer). A plain string because
	// hangar.Secret does not marshal; New moves it into a Secret.
	Token     string `json:"token,omitempty"`
	TeamID    string `json:"team_id,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	// APIURL is the API base; default https://vercel.com/api.
	APIURL string `json:"api_url,omitempty"`
	// Runtime is the sandbox image: node24 (default), node22 or python3.13.
	Runtime string `json:"runtime,omitempty"`
	// TimeoutMS is the sandbox lifetime Vercel enforces; default 45 minutes.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// VCPUs sizes the sandbox (memory follows: 2 GB per vCPU); 0 keeps Vercel's default.
	VCPUs int `json:"vcpus,omitempty"`
	// User is the runtime's user, who gets the session's directories; default
	// vercel-sandbox.
	User string `json:"user,omitempty"`
	// PollInterval is how often Create polls a pending sandbox; default 500ms. Not
	// configurable from JSON.
	PollInterval time.Duration `json:"-"`
}

// Provider creates Vercel sandboxes.
type Provider struct {
	cfg   Config
	token hangar.Secret
	api   *cloud.Client

	mu     sync.Mutex
	layers map[string]string // build key → snapshot ID (build.go)
}

// New is the provider factory.
func New(raw json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	var cfg Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("vercel provider config: %w", err)
		}
	}
	return NewProvider(cfg)
}

// NewProvider returns a provider for cfg.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("vercel provider: no token (set VERCEL_TOKEN)")
	}
	if cfg.ProjectID == "" {
		return nil, fmt.Errorf("vercel provider: no project (set VERCEL_PROJECT_ID)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://vercel.com/api"
	}
	if cfg.Runtime == "" {
		cfg.Runtime = "node24"
	}
	if cfg.TimeoutMS <= 0 {
		cfg.TimeoutMS = int((45 * time.Minute).Milliseconds())
	}
	if cfg.User == "" {
		cfg.User = "vercel-sandbox"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	token := hangar.Secret(cfg.Token)
	cfg.Token = ""
	api := &cloud.Client{Vendor: "vercel", BaseURL: strings.TrimSuffix(cfg.APIURL, "/"), HTTP: &http.Client{},
		Header: http.Header{"Authorization": {"Bearer " + token.Reveal()}}}
	if cfg.TeamID != "" {
		api.Query = url.Values{"teamId": {cfg.TeamID}}
	}
	return &Provider{cfg: cfg, token: token, api: api, layers: map[string]string{}}, nil
}

// Capabilities: output streams, signals and a network policy; Recover reattaches while
// the sandbox runs (Vercel cannot pause: a stopped sandbox is gone); stdin is buffered.
// Isolated: each sandbox is a Firecracker microVM.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true, BufferedStdin: true, Remote: true}
}

type sandboxJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Cwd    string `json:"cwd"`
}

type sandboxResponse struct {
	Sandbox sandboxJSON `json:"sandbox"`
}

// networkPolicy is the API's networkPolicy: allow-all, deny-all, or custom lists.
type networkPolicy struct {
	Mode           string   `json:"mode"`
	AllowedDomains []string `json:"allowedDomains,omitempty"`
	AllowedCIDRs   []string `json:"allowedCIDRs,omitempty"`
}

// policy maps networking: limited to Vercel's network policy: deny-all without allowed
// hosts, else a custom policy allowing the hosts (CIDRs and IPs as allowedCIDRs).
func policy(env hangar.EnvironmentConfig) *networkPolicy {
	limited, hosts := cloud.Limited(env)
	if !limited {
		return nil
	}
	if len(hosts) == 0 {
		return &networkPolicy{Mode: "deny-all"}
	}
	np := &networkPolicy{Mode: "custom"}
	for _, h := range hosts {
		if _, _, err := net.ParseCIDR(h); err == nil {
			np.AllowedCIDRs = append(np.AllowedCIDRs, h)
		} else if ip := net.ParseIP(h); ip != nil {
			bits := "/32"
			if ip.To4() == nil {
				bits = "/128"
			}
			np.AllowedCIDRs = append(np.AllowedCIDRs, h+bits)
		} else {
			np.AllowedDomains = append(np.AllowedDomains, h)
		}
	}
	return np
}

// Create starts a sandbox, waits until it runs and prepares the session's directories.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	body := map[string]any{"projectId": p.cfg.ProjectID, "runtime": p.cfg.Runtime, "timeout": p.cfg.TimeoutMS}
	if spec.Layer != "" { // the environment's build (build.go): its snapshot has the runtime
		delete(body, "runtime")
		body["source"] = map[string]string{"type": "snapshot", "snapshotId": spec.Layer}
	}
	if p.cfg.VCPUs > 0 {
		body["resources"] = map[string]int{"vcpus": p.cfg.VCPUs}
	}
	if np := policy(spec.Environment); np != nil {
		body["networkPolicy"] = np
	}
	var resp sandboxResponse
	if err := p.api.JSON(ctx, http.MethodPost, "/v1/sandboxes", nil, body, &resp); err != nil {
		return nil, err
	}
	s := &Sandbox{p: p, h: cloud.Handle{ID: resp.Sandbox.ID, WorkDir: spec.WorkDir, HomeDir: spec.HomeDir}, cmds: map[string]bool{}}
	err := s.waitRunning(ctx, resp.Sandbox.Status)
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		s.Destroy(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Recover reattaches to a sandbox that still runs; a stopped or unknown one is
// not_found.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	h, err := cloud.DecodeHandle("vercel", raw)
	if err != nil {
		return nil, err
	}
	var resp sandboxResponse
	if err := p.api.JSON(ctx, http.MethodGet, "/v1/sandboxes/"+h.ID, nil, nil, &resp); err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("vercel sandbox", h.ID)
		}
		return nil, err
	}
	s := &Sandbox{p: p, h: h, cmds: map[string]bool{}}
	if err := s.waitRunning(ctx, resp.Sandbox.Status); err != nil {
		return nil, err
	}
	return s, nil
}

// Check lists the project's sandboxes (one at most) to verify that the API answers and
// takes the token (GET /v1/providers).
func (p *Provider) Check(ctx context.Context) error {
	return p.api.JSON(ctx, http.MethodGet, "/v1/sandboxes", url.Values{"project": {p.cfg.ProjectID}, "limit": {"1"}}, nil, nil)
}

// stopTimeout bounds best-effort calls made after the caller's context ended.
const stopTimeout = 30 * time.Second
