package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

func limitedEnv(hosts ...string) hangar.EnvironmentConfig {
	return hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited", AllowedHosts: hosts}}
}

// netpolProvider is a provider on the fake API server whose public URL's host resolves to
// one IPv4 and one IPv6 address.
func netpolProvider(t *testing.T, f *fakeAPI) *Provider {
	t.Helper()
	p, err := NewWithClient(Config{Namespace: "sandboxes", PublicURL: "https://hangar.example.test:8443/"}, f.restConfig(), nil, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	p.lookup = func(ctx context.Context, host string) ([]net.IP, error) {
		if host != "hangar.example.test" {
			return nil, errors.New("no such host")
		}
		return []net.IP{net.ParseIP("203.0.113.9"), net.ParseIP("2001:db8::9")}, nil
	}
	return p
}

// egress flattens a policy's egress rules to "peer ports" strings.
func egress(pol *networkingv1.NetworkPolicy) []string {
	var out []string
	for _, r := range pol.Spec.Egress {
		var ports []string
		for _, pt := range r.Ports {
			ports = append(ports, string(*pt.Protocol)+"/"+pt.Port.String())
		}
		for _, peer := range r.To {
			var s string
			if peer.IPBlock != nil {
				s = peer.IPBlock.CIDR
			} else {
				s = "ns:" + peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] + " pod:" + peer.PodSelector.MatchLabels["k8s-app"]
			}
			out = append(out, s+" "+strings.Join(ports, ","))
		}
	}
	return out
}

