package kubernetes

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// agentSandbox adds kubernetes-sigs/agent-sandbox to the fake API server: discovery of its
// two group versions, SandboxClaims (create, get, delete) and Sandboxes (get), with the
// claim and sandbox controllers folded in — creating a claim of a known template makes its
// Sandbox and pod at once, and the claim turns Ready after pendingGets polls. Nothing is
// served unless templates is set (a cluster without the CRDs).
type agentSandbox struct {
	templates map[string]corev1.PodSpec // SandboxTemplates by name; nil = CRDs not installed
	warm      bool                      // claims adopt a "warm pool" sandbox with its own pod name
	claims    map[string]map[string]any // "ns/name"
	sandboxes map[string]map[string]any // "ns/name"
	claimGets map[string]int
}

func (f *fakeAPI) serveAgentSandbox(mux *http.ServeMux) {
	f.claims, f.sandboxes, f.claimGets = map[string]map[string]any{}, map[string]map[string]any{}, map[string]int{}
	mux.HandleFunc("GET /apis/{group}/{version}", f.discover)
	const claims = "/apis/extensions.agents.x-k8s.io/v1alpha1/namespaces/{ns}/sandboxclaims"
	mux.HandleFunc("POST "+claims, f.createClaim)
	mux.HandleFunc("GET "+claims+"/{name}", f.getClaim)
	mux.HandleFunc("DELETE "+claims+"/{name}", f.deleteClaim)
	mux.HandleFunc("GET /apis/agents.x-k8s.io/v1alpha1/namespaces/{ns}/sandboxes/{name}", f.getSandbox)
}

func (f *fakeAPI) discover(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	installed := f.templates != nil
	f.mu.Unlock()
	gv := r.PathValue("group") + "/" + r.PathValue("version")
	res := map[string]metav1.APIResource{
		"extensions.agents.x-k8s.io/v1alpha1": {Name: "sandboxclaims", Namespaced: true, Kind: "SandboxClaim"},
		"agents.x-k8s.io/v1alpha1":            {Name: "sandboxes", Namespaced: true, Kind: "Sandbox"},
	}[gv]
	if !installed || res.Name == "" {
		writeStatus(w, 404, metav1.StatusReasonNotFound, "", "the server could not find the requested resource")
		return
	}
	res.Verbs = metav1.Verbs{"create", "delete", "get", "list", "watch"}
	writeJSON(w, 200, metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv, APIResources: []metav1.APIResource{res},
	})
}

