package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	defaults := Config{Addr: "127.0.0.1:4000", DataDir: "./hangar-data", LogFormat: "text", LogLevel: "info"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Config
		wantErr string // substring; "" means success
		help    bool
	}{
		{name: "defaults", want: defaults},
		{
			name: "environment over defaults",
			env: map[string]string{
				"HANGAR_ADDR": ":9000", "HANGAR_DATA_DIR": "/var/lib/hangar", "HANGAR_LOG_FORMAT": "json",
				"HANGAR_LOG_LEVEL": "debug", "HANGAR_API_KEY": "k1", "HANGAR_VAULT_KEY": "vk",
			},
			want: Config{Addr: ":9000", DataDir: "/var/lib/hangar", APIKey: "k1", VaultKey: "vk", LogFormat: "json", LogLevel: "debug"},
		},
		{
			name: "flags over environment",
			args: []string{"--addr", "0.0.0.0:1", "--data-dir=/d", "--log-format", "text", "--log-level", "warn"},
			env:  map[string]string{"HANGAR_ADDR": ":9000", "HANGAR_DATA_DIR": "/e", "HANGAR_LOG_FORMAT": "json", "HANGAR_LOG_LEVEL": "debug"},
			want: Config{Addr: "0.0.0.0:1", DataDir: "/d", LogFormat: "text", LogLevel: "warn"},
		},
		{
			name: "empty environment values fall back to defaults",
			env:  map[string]string{"HANGAR_ADDR": "", "HANGAR_LOG_LEVEL": ""},
			want: defaults,
		},
		{
			name: "anthropic engine remote",
			env: map[string]string{"HANGAR_CMA_URL": "http://127.0.0.1:4001", "HANGAR_CMA_API_KEY": "ck", "ANTHROPIC_API_KEY": "ak",
				"HANGAR_CMA_ENVIRONMENT_ID": "env_1", "HANGAR_CMA_AGENT_ENGINE": "claude"},
			want: func() Config {
				c := defaults
				c.UpstreamKey, c.CMAURL, c.CMAKey, c.CMAEnvironmentID, c.CMAAgentEngine = "ak", "http://127.0.0.1:4001", "ck", "env_1", "claude"
				return c
			}(),
		},
		{name: "bad HANGAR_CMA_URL", env: map[string]string{"HANGAR_CMA_URL": "ftp://x"}, wantErr: "HANGAR_CMA_URL"},
		{
			name: "durability flags over environment",
			args: []string{"--shutdown-grace", "5s"},
			env:  map[string]string{"HANGAR_SHUTDOWN_GRACE": "1m", "HANGAR_LEASE_TTL": "3s"},
			want: func() Config {
				c := defaults
				c.ShutdownGrace, c.LeaseTTL = 5*time.Second, 3*time.Second
				return c
			}(),
		},
		{name: "bad HANGAR_LEASE_TTL", env: map[string]string{"HANGAR_LEASE_TTL": "soon"}, wantErr: "HANGAR_LEASE_TTL"},
		{name: "bad --shutdown-grace", args: []string{"--shutdown-grace", "later"}, wantErr: "shutdown-grace"},
		{name: "bad --log-format", args: []string{"--log-format", "xml"}, wantErr: "--log-format"},
		{name: "bad HANGAR_LOG_FORMAT", env: map[string]string{"HANGAR_LOG_FORMAT": "yaml"}, wantErr: "--log-format"},
		{name: "bad --log-level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "unknown flag", args: []string{"--port", "1"}, wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments: extra"},
		{name: "help", args: []string{"--help"}, help: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			got, err := parseConfig(tt.args, getenv, &stderr)
			switch {
			case tt.help:
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err = %v, want flag.ErrHelp", err)
				}
				if !strings.Contains(stderr.String(), "Usage: hangar serve") {
					t.Errorf("help output = %q", stderr.String())
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("parseConfig: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadOrCreateAPIKey(t *testing.T) {
	t.Parallel()

	t.Run("creates a 0600 file and then reuses it", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nested", "api-key")
		key, created, err := loadOrCreateAPIKey(path)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if !created || !strings.HasPrefix(key, "sk-hangar-") || len(key) < len("sk-hangar-")+40 {
			t.Fatalf("got key %q created %v", key, created)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
		}
		again, created, err := loadOrCreateAPIKey(path)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if created || again != key {
			t.Errorf("reload gave %q created %v, want %q reused", again, created, key)
		}
	})

	t.Run("two data dirs get different keys", func(t *testing.T) {
		t.Parallel()
		k1, _, err1 := loadOrCreateAPIKey(filepath.Join(t.TempDir(), "api-key"))
		k2, _, err2 := loadOrCreateAPIKey(filepath.Join(t.TempDir(), "api-key"))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if k1 == k2 {
			t.Errorf("two generated keys are equal: %q", k1)
		}
	})

	tests := []struct {
		name     string
		contents string
		wantKey  string
		wantErr  string
	}{
		{"existing key is trimmed", "  my-key\n", "my-key", ""},
		{"empty file is an error", "\n", "", "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "api-key")
			if err := os.WriteFile(path, []byte(tt.contents), 0o600); err != nil {
				t.Fatal(err)
			}
			key, created, err := loadOrCreateAPIKey(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || created || key != tt.wantKey {
				t.Errorf("got %q created %v err %v, want %q", key, created, err, tt.wantKey)
			}
		})
	}

	t.Run("newApp writes the key and reports it", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, LogFormat: "text", LogLevel: "error"}
		var stdout bytes.Buffer
		app, err := newApp(t.Context(), cfg, newLogger(cfg, &bytes.Buffer{}), &stdout)
		if err != nil {
			t.Fatalf("newApp: %v", err)
		}
		defer app.Close()
		if !strings.Contains(stdout.String(), "generated an admin API key") {
			t.Errorf("stdout = %q", stdout.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "api-key"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(b)) != app.apiKey {
			t.Errorf("file key %q != app key %q", b, app.apiKey)
		}
		if strings.Contains(stdout.String(), app.apiKey) {
			t.Errorf("the key itself was printed to stdout")
		}
	})
}
