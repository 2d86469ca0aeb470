package kubernetes

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// TestSweepOrphans checks the start-up sweep: only objects labelled with this
// installation's ID go, and only those whose session is not live; a pod's NetworkPolicy
// goes with it; a provider with no installation ID deletes nothing; SandboxClaims are
// swept the same way.
func TestSweepOrphans(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.installAgentSandbox(map[string]corev1.PodSpec{"tpl": templatePod()}, false)
	newP := func(c Config) *Provider {
		t.Helper()
		c.Namespace = "sandboxes"
		p, err := NewWithClient(c, f.restConfig(), nil, provider.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, none := newP(Config{Installation: "inst-a"}), newP(Config{Installation: "inst-b"}), newP(Config{})
	claims := newP(Config{Installation: "inst-a", SandboxTemplate: "tpl"})
	ctx := context.Background()
	create := func(p *Provider, session string, spec provider.Spec) string {
		t.Helper()
		spec.SessionID = session
		sb, err := p.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		s := sb.(*Sandbox)
		if s.h.Claim != "" {
			return "sandboxclaim/" + s.h.Claim
		}
		return "pod/" + s.h.Pod
	}
	create(a, "sesn_live", provider.Spec{})
	dead := create(a, "sesn_dead", provider.Spec{Environment: limitedEnv()})
	create(b, "sesn_other_install", provider.Spec{})
	create(none, "sesn_no_install", provider.Spec{})
	deadClaim := create(claims, "sesn_dead_claim", provider.Spec{})
	create(claims, "sesn_live_claim", provider.Spec{})
	live := func(id string) (bool, error) { return strings.HasPrefix(id, "sesn_live"), nil }
	// A policy whose pod was never created (an instance that died in between).
	lone := handle{Session: "sesn_crashed", Namespace: "sandboxes", Pod: "hangar-sesn-crashed-1"}
	pol, err := a.networkPolicy(ctx, lone, &hangar.Networking{Type: "limited"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.createNetworkPolicy(ctx, pol); err != nil {
		t.Fatal(err)
	}

	if got, err := none.SweepOrphans(ctx, live); err != nil || len(got) != 0 {
		t.Errorf("sweep without an installation ID = %q, %v; want nothing", got, err)
	}
	pods, pols := f.podCount(), f.policyCount()
	got, err := a.SweepOrphans(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	// The pod's policy goes with it (owner reference), before the policies are listed.
	if want := []string{dead, "networkpolicy/" + lone.Pod}; !slices.Equal(got, want) {
		t.Errorf("sweep deleted %q, want %q", got, want)
	}
	if f.podCount() != pods-1 || f.policyCount() != pols-2 {
		t.Errorf("pods %d → %d, policies %d → %d; want one pod and two policies fewer", pods, f.podCount(), pols, f.policyCount())
	}
	got, err = claims.SweepOrphans(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, deadClaim) || len(got) != 1 {
		t.Errorf("claims sweep deleted %q, want %s", got, deadClaim)
	}
	if f.claimCount() != 1 {
		t.Errorf("%d claims left, want the live session's", f.claimCount())
	}
	if _, err := NewWithClient(Config{Installation: "not a label!"}, f.restConfig(), nil, provider.Deps{}); err == nil {
		t.Error("an installation ID that is not a label value was accepted")
	}
}
