package main

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/applecontainer"
)

// TestAppleProviderConfigs: the macOS providers' variables reach their factories' configs,
// and each config is one the factory accepts.
func TestAppleProviderConfigs(t *testing.T) {
	env := map[string]string{
		"HANGAR_APPLE_CONTAINER_CLI": "/opt/bin/container", "HANGAR_APPLE_CONTAINER_IMAGE": "debian:trixie",
		"HANGAR_MVM_NET_POLICY": "deny", "HANGAR_MVM_EGRESS_HOST": "10.0.0.1",
	}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	configs, err := providerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]applecontainer.Config{
		"apple-container":   {CLI: "/opt/bin/container", Image: "debian:trixie"},
		"apple-firecracker": {NetPolicy: "deny", EgressHost: "10.0.0.1"},
	} {
		var got applecontainer.Config
		if err := json.Unmarshal(configs[name], &got); err != nil {
			t.Fatalf("%s config %s: %v", name, configs[name], err)
		}
		if got.CLI != want.CLI || got.Image != want.Image || got.NetPolicy != want.NetPolicy || got.EgressHost != want.EgressHost {
			t.Errorf("%s config = %+v, want %+v", name, got, want)
		}
		newProvider, _ := builtinProviders().Get(name)
		if _, err := newProvider(configs[name], provider.Deps{}); err != nil {
			t.Errorf("%s factory refused its config %s: %v", name, configs[name], err)
		}
	}
}
