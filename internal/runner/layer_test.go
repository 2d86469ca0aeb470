package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/runner"
)

// fakeLayers returns a layer per environment, or err.
type fakeLayers struct {
	err  error
	mu   sync.Mutex
	envs []string
}

func (f *fakeLayers) Layer(ctx context.Context, env *hangar.Environment) (string, error) {
	f.mu.Lock()
	f.envs = append(f.envs, env.ID)
	f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	return "/layers/" + env.ID, nil
}

func TestSandboxGetsEnvironmentLayer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		packages  *hangar.Packages
		wantLayer bool
	}{
		{"packages", &hangar.Packages{Apt: []string{"jq"}}, true},
		{"no packages", &hangar.Packages{Type: "packages"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			layers := &fakeLayers{}
			e.tune = func(c *runner.Config) { c.Layers = layers }
			e.useEnvironment(hangar.EnvironmentConfig{Type: "cloud", Packages: tc.packages})
			e.start()
			id := e.session("fake", nil, "")
			e.turn(id, "hi")
			want := ""
			if tc.wantLayer {
				want = "/layers/" + e.envID
			}
			if got := e.sandboxSpec(e.mem).Layer; got != want {
				t.Errorf("Spec.Layer = %q, want %q", got, want)
			}
			if n := len(layers.envs); tc.wantLayer != (n == 1) {
				t.Errorf("Layer called %d times", n)
			}
		})
	}
}

func TestFailedBuildFailsTurn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tune = func(c *runner.Config) {
		c.Layers = &fakeLayers{err: hangar.Errorf(hangar.KindInvalidRequest, "environment x: its build failed: apt: cannot resolve nope")}
	}
	e.useEnvironment(hangar.EnvironmentConfig{Type: "cloud", Packages: &hangar.Packages{Apt: []string{"nope"}}})
	e.start()
	id := e.session("fake", nil, "")
	evs := e.turn(id, "hi")
	var msg string
	for _, ev := range evs {
		if ev.Type == hangar.EventSessionError {
			msg += string(ev.Body)
		}
	}
	if !strings.Contains(msg, "packages could not be installed") || !strings.Contains(msg, "cannot resolve nope") {
		t.Errorf("session.error = %q, want the build failure", msg)
	}
	if e.mem.Sandboxes() != 0 {
		t.Error("a sandbox was created although the build failed")
	}
}

// checkFails is a provider whose backend check fails.
type checkFails struct{ provider.Provider }

func (checkFails) Capabilities() provider.Capabilities { return provider.Capabilities{Files: true} }
func (checkFails) Check(context.Context) error         { return errors.New("docker daemon unreachable") }

func TestProviderStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tune = func(c *runner.Config) {
		c.DefaultProvider = "memory"
		c.Providers.Register("broken", func(json.RawMessage, provider.Deps) (provider.Provider, error) {
			return nil, errors.New("bwrap not found")
		})
		c.Providers.Register("down", func(json.RawMessage, provider.Deps) (provider.Provider, error) { return checkFails{}, nil })
	}
	r := e.start()
	got := map[string]provider.Status{}
	for _, st := range r.ProviderStatuses(context.Background()) {
		got[st.Name] = st
	}
	if st := got["memory"]; !st.Available || !st.Default || st.Capabilities == nil || st.Reason != "" {
		t.Errorf("memory = %+v", st)
	}
	if st := got["broken"]; st.Available || !strings.Contains(st.Reason, "bwrap not found") || st.Capabilities != nil {
		t.Errorf("broken = %+v", st)
	}
	if st := got["down"]; st.Available || st.Reason != "docker daemon unreachable" || st.Capabilities == nil || !st.Capabilities.Files {
		t.Errorf("down = %+v", st)
	}
}
