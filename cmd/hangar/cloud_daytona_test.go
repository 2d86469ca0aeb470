package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar/internal/provider/daytona"
)

// TestDaytonaBuildImage checks that DAYTONA_BUILD_IMAGE reaches the daytona provider's
// config as the base image of environment builds, is documented in serve's usage, and
// that without it the provider's default applies.
func TestDaytonaBuildImage(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"registry.example.com/team/sandbox:7", "registry.example.com/team/sandbox:7"},
		{"", ""},
	} {
		out := map[string]json.RawMessage{}
		cfg := readCloudConfig(func(k string) string {
			return map[string]string{"DAYTONA_API_KEY": "k", "DAYTONA_BUILD_IMAGE": tc.env}[k]
		})
		if err := cfg.addTo(out); err != nil {
			t.Fatal(err)
		}
		var dc daytona.Config
		if err := json.Unmarshal(out["daytona"], &dc); err != nil || dc.BuildImage != tc.want {
			t.Errorf("DAYTONA_BUILD_IMAGE=%q: daytona config %s (%v), want build_image %q", tc.env, out["daytona"], err, tc.want)
		}
	}
	if !strings.Contains(cloudConfigUsage, "DAYTONA_BUILD_IMAGE") {
		t.Error("serve's usage does not list DAYTONA_BUILD_IMAGE")
	}
}
