// Package daytona runs sandboxes on Daytona (daytona.io) through its public REST API:
// the control plane (POST/GET/DELETE /sandbox, start, stop; Bearer auth) and the
// toolbox API of each sandbox's daemon: one process session per Exec (POST
// /process/session, then /exec with runAsync), output followed over the logs websocket
// (stdout and stderr told apart by the daemon's 3-byte markers), exit code from GET
// /command/{id}, terminate; files through /files/upload and /files/download.
//
// No vendor SDK is used; the wire format follows Daytona's OpenAPI spec and daemon.
// Session commands cannot be sent EOF on stdin, so stdin is buffered until closed and
// redirected from a file (Capabilities.BufferedStdin). docs/sandboxes.md ("Cloud
// providers") lists what maps to what.
package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Config is the provider's JSON config (cmd/hangar builds it from DAYTONA_* variables).
type Config struct {
	// APIKey authenticates (Authorization: Bearer). A plain string because hangar.Secret
	// does not marshal; New moves it into a Secret.
	APIKey string `json:"api_key,omitempty"`
	// APIURL is the control plane; default https://app.daytona.io/api.
	APIURL string `json:"api_url,omitempty"`
	// OrganizationID selects the organization (X-Daytona-Organization-ID) for keys that
	// belong to several.
	OrganizationID string `json:"organization_id,omitempty"`
	// ToolboxURL overrides where a sandbox's toolbox API is reached: TOOLBOX_URL/ID.
	// Default: the sandbox's toolboxProxyUrl, else APIURL/toolbox/ID/toolbox.
	ToolboxURL string `json:"toolbox_url,omitempty"`
	// Snapshot is the sandbox image (a Daytona snapshot name); empty is Daytona's default.
	Snapshot string `json:"snapshot,omitempty"`
	// BuildImage is the image environment builds start from (build.go); default
	// DefaultBuildImage. It should be the image of the snapshot sessions otherwise use.
	BuildImage string `json:"build_image,omitempty"`
	// Target is the region ("us", "eu"); empty is the organization's default.
	Target string `json:"target,omitempty"`
	// User is the sandbox's user, who gets the session's directories; default daytona.
	User string `json:"user,omitempty"`
	// PollInterval is how often a starting sandbox or a finishing command is polled;
	// default 500ms. Not configurable from JSON.
	PollInterval time.Duration `json:"-"`
}

// Provider creates Daytona sandboxes.
type Provider struct {
	cfg Config
	key hangar.Secret
	api *cloud.Client
}

// New is the provider factory.
func New(raw json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	var cfg Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("daytona provider config: %w", err)
		}
	}
	return NewProvider(cfg)
}

// NewProvider returns a provider for cfg.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("daytona provider: no API key (set DAYTONA_API_KEY)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://app.daytona.io/api"
	}
	cfg.APIURL = strings.TrimSuffix(cfg.APIURL, "/")
	if cfg.User == "" {
		cfg.User = "daytona"
	}
	if cfg.BuildImage == "" {
		cfg.BuildImage = DefaultBuildImage
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	key := hangar.Secret(cfg.APIKey)
	cfg.APIKey = ""
	hdr := http.Header{"Authorization": {"Bearer " + key.Reveal()}}
	if cfg.OrganizationID != "" {
		hdr.Set("X-Daytona-Organization-ID", cfg.OrganizationID)
	}
	return &Provider{cfg: cfg, key: key, api: &cloud.Client{Vendor: "daytona", BaseURL: cfg.APIURL, Header: hdr, HTTP: &http.Client{}}}, nil
}

// Capabilities: output streams (websocket), commands can be terminated, sandboxes stop
// and start again with their files, and egress can be blocked or limited to CIDRs.
// Isolated: each sandbox is its own container/VM on Daytona's runners.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true, BufferedStdin: true, Remote: true}
}

type sandboxJSON struct {
	ID              string `json:"id"`
	State           string `json:"state"`
	ErrorReason     string `json:"errorReason"`
	ToolboxProxyURL string `json:"toolboxProxyUrl"`
}