func (f *fakeAPI) createClaim(w http.ResponseWriter, r *http.Request) {
	var claim map[string]any
	if err := json.NewDecoder(r.Body).Decode(&claim); err != nil {
		writeStatus(w, 400, metav1.StatusReasonBadRequest, "", err.Error())
		return
	}
	ns := r.PathValue("ns")
	meta, _ := claim["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	spec, _ := claim["spec"].(map[string]any)
	ref, _ := spec["sandboxTemplateRef"].(map[string]any)
	tmpl, _ := ref["name"].(string)
	if claim["kind"] != "SandboxClaim" || name == "" || tmpl == "" {
		writeStatus(w, 422, metav1.StatusReasonInvalid, name, "kind SandboxClaim with metadata.name and spec.sandboxTemplateRef.name expected")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.claims[ns+"/"+name]; ok {
		writeStatus(w, 409, metav1.StatusReasonAlreadyExists, name, fmt.Sprintf("sandboxclaims %q already exists", name))
		return
	}
	meta["namespace"] = ns
	podSpec, ok := f.templates[tmpl]
	if !ok {
		claim["status"] = map[string]any{"conditions": []any{map[string]any{
			"type": "Ready", "status": "False", "reason": "TemplateNotFound", "message": fmt.Sprintf("SandboxTemplate %q not found", tmpl)}}}
		f.claims[ns+"/"+name] = claim
		writeJSON(w, 201, claim)
		return
	}
	// The controllers: a Sandbox (a pre-warmed one, with its own pod name, when warm) and
	// its pod from the template.
	sbName, podName := name, name
	sbMeta := map[string]any{"name": sbName, "namespace": ns}
	if f.warm {
		sbName, podName = "pool-"+name, "pool-pod-"+name
		sbMeta = map[string]any{"name": sbName, "namespace": ns, "annotations": map[string]any{annotPodName: podName}}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: ns}, Spec: *podSpec.DeepCopy()}
	if err := f.addPod(ns, pod); err != nil {
		writeStatus(w, 500, metav1.StatusReasonInternalError, name, err.Error())
		return
	}
	f.sandboxes[ns+"/"+sbName] = map[string]any{"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Sandbox", "metadata": sbMeta}
	claim["status"] = map[string]any{"sandbox": map[string]any{"name": sbName}}
	f.claims[ns+"/"+name] = claim
	writeJSON(w, 201, claim)
}

func (f *fakeAPI) getClaim(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("ns") + "/" + r.PathValue("name")
	f.mu.Lock()
	defer f.mu.Unlock()
	claim := f.claims[key]
	if claim == nil {
		writeStatus(w, 404, metav1.StatusReasonNotFound, r.PathValue("name"), fmt.Sprintf("sandboxclaims %q not found", r.PathValue("name")))
		return
	}
	f.claimGets[key]++
	st := claim["status"].(map[string]any)
	if _, bound := st["sandbox"]; bound && f.claimGets[key] > f.pendingGets {
		st["conditions"] = []any{map[string]any{"type": "Ready", "status": "True", "reason": "SandboxReady"}}
	}
	writeJSON(w, 200, claim)
}

// deleteClaim deletes the claim and, by owner reference, its Sandbox and pod.
func (f *fakeAPI) deleteClaim(w http.ResponseWriter, r *http.Request) {
	ns, key := r.PathValue("ns"), r.PathValue("ns")+"/"+r.PathValue("name")
	f.mu.Lock()
	defer f.mu.Unlock()
	claim := f.claims[key]
	if claim == nil {
		writeStatus(w, 404, metav1.StatusReasonNotFound, r.PathValue("name"), fmt.Sprintf("sandboxclaims %q not found", r.PathValue("name")))
		return
	}
	delete(f.claims, key)
	if sb, ok := claim["status"].(map[string]any)["sandbox"].(map[string]any); ok {
		name := sb["name"].(string)
		podName := name
		if a, ok := f.sandboxes[ns+"/"+name]["metadata"].(map[string]any)["annotations"].(map[string]any); ok {
			podName = a[annotPodName].(string)
		}
		delete(f.sandboxes, ns+"/"+name)
		if p := f.pods[ns+"/"+podName]; p != nil {
			p.kill()
			delete(f.pods, ns+"/"+podName)
			os.RemoveAll(p.dir)
		}
	}
	writeJSON(w, 200, claim)
}

func (f *fakeAPI) getSandbox(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := f.sandboxes[r.PathValue("ns")+"/"+r.PathValue("name")]
	if sb == nil {
		writeStatus(w, 404, metav1.StatusReasonNotFound, r.PathValue("name"), fmt.Sprintf("sandboxes %q not found", r.PathValue("name")))
		return
	}
	writeJSON(w, 200, sb)
}

func (f *fakeAPI) claimCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.claims)
}

// templatePod is a SandboxTemplate's pod spec as a cluster admin would write it: its own
// container name, the workspace and home on emptyDir volumes.
func templatePod() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "agent", Image: "debian:bookworm-slim",
			VolumeMounts: []corev1.VolumeMount{{Name: "workspace", MountPath: "/workspace"}, {Name: "home", MountPath: "/home/agent"}},
		}},
		Volumes: []corev1.Volume{
			{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
}

// installAgentSandbox installs the CRDs with the given templates.
func (f *fakeAPI) installAgentSandbox(templates map[string]corev1.PodSpec, warm bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.templates, f.warm = templates, warm
}
