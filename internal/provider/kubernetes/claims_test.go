package kubernetes

import (
	corev1 "k8s.io/api/core/v1"

	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

// TestClaimConformance runs the shared suite with sandbox_template set: every sandbox is
// an agent-sandbox SandboxClaim whose pod the (fake) controllers made from the template.
func TestClaimConformance(t *testing.T) {
	if why := bwrapUsable(); why != "" {
		t.Skip(why)
	}
	providertest.Run(t, func(t *testing.T) provider.Provider {
		f := newFakeAPI(t)
		f.installAgentSandbox(map[string]corev1.PodSpec{"agent": templatePod()}, false)
		p, err := NewWithClient(Config{Namespace: "sandboxes", SandboxTemplate: "agent"}, f.restConfig(), nil, provider.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}

// TestClaimWarmPool checks the claim the provider makes, that it follows the claim to an
// adopted Sandbox whose pod has another name (the pod-name annotation) and execs in the
// template's container, and that Destroy deletes the claim and so the pod.
func TestClaimWarmPool(t *testing.T) {
	if why := bwrapUsable(); why != "" {
		t.Skip(why)
	}
	f := newFakeAPI(t)
	f.pendingGets = 2
	f.installAgentSandbox(map[string]corev1.PodSpec{"agent": templatePod()}, true)
	p, err := NewWithClient(Config{Namespace: "sandboxes", SandboxTemplate: "agent"}, f.restConfig(), nil, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.claims.check(); err != nil { // Check's part beyond listing pods
		t.Fatalf("check: %v", err)
	}
	sb, err := p.Create(t.Context(), provider.Spec{SessionID: "sesn_W1", WorkDir: "/workspace", HomeDir: "/home/agent"})
	if err != nil {
		t.Fatal(err)
	}
	var h handle
	if err := json.Unmarshal(sb.Handle(), &h); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h.Claim, "hangar-sesn-w1-") || h.Pod != "pool-pod-"+h.Claim || h.Container != "agent" {
		t.Errorf("handle = %+v, want claim hangar-sesn-w1-*, pod pool-pod-<claim>, container agent", h)
	}
	f.mu.Lock()
	claim := f.claims["sandboxes/"+h.Claim]
	f.mu.Unlock()
	spec, _ := json.Marshal(claim["spec"])
	meta, _ := json.Marshal(claim["metadata"])
	if string(spec) != `{"sandboxTemplateRef":{"name":"agent"}}` || !strings.Contains(string(meta), `"hangar.dev/session":"sesn_W1"`) {
		t.Errorf("claim spec %s metadata %s", spec, meta)
	}
	if err := sb.PutFile(t.Context(), "notes.txt", []byte("warm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runCmd(t, sb, "cat", "/workspace/notes.txt")
	if out != "warm\n" || code != 0 {
		t.Errorf("cat = %q exit %d", out, code)
	}
	// Another instance recovers the same pod from the handle.
	p2, _ := NewWithClient(Config{Namespace: "sandboxes", SandboxTemplate: "agent"}, f.restConfig(), nil, provider.Deps{})
	sb2, err := p2.Recover(t.Context(), sb.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := runCmd(t, sb2, "cat", "/workspace/notes.txt"); out != "warm\n" {
		t.Errorf("recovered cat = %q", out)
	}
	if err := sb.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, c := f.podCount(), f.claimCount(); n != 0 || c != 0 {
		t.Errorf("after Destroy: %d pods, %d claims; want none", n, c)
	}
}

// TestClaimFailures: a template on a cluster without agent-sandbox, and a claim whose
// template does not exist (never Ready: it times out and is deleted).
func TestClaimFailures(t *testing.T) {
	spec := provider.Spec{SessionID: "sesn_F1", WorkDir: "/workspace", HomeDir: "/home/agent"}
	t.Run("no CRDs", func(t *testing.T) {
		f := newFakeAPI(t)
		p, err := NewWithClient(Config{Namespace: "sandboxes", SandboxTemplate: "agent"}, f.restConfig(), nil, provider.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Create(t.Context(), spec)
		if herr := (*hangar.Error)(nil); !errors.As(err, &herr) || herr.Kind != hangar.KindInvalidRequest || !strings.Contains(err.Error(), "sandboxclaims.extensions.agents.x-k8s.io") {
			t.Errorf("Create = %v, want invalid_request naming the missing CRD", err)
		}
		if err := p.claims.check(); err == nil {
			t.Error("check passed without the CRDs")
		}
		if n := f.podCount(); n != 0 {
			t.Errorf("%d pods created", n)
		}
	})
	t.Run("environment image", func(t *testing.T) {
		f := newFakeAPI(t)
		f.installAgentSandbox(map[string]corev1.PodSpec{"agent": templatePod()}, false)
		p, err := NewWithClient(Config{Namespace: "sandboxes", SandboxTemplate: "agent"}, f.restConfig(), nil, provider.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		s := spec
		s.Environment.Sandbox = json.RawMessage(`{"image":"python:3"}`)
		_, err = p.Create(t.Context(), s)
		if herr := (*hangar.Error)(nil); !errors.As(err, &herr) || herr.Kind != hangar.KindInvalidRequest {
			t.Errorf("Create = %v, want invalid_request", err)
		}
		if c := f.claimCount(); c != 0 {
			t.Errorf("%d claims created", c)
		}
	})
	t.Run("unknown template", func(t *testing.T) {
		f := newFakeAPI(t)
		f.installAgentSandbox(map[string]corev1.PodSpec{"agent": templatePod()}, false)
		p, err := NewWithClient(Config{Namespace: "sandboxes", SandboxTemplate: "nope", StartTimeout: "300ms"}, f.restConfig(), nil, provider.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Create(t.Context(), spec)
		if err == nil || !strings.Contains(err.Error(), "TemplateNotFound") || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Create = %v, want a timeout naming TemplateNotFound", err)
		}
		if c := f.claimCount(); c != 0 {
			t.Errorf("%d claims left after the failed Create", c)
		}
	})
}

func runCmd(t *testing.T, sb provider.Sandbox, args ...string) (string, int) {
	t.Helper()
	out, _, code, err := sb.(*Sandbox).run(t.Context(), nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out, code
}
