package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// fakeBuilds reports a settable state per environment and records which it was asked
// about.
type fakeBuilds struct {
	mu    sync.Mutex
	state map[string]string
}

func (f *fakeBuilds) Status(e *hangar.Environment) (string, string) {
	if !provider.HasPackages(e.Config.Packages) {
		return "", ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.state[e.ID]
	if !ok {
		st = "preparing"
		f.state[e.ID] = st
	}
	if st == "failed" {
		return st, "the installers failed (exit status 100); see the build log"
	}
	return st, ""
}

func (f *fakeBuilds) Log(e *hangar.Environment) ([]byte, error) {
	if !provider.HasPackages(e.Config.Packages) {
		return nil, nil
	}
	return []byte("==> apt: resolving " + strings.Join(e.Config.Packages.Apt, " ") + "\n"), nil
}

func (f *fakeBuilds) set(id, st string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[id] = st
}

func TestEnvironmentBuildState(t *testing.T) {
	t.Parallel()
	fb := &fakeBuilds{state: map[string]string{}}
	s, _ := newTestServer(t, func(c *Config) { c.Builds = fb })

	var e struct {
		ID           string  `json:"id"`
		State        *string `json:"state"`
		StateMessage *string `json:"state_message"`
	}
	apiOK(t, s, "POST", "/v1/environments", `{"name":"plain"}`, &e)
	if e.State != nil {
		t.Errorf("an environment without packages has state %q", *e.State)
	}
	apiOK(t, s, "POST", "/v1/environments", `{"name":"tools","config":{"packages":{"apt":["jq"],"npm":["is-number"]}}}`, &e)
	if e.State == nil || *e.State != "preparing" {
		t.Fatalf("state after create = %v, want preparing", e.State)
	}
	id := e.ID
	fb.set(id, "ready")
	apiOK(t, s, "GET", "/v1/environments/"+id, "", &e)
	if *e.State != "ready" || e.StateMessage != nil {
		t.Errorf("state = %q, message %v; want ready", *e.State, e.StateMessage)
	}
	fb.set(id, "failed")
	apiOK(t, s, "GET", "/v1/environments/"+id, "", &e)
	if *e.State != "failed" || e.StateMessage == nil || !strings.Contains(*e.StateMessage, "installers failed") {
		t.Errorf("state = %q, message %v; want failed with a message", *e.State, e.StateMessage)
	}

	rec := apiDo(t, s, "GET", "/v1/environments/"+id+"/build_log", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "==> apt: resolving jq\n" ||
		rec.Header().Get("Hangar-Build-State") != "failed" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("build_log = %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	apiError(t, apiDo(t, s, "GET", "/v1/environments/env_missing/build_log", ""), http.StatusNotFound, "not_found_error")
}

func TestEnvironmentPackagesValidated(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	for _, body := range []string{
		`{"name":"x","config":{"packages":{"npm":["--registry=http://evil"]}}}`,
		`{"name":"x","config":{"packages":{"apt":["jq; id"]}}}`,
	} {
		msg := apiError(t, apiDo(t, s, "POST", "/v1/environments", body), http.StatusBadRequest, "invalid_request_error")
		if !strings.Contains(msg, "config.packages.") {
			t.Errorf("%s: message %q does not name the field", body, msg)
		}
	}
	var e envResp
	apiOK(t, s, "POST", "/v1/environments", `{"name":"ok"}`, &e)
	apiError(t, apiDo(t, s, "POST", "/v1/environments/"+e.ID, `{"config":{"packages":{"pip":["a b"]}}}`), http.StatusBadRequest, "invalid_request_error")
}

type fakeProviders []provider.Status

func (f fakeProviders) ProviderStatuses(context.Context) []provider.Status { return f }

func TestProvidersGolden(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, func(c *Config) {
		c.Providers = fakeProviders{
			{Name: "docker", Reason: "create provider docker: docker daemon at unix:///var/run/docker.sock is unreachable"},
			{Name: "local", Available: true, Default: true, Capabilities: &provider.Capabilities{Recover: true, Files: true, Signals: true, Network: true, Isolated: true}},
			{Name: "memory", Capabilities: &provider.Capabilities{Files: true, Signals: true}, Reason: "disabled for the test"},
		}
	})
	checkGolden(t, "providers_list", apiOK(t, s, "GET", "/v1/providers", "", nil))

	bare, _ := newTestServer(t)
	if body := string(apiOK(t, bare, "GET", "/v1/providers", "", nil)); !strings.Contains(body, `"data":[]`) {
		t.Errorf("without providers: %s", body)
	}
}
