package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/applecontainer"
	"github.com/hangar-dev/hangar/internal/provider/docker"
	"github.com/hangar-dev/hangar/internal/provider/kubernetes"
)

// Config is everything `hangar serve` reads from flags and the environment.
type Config struct {
	Addr      string
	DataDir   string
	APIKey    string
	VaultKey  string
	LogFormat string
	LogLevel  string
	// UpstreamURL is the model API the egress proxy forwards to (env ANTHROPIC_BASE_URL;
	// "" means egress.DefaultUpstream). UpstreamKey (ANTHROPIC_API_KEY) or, without it,
	// UpstreamAuthToken (ANTHROPIC_AUTH_TOKEN) is the real credential the proxy adds; it
	// never enters a sandbox.
	// CacheDir holds installed engine CLIs (env HANGAR_CACHE_DIR; "" means the user cache
	// dir + /hangar, as `hangar engines install` uses).
	CacheDir string
	// GraderModel is the model that grades outcomes (env HANGAR_GRADER_MODEL; "" means
	// grader.DefaultModel), called on UpstreamURL with the upstream credential.
	GraderModel string
	// Watchdog is how long a run may print nothing before it is treated as hung, killed
	// and retried (env HANGAR_WATCHDOG; 0 means the runner's default, negative disables).
	Watchdog time.Duration
	// SelfHostedTimeout is how long a self_hosted session's tool call may wait while no
	// worker holds its work item before the turn fails (env HANGAR_SELF_HOSTED_TIMEOUT; 0
	// means the runner's default, 10m; negative disables). docs/self-hosted.md.
	SelfHostedTimeout time.Duration
	// ShutdownGrace is how long running turns may take to finish after SIGTERM/SIGINT
	// before they are stopped and handed over (env HANGAR_SHUTDOWN_GRACE; 0 means 30s).
	// LeaseTTL is how long a session's lease outlives its instance (env HANGAR_LEASE_TTL;
	// 0 means the runner's default, 15s). docs/deployment.md.
	ShutdownGrace time.Duration
	LeaseTTL      time.Duration
	// OTelExporter traces turns with OpenTelemetry (env HANGAR_OTEL_EXPORTER): "" (off),
	// stdout or otlp (OTEL_EXPORTER_OTLP_* configure it). docs/deployment.md.
	OTelExporter      string
	UpstreamURL       string
	UpstreamKey       hangar.Secret
	UpstreamAuthToken hangar.Secret
	// OpenAIURL (env OPENAI_BASE_URL; "" means egress.DefaultOpenAIUpstream) and OpenAIKey
	// (OPENAI_API_KEY) are the OpenAI API the egress proxy forwards OpenAI requests
	// (/v1/responses…) to, and its key.
	OpenAIURL string
	OpenAIKey hangar.Secret
	// GeminiURL (env GEMINI_BASE_URL, else GOOGLE_GEMINI_BASE_URL; "" means
	// egress.DefaultGeminiUpstream) and GeminiKey (GEMINI_API_KEY) are the Gemini API the
	// egress proxy forwards Gemini requests (/v1beta/…) to, and its key.
	GeminiURL string
	GeminiKey hangar.Secret
	// PublicURL (env HANGAR_PUBLIC_URL, flag --public-url) is where sandboxes on remote
	// machines (cloud providers, Kubernetes) reach this server: their CLIs call the model
	// APIs at PublicURL + "/egress" (docs/egress.md, "Remote sandboxes"). "" serves no
	// public egress, and remote providers' turns fail naming this setting.
	PublicURL string
	// ExtraProviders, when set, registers more sandbox providers (only tests: a remote-style
	// provider for the public egress end-to-end test).
	ExtraProviders func(*provider.Registry)
	// CMAURL (env HANGAR_CMA_URL; "" means https://api.anthropic.com) and CMAKey
	// (HANGAR_CMA_API_KEY; "" means UpstreamKey) are the remote Managed Agents API the
	// anthropic engine runs turns on. CMAEnvironmentID (HANGAR_CMA_ENVIRONMENT_ID) pins the
	// remote environment; CMAAgentEngine (HANGAR_CMA_AGENT_ENGINE) is sent as the remote
	// agents' engine when the remote is another Hangar.
	CMAURL           string
	CMAKey           hangar.Secret
	CMAEnvironmentID string
	CMAAgentEngine   string

	// DatabaseURL, when set, puts the store on PostgreSQL instead of SQLite in DataDir, and
	// carries live events between the instances sharing it (env HANGAR_DATABASE_URL;
	// docs/deployment.md). A Secret: it may hold a password.
	DatabaseURL hangar.Secret

	// Docker and Podman configure the docker and podman sandbox providers (env
	// HANGAR_DOCKER_HOST, _IMAGE, _RUNTIME, _FORWARDER; HANGAR_PODMAN_* alike;
	// docs/sandboxes.md).
	Docker, Podman docker.Config
	// Cloud configures the cloud sandbox providers (e2b, vercel, daytona) from their
	// vendors' variables (cloud.go; docs/sandboxes.md).
	Cloud cloudConfig
	// AppleContainer and MVM configure the macOS providers (apple.go).
	AppleContainer, MVM applecontainer.Config
	// Kubernetes configures the kubernetes sandbox provider (env HANGAR_K8S_KUBECONFIG,
	// _CONTEXT, _NAMESPACE, _IMAGE, _RUNTIME_CLASS; docs/sandboxes.md).
	Kubernetes kubernetes.Config
}

