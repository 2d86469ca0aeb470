package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/hangar-dev/hangar"
)

// The kubernetes-sigs/agent-sandbox API (v1alpha1, the version of its released CRDs): a
// SandboxClaim (extensions group) names a SandboxTemplate; its controller makes a Sandbox
// (core group) from the template — or adopts a pre-warmed one from a SandboxWarmPool —
// whose controller runs the pod. The Sandbox's name is in the claim's status.sandbox.name;
// its pod is named by the Sandbox's "agents.x-k8s.io/pod-name" annotation (set when a
// warm pod was adopted), else it has the Sandbox's name.
var (
	claimGVR   = schema.GroupVersionResource{Group: "extensions.agents.x-k8s.io", Version: "v1alpha1", Resource: "sandboxclaims"}
	sandboxGVR = schema.GroupVersionResource{Group: "agents.x-k8s.io", Version: "v1alpha1", Resource: "sandboxes"}
)

const annotPodName = "agents.x-k8s.io/pod-name"

// claims creates sandboxes through agent-sandbox SandboxClaims.
type claims struct {
	template string
	dyn      dynamic.Interface
	disc     discovery.DiscoveryInterface

	mu     sync.Mutex
	served bool // discovery found the CRDs (cached; a miss is re-checked next time)
}

func newClaims(template string, dyn dynamic.Interface, disc discovery.DiscoveryInterface) *claims {
	return &claims{template: template, dyn: dyn, disc: disc}
}

// check reports, through discovery, whether the cluster serves SandboxClaims and
// Sandboxes: a template configured on a cluster without agent-sandbox is a
// misconfiguration, not a reason to quietly fall back to plain pods.
func (c *claims) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.served {
		return nil
	}
	for _, gvr := range []schema.GroupVersionResource{claimGVR, sandboxGVR} {
		list, err := c.disc.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("discover %s: %w", gvr.GroupVersion(), err)
		}
		found := false
		if list != nil {
			for _, r := range list.APIResources {
				found = found || r.Name == gvr.Resource
			}
		}
		if !found {
			return hangar.Errorf(hangar.KindInvalidRequest, "kubernetes provider: sandbox_template is set but the cluster does not serve %s.%s/%s (install kubernetes-sigs/agent-sandbox with its extensions)", gvr.Resource, gvr.Group, gvr.Version)
		}
	}
	c.served = true
	return nil
}

// createClaim makes the session's claim and waits until its sandbox is ready; it fills in
// h.Claim, h.Pod and h.Container.
func (p *Provider) createClaim(ctx context.Context, h *handle) error {
	c := p.claims
	if err := c.check(); err != nil {
		return err
	}
	labels := map[string]any{}
	for k, v := range p.labels(*h) {
		labels[k] = v
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": claimGVR.GroupVersion().String(),
		"kind":       "SandboxClaim",
		"metadata": map[string]any{
			"name": h.Claim, "namespace": h.Namespace, "labels": labels,
			"annotations": map[string]any{annotSession: h.Session},
		},
		"spec": map[string]any{"sandboxTemplateRef": map[string]any{"name": c.template}},
	}}
	if _, err := c.dyn.Resource(claimGVR).Namespace(h.Namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create sandbox claim: %w", apiErr(err, "namespace", h.Namespace))
	}
	if err := p.waitClaim(ctx, h); err != nil {
		return err
	}
	return p.waitRunning(ctx, *h)
}

// waitClaim polls the claim until its Ready condition is true, then resolves the pod of
// its Sandbox.
func (p *Provider) waitClaim(ctx context.Context, h *handle) error {
	ctx, cancel := context.WithTimeout(ctx, p.startTimeout)
	defer cancel()
	last := "no status yet"
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		claim, err := p.claims.dyn.Resource(claimGVR).Namespace(h.Namespace).Get(ctx, h.Claim, metav1.GetOptions{})
		if err != nil {
			return apiErr(err, "sandbox claim", h.Claim)
		}
		if claim.GetDeletionTimestamp() != nil {
			return hangar.NotFound("sandbox claim", h.Claim)
		}
		ready, msg := readyCondition(claim)
		if msg != "" {
			last = msg
		}
		if ready {
			name, _, _ := unstructured.NestedString(claim.Object, "status", "sandbox", "name")
			if name == "" {
				name = h.Claim // a cold claim's Sandbox has the claim's name
			}
			return p.resolvePod(ctx, h, name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox claim %s not ready after %s (%s): %w", h.Claim, p.startTimeout, last, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// resolvePod finds the pod of the named Sandbox and its first container (the one an
// agent-sandbox template runs the workload in).
func (p *Provider) resolvePod(ctx context.Context, h *handle, sandbox string) error {
	sb, err := p.claims.dyn.Resource(sandboxGVR).Namespace(h.Namespace).Get(ctx, sandbox, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("sandbox of claim %s: %w", h.Claim, apiErr(err, "sandbox", sandbox))
	}
	h.Pod = sb.GetName()
	if name := sb.GetAnnotations()[annotPodName]; name != "" {
		h.Pod = name
	}
	pod, err := p.core.Pods(h.Namespace).Get(ctx, h.Pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("pod of sandbox %s: %w", sandbox, apiErr(err, "pod", h.Pod))
	}
	if len(pod.Spec.Containers) == 0 {
		return fmt.Errorf("pod %s of sandbox %s has no containers", h.Pod, sandbox)
	}
	h.Container = pod.Spec.Containers[0].Name
	return nil
}

// readyCondition returns whether the object's Ready condition is True, and its message.
func readyCondition(obj *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		msg := fmt.Sprintf("Ready=%v %v: %v", m["status"], m["reason"], m["message"])
		return m["status"] == "True", msg
	}
	return false, ""
}

// deleteClaim deletes the claim; its controller deletes the Sandbox and the pod (owner
// references), so the pod is not deleted directly. A claim already gone is not an error.
func (p *Provider) deleteClaim(ctx context.Context, h handle) error {
	if p.claims == nil {
		return errors.New("handle names a sandbox claim but sandbox_template is not configured")
	}
	fg := metav1.DeletePropagationForeground
	err := p.claims.dyn.Resource(claimGVR).Namespace(h.Namespace).Delete(ctx, h.Claim, metav1.DeleteOptions{PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
