package main

import (
	"encoding/json"
	"fmt"

	"github.com/hangar-dev/hangar/internal/engine"
	"github.com/hangar-dev/hangar/internal/engine/anthropic"
	"github.com/hangar-dev/hangar/internal/engine/claudecode"
	"github.com/hangar-dev/hangar/internal/engine/codex"
	"github.com/hangar-dev/hangar/internal/engine/factory"
	"github.com/hangar-dev/hangar/internal/engine/gemini"
	"github.com/hangar-dev/hangar/internal/engine/native"
	"github.com/hangar-dev/hangar/internal/engine/opencode"
	"github.com/hangar-dev/hangar/internal/engine/pi"
	"github.com/hangar-dev/hangar/internal/engine/scripted"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/applecontainer"
	"github.com/hangar-dev/hangar/internal/provider/daytona"
	"github.com/hangar-dev/hangar/internal/provider/docker"
	"github.com/hangar-dev/hangar/internal/provider/e2b"
	"github.com/hangar-dev/hangar/internal/provider/fly"
	"github.com/hangar-dev/hangar/internal/provider/kubernetes"
	"github.com/hangar-dev/hangar/internal/provider/local"
	"github.com/hangar-dev/hangar/internal/provider/memory"
	"github.com/hangar-dev/hangar/internal/provider/modal"
	"github.com/hangar-dev/hangar/internal/provider/sprites"
	"github.com/hangar-dev/hangar/internal/provider/vercel"
)

// builtinEngines is the registry of agent engines this binary ships.
func builtinEngines() *engine.Registry {
	r := engine.NewRegistry()
	r.Register("anthropic", anthropic.New)
	r.Register("claude", claudecode.New)
	r.Register("codex", codex.New)
	r.Register("factory", factory.New)
	r.Register("gemini", gemini.New)
	r.Register("native", native.New)
	r.Register("opencode", opencode.New)
	r.Register("pi", pi.New)
	r.Register("scripted", scripted.New)
	return r
}

// builtinProviders is the registry of sandbox providers this binary ships.
func builtinProviders() *provider.Registry {
	r := provider.NewRegistry()
	r.Register("docker", docker.Factory("docker"))
	r.Register("podman", docker.Factory("podman"))
	// macOS VMs through their CLIs (Apple's container, AgentStep's mvm); elsewhere their
	// Create reports that they need macOS.
	r.Register("apple-container", applecontainer.Factory("apple-container"))
	r.Register("apple-firecracker", applecontainer.Factory("apple-firecracker"))
	// One pod per session through the Kubernetes API (kubeconfig or in-cluster).
	r.Register("kubernetes", kubernetes.Factory)
	r.Register("local", local.New)
	r.Register("memory", memory.New)
	// Cloud providers, configured from the server's environment (cloud.go).
	r.Register("daytona", daytona.New)
	r.Register("e2b", e2b.New)
	r.Register("fly", fly.New)
	r.Register("modal", modal.New)
	r.Register("sprites", sprites.New)
	r.Register("vercel", vercel.New)
	return r
}

// dockerConfig reads a docker-API provider's settings from the environment variables
// prefix+HOST, IMAGE, RUNTIME and FORWARDER.
func dockerConfig(getenv func(string) string, prefix string) docker.Config {
	return docker.Config{Host: getenv(prefix + "HOST"), Image: getenv(prefix + "IMAGE"),
		Runtime: getenv(prefix + "RUNTIME"), Forwarder: getenv(prefix + "FORWARDER")}
}

// kubernetesConfig reads the kubernetes provider's settings from HANGAR_K8S_KUBECONFIG,
// _CONTEXT, _NAMESPACE, _IMAGE, _RUNTIME_CLASS and _SANDBOX_TEMPLATE (all optional:
// in-cluster or ~/.kube/config by default).
func kubernetesConfig(getenv func(string) string) kubernetes.Config {
	return kubernetes.Config{Kubeconfig: getenv("HANGAR_K8S_KUBECONFIG"), Context: getenv("HANGAR_K8S_CONTEXT"),
		Namespace: getenv("HANGAR_K8S_NAMESPACE"), Image: getenv("HANGAR_K8S_IMAGE"),
		RuntimeClass: getenv("HANGAR_K8S_RUNTIME_CLASS"), SandboxTemplate: getenv("HANGAR_K8S_SANDBOX_TEMPLATE"),
		Installation: getenv(installationVar)}
}

// providerConfigs is the JSON config each provider factory receives (the others get
// none: their defaults).
func providerConfigs(cfg Config) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for name, c := range map[string]docker.Config{"docker": cfg.Docker, "podman": cfg.Podman} {
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("provider config: %w", err)
		}
		out[name] = raw
	}
	for name, c := range map[string]applecontainer.Config{"apple-container": cfg.AppleContainer, "apple-firecracker": cfg.MVM} {
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("provider config: %w", err)
		}
		out[name] = raw
	}
	k8s := cfg.Kubernetes
	if k8s.PublicURL == "" {
		k8s.PublicURL = cfg.PublicURL // networking "limited" pods may reach it (NetworkPolicy)
	}
	if k8s.Installation == "" {
		k8s.Installation = installationID(cfg) // labels the objects the start-up sweep may delete (gc.go)
	}
	raw, err := json.Marshal(k8s)
	if err != nil {
		return nil, fmt.Errorf("provider config: %w", err)
	}
	out["kubernetes"] = raw
	if err := cfg.Cloud.addTo(out); err != nil {
		return nil, err
	}
	return out, nil
}

// defaultProvider runs sessions whose environment names no provider.
const defaultProvider = "local"

// engineConfigs is the JSON config each engine factory receives.
func engineConfigs(cfg Config) (map[string]json.RawMessage, error) {
	cache := cfg.CacheDir
	if cache == "" {
		var err error
		if cache, err = cacheDir(func(string) string { return "" }); err != nil {
			return nil, err
		}
	}
	withCache, err := json.Marshal(map[string]string{"cache_dir": cache})
	if err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	out := map[string]json.RawMessage{}
	for name := range installers() {
		out[name] = withCache
	}
	// The anthropic engine runs turns on a remote Managed Agents API (docs/engines.md),
	// with ANTHROPIC_API_KEY unless HANGAR_CMA_API_KEY is set.
	cmaKey := cfg.CMAKey
	if cmaKey == "" {
		cmaKey = cfg.UpstreamKey
	}
	if out["anthropic"], err = json.Marshal(anthropic.Config{
		BaseURL: cfg.CMAURL, APIKey: cmaKey.Reveal(),
		EnvironmentID: cfg.CMAEnvironmentID, AgentEngine: cfg.CMAAgentEngine,
	}); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	// The native engine calls the model upstream from the server, with the server's
	// credential (a session's vault credential overrides it), like the outcome grader;
	// conversations live in the store (resume tokens), and StateDir only holds transcripts
	// of the earlier format, still read and removed with their sessions.
	if out["native"], err = json.Marshal(native.Config{
		BaseURL: cfg.UpstreamURL, APIKey: cfg.UpstreamKey.Reveal(), AuthToken: cfg.UpstreamAuthToken.Reveal(),
		StateDir: cfg.dataPath("native"),
	}); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	return out, nil
}
