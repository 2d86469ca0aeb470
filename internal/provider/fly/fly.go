// Package fly runs sandboxes as Fly Machines through the Machines REST API
// (https://api.machines.dev; Bearer token): create a machine that sleeps, wait for it to
// start, run commands with POST /machines/{id}/exec, suspend and start it, destroy it.
//
// The exec endpoint is request/response: a command's stdin is sent up front
// (Capabilities.BufferedStdin) and its output arrives when it exits, not streamed. Fly
// has no file API and no egress policy: files go through exec (base64 over stdin and
// stdout) and networking: limited is refused. docs/sandboxes.md ("Cloud providers")
// lists what maps to what.
package fly

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

// Config is the provider's JSON config (cmd/hangar builds it from FLY_* variables).
type Config struct {
	// Token authenticates (Authorization: Bearer). A plain string because hangar.Secret
	// does not marshal; New moves it into a Secret.
	Token string `json:"token,omitempty"`
	// App is the Fly app the machines are created in (it must exist).
	App string `json:"app,omitempty"`
	// APIURL is the Machines API; default https://api.machines.dev.
	APIURL string `json:"api_url,omitempty"`
	// Image is the machines' image; default node:22 (the engines' CLIs need node).
	Image string `json:"image,omitempty"`
	// Region places the machines ("" lets Fly choose).
	Region string `json:"region,omitempty"`
	// CPUs and MemoryMB size the machines; default 2 shared CPUs, 2048 MB.
	CPUs     int `json:"cpus,omitempty"`
	MemoryMB int `json:"memory_mb,omitempty"`
	// ExecTimeoutSeconds bounds one exec; default 3600.
	ExecTimeoutSeconds int `json:"exec_timeout_seconds,omitempty"`
}

// Provider creates Fly Machines.
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
			return nil, fmt.Errorf("fly provider config: %w", err)
		}
	}
	return NewProvider(cfg)
}

// NewProvider returns a provider for cfg.
func NewProvider(cfg Config) (*Provider, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("fly provider: no token (set FLY_API_TOKEN)")
	}
	if cfg.App == "" {
		return nil, fmt.Errorf("fly provider: no app (set FLY_APP_NAME)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.machines.dev"
	}
	if cfg.Image == "" {
		cfg.Image = "node:22"
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 2
	}
	if cfg.MemoryMB <= 0 {
		cfg.MemoryMB = 2048
	}
	if cfg.ExecTimeoutSeconds <= 0 {
		cfg.ExecTimeoutSeconds = 3600
	}
	token := hangar.Secret(cfg.Token)
	cfg.Token = ""
	return &Provider{cfg: cfg, token: token, api: &cloud.Client{Vendor: "fly", BaseURL: strings.TrimSuffix(cfg.APIURL, "/"),
		Header: http.Header{"Authorization": {"Bearer " + token.Reveal()}}, HTTP: &http.Client{}}}, nil
}

// Capabilities: signals (through a second exec), files (through exec), suspend and
// resume; no network policy; stdin buffered and output not streamed. Isolated:
// Firecracker microVMs.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Isolated: true, BufferedStdin: true, Remote: true}
}

type machineJSON struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	InstanceID string `json:"instance_id"`
}

func (p *Provider) path(id, suffix string) string {
	return "/v1/apps/" + url.PathEscape(p.cfg.App) + "/machines" + id + suffix
}

// Create starts a machine that sleeps forever (commands arrive through exec), waits
// until it runs and prepares the session's directories.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	if limited, _ := cloud.Limited(spec.Environment); limited {
		return nil, cloud.Unsupported("fly", "Fly Machines have no egress policy: networking \"limited\" cannot be enforced")
	}
	body := map[string]any{
		"config": map[string]any{
			"image":        p.cfg.Image,
			"init":         map[string]any{"exec": []string{"sleep", "infinity"}},
			"guest":        map[string]any{"cpu_kind": "shared", "cpus": p.cfg.CPUs, "memory_mb": p.cfg.MemoryMB},
			"restart":      map[string]string{"policy": "no"},
			"auto_destroy": false,
			"metadata":     map[string]string{"hangar_session_id": spec.SessionID},
		},
	}
	if p.cfg.Region != "" {
		body["region"] = p.cfg.Region
	}
	var m machineJSON
	if err := p.api.JSON(ctx, http.MethodPost, p.path("", ""), nil, body, &m); err != nil {
		return nil, err
	}
	s := &Sandbox{p: p, h: cloud.Handle{ID: m.ID, WorkDir: spec.WorkDir, HomeDir: spec.HomeDir}, running: map[*execution]bool{}}
	err := s.waitStarted(ctx, m.InstanceID)
	if err == nil {
		err = s.prepare(ctx)
	}
	if err != nil {
		s.Destroy(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Recover reattaches to a machine, starting (resuming) it when stopped or suspended; a
// destroyed or unknown one is not_found.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	h, err := cloud.DecodeHandle("fly", raw)
	if err != nil {
		return nil, err
	}
	var m machineJSON
	if err := p.api.JSON(ctx, http.MethodGet, p.path("/"+h.ID, ""), nil, nil, &m); err != nil {
		if hangar.IsKind(err, hangar.KindNotFound) {
			return nil, hangar.NotFound("fly machine", h.ID)
		}
		return nil, err
	}
	s := &Sandbox{p: p, h: h, running: map[*execution]bool{}}
	switch m.State {
	case "destroyed", "destroying":
		return nil, hangar.NotFound("fly machine", h.ID)
	case "stopped", "suspended":
		if err := p.api.JSON(ctx, http.MethodPost, p.path("/"+h.ID, "/start"), nil, nil, nil); err != nil {
			return nil, err
		}
	}
	if err := s.waitStarted(ctx, ""); err != nil {
		return nil, err
	}
	return s, nil
}

// Check reads the app to verify that the API answers, takes the token and knows the app
// (GET /v1/providers).
func (p *Provider) Check(ctx context.Context) error {
	return p.api.JSON(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(p.cfg.App), nil, nil, nil)
}

// stopTimeout bounds best-effort calls made after the caller's context ended.
const stopTimeout = 30 * time.Second
