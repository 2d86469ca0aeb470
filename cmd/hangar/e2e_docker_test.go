package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/hangar-dev/hangar/internal/provider/docker"
	"github.com/hangar-dev/hangar/internal/provider/docker/dockertest"
)

// dockerEngine starts a private engine (dockertest.Start or StartPodman) with the test base
// image for one test; it skips when the engine cannot start here
// (scripts/install-test-deps installs docker.io and podman).
func dockerEngine(t *testing.T, start func(context.Context) (*dockertest.Daemon, error)) *dockertest.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	d, err := start(ctx)
	if err != nil {
		t.Skipf("no container engine: %v", err)
	}
	t.Cleanup(d.Close)
	if err := d.ImportBase(ctx); err != nil {
		t.Fatalf("import the base image: %v", err)
	}
	return d
}

// TestE2EDockerClaudeToolRound runs two turns of the real Claude Code CLI in a container,
// on dockerd (runc), on dockerd with gVisor, and on podman: the CLI is bound in read-only
// from the host cache, reaches the fake model only through the egress proxy's socket (the
// container has no network), writes a file with the bash tool in the first turn and reads
// it back in the second, where the real model key is nowhere the agent can look.
func TestE2EDockerClaudeToolRound(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		name, provider, runtime string
		start                   func(context.Context) (*dockertest.Daemon, error)
	}{
		{"docker", "docker", "", dockertest.Start},
		{"gvisor", "docker", dockertest.RuntimeGVisor, dockertest.Start},
		{"podman", "podman", "", dockertest.StartPodman},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if v.runtime == dockertest.RuntimeGVisor && !dockertest.HasGVisor() {
				t.Skip("runsc is not installed (scripts/install-test-deps installs it)")
			}
			claudeInContainer(t, dockerEngine(t, v.start), v.provider, v.runtime)
		})
	}
}

func claudeInContainer(t *testing.T, d *dockertest.Daemon, providerName, runtime string) {
	srv, fake := claudeServer(t, func(c *Config) {
		pc := docker.Config{Host: d.Host, Image: dockertest.Image}
		if providerName == "podman" {
			c.Podman = pc
		} else {
			c.Docker = pc
		}
	})
	settings := map[string]any{"memory_mb": 1024, "pids": 512}
	if runtime != "" {
		settings["runtime"] = runtime
	}
	c := srv.Client
	agent := claudeAgent(t, c)
	env, err := c.Beta.Environments.New(testContext(t), anthropic.BetaEnvironmentNewParams{Name: providerName},
		option.WithJSONSet("config", map[string]any{"type": "cloud", "provider": providerName, "sandbox": settings}))
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	sess := newSession(t, c, agent.ID, env.ID)
	stream := openStream(t, testContext(t), c, sess.ID)

	send(t, c, sess.ID, userMessage("TOOL:bash echo hello from $(id -u) > out.txt; ls /sys/class/net"))
	turn1 := withoutSpans(readUntil(t, stream, isIdle))
	wantTypes := []string{"user.message", "session.status_running", "agent.tool_use", "agent.tool_result", "agent.message", "session.status_idle"}
	if got := eventTypes(turn1); strings.Join(got, " ") != strings.Join(wantTypes, " ") {
		for _, ev := range turn1 {
			t.Log(ev.RawJSON())
		}
		t.Fatalf("turn 1 events = %v, want %v", got, wantTypes)
	}
	if res := turn1[3].RawJSON(); strings.Contains(res, "eth0") {
		t.Errorf("network interfaces in the container: %s; want only lo", res)
	}

	// Also scan what the agent can read for the real key (split so the command's own text
	// cannot match it).
	send(t, c, sess.ID, userMessage(`TOOL:bash cat out.txt; env; grep -rl "sk-ant-real-upstream""-key-for-tests" $HOME /workspace /tmp /etc /run 2>/dev/null; echo end-of-scan`))
	var got string
	for _, ev := range withoutSpans(readUntil(t, stream, isIdle)) {
		if ev.Type == "agent.tool_result" {
			got = ev.RawJSON()
		}
	}
	if !strings.Contains(got, "hello from 1000") || !strings.Contains(got, "end-of-scan") {
		t.Errorf("turn 2 tool_result = %s; want the file written in turn 1, by uid 1000, and the scan", got)
	}
	if strings.Contains(got, realUpstreamKey) {
		t.Errorf("the real upstream key is visible inside the container: %s", got)
	}
	for _, r := range fake.MessageRequests() {
		if key := r.Header.Get("x-api-key"); key != realUpstreamKey {
			t.Errorf("upstream saw x-api-key %q, want the real key swapped in by the egress proxy", key)
		}
	}

	// The session's container: no network, the limits of the environment.
	cli, err := d.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	list, err := cli.ContainerList(testContext(t), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "dev.hangar.session="+sess.ID))})
	if err != nil || len(list) != 1 {
		t.Fatalf("containers of the session = %v, %v; want 1", list, err)
	}
	info, err := cli.ContainerInspect(testContext(t), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if hc := info.HostConfig; hc.NetworkMode != "none" || hc.Memory != 1024<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 512 || (runtime != "" && hc.Runtime != runtime) {
		t.Errorf("container network %q memory %d pids %v runtime %q; want none, 1 GiB, 512, %q", hc.NetworkMode, hc.Memory, hc.PidsLimit, hc.Runtime, runtime)
	}
}

// TestDockerProviderConfigFromEnv checks that HANGAR_DOCKER_* and HANGAR_PODMAN_* reach the
// providers' JSON configs.
func TestDockerProviderConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"HANGAR_DOCKER_HOST": "unix:///x/docker.sock", "HANGAR_DOCKER_IMAGE": "img:1",
		"HANGAR_DOCKER_RUNTIME": "runsc", "HANGAR_PODMAN_FORWARDER": "/opt/hangar-static",
	}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, err := providerConfigs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"docker": `{"host":"unix:///x/docker.sock","image":"img:1","runtime":"runsc"}`,
		"podman": `{"forwarder":"/opt/hangar-static"}`,
	} {
		if string(got[name]) != want {
			t.Errorf("%s config = %s, want %s", name, got[name], want)
		}
	}
}
