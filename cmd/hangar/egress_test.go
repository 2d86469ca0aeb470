package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/egress"
)

func TestParseConfigUpstream(t *testing.T) {
	t.Parallel()
	defaults := Config{Addr: "127.0.0.1:4000", DataDir: "./hangar-data", LogFormat: "text", LogLevel: "info"}
	with := func(f func(*Config)) Config { c := defaults; f(&c); return c }
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "unset", want: defaults},
		{
			name: "key and base URL",
			env:  map[string]string{"ANTHROPIC_API_KEY": "sk-ant-x", "ANTHROPIC_BASE_URL": "https://gw.example.com/anthropic"},
			want: with(func(c *Config) { c.UpstreamKey, c.UpstreamURL = "sk-ant-x", "https://gw.example.com/anthropic" }),
		},
		{
			name: "auth token",
			env:  map[string]string{"ANTHROPIC_AUTH_TOKEN": "tok"},
			want: with(func(c *Config) { c.UpstreamAuthToken = "tok" }),
		},
		{
			name: "openai and gemini",
			env: map[string]string{"OPENAI_API_KEY": "sk-oa", "OPENAI_BASE_URL": "https://gw.example.com/openai/v1",
				"GEMINI_API_KEY": "AIza", "GEMINI_BASE_URL": "http://127.0.0.1:9/gemini"},
			want: with(func(c *Config) {
				c.OpenAIKey, c.OpenAIURL = "sk-oa", "https://gw.example.com/openai/v1"
				c.GeminiKey, c.GeminiURL = "AIza", "http://127.0.0.1:9/gemini"
			}),
		},
		{
			name: "GOOGLE_GEMINI_BASE_URL",
			env:  map[string]string{"GOOGLE_GEMINI_BASE_URL": "https://g.example.com"},
			want: with(func(c *Config) { c.GeminiURL = "https://g.example.com" }),
		},
		{
			name: "GEMINI_BASE_URL wins over GOOGLE_GEMINI_BASE_URL",
			env:  map[string]string{"GEMINI_BASE_URL": "https://a.example.com", "GOOGLE_GEMINI_BASE_URL": "https://b.example.com"},
			want: with(func(c *Config) { c.GeminiURL = "https://a.example.com" }),
		},
		{name: "relative openai base URL", env: map[string]string{"OPENAI_BASE_URL": "api.openai.com/v1"}, wantErr: "OPENAI_BASE_URL"},
		{name: "openai base URL with credentials", env: map[string]string{"OPENAI_BASE_URL": "https://u:secret@gw.example.com"}, wantErr: "OPENAI_BASE_URL"},
		{name: "ftp gemini base URL", env: map[string]string{"GEMINI_BASE_URL": "ftp://g.example.com"}, wantErr: "GEMINI_BASE_URL"},
		{name: "bad GOOGLE_GEMINI_BASE_URL", env: map[string]string{"GOOGLE_GEMINI_BASE_URL": "https://u:secret@g"}, wantErr: "GOOGLE_GEMINI_BASE_URL"},
		{name: "relative base URL", env: map[string]string{"ANTHROPIC_BASE_URL": "api.anthropic.com"}, wantErr: "ANTHROPIC_BASE_URL"},
		{name: "base URL with credentials", env: map[string]string{"ANTHROPIC_BASE_URL": "https://u:secret@gw.example.com"}, wantErr: "ANTHROPIC_BASE_URL"},
		{name: "ftp base URL", env: map[string]string{"ANTHROPIC_BASE_URL": "ftp://gw.example.com"}, wantErr: "ANTHROPIC_BASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseConfig(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigKeyIsRedacted(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, func(k string) string {
		return map[string]string{"ANTHROPIC_API_KEY": "sk-ant-SECRET", "OPENAI_API_KEY": "sk-oa-SECRET", "GEMINI_API_KEY": "AIza-SECRET"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, cfg); strings.Contains(s, "SECRET") {
			t.Errorf("%s of the config shows the key: %s", verb, s)
		}
	}
}

// TestAppEgress runs the wired app's egress proxy against a local fake upstream: the real
// key from ANTHROPIC_API_KEY reaches the upstream, the session token does not; without a
// key, model requests get the clear 401.
func TestAppEgress(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gotKey string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotKey = r.Header.Get("X-Api-Key")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"type":"message","usage":{"input_tokens":1,"output_tokens":1}}`)
	}))
	defer upstream.Close()

	for _, key := range []hangar.Secret{"sk-ant-app-test-key", ""} {
		cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), APIKey: "k", LogFormat: "text", LogLevel: "error",
			UpstreamURL: upstream.URL, UpstreamKey: key}
		app, err := newApp(t.Context(), cfg, newLogger(cfg, io.Discard), io.Discard)
		if err != nil {
			t.Fatalf("newApp: %v", err)
		}
		att, err := app.egress.Attach(t.Context(), "sesn_app", hangar.Networking{}, egress.AttachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(att.Socket); err != nil {
			t.Errorf("egress socket: %v", err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+att.TCPAddr+"/v1/messages", strings.NewReader(`{}`))
		req.Header.Set("x-api-key", att.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		upstreamKey := gotKey
		mu.Unlock()
		if key != "" {
			if resp.StatusCode != 200 || gotKey != key.Reveal() {
				t.Errorf("with a key: %d %s, upstream key %q", resp.StatusCode, body, upstreamKey)
			}
		} else {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusUnauthorized || e.Error.Message != egress.NoCredentialMessage {
				t.Errorf("without a key: %d %s", resp.StatusCode, body)
			}
		}
		app.Close()
		if _, err := os.Stat(att.Socket); !os.IsNotExist(err) {
			t.Errorf("egress socket left after Close: %v", err)
		}
	}
}

// TestAppEgressVendors runs the wired app's egress proxy with OpenAI and Gemini upstreams
// from the config: each request reaches its API's upstream with that API's key.
func TestAppEgressVendors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]string{} // path → credential header seen
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Authorization") + r.Header.Get("X-Goog-Api-Key")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{}`)
	}))
	defer upstream.Close()
	cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), APIKey: "k", LogFormat: "text", LogLevel: "error",
		OpenAIURL: upstream.URL + "/oa/v1", OpenAIKey: "sk-oa-app", GeminiURL: upstream.URL + "/gm", GeminiKey: "AIza-app"}
	app, err := newApp(t.Context(), cfg, newLogger(cfg, io.Discard), io.Discard)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	defer app.Close()
	att, err := app.egress.Attach(t.Context(), "sesn_app", hangar.Networking{}, egress.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for path, h := range map[string][2]string{
		"/v1/responses": {"Authorization", "Bearer " + att.Token},
		"/v1beta/models/gemini-2.5-pro:streamGenerateContent": {"X-Goog-Api-Key", att.Token},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", "http://"+att.TCPAddr+path, strings.NewReader(`{}`))
		req.Header.Set(h[0], h[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{"/oa/v1/responses": "Bearer sk-oa-app", "/gm/v1beta/models/gemini-2.5-pro:streamGenerateContent": "AIza-app"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream requests mismatch (-want +got):\n%s", diff)
	}
}