// network maps networking: limited to networkBlockAll (no allowed host) or
// networkAllowList, which takes CIDRs only: domain names are refused.
func network(env hangar.EnvironmentConfig, body map[string]any) error {
	limited, hosts := cloud.Limited(env)
	if !limited {
		return nil
	}
	if len(hosts) == 0 {
		body["networkBlockAll"] = true
		return nil
	}
	var cidrs []string
	for _, h := range hosts {
		if _, _, err := net.ParseCIDR(h); err == nil {
			cidrs = append(cidrs, h)
		} else if ip := net.ParseIP(h); ip != nil && ip.To4() != nil {
			cidrs = append(cidrs, h+"/32")
		} else {
			return cloud.Unsupported("daytona", "networking.allowed_hosts must be IPv4 addresses or CIDRs (Daytona's networkAllowList takes no domain names), got %q", h)
		}
	}
	body["networkAllowList"] = strings.Join(cidrs, ",")
	return nil
}

// Create starts a sandbox, waits until it runs and prepares the session's directories.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	body := map[string]any{"labels": map[string]string{"hangar_session_id": spec.SessionID}}
	if p.cfg.Snapshot != "" {
		body["snapshot"] = p.cfg.Snapshot
	}
	if spec.Layer != "" { // the environment's build (build.go)
		body["snapshot"] = spec.Layer
	}
	if p.cfg.Target != "" {
		body["target"] = p.cfg.Target
	}
	if err := network(spec.Environment, body); err != nil {
		return nil, err
	}
	var sb sandboxJSON
	if err := p.api.JSON(ctx, http.MethodPost, "/sandbox", nil, body, &sb); err != nil {
		return nil, err
	}
	s := p.sandbox(sb, cloud.Handle{ID: sb.ID, WorkDir: spec.WorkDir, HomeDir: spec.HomeDir})
	err := s.waitStarted(ctx, sb)
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		s.Destroy(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Recover reattaches to a sandbox, starting it when stopped; an unknown or destroyed
// one is not_found.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	h, err := cloud.DecodeHandle("daytona", raw)
	if err != nil {
		return nil, err
	}
	var sb sandboxJSON
	if err := p.api.JSON(ctx, http.MethodGet, "/sandbox/"+h.ID, nil, nil, &sb); err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("daytona sandbox", h.ID)
		}
		return nil, err
	}
	s := p.sandbox(sb, h)
	switch sb.State {
	case "destroyed", "destroying":
		return nil, hangar.NotFound("daytona sandbox", h.ID)
	case "stopped", "archived":
		if err := p.api.JSON(ctx, http.MethodPost, "/sandbox/"+h.ID+"/start", nil, nil, &sb); err != nil {
			return nil, err
		}
	}
	if err := s.waitStarted(ctx, sb); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *Provider) sandbox(sb sandboxJSON, h cloud.Handle) *Sandbox {
	base := p.cfg.APIURL + "/toolbox/" + h.ID + "/toolbox"
	switch {
	case p.cfg.ToolboxURL != "":
		base = strings.TrimSuffix(p.cfg.ToolboxURL, "/") + "/" + h.ID
	case sb.ToolboxProxyURL != "":
		base = strings.TrimSuffix(sb.ToolboxProxyURL, "/") + "/" + h.ID
	}
	tb := &cloud.Client{Vendor: "daytona toolbox", BaseURL: base, Header: p.api.Header, HTTP: p.api.HTTP}
	return &Sandbox{p: p, h: h, toolbox: tb}
}

// Check lists sandboxes to verify that the API answers and takes the key (GET
// /v1/providers).
func (p *Provider) Check(ctx context.Context) error {
	return p.api.JSON(ctx, http.MethodGet, "/sandbox", nil, nil, nil)
}

// stopTimeout bounds best-effort calls made after the caller's context ended.
const stopTimeout = 30 * time.Second
