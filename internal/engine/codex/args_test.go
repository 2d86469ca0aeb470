package codex_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
	"github.com/hangar-dev/hangar/internal/provider"
)

func mustNew(t *testing.T, cfg string) *codex.Engine {
	t.Helper()
	e, err := codex.New(json.RawMessage(cfg), engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return e.(*codex.Engine)
}

func TestArgs(t *testing.T) {
	t.Parallel()
	base := []string{"app-server",
		"-c", "analytics.enabled=false", "-c", "check_for_update_on_startup=false", "--disable", "plugins",
		"-c", "model_provider=hangar", "-c", "model_providers.hangar.name=hangar",
		"-c", `model_providers.hangar.base_url="http://10.0.0.1:7000/model/v1"`,
		"-c", "model_providers.hangar.env_key=HANGAR_MODEL_TOKEN", "-c", "model_providers.hangar.wire_api=responses"}
	ask := json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"write","permission_policy":{"type":"always_ask"}}]}]`)
	askRead := json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"read","permission_policy":{"type":"always_ask"}}]}]`)
	spec := func(system, resume string, tools json.RawMessage) engine.Spec {
		a := hangar.Agent{Tools: tools}
		a.Model.ID = "gpt-5.4"
		if system != "" {
			a.System = &system
		}
		s := enginetest.Spec(a, "hello", 0)
		s.Resume = resume
		s.Egress = engine.Egress{ModelBaseURL: "http://10.0.0.1:7000/model/", Token: "tok"}
		return s
	}
	tests := []struct {
		name   string
		cfg    string
		spec   engine.Spec
		args   []string
		thread map[string]any
	}{
		{"first turn", `{}`, spec("", "", nil), base,
			map[string]any{"sandbox": "danger-full-access", "approvalPolicy": "never", "model": "gpt-5.4"}},
		{"resume with system prompt and retries", `{"max_retries":2}`, spec("Be \"brief\".\nOK", "thr_1", nil),
			append(base, "-c", "model_providers.hangar.request_max_retries=2", "-c", "model_providers.hangar.stream_max_retries=2"),
			map[string]any{"sandbox": "danger-full-access", "approvalPolicy": "never", "model": "gpt-5.4",
				"developerInstructions": "Be \"brief\".\nOK", "threadId": "thr_1", "excludeTurns": true}},
		{"replace system prompt, a tool asks", `{"system_prompt":"replace"}`, spec("S", "", ask), base,
			map[string]any{"sandbox": "danger-full-access", "approvalPolicy": "untrusted", "model": "gpt-5.4", "baseInstructions": "S"}},
		{"a tool the server never asks about asks", `{}`, spec("", "", askRead), base,
			map[string]any{"sandbox": "danger-full-access", "approvalPolicy": "never", "model": "gpt-5.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNew(t, tt.cfg)
			if diff := cmp.Diff(tt.args, e.Args(tt.spec)); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.thread, e.ThreadParams(tt.spec)); diff != "" {
				t.Errorf("ThreadParams (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
		want          []map[string]any
	}{
		{"text", `[{"type":"text","text":"a"},{"type":"text","text":"b"}]`, []map[string]any{
			{"type": "text", "text": "a", "text_elements": []any{}}, {"type": "text", "text": "b", "text_elements": []any{}}}},
		{"images", `[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image","source":{"type":"url","url":"https://x/y.png"}},{"type":"document"}]`,
			[]map[string]any{{"type": "image", "url": "data:image/png;base64,AAAA"}, {"type": "image", "url": "https://x/y.png"}}},
		{"empty", `[]`, []map[string]any{{"type": "text", "text": "", "text_elements": []any{}}}},
		{"not content", `nope`, []map[string]any{{"type": "text", "text": "", "text_elements": []any{}}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, codex.Input(json.RawMessage(tt.content))); diff != "" {
			t.Errorf("%s: Input (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestEnv(t *testing.T) {
	t.Parallel()
	s := enginetest.Spec(hangar.Agent{}, "hi", 0)
	s.Egress = engine.Egress{ModelBaseURL: "http://x", Token: "tok", HTTPProxy: "http://proxy:1"}
	got := mustNew(t, `{}`).Env(s)
	want := []string{"HANGAR_MODEL_TOKEN=tok",
		"HTTPS_PROXY=http://proxy:1", "HTTP_PROXY=http://proxy:1", "https_proxy=http://proxy:1", "http_proxy=http://proxy:1",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", "HOME=/home/agent"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []string{`{"nope":1}`, `{"system_prompt":"prepend"}`, `{"max_retries":-1}`, `[`} {
		if _, err := codex.New(json.RawMessage(cfg), engine.Deps{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
	if _, err := codex.New(nil, engine.Deps{}); err != nil {
		t.Errorf("New(nil) = %v", err)
	}
	caps := mustNew(t, `{}`).Capabilities()
	if want := (engine.Capabilities{ToolConfirmation: true, Interrupt: true, Resume: true, InteractiveStdin: true}); caps != want {
		t.Errorf("Capabilities = %+v, want %+v", caps, want)
	}
}

func TestFindMountsAndSandboxPath(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	if _, err := codex.Find(cache); !errors.Is(err, codex.ErrNotInstalled) {
		t.Errorf("Find in an empty cache = %v, want ErrNotInstalled", err)
	}
	e := mustNew(t, `{"cache_dir":`+strconvQuote(cache)+`}`)
	if m := e.Mounts(); m != nil {
		t.Errorf("Mounts without the CLI = %v", m)
	}
	_, err := e.Start(t.Context(), &enginetest.IsolatedSandbox{}, enginetest.Spec(hangar.Agent{}, "hi", 0))
	var ee *engine.Error
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "hangar engines install codex") {
		t.Errorf("Start without the CLI = %v", err)
	}

	// The JS launcher is not the CLI; the platform package's native binary is.
	js := filepath.Join(codex.InstallDir(cache), "node_modules", "@openai", "codex", "bin", "codex.js")
	if err := os.MkdirAll(filepath.Dir(js), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(js, []byte("#!/usr/bin/env node\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := codex.Find(cache); !errors.Is(err, codex.ErrNotInstalled) {
		t.Errorf("Find with only the launcher = %v, want ErrNotInstalled", err)
	}
	bin, err := codex.InstalledFake(cache)
	if err != nil {
		t.Skip(err)
	}
	if got, err := codex.Find(cache); err != nil || got != bin {
		t.Errorf("Find = %q, %v; want %q", got, err, bin)
	}
	want := []provider.Mount{{Source: filepath.Dir(filepath.Dir(bin)), Target: codex.MountTarget, ReadOnly: true}}
	if diff := cmp.Diff(want, e.Mounts()); diff != "" {
		t.Errorf("Mounts (-want +got):\n%s", diff)
	}
	sb := &enginetest.IsolatedSandbox{}
	e.Start(t.Context(), sb, enginetest.Spec(hangar.Agent{}, "hi", 0))
	if len(sb.Args) == 0 || sb.Args[0] != codex.MountTarget+"/bin/codex" {
		t.Errorf("argv in an isolated sandbox = %q", sb.Args)
	}
	e = mustNew(t, `{"cache_dir":`+strconvQuote(cache)+`,"sandbox_binary":"/usr/local/bin/codex"}`)
	e.Start(t.Context(), sb, enginetest.Spec(hangar.Agent{}, "hi", 0))
	if len(sb.Args) == 0 || sb.Args[0] != "/usr/local/bin/codex" {
		t.Errorf("argv with sandbox_binary = %q", sb.Args)
	}
}