// TestNetworkPolicy checks the NetworkPolicy of a limited sandbox through the real
// client-go path: created before the pod, selecting only that pod, no ingress, egress to
// DNS, the public URL's addresses on its port and the allowed IPs/CIDRs; owned by the pod;
// deleted by Destroy, and by the garbage collector when the pod is deleted behind
// Hangar's back.
func TestNetworkPolicy(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	p := netpolProvider(t, f)
	if !p.Capabilities().Network {
		t.Error("Capabilities().Network = false with a NetworkPolicy client")
	}
	ctx := context.Background()
	sb, err := p.Create(ctx, provider.Spec{SessionID: "sesn_1", Environment: limitedEnv("10.0.0.5", "192.168.7.0/24", "198.51.100.7:5432", "2001:db8:1::/48")})
	if err != nil {
		t.Fatal(err)
	}
	ns, pod := sb.(*Sandbox).Pod()
	pol := f.policy(ns, pod)
	if pol == nil {
		t.Fatalf("no NetworkPolicy %s/%s", ns, pod)
	}
	f.mu.Lock()
	fp := f.pods[ns+"/"+pod]
	f.mu.Unlock()
	if got := pol.Spec.PodSelector.MatchLabels; len(got) != 1 || got[labelPod] != pod || fp.pod.Labels[labelPod] != pod {
		t.Errorf("podSelector %v, pod labels %v: want the policy to select exactly its pod", got, fp.pod.Labels)
	}
	if pol.Labels[labelManagedBy] != "hangar" || pol.Annotations[annotSession] != "sesn_1" {
		t.Errorf("policy labels %v annotations %v", pol.Labels, pol.Annotations)
	}
	if want := []networkingv1.PolicyType{"Ingress", "Egress"}; !reflect.DeepEqual(pol.Spec.PolicyTypes, want) || len(pol.Spec.Ingress) != 0 {
		t.Errorf("policyTypes %v ingress %v: want both types and no ingress rule (deny all)", pol.Spec.PolicyTypes, pol.Spec.Ingress)
	}
	want := []string{
		"ns:kube-system pod:kube-dns UDP/53,TCP/53",
		"203.0.113.9/32 TCP/8443", "2001:db8::9/128 TCP/8443",
		"10.0.0.5/32 ", "192.168.7.0/24 ", "198.51.100.7/32 TCP/5432", "2001:db8:1::/48 ",
	}
	if got := egress(pol); !reflect.DeepEqual(got, want) {
		t.Errorf("egress\n got %q\nwant %q", got, want)
	}
	if own := pol.OwnerReferences; len(own) != 1 || own[0].Kind != "Pod" || own[0].Name != pod || own[0].UID != fp.pod.UID {
		t.Errorf("ownerReferences %+v, want the pod %s (uid %s)", own, pod, fp.pod.UID)
	}
	var h handle
	json.Unmarshal(sb.Handle(), &h)
	if h.NetworkPolicy != pod {
		t.Errorf("handle names policy %q", h.NetworkPolicy)
	}
	// Another instance destroys it from the handle.
	other := netpolProvider(t, f)
	rec, err := other.Recover(ctx, sb.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if f.policyCount() != 0 || f.podCount() != 0 {
		t.Errorf("after Destroy: %d policies, %d pods", f.policyCount(), f.podCount())
	}

	// A pod deleted by someone else takes its policy along (ownerReferences).
	sb2, err := p.Create(ctx, provider.Spec{SessionID: "sesn_2", Environment: limitedEnv()})
	if err != nil {
		t.Fatal(err)
	}
	ns, pod = sb2.(*Sandbox).Pod()
	if got := egress(f.policy(ns, pod)); len(got) != 3 {
		t.Errorf("no allowed hosts: egress %q, want DNS and the public URL only", got)
	}
	zero := int64(0)
	if err := p.core.Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if f.policyCount() != 0 {
		t.Error("the policy outlived its pod")
	}
	if err := sb2.Destroy(ctx); err != nil {
		t.Errorf("Destroy after the pod and policy are gone: %v", err)
	}

	// Unrestricted networking: no policy.
	sb3, err := p.Create(ctx, provider.Spec{SessionID: "sesn_3"})
	if err != nil {
		t.Fatal(err)
	}
	if f.policyCount() != 0 {
		t.Error("an unrestricted sandbox got a NetworkPolicy")
	}
	sb3.Destroy(ctx)
}

// TestNetworkPolicyRefusals checks what a NetworkPolicy cannot express is refused with an
// invalid_request_error naming it, before any object is created.
func TestNetworkPolicyRefusals(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	yes := true
	for _, tc := range []struct {
		name string
		env  hangar.EnvironmentConfig
		kind hangar.Kind
		want string
	}{
		{"domain name", limitedEnv("10.0.0.5", "api.example.com"), hangar.KindInvalidRequest, `allowed_hosts[1]: "api.example.com" is a domain name`},
		{"domain and port", limitedEnv("pypi.org:443"), hangar.KindInvalidRequest, "filters by IP address"},
		{"package managers", hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited", AllowPackageManagers: &yes}}, hangar.KindInvalidRequest, "allow_package_managers"},
		{"mcp servers", hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited", AllowMCPServers: &yes}}, hangar.KindInvalidRequest, "allow_mcp_servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := netpolProvider(t, f).Create(context.Background(), provider.Spec{SessionID: "sesn_x", Environment: tc.env})
			if !hangar.IsKind(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create = %v, want %s containing %q", err, tc.kind, tc.want)
			}
		})
	}
	// A public URL whose host does not resolve fails Create (the pod would be cut off
	// from the model).
	p := netpolProvider(t, f)
	p.publicURL = "https://nowhere.example.test"
	if _, err := p.Create(context.Background(), provider.Spec{SessionID: "sesn_y", Environment: limitedEnv()}); err == nil || !strings.Contains(err.Error(), "nowhere.example.test") {
		t.Errorf("Create with an unresolvable public URL = %v", err)
	}
	// The fake clientset path has no NetworkPolicy client; claims cannot carry a policy.
	if f.policyCount() != 0 || f.podCount() != 0 {
		t.Errorf("refused creates left %d policies and %d pods", f.policyCount(), f.podCount())
	}
}

// TestValidatePolicyRejects checks the fake API server's validation fails bad policies,
// so TestNetworkPolicy's acceptance means something.
func TestValidatePolicyRejects(t *testing.T) {
	p, err := netpolProvider(t, newFakeAPI(t)).networkPolicy(context.Background(), handle{Pod: "hangar-a-1", Namespace: "ns", Session: "a"}, &hangar.Networking{Type: "limited", AllowedHosts: []string{"10.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := validatePolicy(p); err != nil {
		t.Fatalf("the provider's policy is invalid: %v", err)
	}
	bad := p.DeepCopy()
	bad.Spec.Egress[1].To[0].IPBlock.CIDR = "10.0.0.1/8"
	if validatePolicy(bad) == nil {
		t.Error("a CIDR with host bits passed validation")
	}
	bad = p.DeepCopy()
	bad.Spec.Egress[0].To[0].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}
	if validatePolicy(bad) == nil {
		t.Error("a peer with both an ipBlock and selectors passed validation")
	}
}