const serveUsage = `Usage: hangar serve [flags]

Flags:
  --addr ADDR          listen address (env HANGAR_ADDR; default 127.0.0.1:4000)
  --data-dir DIR       where the database, files and keys live (env HANGAR_DATA_DIR; default ./hangar-data)
  --database-url URL   PostgreSQL instead of SQLite in the data dir, for several instances on one
                       database (env HANGAR_DATABASE_URL; postgres://user:pass@host/db)
  --log-format FORMAT  text or json (env HANGAR_LOG_FORMAT; default text)
  --log-level LEVEL    debug, info, warn or error (env HANGAR_LOG_LEVEL; default info)
  --cache-dir DIR      installed engine CLIs (env HANGAR_CACHE_DIR; default <user cache dir>/hangar)
  --watchdog DURATION  a turn that prints nothing this long is killed and retried once
                       (env HANGAR_WATCHDOG; default 10m; negative disables)
  --self-hosted-timeout DURATION  a self_hosted session's tool call fails when no worker has
                       held its work item this long (env HANGAR_SELF_HOSTED_TIMEOUT;
                       default 10m; negative disables)
  --shutdown-grace DURATION  on SIGTERM/SIGINT, how long running turns may take to finish
                       before they are stopped and handed over (env HANGAR_SHUTDOWN_GRACE;
                       default 30s)
  --lease-ttl DURATION how soon another instance takes over the sessions of one that died
                       (env HANGAR_LEASE_TTL; default 15s)
  --public-url URL     where remote sandboxes reach this server for model calls
                       (env HANGAR_PUBLIC_URL; docs/egress.md)

Environment:
  HANGAR_API_KEY    the admin API key; when unset, one is generated on first start and kept in
                    <data-dir>/api-key (mode 0600)
  HANGAR_VAULT_KEY  base64 of 32 bytes encrypting vault secrets; when unset, one is generated
                    and kept in <data-dir>/vault-key (mode 0600)
  HANGAR_OTEL_EXPORTER  trace turns with OpenTelemetry: stdout or otlp (OTEL_EXPORTER_OTLP_*
                    configure it); off by default
  HANGAR_GRADER_MODEL   the model grading outcomes (user.define_outcome; default
                        claude-sonnet-4-5), called on ANTHROPIC_BASE_URL
  ANTHROPIC_API_KEY     the model API key the egress proxy adds to sandboxes' model requests
                        (sandboxes only ever see a session token)
  ANTHROPIC_AUTH_TOKEN  sent as a bearer token instead, when ANTHROPIC_API_KEY is unset
  ANTHROPIC_BASE_URL    the model API the egress proxy forwards to (default
                        https://api.anthropic.com)
  OPENAI_API_KEY        the key the egress proxy adds to OpenAI requests (codex)
  OPENAI_BASE_URL       where OpenAI requests go (default https://api.openai.com)
  GEMINI_API_KEY        the key the egress proxy adds to Gemini requests (gemini)
  HANGAR_PUBLIC_URL     where remote sandboxes (cloud providers, kubernetes) reach this
                        server for model calls (--public-url; docs/egress.md)
  GEMINI_BASE_URL       where Gemini requests go (also read from GOOGLE_GEMINI_BASE_URL;
                        default https://generativelanguage.googleapis.com)
  HANGAR_CMA_URL        the remote Managed Agents API the anthropic engine runs agents on
                        (default https://api.anthropic.com; another Hangar works too)
  HANGAR_CMA_API_KEY    its API key (default: ANTHROPIC_API_KEY)
  HANGAR_CMA_ENVIRONMENT_ID  a remote environment to run in (default: one named "hangar",
                        created when missing)
  HANGAR_CMA_AGENT_ENGINE    the engine remote agents use, when the remote is a Hangar
` + cloudConfigUsage + appleConfigUsage

