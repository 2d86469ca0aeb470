package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// netpols is the fake API server's networking.k8s.io/v1 NetworkPolicies: create (with
// the API server's validation of the fields the provider uses), get, update, delete, and
// the garbage collector's part: a policy owned by a pod goes when the pod does.
type netpols struct {
	policies map[string]*networkingv1.NetworkPolicy // "ns/name"
	version  int
}

func (f *fakeAPI) serveNetworkPolicies(mux *http.ServeMux) {
	const base = "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"
	mux.HandleFunc("POST "+base, f.createPolicy)
	mux.HandleFunc("GET "+base+"/{name}", f.getPolicy)
	mux.HandleFunc("PUT "+base+"/{name}", f.updatePolicy)
	mux.HandleFunc("DELETE "+base+"/{name}", f.deletePolicy)
}

// policy returns a copy of the stored policy ns/name, nil when none.
func (f *fakeAPI) policy(ns, name string) *networkingv1.NetworkPolicy {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.policies[ns+"/"+name]; p != nil {
		return p.DeepCopy()
	}
	return nil
}

func (f *fakeAPI) policyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.policies)
}

func (f *fakeAPI) decodePolicy(w http.ResponseWriter, r *http.Request) *networkingv1.NetworkPolicy {
	var pol networkingv1.NetworkPolicy
	if err := json.NewDecoder(r.Body).Decode(&pol); err != nil {
		writeStatus(w, 400, metav1.StatusReasonBadRequest, "", err.Error())
		return nil
	}
	if pol.Namespace != "" && pol.Namespace != r.PathValue("ns") {
		writeStatus(w, 400, metav1.StatusReasonBadRequest, pol.Name, "the namespace of the object does not match the namespace on the request")
		return nil
	}
	if err := validatePolicy(&pol); err != nil {
		writeStatus(w, 422, metav1.StatusReasonInvalid, pol.Name, fmt.Sprintf("NetworkPolicy.networking.k8s.io %q is invalid: %v", pol.Name, err))
		return nil
	}
	pol.Namespace = r.PathValue("ns")
	return &pol
}

func (f *fakeAPI) createPolicy(w http.ResponseWriter, r *http.Request) {
	pol := f.decodePolicy(w, r)
	if pol == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pol.Namespace + "/" + pol.Name
	if f.policies == nil {
		f.policies = map[string]*networkingv1.NetworkPolicy{}
	}
	if _, ok := f.policies[key]; ok {
		writeStatus(w, 409, metav1.StatusReasonAlreadyExists, pol.Name, fmt.Sprintf("networkpolicies %q already exists", pol.Name))
		return
	}
	f.uid++
	f.version++
	pol.UID = types.UID(strconv.Itoa(f.uid))
	pol.ResourceVersion = strconv.Itoa(f.version)
	pol.CreationTimestamp = metav1.Now()
	f.policies[key] = pol
	writeJSON(w, 201, pol)
}

func (f *fakeAPI) getPolicy(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pol := f.policies[r.PathValue("ns")+"/"+r.PathValue("name")]
	if pol == nil {
		writeStatus(w, 404, metav1.StatusReasonNotFound, r.PathValue("name"), fmt.Sprintf("networkpolicies %q not found", r.PathValue("name")))
		return
	}
	writeJSON(w, 200, pol)
}

func (f *fakeAPI) updatePolicy(w http.ResponseWriter, r *http.Request) {
	pol := f.decodePolicy(w, r)
	if pol == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := pol.Namespace + "/" + r.PathValue("name")
	old := f.policies[key]
	switch {
	case old == nil:
		writeStatus(w, 404, metav1.StatusReasonNotFound, pol.Name, fmt.Sprintf("networkpolicies %q not found", pol.Name))
		return
	case pol.ResourceVersion != old.ResourceVersion:
		writeStatus(w, 409, metav1.StatusReasonConflict, pol.Name, "the object has been modified; please apply your changes to the latest version and try again")
		return
	}
	for _, o := range pol.OwnerReferences {
		if o.Kind != "Pod" || o.APIVersion != "v1" || o.UID == "" || o.Name == "" {
			writeStatus(w, 422, metav1.StatusReasonInvalid, pol.Name, "metadata.ownerReferences: apiVersion, kind, name and uid required")
			return
		}
	}
	f.version++
	pol.UID, pol.CreationTimestamp = old.UID, old.CreationTimestamp
	pol.ResourceVersion = strconv.Itoa(f.version)
	f.policies[key] = pol
	writeJSON(w, 200, pol)
}

