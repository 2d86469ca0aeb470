package engine_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hangar-dev/hangar/internal/engine"
)

func TestRegistry(t *testing.T) {
	r := engine.NewRegistry()
	f := func(json.RawMessage, engine.Deps) (engine.Engine, error) { return nil, nil }
	r.Register("scripted", f)
	r.Register("claude", f)
	if got := r.Names(); !slices.Equal(got, []string{"claude", "scripted"}) {
		t.Errorf("Names() = %v", got)
	}
	if _, ok := r.Get("codex"); ok {
		t.Error("Get(codex) found")
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate Register did not panic")
		}
	}()
	r.Register("claude", f)
}

func TestPermissionPolicy(t *testing.T) {
	tools := json.RawMessage(`[{"type":"custom","name":"x"},{"type":"agent_toolset_20260401","default_config":{"enabled":true,"permission_policy":{"type":"always_ask"}},"configs":[{"name":"read","permission_policy":{"type":"always_allow"}}]}]`)
	tests := []struct {
		tools json.RawMessage
		name  string
		want  string
	}{
		{tools, "bash", "always_ask"},
		{tools, "read", "always_allow"},
		{json.RawMessage(`[]`), "bash", "always_allow"},
		{nil, "bash", "always_allow"},
	}
	for _, tt := range tests {
		if got := engine.PermissionPolicy(tt.tools, tt.name); got != tt.want {
			t.Errorf("PermissionPolicy(%s, %s) = %s, want %s", tt.tools, tt.name, got, tt.want)
		}
	}
}

func TestText(t *testing.T) {
	if got := engine.Text(json.RawMessage(`[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]`)); got != "ab" {
		t.Errorf("Text = %q", got)
	}
}
