package opencode

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/enginetest"
)

func TestArgsEnvConfig(t *testing.T) {
	e := &Engine{}
	system := "be brief"
	agent := hangar.Agent{Model: hangar.Model{ID: "anthropic/claude-opus-4-6"}, System: &system,
		Tools: json.RawMessage(`[{"type":"agent_toolset_20260401","configs":[{"name":"edit","enabled":false},{"name":"web_search","enabled":false}]}]`)}
	spec := enginetest.Spec(agent, "hi", 1)
	spec.Resume = "ses_1"
	spec.Egress = engine.Egress{ModelBaseURL: "http://127.0.0.1:4100/", Token: "tok"}

	want := []string{"run", "--format", "json", "--auto", "--thinking", "--model", "hangar/claude-opus-4-6", "--title", "sesn_test", "--session", "ses_1"}
	if diff := cmp.Diff(want, e.Args(spec)); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
	env := strings.Join(e.Env(spec), "\n")
	for _, kv := range []string{"HOME=/home/agent", "HANGAR_MODEL_BASE_URL=http://127.0.0.1:4100\n", "HANGAR_MODEL_TOKEN=tok", "OPENCODE_DISABLE_DEFAULT_PLUGINS=1", "XDG_DATA_HOME=/home/agent/.local/share"} {
		if !strings.Contains(env+"\n", kv) {
			t.Errorf("Env lacks %q:\n%s", kv, env)
		}
	}
	if got := ConfigPath(spec); got != "/home/agent/.config/opencode/opencode.json" {
		t.Errorf("ConfigPath = %s", got)
	}
	var cfg struct {
		Provider map[string]struct {
			NPM     string                    `json:"npm"`
			Options map[string]string         `json:"options"`
			Models  map[string]map[string]any `json:"models"`
		} `json:"provider"`
		Model        string            `json:"model"`
		SmallModel   string            `json:"small_model"`
		Tools        map[string]bool   `json:"tools"`
		Permission   map[string]string `json:"permission"`
		Instructions []string          `json:"instructions"`
	}
	if err := json.Unmarshal(e.ConfigFile(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	p := cfg.Provider["hangar"]
	if p.NPM != "@ai-sdk/anthropic" || p.Options["baseURL"] != "{env:HANGAR_MODEL_BASE_URL}/v1" || p.Models["claude-opus-4-6"]["tool_call"] != true {
		t.Errorf("provider %+v", p)
	}
	if cfg.Model != "hangar/claude-opus-4-6" || cfg.SmallModel != cfg.Model {
		t.Errorf("model %q small %q", cfg.Model, cfg.SmallModel)
	}
	if diff := cmp.Diff(map[string]bool{"edit": false, "websearch": false}, cfg.Tools); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"bash": "allow", "edit": "allow", "webfetch": "allow", "websearch": "deny"}, cfg.Permission); diff != "" {
		t.Errorf("permission (-want +got):\n%s", diff)
	}
	if len(cfg.Instructions) != 1 {
		t.Errorf("instructions %v", cfg.Instructions)
	}

	// No toolset: no built-in tool.
	spec.Session.Agent = hangar.Agent{Tools: json.RawMessage(`[]`)}
	if err := json.Unmarshal(e.ConfigFile(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tools) != 8 || cfg.Permission["bash"] != "deny" || cfg.Permission["edit"] != "deny" || !strings.HasSuffix(cfg.Model, "/"+DefaultModel) {
		t.Errorf("no toolset: tools %v permission %v model %s", cfg.Tools, cfg.Permission, cfg.Model)
	}
}
