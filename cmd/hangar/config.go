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
	// Watchdog is how long a run may print nothing before it is treated as hung, killed
	// and retried (env HANGAR_WATCHDOG; 0 means the runner's default, negative disables).
	Watchdog          time.Duration
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
}

const serveUsage = `Usage: hangar serve [flags]

Flags:
  --addr ADDR          listen address (env HANGAR_ADDR; default 127.0.0.1:4000)
  --data-dir DIR       where the database, files and keys live (env HANGAR_DATA_DIR; default ./hangar-data)
  --log-format FORMAT  text or json (env HANGAR_LOG_FORMAT; default text)
  --log-level LEVEL    debug, info, warn or error (env HANGAR_LOG_LEVEL; default info)
  --cache-dir DIR      installed engine CLIs (env HANGAR_CACHE_DIR; default <user cache dir>/hangar)
  --watchdog DURATION  a turn that prints nothing this long is killed and retried once
                       (env HANGAR_WATCHDOG; default 10m; negative disables)

Environment:
  HANGAR_API_KEY    the admin API key; when unset, one is generated on first start and kept in
                    <data-dir>/api-key (mode 0600)
  HANGAR_VAULT_KEY  base64 of 32 bytes encrypting vault secrets; when unset, one is generated
                    and kept in <data-dir>/vault-key (mode 0600)
  ANTHROPIC_API_KEY     the model API key the egress proxy adds to sandboxes' model requests
                        (sandboxes only ever see a session token)
  ANTHROPIC_AUTH_TOKEN  sent as a bearer token instead, when ANTHROPIC_API_KEY is unset
  ANTHROPIC_BASE_URL    the model API the egress proxy forwards to (default
                        https://api.anthropic.com)
  OPENAI_API_KEY        the key the egress proxy adds to OpenAI requests (codex)
  OPENAI_BASE_URL       where OpenAI requests go (default https://api.openai.com)
  GEMINI_API_KEY        the key the egress proxy adds to Gemini requests (gemini)
  GEMINI_BASE_URL       where Gemini requests go (also read from GOOGLE_GEMINI_BASE_URL;
                        default https://generativelanguage.googleapis.com)
`

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
		GeminiKey: hangar.Secret(getenv("GEMINI_API_KEY"))}
	geminiURLVar := "GEMINI_BASE_URL"
	if cfg.GeminiURL = getenv(geminiURLVar); cfg.GeminiURL == "" {
		geminiURLVar = "GOOGLE_GEMINI_BASE_URL"
		cfg.GeminiURL = getenv(geminiURLVar)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage) }
	fs.StringVar(&cfg.Addr, "addr", env("HANGAR_ADDR", "127.0.0.1:4000"), "")
	fs.StringVar(&cfg.DataDir, "data-dir", env("HANGAR_DATA_DIR", "./hangar-data"), "")
	fs.StringVar(&cfg.LogFormat, "log-format", env("HANGAR_LOG_FORMAT", "text"), "")
	fs.StringVar(&cfg.LogLevel, "log-level", env("HANGAR_LOG_LEVEL", "info"), "")
	fs.StringVar(&cfg.CacheDir, "cache-dir", getenv("HANGAR_CACHE_DIR"), "")
	watchdog := env("HANGAR_WATCHDOG", "0")
	fs.StringVar(&watchdog, "watchdog", watchdog, "")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
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
