package kubernetes

import (
	"net/http"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// LIST with a labelSelector for pods, NetworkPolicies and SandboxClaims on the fake API
// server (what SweepOrphans and Check use).
func (f *fakeAPI) serveLists(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", f.listPods)
	mux.HandleFunc("GET /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", f.listPolicies)
	mux.HandleFunc("GET /apis/extensions.agents.x-k8s.io/v1alpha1/namespaces/{ns}/sandboxclaims", f.listClaims)
}

func selector(w http.ResponseWriter, r *http.Request) labels.Selector {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatus(w, 400, metav1.StatusReasonBadRequest, "", err.Error())
		return nil
	}
	return sel
}

func (f *fakeAPI) listPods(w http.ResponseWriter, r *http.Request) {
	sel := selector(w, r)
	if sel == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{}}
	for _, p := range f.pods {
		if p.pod.Namespace == r.PathValue("ns") && sel.Matches(labels.Set(p.pod.Labels)) {
			list.Items = append(list.Items, p.pod)
		}
	}
	writeJSON(w, 200, list)
}

func (f *fakeAPI) listPolicies(w http.ResponseWriter, r *http.Request) {
	sel := selector(w, r)
	if sel == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	list := networkingv1.NetworkPolicyList{TypeMeta: metav1.TypeMeta{Kind: "NetworkPolicyList", APIVersion: "networking.k8s.io/v1"}, Items: []networkingv1.NetworkPolicy{}}
	for _, p := range f.policies {
		if p.Namespace == r.PathValue("ns") && sel.Matches(labels.Set(p.Labels)) {
			list.Items = append(list.Items, *p)
		}
	}
	writeJSON(w, 200, list)
}

func (f *fakeAPI) listClaims(w http.ResponseWriter, r *http.Request) {
	sel := selector(w, r)
	if sel == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	items := []any{}
	for _, c := range f.claims {
		meta, _ := c["metadata"].(map[string]any)
		set := labels.Set{}
		if l, ok := meta["labels"].(map[string]any); ok {
			for k, v := range l {
				set[k], _ = v.(string)
			}
		}
		if meta["namespace"] == r.PathValue("ns") && sel.Matches(set) {
			items = append(items, c)
		}
	}
	writeJSON(w, 200, map[string]any{"apiVersion": "extensions.agents.x-k8s.io/v1alpha1", "kind": "SandboxClaimList", "metadata": map[string]any{}, "items": items})
}