// parseConfig reads flags over environment over defaults.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	cfg := Config{APIKey: getenv("HANGAR_API_KEY"), VaultKey: getenv("HANGAR_VAULT_KEY"),
		UpstreamURL: getenv("ANTHROPIC_BASE_URL"), UpstreamKey: hangar.Secret(getenv("ANTHROPIC_API_KEY")),
		UpstreamAuthToken: hangar.Secret(getenv("ANTHROPIC_AUTH_TOKEN")),
		OpenAIURL:         getenv("OPENAI_BASE_URL"), OpenAIKey: hangar.Secret(getenv("OPENAI_API_KEY")),
		GeminiKey: hangar.Secret(getenv("GEMINI_API_KEY")),
		CMAURL:    getenv("HANGAR_CMA_URL"), CMAKey: hangar.Secret(getenv("HANGAR_CMA_API_KEY")),
		CMAEnvironmentID: getenv("HANGAR_CMA_ENVIRONMENT_ID"), CMAAgentEngine: getenv("HANGAR_CMA_AGENT_ENGINE"),
		OTelExporter: getenv("HANGAR_OTEL_EXPORTER"), PublicURL: getenv("HANGAR_PUBLIC_URL")}
	cfg.GraderModel = getenv("HANGAR_GRADER_MODEL")
	cfg.Docker, cfg.Podman = dockerConfig(getenv, "HANGAR_DOCKER_"), dockerConfig(getenv, "HANGAR_PODMAN_")
	cfg.Cloud = readCloudConfig(getenv)
	cfg.AppleContainer, cfg.MVM = appleConfig(getenv, "HANGAR_APPLE_CONTAINER_"), appleConfig(getenv, "HANGAR_MVM_")
	cfg.Kubernetes = kubernetesConfig(getenv)
	geminiURLVar := "GEMINI_BASE_URL"
	if cfg.GeminiURL = getenv(geminiURLVar); cfg.GeminiURL == "" {
		geminiURLVar = "GOOGLE_GEMINI_BASE_URL"
		cfg.GeminiURL = getenv(geminiURLVar)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage) }
	fs.StringVar(&cfg.Addr, "addr", env("HANGAR_ADDR", defaultServeAddr), "")
	fs.StringVar(&cfg.DataDir, "data-dir", env("HANGAR_DATA_DIR", "./hangar-data"), "")
	databaseURL := getenv("HANGAR_DATABASE_URL")
	fs.StringVar(&databaseURL, "database-url", databaseURL, "")
	fs.StringVar(&cfg.LogFormat, "log-format", env("HANGAR_LOG_FORMAT", "text"), "")
	fs.StringVar(&cfg.LogLevel, "log-level", env("HANGAR_LOG_LEVEL", "info"), "")
	fs.StringVar(&cfg.CacheDir, "cache-dir", getenv("HANGAR_CACHE_DIR"), "")
	watchdog := env("HANGAR_WATCHDOG", "0")
	fs.StringVar(&watchdog, "watchdog", watchdog, "")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 0, "") // 0: App.Serve's default, 30s
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 0, "")
	fs.DurationVar(&cfg.SelfHostedTimeout, "self-hosted-timeout", 0, "")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "")
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"HANGAR_SHUTDOWN_GRACE", &cfg.ShutdownGrace}, {"HANGAR_LEASE_TTL", &cfg.LeaseTTL}, {"HANGAR_SELF_HOSTED_TIMEOUT", &cfg.SelfHostedTimeout}} {
		if v := getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil {
				return cfg, fmt.Errorf("%s: want a duration such as 30s, got %q", d.env, v)
			}
			*d.dst = x
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.DatabaseURL = hangar.Secret(databaseURL)
	switch cfg.OTelExporter {
	case "", "none", "stdout", "otlp":
	default:
		return cfg, fmt.Errorf("HANGAR_OTEL_EXPORTER: want none, stdout or otlp, got %q", cfg.OTelExporter)
	}
	d, err := time.ParseDuration(watchdog)
	if err != nil {
		return cfg, fmt.Errorf("--watchdog: want a duration such as 10m, got %q", watchdog)
	}
	cfg.Watchdog = d
	switch cfg.LogFormat {
	case "text", "json":
	default:
		return cfg, fmt.Errorf("--log-format: want text or json, got %q", cfg.LogFormat)
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return cfg, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", cfg.LogLevel)
	}
	for _, b := range []struct{ name, value, example string }{
		{"ANTHROPIC_BASE_URL", cfg.UpstreamURL, "https://api.anthropic.com"},
		{"OPENAI_BASE_URL", cfg.OpenAIURL, "https://api.openai.com"},
		{geminiURLVar, cfg.GeminiURL, "https://generativelanguage.googleapis.com"},
		{"HANGAR_CMA_URL", cfg.CMAURL, "https://api.anthropic.com"},
		{"HANGAR_PUBLIC_URL", cfg.PublicURL, "https://hangar.example.com"},
	} {
		if err := checkBaseURL(b.value); err != nil {
			return cfg, fmt.Errorf("%s: want an absolute http or https URL without credentials, such as %s", b.name, b.example)
		}
	}
	return cfg, nil
}

// checkBaseURL checks a model API base URL from the environment ("" is the default).
func checkBaseURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return errors.New("invalid base URL")
	}
	return nil
}

// loadOrCreateAPIKey returns the key stored at path, creating it (mode 0600) if missing.
// created reports whether a new key was written.
func loadOrCreateAPIKey(path string) (key string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key = strings.TrimSpace(string(b))
		if key == "" {
			return "", false, fmt.Errorf("api key file %s is empty; delete it to generate a new key", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read api key: %w", err)
	}
	var buf [32]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", false, fmt.Errorf("generate api key: %w", err)
	}
	key = "sk-hangar-" + base64.RawURLEncoding.EncodeToString(buf[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("write api key: %w", err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write api key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("write api key: %w", err)
	}
	return key, true, nil
}
