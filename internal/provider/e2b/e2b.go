// Package e2b runs sandboxes on E2B (e2b.dev) through its public HTTP APIs: the control
// plane (POST /sandboxes, GET/DELETE /sandboxes/{id}, pause, connect; X-API-Key auth) and
// envd, the daemon in each sandbox, whose process service speaks Connect over JSON
// (process.Process/Start streams stdout/stderr events; SendInput, CloseStdin and
// SendSignal are unary calls) and whose /files endpoint reads and writes files.
//
// No vendor SDK is used (none exists for Go); the wire format follows E2B's OpenAPI spec
// and envd's process.proto. docs/sandboxes.md ("Cloud providers") lists what maps to what.
package e2b

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloud"
)

// Config is the provider's JSON config (cmd/hangar builds it from E2B_* variables).
type Config struct {
	// APIKey authenticates to the control plane (X-API-Key). A plain string because
	// hangar.Secret does not marshal; New moves it into a Secret.
	APIKey string `json:"api_key,omitempty"`
	// APIURL is the control plane; default https://api.e2b.app.
	APIURL string `json:"api_url,omitempty"`
	// Domain is the sandboxes' domain: envd of sandbox ID is https://49983-ID.DOMAIN.
	// Default: the domain the control plane returns, else e2b.app.
	Domain string `json:"domain,omitempty"`
	// SandboxURL, when set, receives all envd traffic, routed by the E2b-Sandbox-Id and
	// E2b-Sandbox-Port headers (E2B_SANDBOX_URL; self-hosted E2B and tests).
	SandboxURL string `json:"sandbox_url,omitempty"`
	// Template is the sandbox template (image); default "base".
	Template string `json:"template,omitempty"`
	// TimeoutSeconds is the sandbox lifetime E2B enforces; default 3600.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// User runs processes and owns files; default "user" (E2B templates' default user).
	User string `json:"user,omitempty"`
	// PollInterval is how often a template build's status is polled (build.go);
	// default 500ms. Not configurable from JSON.
	PollInterval time.Duration `json:"-"`
}

// Provider creates E2B sandboxes.
type Provider struct {
	cfg    Config
	key    hangar.Secret
	api    *cloud.Client
	http   *http.Client
	domain string
}

// New is the provider factory.
func New(raw json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	var cfg Config
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("e2b provider config: %w", err)
		}
	}
	return NewProvider(cfg)
}

// NewProvider returns a provider for cfg.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("e2b provider: no API key (set E2B_API_KEY)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.e2b.app"
	}
	if cfg.Template == "" {
		cfg.Template = "base"
	}
	if cfg.TimeoutSeconds <= 0 {
		cfg.TimeoutSeconds = 3600
	}
	if cfg.User == "" {
		cfg.User = "user"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	key := hangar.Secret(cfg.APIKey)
	cfg.APIKey = "" // only the Secret keeps it
	// No client timeout: exec streams last as long as their command.
	hc := &http.Client{}
	api := &cloud.Client{Vendor: "e2b", BaseURL: strings.TrimSuffix(cfg.APIURL, "/"), HTTP: hc,
		Header: http.Header{"X-Api-Key": {key.Reveal()}}}
	return &Provider{cfg: cfg, key: key, api: api, http: hc, domain: cfg.Domain}, nil
}

// Capabilities: E2B streams output and stdin, delivers signals, pauses (Stop keeps the
// filesystem) and resumes by ID, and enforces egress rules. Isolated: each sandbox is a
// Firecracker microVM.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true, Remote: true}
}

// sandboxJSON is E2B's Sandbox / SandboxDetail schema (the fields Hangar reads).
type sandboxJSON struct {
	SandboxID       string `json:"sandboxID"`
	TemplateID      string `json:"templateID"`
	EnvdVersion     string `json:"envdVersion"`
	EnvdAccessToken string `json:"envdAccessToken"`
	Domain          string `json:"domain"`
	State           string `json:"state"`
}

// networkJSON is NewSandbox.network: egress allow/deny lists of CIDRs or domains.
type networkJSON struct {
	AllowOut []string `json:"allowOut,omitempty"`
	DenyOut  []string `json:"denyOut,omitempty"`
}

