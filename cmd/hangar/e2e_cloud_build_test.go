package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal"
	"github.com/hangar-dev/hangar/internal/provider/modal/modaltest"
)

// TestE2ECloudEnvironmentBuild builds an environment's packages on a cloud provider: the
// modal provider against its gRPC protocol fake (whose base image carries stub package
// managers, so no network is needed, and the claude CLI at its mount target, as a real
// image must). The environment is preparing, then ready once Modal built the image (FROM
// + RUN lines); its build log shows the installer steps and the network the build used;
// a session runs on the built image and its agent sees what was installed; a second
// environment with the same packages is ready at once (the same build key).
func TestE2ECloudEnvironmentBuild(t *testing.T) {
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip(why)
	}
	cache, err := cacheDir(os.Getenv)
	if err != nil {
		t.Skipf("no cache dir: %v", err)
	}
	bin, err := claudecode.Find(cache)
	if errors.Is(err, claudecode.ErrNotInstalled) {
		t.Skipf("the claude CLI is not installed in %s (run scripts/install-test-deps): %v", cache, err)
	}
	t.Parallel()
	f := modaltest.New(t)
	f.ImageSetup, f.ImagePath = cloudtest.InstallStubs, cloudtest.StubPath
	f.ImageBinds = map[string]string{}
	engCfg, _ := json.Marshal(map[string]string{"binary": bin})
	eng, err := claudecode.New(engCfg, engine.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range eng.(*claudecode.Engine).Mounts() {
		// The image carries the CLI only at the engine's mount target, where a real image
		// must (docs/sandboxes.md): a modal sandbox is Isolated (engine.Isolated), so the
		// CLI starts there, not at its host path.
		f.ImageBinds[m.Target] = m.Source
	}
	public, target := publicEndpoint(t)
	srv, _ := claudeServer(t, func(c *Config) {
		c.PublicURL = public
		c.ExtraProviders = func(r *provider.Registry) {
			r.Register("modal-fake", func(json.RawMessage, provider.Deps) (provider.Provider, error) {
				return modal.NewProvider(modal.Config{TokenID: f.TokenID, TokenSecret: f.TokenSecret, ServerURL: f.URL})
			})
		}
	})
	target.Store(srv.URL)
	c := srv.Client
	ctx := testContext(t)
	agent := claudeAgent(t, c)
	pk := map[string][]string{"apt": {"jq"}, "npm": {"@acme/left-pad@1.0.0"}}
	newEnv := func(name string) *anthropic.BetaEnvironment {
		env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: name},
			option.WithJSONSet("config", map[string]any{"type": "cloud", "provider": "modal-fake", "packages": pk}))
		if err != nil {
			t.Fatalf("create environment %q: %v", name, err)
		}
		return env
	}

	env := newEnv("cloud-tools")
	if !strings.Contains(env.RawJSON(), `"state":"preparing"`) && !strings.Contains(env.RawJSON(), `"state":"ready"`) {
		t.Errorf("new environment = %s, want state preparing", env.RawJSON())
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, msg := envState(t, srv, env.ID)
		if st == "ready" {
			break
		}
		if st != "preparing" {
			_, log, _ := rawGet(t, srv, "/v1/environments/"+env.ID+"/build_log")
			t.Fatalf("environment state %q (%s), want ready; build log:\n%s", st, msg, log)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the build did not finish")
		case <-tick.C:
		}
	}
	code, log, hdr := rawGet(t, srv, "/v1/environments/"+env.ID+"/build_log")
	if code != http.StatusOK || hdr.Get("Hangar-Build-State") != "ready" {
		t.Errorf("build_log = %d %v", code, hdr)
	}
	for _, want := range []string{"==> network: the modal-fake provider builds on the vendor's network, not through the egress proxy",
		"==> networking: unrestricted", "==> building image", "==> apt: installing jq", "stub apt-get: installed jq",
		"==> npm: installing @acme/left-pad@1.0.0", "==> image ", "==> ready in"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}

	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, ctx, c, sess.ID)
	send(t, c, sess.ID, userMessage("TOOL:bash cat "+cloudtest.Installed+"/apt/jq && "+cloudtest.StubBin+"/left-pad"))
	var result string
	for _, ev := range readUntil(t, stream, isIdle) {
		if ev.Type == "agent.tool_result" || ev.Type == "session.error" {
			result += ev.RawJSON()
		}
	}
	if !strings.Contains(result, "jq") || !strings.Contains(result, "left-pad installed by npm") {
		t.Errorf("tool result = %s, want the installed artifacts", result)
	}
	created := f.Created()
	if len(created) == 0 || !strings.Contains(log, "==> image "+created[len(created)-1].Definition.ImageId+" built") {
		t.Errorf("the session's sandbox did not run the built image (build log:\n%s)", log)
	}

	twin := newEnv("cloud-twin")
	if !strings.Contains(twin.RawJSON(), `"state":"ready"`) {
		t.Errorf("twin environment = %s, want ready (the same build)", twin.RawJSON())
	}
}