func (f *fakeAPI) deletePolicy(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := r.PathValue("ns") + "/" + r.PathValue("name")
	pol := f.policies[key]
	if pol == nil {
		writeStatus(w, 404, metav1.StatusReasonNotFound, r.PathValue("name"), fmt.Sprintf("networkpolicies %q not found", r.PathValue("name")))
		return
	}
	delete(f.policies, key)
	writeJSON(w, 200, pol)
}

// collectOwned deletes the policies owned by uid, as the garbage collector does when
// their owner is deleted (f.mu held).
func (f *fakeAPI) collectOwned(uid types.UID) {
	for key, pol := range f.policies {
		for _, o := range pol.OwnerReferences {
			if o.UID == uid {
				delete(f.policies, key)
			}
		}
	}
}

var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// validatePolicy checks what the API server's NetworkPolicy validation checks of the
// fields the provider sets.
func validatePolicy(p *networkingv1.NetworkPolicy) error {
	if !dns1123.MatchString(p.Name) || len(p.Name) > 253 {
		return fmt.Errorf("metadata.name: %q is not a DNS-1123 subdomain", p.Name)
	}
	for _, t := range p.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			return fmt.Errorf("spec.policyTypes: unsupported value %q", t)
		}
	}
	for k, v := range p.Spec.PodSelector.MatchLabels {
		if k == "" || !validLabelValue(v) && v != "" {
			return fmt.Errorf("spec.podSelector: bad label %q=%q", k, v)
		}
	}
	checkPorts := func(field string, ports []networkingv1.NetworkPolicyPort) error {
		for i, pt := range ports {
			if pt.Protocol != nil && *pt.Protocol != corev1.ProtocolTCP && *pt.Protocol != corev1.ProtocolUDP && *pt.Protocol != corev1.ProtocolSCTP {
				return fmt.Errorf("%s.ports[%d].protocol: unsupported value %q", field, i, *pt.Protocol)
			}
			if pt.Port != nil && pt.Port.Type == intstr.Int && (pt.Port.IntVal < 1 || pt.Port.IntVal > 65535) {
				return fmt.Errorf("%s.ports[%d].port: %d is not between 1 and 65535", field, i, pt.Port.IntVal)
			}
		}
		return nil
	}
	checkPeers := func(field string, peers []networkingv1.NetworkPolicyPeer) error {
		for i, peer := range peers {
			if peer.IPBlock != nil {
				if peer.PodSelector != nil || peer.NamespaceSelector != nil {
					return fmt.Errorf("%s.to[%d]: may not specify more than 1 peer type", field, i)
				}
				pfx, err := netip.ParsePrefix(peer.IPBlock.CIDR)
				if err != nil {
					return fmt.Errorf("%s.to[%d].ipBlock.cidr: %v", field, i, err)
				}
				if pfx.Masked() != pfx {
					return fmt.Errorf("%s.to[%d].ipBlock.cidr: %q has host bits set", field, i, peer.IPBlock.CIDR)
				}
			} else if peer.PodSelector == nil && peer.NamespaceSelector == nil {
				return fmt.Errorf("%s.to[%d]: must specify a peer", field, i)
			}
		}
		return nil
	}
	for i, rule := range p.Spec.Egress {
		field := fmt.Sprintf("spec.egress[%d]", i)
		if err := checkPorts(field, rule.Ports); err != nil {
			return err
		}
		if err := checkPeers(field, rule.To); err != nil {
			return err
		}
	}
	for i, rule := range p.Spec.Ingress {
		if err := checkPorts(fmt.Sprintf("spec.ingress[%d]", i), rule.Ports); err != nil {
			return err
		}
	}
	return nil
}
