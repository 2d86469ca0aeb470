package pi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

func TestArgsEnvFiles(t *testing.T) {
	system := "be brief"
	agent := hangar.Agent{Model: hangar.Model{ID: "anthropic/claude-opus-4-6"}, System: &system,
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"edit","enabled":false},{"name":"web_search","enabled":false}]}]`)}
	spec := enginetest.Spec(agent, "hi", 1)
	spec.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100/", Token: "tok", HTTPProxy: "http://127.0.0.1:4200"}

	want := []string{"--mode", "rpc", "--provider", "hangar", "--model", "claude-opus-4-6",
		"--session", "/home/agent/.pi/agent/sessions/hangar/sesn_test.jsonl", "--no-extensions",
		"--tools", "bash,read,write,find,ls,grep", "--append-system-prompt", "/home/agent/.pi/hangar/system.md"}
	if diff := cmp.Diff(want, Args(spec)); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
	spec.Resume = "/home/agent/.pi/agent/sessions/hangar/other.jsonl"
	if got := Args(spec)[7]; got != spec.Resume {
		t.Errorf("--session %s, want the resume token", got)
	}
	env := strings.Join(Env(spec), "\n") + "\n"
	for _, kv := range []string{"HOME=/home/agent\n", "PI_CODING_AGENT_DIR=/home/agent/.pi/agent\n", "HANGAR_MODEL_TOKEN=tok\n",
		"PI_OFFLINE=1\n", "PI_SKIP_VERSION_CHECK=1\n", "PI_TELEMETRY=0\n", "HTTPS_PROXY=http://127.0.0.1:4200\n", "NO_PROXY=127.0.0.1,localhost\n"} {
		if !strings.Contains(env, kv) {
			t.Errorf("Env lacks %q:\n%s", kv, env)
		}
	}

	var models struct {
		Providers map[string]struct {
			BaseURL string           `json:"baseUrl"`
			API     string           `json:"api"`
			APIKey  string           `json:"apiKey"`
			Models  []map[string]any `json:"models"`
		} `json:"providers"`
	}
	if err := json.Unmarshal(ModelsFile(spec), &models); err != nil {
		t.Fatal(err)
	}
	p := models.Providers["hangar"]
	if p.BaseURL != "http://127.0.0.1:4100" || p.API != "anthropic-messages" || p.APIKey != "HANGAR_MODEL_TOKEN" ||
		len(p.Models) != 1 || p.Models[0]["id"] != "claude-opus-4-6" {
		t.Errorf("models.json provider %+v", p)
	}
	if strings.Contains(string(ModelsFile(spec)), `"tok"`) {
		t.Error("models.json holds the session token")
	}
	var settings struct {
		Telemetry *bool `json:"enableInstallTelemetry"`
		Retry     struct {
			Enabled *bool `json:"enabled"`
		} `json:"retry"`
		DefaultProvider string `json:"defaultProvider"`
	}
	if err := json.Unmarshal(SettingsFile(spec), &settings); err != nil {
		t.Fatal(err)
	}
	if settings.Telemetry == nil || *settings.Telemetry || settings.Retry.Enabled == nil || *settings.Retry.Enabled || settings.DefaultProvider != "hangar" {
		t.Errorf("settings.json %s", SettingsFile(spec))
	}

	// No toolset: no tool; no system prompt: no flag; no model: the default.
	spec = enginetest.Spec(hangar.Agent{Tools: json.RawMessage(`[]`)}, "hi", 0)
	want = []string{"--mode", "rpc", "--provider", "hangar", "--model", DefaultModel,
		"--session", "/home/agent/.pi/agent/sessions/hangar/sesn_test.jsonl", "--no-extensions", "--no-tools"}
	if diff := cmp.Diff(want, Args(spec)); diff != "" {
		t.Errorf("Args without toolset (-want +got):\n%s", diff)
	}
}

func TestTools(t *testing.T) {
	tests := []struct {
		tools string
		want  []string
	}{
		{`[{"type":"agent_toolset_20260401"}]`, []string{"bash", "read", "write", "edit", "find", "ls", "grep"}},
		{`[{"type":"agent_toolset_20260401","default_config":{"enabled":false},"configs":[{"name":"read","enabled":true}]}]`, []string{"read"}},
		{`[{"type":"custom","name":"x"}]`, nil},
		{`null`, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Tools(json.RawMessage(tt.tools))); diff != "" {
			t.Errorf("Tools(%s) (-want +got):\n%s", tt.tools, diff)
		}
	}
}

func TestPrompt(t *testing.T) {
	spec := enginetest.Spec(hangar.Agent{}, "", 0)
	spec.Content = json.RawMessage(`[{"type":"text","text":"look"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"image","source":{"type":"url","url":"http://x"}}]`)
	want := `{"id":"hangar_prompt","images":[{"data":"iVBO","mimeType":"image/png","type":"image"}],"message":"look","type":"prompt"}` + "\n"
	if got := string(Prompt(spec)); got != want {
		t.Errorf("Prompt = %s, want %s", got, want)
	}
	spec.Content = json.RawMessage(`[]`)
	if got := string(Prompt(spec)); !strings.Contains(got, `"message":"(the user sent no text)"`) || strings.Contains(got, "images") {
		t.Errorf("empty Prompt = %s", got)
	}
}

func TestMountsAndCommand(t *testing.T) {
	e := &Engine{cfg: Config{Entry: "/cache/engines/pi/0.73.1/node_modules/@mariozechner/pi-coding-agent/dist/cli.js", Node: "/usr/bin/node"}}
	node, entry, err := e.command(&enginetest.IsolatedSandbox{})
	if err != nil {
		t.Fatal(err)
	}
	if node != NodeTarget || entry != MountTarget+"/node_modules/@mariozechner/pi-coding-agent/dist/cli.js" {
		t.Errorf("command = %s %s", node, entry)
	}
	if got := installRoot(e.cfg.Entry); got != "/cache/engines/pi/0.73.1" {
		t.Errorf("installRoot = %s", got)
	}
}