type newSandboxJSON struct {
	TemplateID          string            `json:"templateID"`
	Timeout             int               `json:"timeout"`
	AutoPause           bool              `json:"autoPause"`
	Secure              bool              `json:"secure"`
	AllowInternetAccess *bool             `json:"allow_internet_access,omitempty"`
	Network             *networkJSON      `json:"network,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
}

// Create starts a sandbox from the template and prepares the session's directories.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	req := newSandboxJSON{TemplateID: p.cfg.Template, Timeout: p.cfg.TimeoutSeconds, Secure: true,
		Metadata: map[string]string{"hangar_session_id": spec.SessionID}}
	if spec.Layer != "" { // the environment's build (build.go): a template of its own
		req.TemplateID = spec.Layer
	}
	// networking: limited maps to E2B's egress rules: deny everything, allow the
	// environment's hosts (domains or CIDRs). With no allowed host, internet access is
	// off altogether.
	if limited, hosts := cloud.Limited(spec.Environment); limited {
		if len(hosts) == 0 {
			off := false
			req.AllowInternetAccess = &off
		} else {
			req.Network = &networkJSON{AllowOut: hosts, DenyOut: []string{"0.0.0.0/0"}}
		}
	}
	var sb sandboxJSON
	if err := p.api.JSON(ctx, http.MethodPost, "/sandboxes", nil, req, &sb); err != nil {
		return nil, err
	}
	s := p.sandbox(sb, cloud.Handle{ID: sb.SandboxID, WorkDir: spec.WorkDir, HomeDir: spec.HomeDir})
	if err := s.prepare(ctx); err != nil {
		s.Destroy(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Recover reconnects to a sandbox by ID: connect resumes a paused sandbox and returns a
// fresh envd access token. A sandbox E2B no longer knows is not_found.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	h, err := cloud.DecodeHandle("e2b", raw)
	if err != nil {
		return nil, err
	}
	var sb sandboxJSON
	if err := p.api.JSON(ctx, http.MethodPost, "/sandboxes/"+h.ID+"/connect", nil,
		map[string]int{"timeout": p.cfg.TimeoutSeconds}, &sb); err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("e2b sandbox", h.ID)
		}
		return nil, err
	}
	if sb.SandboxID == "" {
		sb.SandboxID = h.ID
	}
	return p.sandbox(sb, h), nil
}

func (p *Provider) sandbox(sb sandboxJSON, h cloud.Handle) *Sandbox {
	domain := p.domain
	if domain == "" {
		domain = sb.Domain
	}
	if domain == "" {
		domain = "e2b.app"
	}
	base := fmt.Sprintf("https://%d-%s.%s", envdPort, sb.SandboxID, domain)
	if p.cfg.SandboxURL != "" {
		base = strings.TrimSuffix(p.cfg.SandboxURL, "/")
	}
	hdr := http.Header{
		"E2b-Sandbox-Id":   {sb.SandboxID},
		"E2b-Sandbox-Port": {fmt.Sprint(envdPort)},
		// envd authenticates the process's user with HTTP basic auth, user name only.
		"Authorization": {"Basic " + basicUser(p.cfg.User)},
	}
	if sb.EnvdAccessToken != "" {
		hdr.Set("X-Access-Token", sb.EnvdAccessToken)
	}
	return &Sandbox{p: p, h: h, envd: &cloud.Client{Vendor: "e2b envd", BaseURL: base, Header: hdr, HTTP: p.http}}
}

// envdPort is where envd listens in every E2B sandbox.
const envdPort = 49983

// Check lists sandboxes (one at most) to verify that the control plane answers and
// takes the key (GET /v1/providers).
func (p *Provider) Check(ctx context.Context) error {
	return p.api.JSON(ctx, http.MethodGet, "/v2/sandboxes", url.Values{"limit": {"1"}}, nil, nil)
}

// stopTimeout bounds best-effort calls made after the caller's context ended.
const stopTimeout = 30 * time.Second
