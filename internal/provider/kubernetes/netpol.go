package kubernetes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hangar-dev/hangar"
)

// networking "limited" on Kubernetes: a networking.k8s.io/v1 NetworkPolicy per pod, named
// like the pod and selecting it by its hangar.dev/pod label, that denies all ingress and
// all egress except
//
//   - DNS: UDP and TCP 53 to the cluster DNS (pods labelled k8s-app=kube-dns in kube-system),
//   - Hangar's public egress endpoint: the IP addresses of public_url's host (resolved when
//     the pod is created) on its port, where the pod's CLI reaches the model API,
//   - allowed_hosts given as IP addresses ("10.1.2.3", "10.1.2.3:8443") or CIDRs.
//
// A NetworkPolicy filters by IP address, never by name, so domain names in allowed_hosts
// (and allow_package_managers / allow_mcp_servers, which stand for domain names) are
// refused with an invalid_request_error rather than silently resolved once: the addresses
// behind a CDN-hosted name change, and a policy frozen at pod creation would let the pod
// reach whoever holds them later and miss the new ones. Enforcement is the cluster's
// network plugin's (Calico, Cilium, kube-router...; kindnet before v0.24 and flannel alone
// ignore NetworkPolicies): Hangar creates the policy but cannot tell whether it is
// enforced.
//
// The policy is created before the pod, so the pod never runs unrestricted, then owned by
// the pod (ownerReferences), so the cluster's garbage collector deletes it with the pod
// whoever deletes that; Destroy deletes it as well.

// labelPod selects one pod for its NetworkPolicy.
const labelPod = "hangar.dev/pod"

// limited reports whether spec's environment asks for networking "limited".
func limitedNetworking(n *hangar.Networking) bool { return n != nil && n.Type == "limited" }

// networkPolicy builds the policy of pod h for n; invalid_request_error for what a
// NetworkPolicy cannot express.
func (p *Provider) networkPolicy(ctx context.Context, h handle, n *hangar.Networking) (*networkingv1.NetworkPolicy, error) {
	if n.AllowPackageManagers != nil && *n.AllowPackageManagers {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "networking.allow_package_managers: the kubernetes provider enforces networking \"limited\" with a NetworkPolicy, which filters by IP address, not by the package registries' domain names; install packages into the image, or use networking \"unrestricted\"")
	}
	if n.AllowMCPServers != nil && *n.AllowMCPServers {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "networking.allow_mcp_servers: the kubernetes provider enforces networking \"limited\" with a NetworkPolicy, which filters by IP address, not by the MCP servers' domain names; list their IP addresses in allowed_hosts instead")
	}
	var rules []networkingv1.NetworkPolicyEgressRule
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	rules = append(rules, networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
	})
	if p.publicURL != "" {
		r, err := p.publicRule(ctx)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	for i, host := range n.AllowedHosts {
		r, err := hostRule(host)
		if err != nil {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "networking.allowed_hosts[%d]: %v", i, err)
		}
		rules = append(rules, r)
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: "networking.k8s.io/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: h.Pod, Namespace: h.Namespace, Labels: p.labels(h),
			Annotations: map[string]string{annotSession: h.Session},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{labelPod: h.Pod}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{}, // none: deny all
			Egress:      rules,
		},
	}, nil
}

// publicRule allows TCP to the public URL's addresses and port.
func (p *Provider) publicRule(ctx context.Context) (networkingv1.NetworkPolicyEgressRule, error) {
	u, err := url.Parse(p.publicURL)
	if err != nil || u.Hostname() == "" {
		return networkingv1.NetworkPolicyEgressRule{}, fmt.Errorf("kubernetes provider: public_url %q is not a URL", p.publicURL)
	}
	port := 443
	if u.Scheme == "http" {
		port = 80
	}
	if u.Port() != "" {
		if port, err = strconv.Atoi(u.Port()); err != nil {
			return networkingv1.NetworkPolicyEgressRule{}, fmt.Errorf("kubernetes provider: public_url %q: bad port", p.publicURL)
		}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ips, err := p.lookup(ctx, u.Hostname())
		if err != nil {
			return networkingv1.NetworkPolicyEgressRule{}, fmt.Errorf("kubernetes provider: resolve the public URL's host %s for the pod's NetworkPolicy: %w", u.Hostname(), err)
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	tcp := corev1.ProtocolTCP
	pt := intstr.FromInt(port)
	r := networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &pt}}}
	for _, a := range addrs {
		r.To = append(r.To, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(a, a.BitLen()).String()}})
	}
	if len(r.To) == 0 {
		return r, fmt.Errorf("kubernetes provider: the public URL's host %s has no address", u.Hostname())
	}
	return r, nil
}

// hostRule allows one allowed_hosts entry: an IP address (all ports), an IP address and
// port (TCP), or a CIDR.
func hostRule(host string) (networkingv1.NetworkPolicyEgressRule, error) {
	h := strings.TrimSpace(host)
	if pfx, err := netip.ParsePrefix(h); err == nil {
		return peerRule(pfx.Masked(), 0), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return peerRule(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), 0), nil
	}
	if ap, err := netip.ParseAddrPort(h); err == nil && ap.Port() != 0 {
		a := ap.Addr().Unmap()
		return peerRule(netip.PrefixFrom(a, a.BitLen()), int(ap.Port())), nil
	}
	return networkingv1.NetworkPolicyEgressRule{}, fmt.Errorf("%q is a domain name, and the kubernetes provider enforces networking \"limited\" with a NetworkPolicy, which filters by IP address: list IP addresses or CIDRs (e.g. \"203.0.113.7\", \"203.0.113.0/24\", \"203.0.113.7:8443\") instead", host)
}

func peerRule(pfx netip.Prefix, port int) networkingv1.NetworkPolicyEgressRule {
	r := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: pfx.String()}}}}
	if port != 0 {
		tcp := corev1.ProtocolTCP
		pt := intstr.FromInt(port)
		r.Ports = []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &pt}}
	}
	return r
}

// createNetworkPolicy creates pol before its pod exists.
func (p *Provider) createNetworkPolicy(ctx context.Context, pol *networkingv1.NetworkPolicy) error {
	if _, err := p.netpol.NetworkPolicies(pol.Namespace).Create(ctx, pol, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create network policy %s: %w", pol.Name, apiErr(err, "namespace", pol.Namespace))
	}
	return nil
}

// ownNetworkPolicy makes pod the owner of its policy, so that deleting the pod by any
// means deletes the policy too.
func (p *Provider) ownNetworkPolicy(ctx context.Context, h handle, pod *corev1.Pod) error {
	pol, err := p.netpol.NetworkPolicies(h.Namespace).Get(ctx, h.NetworkPolicy, metav1.GetOptions{})
	if err != nil {
		return err
	}
	yes := true
	pol.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, BlockOwnerDeletion: &yes}}
	_, err = p.netpol.NetworkPolicies(h.Namespace).Update(ctx, pol, metav1.UpdateOptions{})
	return err
}

// deleteNetworkPolicy deletes the sandbox's policy; one already gone is fine.
func (p *Provider) deleteNetworkPolicy(ctx context.Context, h handle) error {
	if h.NetworkPolicy == "" || p.netpol == nil {
		return nil
	}
	err := p.netpol.NetworkPolicies(h.Namespace).Delete(ctx, h.NetworkPolicy, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete network policy %s: %w", h.NetworkPolicy, err)
	}
	return nil
}

// lookupHost resolves a host name with the system resolver.
func lookupHost(ctx context.Context, host string) ([]net.IP, error) {
	return net.DefaultResolver.LookupIP(ctx, "ip", host)
}
