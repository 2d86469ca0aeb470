package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
)

// TestCloudProviderConfigs checks that the vendors' variables reach the cloud
// providers' factories, that a provider without credentials fails naming its variable,
// and that the keys never print with the server's Config.
func TestCloudProviderConfigs(t *testing.T) {
	env := map[string]string{"E2B_API_KEY": "e2b-secret", "E2B_TEMPLATE": "my-tpl",
		"VERCEL_TOKEN": "vercel-secret", "VERCEL_PROJECT_ID": "prj", "DAYTONA_API_KEY": "daytona-secret",
		"SPRITE_TOKEN": "sprites-secret", "FLY_API_TOKEN": "fly-secret", "FLY_APP_NAME": "app",
		"MODAL_TOKEN_ID": "ak-modal", "MODAL_TOKEN_SECRET": "modal-secret"}
	cfg := Config{Cloud: readCloudConfig(func(k string) string { return env[k] })}
	if s := fmt.Sprintf("%+v", cfg); strings.Contains(s, "secret") {
		t.Errorf("Config prints a key: %s", s)
	}
	configs := map[string]json.RawMessage{}
	if err := cfg.Cloud.addTo(configs); err != nil {
		t.Fatal(err)
	}
	providers := builtinProviders()
	for _, name := range []string{"e2b", "vercel", "daytona", "sprites", "fly", "modal"} {
		f, ok := providers.Get(name)
		if !ok {
			t.Fatalf("provider %s is not registered", name)
		}
		if _, err := f(configs[name], provider.Deps{}); err != nil {
			t.Errorf("%s factory: %v", name, err)
		}
	}

	empty := map[string]json.RawMessage{}
	readCloudConfig(func(string) string { return "" }).addTo(empty)
	for name, want := range map[string]string{"e2b": "E2B_API_KEY", "vercel": "VERCEL_TOKEN", "daytona": "DAYTONA_API_KEY",
		"sprites": "SPRITES_TOKEN", "fly": "FLY_API_TOKEN", "modal": "MODAL_TOKEN_ID"} {
		f, _ := providers.Get(name)
		if _, err := f(empty[name], provider.Deps{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s factory without credentials = %v, want an error naming %s", name, err, want)
		}
	}
}
