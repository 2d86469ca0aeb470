// Package kubernetes is the sandbox provider over the Kubernetes API (client-go): one pod
// per session, whose workspace and HOME are emptyDir volumes, driven entirely through the
// API server — exec over the pods/exec subresource (WebSocket v5.channel.k8s.io, falling
// back to SPDY on older clusters), files by exec of sh/cat, destroy by deleting the pod, and
// recover from a handle naming the namespace and pod. Because nothing goes through the
// local host, any Hangar instance that can reach the API server can drive any session's
// pod: it is the scale-out path for sandboxes (docs/sandboxes.md, "Kubernetes"). With
// sandbox_template set, the pod comes from a kubernetes-sigs/agent-sandbox SandboxClaim
// instead (claims.go). Networking "limited" is a NetworkPolicy per pod (netpol.go), and
// SweepOrphans deletes what this installation left without a live session (gc.go).
package kubernetes

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// Config is the provider's JSON config.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file; "" uses the in-cluster config when
	// Hangar runs in a pod, else $KUBECONFIG or ~/.kube/config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context is the kubeconfig context ("" = its current context).
	Context string `json:"context,omitempty"`
	// Namespace of the sandbox pods; default the kubeconfig context's namespace, else
	// "default".
	Namespace string `json:"namespace,omitempty"`
	// Image is the default image of sandboxes; environments may pick another. It needs
	// /bin/sh, cat, mkdir, mv, chmod and kill (any Debian, Ubuntu or busybox image).
	Image string `json:"image,omitempty"`
	// User is the "uid:gid" the pod runs as (runAsUser/runAsGroup/fsGroup); default
	// 1000:1000.
	User string `json:"user,omitempty"`
	// ServiceAccount of the pods ("" = the namespace's default); its token is never
	// mounted.
	ServiceAccount string `json:"service_account,omitempty"`
	// NodeSelector and RuntimeClass (e.g. "gvisor", "kata") place the pods.
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	RuntimeClass string            `json:"runtime_class,omitempty"`
	// HostPathMounts maps provider.Spec.Mounts (host paths such as an engine's CLI
	// install) to read-only hostPath volumes. Only right when every node has those paths
	// (single-node clusters, or nodes provisioned alike); otherwise the mounts are
	// skipped and the image must provide the CLIs.
	HostPathMounts bool `json:"host_path_mounts,omitempty"`
	// StartTimeout bounds how long Create waits for the pod to run ("5m" by default).
	StartTimeout string `json:"start_timeout,omitempty"`
	// Limits are the default limits of a sandbox; an environment's sandbox settings
	// override them field by field.
	Limits Limits `json:"limits,omitzero"`
	// SandboxTemplate, when set, names a kubernetes-sigs/agent-sandbox SandboxTemplate in
	// the namespace: each sandbox is then a SandboxClaim of it (warm pools apply) instead
	// of a pod the provider specifies, and image, user, limits, node placement and mounts
	// are the template's business (docs/sandboxes.md, "agent-sandbox claims").
	SandboxTemplate string `json:"sandbox_template,omitempty"`
	// PublicURL is the server's public URL (HANGAR_PUBLIC_URL, filled in by cmd/hangar),
	// where pods reach the egress endpoint: with networking "limited" their NetworkPolicy
	// allows its host's addresses (netpol.go).
	PublicURL string `json:"public_url,omitempty"`
	// Installation identifies the Hangar installation (HANGAR_INSTALLATION_ID, or an ID
	// cmd/hangar keeps in the data dir): its objects carry it as the
	// hangar.dev/installation label, and SweepOrphans deletes only objects that carry it.
	Installation string `json:"installation,omitempty"`
}

// Settings are an environment's EnvironmentConfig.Sandbox settings for this provider.
type Settings struct {
	Image string `json:"image,omitempty"`
	Limits
}

// Limits become the sandbox container's resources.limits (requests default to them).
type Limits struct {
	MemoryMB int     `json:"memory_mb,omitempty"`
	CPUs     float64 `json:"cpus,omitempty"`
}

// Defaults when neither the provider config nor the environment sets them.
const (
	DefaultImage        = "debian:bookworm-slim"
	DefaultUser         = "1000:1000"
	DefaultMemoryMB     = 4096
	DefaultStartTimeout = 5 * time.Minute
)

func (l Limits) override(o Limits) Limits {
	if o.MemoryMB != 0 {
		l.MemoryMB = o.MemoryMB
	}
	if o.CPUs != 0 {
		l.CPUs = o.CPUs
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MemoryMB < 0:
		return fmt.Errorf("memory_mb %d is negative", l.MemoryMB)
	case l.CPUs < 0:
		return fmt.Errorf("cpus %g is negative", l.CPUs)
	}
	return nil
}

// Provider is the kubernetes sandbox provider.
type Provider struct {
	log          *slog.Logger
	core         corev1client.CoreV1Interface
	rest         *rest.Config // for exec; nil makes Exec fail (tests with a fake clientset)
	namespace    string
	image        string
	uid, gid     int64
	account      string
	nodeSelector map[string]string
	runtimeClass string
	hostMounts   bool
	startTimeout time.Duration
	limits       Limits
	claims       *claims // nil unless sandbox_template is set
	// netpol creates the NetworkPolicies of networking "limited" (nil without a client
	// config: limited is then refused); lookup resolves the public URL's host.
	netpol       networkingv1client.NetworkPoliciesGetter
	publicURL    string
	installation string
	lookup       func(ctx context.Context, host string) ([]net.IP, error)
}

// Factory is the provider.Factory of the "kubernetes" provider.
func Factory(cfg json.RawMessage, deps provider.Deps) (provider.Provider, error) {
	return New(cfg, deps)
}

// New builds the provider from its JSON config. It reads the kubeconfig but does not
// contact the API server: an unreachable cluster fails the first Create.
func New(cfg json.RawMessage, deps provider.Deps) (*Provider, error) {
	var c Config
	if err := decodeStrict(cfg, &c); err != nil {
		return nil, fmt.Errorf("kubernetes provider config: %w", err)
	}
	rc, ns, err := restConfig(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	if c.Namespace == "" {
		c.Namespace = ns
	}
	return NewWithClient(c, rc, nil, deps)
}

// restConfig loads the client config: in-cluster or from a kubeconfig, like kubectl.
func restConfig(c Config) (*rest.Config, string, error) {
	if c.Kubeconfig == "" && c.Context == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			ns := "default"
			if b, err := readNamespaceFile(); err == nil && b != "" {
				ns = b
			}
			return rc, ns, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	return rc, ns, nil
}

// NewWithClient builds the provider over an existing client: rc drives exec (nil: Exec
// fails), core the pods API (nil: built from rc). c.Namespace must be set.
func NewWithClient(c Config, rc *rest.Config, core corev1client.CoreV1Interface, deps provider.Deps) (*Provider, error) {
	if rc != nil {
		rc = rest.CopyConfig(rc)
		// JSON both ways: every API server speaks it, and so does the test server.
		rc.ContentType = "application/json"
		rc.AcceptContentTypes = "application/json"
		if rc.UserAgent == "" {
			rc.UserAgent = "hangar"
		}
	}
	if core == nil {
		if rc == nil {
			return nil, errors.New("kubernetes provider: no client config")
		}
		cs, err := corev1client.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes provider: %w", err)
		}
		core = cs
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	uid, gid, err := parseUser(orDefault(c.User, DefaultUser))
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: user: %w", err)
	}
	timeout := DefaultStartTimeout
	if c.StartTimeout != "" {
		if timeout, err = time.ParseDuration(c.StartTimeout); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("kubernetes provider: start_timeout %q is not a positive duration", c.StartTimeout)
		}
	}
	if c.Installation != "" && !validLabelValue(c.Installation) {
		return nil, fmt.Errorf("kubernetes provider: installation %q is not a valid label value", c.Installation)
	}
	limits := Limits{MemoryMB: DefaultMemoryMB}.override(c.Limits)
	if err := limits.validate(); err != nil {
		return nil, fmt.Errorf("kubernetes provider: limits: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var cl *claims
	if c.SandboxTemplate != "" {
		if rc == nil {
			return nil, errors.New("kubernetes provider: sandbox_template needs a client config")
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes provider: %w", err)
		}
		disc, err := discovery.NewDiscoveryClientForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes provider: %w", err)
		}
		cl = newClaims(c.SandboxTemplate, dyn, disc)
	}
	var np networkingv1client.NetworkPoliciesGetter
	if rc != nil {
		if np, err = networkingv1client.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("kubernetes provider: %w", err)
		}
	}
	return &Provider{
		claims: cl,
		log:    log, core: core, rest: rc,
		namespace: c.Namespace, image: orDefault(c.Image, DefaultImage),
		uid: uid, gid: gid, account: c.ServiceAccount,
		nodeSelector: c.NodeSelector, runtimeClass: c.RuntimeClass,
		hostMounts: c.HostPathMounts, startTimeout: timeout, limits: limits,
		netpol: np, publicURL: c.PublicURL, lookup: lookupHost, installation: c.Installation,
	}, nil
}

func parseUser(s string) (int64, int64, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err := strconv.ParseInt(u, 10, 64)
	if err != nil || uid < 0 {
		return 0, 0, fmt.Errorf("%q is not numeric uid[:gid]", s)
	}
	if !ok {
		return uid, uid, nil
	}
	gid, err := strconv.ParseInt(g, 10, 64)
	if err != nil || gid < 0 {
		return 0, 0, fmt.Errorf("%q is not numeric uid[:gid]", s)
	}
	return uid, gid, nil
}

func decodeStrict(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Capabilities implements provider.Provider. Network (networking "limited") is enforced
// with a NetworkPolicy per pod (netpol.go), not for agent-sandbox claims, whose pods the
// template specifies.
func (p *Provider) Capabilities() provider.Capabilities {
	return provider.Capabilities{Recover: true, Files: true, Signals: true, Isolated: true, Remote: true,
		Network: p.netpol != nil && p.claims == nil}
}

// Check implements provider.Checker: it lists (at most one of) the namespace's pods, which
// proves the API server is reachable and the credentials may see pods.
func (p *Provider) Check(ctx context.Context) error {
	if _, err := p.core.Pods(p.namespace).List(ctx, metav1.ListOptions{Limit: 1, LabelSelector: labelManagedBy + "=hangar"}); err != nil {
		return fmt.Errorf("kubernetes: list pods in namespace %s: %w", p.namespace, err)
	}
	if p.claims != nil {
		return p.claims.check()
	}
	return nil
}

// handle is the JSON inside a kubernetes sandbox's provider.Handle.
type handle struct {
	Session   string `json:"session"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	WorkDir   string `json:"work_dir"`
	HomeDir   string `json:"home_dir"`
	// Claim is the agent-sandbox SandboxClaim owning the pod, when there is one;
	// Container is the pod's container to exec in ("" = the provider's own "sandbox").
	Claim     string `json:"claim,omitempty"`
	Container string `json:"container,omitempty"`
	// NetworkPolicy is the pod's NetworkPolicy (networking "limited"), deleted with it.
	NetworkPolicy string `json:"network_policy,omitempty"`
}

func (h handle) container() string { return orDefault(h.Container, containerName) }

// Labels and annotations on the pods the provider creates.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelSession   = "hangar.dev/session" // the session ID, when it is a valid label value
	// labelInstallation is Config.Installation (gc.go).
	labelInstallation = "hangar.dev/installation"
	annotSession      = "hangar.dev/session" // always the exact session ID
	containerName     = "sandbox"
)

// sessionDir and memoryDir are where the runner copies session content (file resources
// and outputs under /mnt/session, memory stores under /mnt/memory): emptyDir volumes,
// writable by the pod's user, which the image's /mnt usually is not.
const (
	sessionDir = "/mnt/session"
	memoryDir  = "/mnt/memory"
)

// Create implements provider.Provider: it creates the session's pod and waits until it
// runs. Each Create makes a new pod (a random name suffix), so creating a sandbox again
// for a session never collides with a pod still terminating.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.SessionID == "" || strings.ContainsAny(spec.SessionID, `/\:`) {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox: bad session id %q", spec.SessionID)
	}
	limited := limitedNetworking(spec.Environment.Networking)
	if limited && p.claims != nil {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "the kubernetes provider does not enforce networking \"limited\" for agent-sandbox claims (the sandbox template specifies their pods; give it a NetworkPolicy)")
	}
	if limited && p.netpol == nil {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "the kubernetes provider cannot enforce networking \"limited\" without a client config for NetworkPolicies")
	}
	// spec.EgressSocket is a unix socket of the Hangar host, which a pod on another node
	// cannot reach: the provider is Remote, so the runner gives the pod's CLI the server's
	// public egress endpoint instead (docs/egress.md, "Remote sandboxes").
	var set Settings
	if err := decodeStrict(spec.Environment.Sandbox, &set); err != nil {
		return nil, &hangar.Error{Kind: hangar.KindInvalidRequest, Message: fmt.Sprintf("environment sandbox settings for the kubernetes provider: %v", err), Err: err}
	}
	limits := p.limits.override(set.Limits)
	if err := limits.validate(); err != nil {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "environment sandbox settings: %v", err)
	}
	h := handle{
		Session:   spec.SessionID,
		Namespace: p.namespace,
		Pod:       podName(spec.SessionID),
		WorkDir:   orDefault(spec.WorkDir, "/workspace"),
		HomeDir:   orDefault(spec.HomeDir, "/home/agent"),
	}
	for what, dir := range map[string]string{"work dir": h.WorkDir, "home": h.HomeDir} {
		if err := checkPath(what, dir); err != nil {
			return nil, err
		}
	}
	if within(h.WorkDir, h.HomeDir) || within(h.HomeDir, h.WorkDir) {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox: work dir %q and home %q overlap", h.WorkDir, h.HomeDir)
	}
	for _, dir := range []string{h.WorkDir, h.HomeDir} {
		for _, content := range []string{sessionDir, memoryDir} {
			if within(dir, content) || within(content, dir) {
				return nil, hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox: %q overlaps %s, where session content goes", dir, content)
			}
		}
	}
	if p.claims != nil {
		// The SandboxTemplate fixes the image and resources; say so rather than ignore them.
		if set != (Settings{}) {
			return nil, hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox: image and limits come from the sandbox template %q; remove them from the environment's sandbox settings", p.claims.template)
		}
		h.Claim, h.Pod = h.Pod, ""
		if err := p.createClaim(ctx, &h); err != nil {
			p.deleteClaim(context.WithoutCancel(ctx), h)
			return nil, fmt.Errorf("create kubernetes sandbox %s: %w", h.Session, err)
		}
		return p.sandbox(h), nil
	}
	if limited {
		pol, err := p.networkPolicy(ctx, h, spec.Environment.Networking)
		if err != nil {
			return nil, err
		}
		// Before the pod: it never runs without its policy.
		if err := p.createNetworkPolicy(ctx, pol); err != nil {
			return nil, fmt.Errorf("create kubernetes sandbox %s: %w", h.Session, err)
		}
		h.NetworkPolicy = pol.Name
	}
	pod := p.podSpec(h, orDefault(set.Image, p.image), limits, spec.Mounts)
	created, err := p.core.Pods(h.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		p.deleteNetworkPolicy(context.WithoutCancel(ctx), h)
		return nil, fmt.Errorf("create kubernetes sandbox %s: %w", h.Session, apiErr(err, "namespace", h.Namespace))
	}
	if h.NetworkPolicy != "" {
		if err := p.ownNetworkPolicy(ctx, h, created); err != nil {
			// Destroy still deletes it; only a pod deleted behind Hangar's back leaves it.
			p.log.Warn("kubernetes sandbox: network policy not owned by its pod", "session", h.Session, "policy", h.NetworkPolicy, "err", err)
		}
	}
	if err := p.waitRunning(ctx, h); err != nil {
		p.deletePod(context.WithoutCancel(ctx), h)
		p.deleteNetworkPolicy(context.WithoutCancel(ctx), h)
		return nil, fmt.Errorf("create kubernetes sandbox %s: %w", h.Session, err)
	}
	return p.sandbox(h), nil
}

// Recover implements provider.Provider: the pod must still exist and not have ended (a
// not_found_error otherwise); a pending one is waited for.
func (p *Provider) Recover(ctx context.Context, raw provider.Handle) (provider.Sandbox, error) {
	var h handle
	if err := json.Unmarshal(raw, &h); err != nil || h.Pod == "" || h.Namespace == "" || h.Session == "" {
		return nil, hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox handle %q is malformed", raw)
	}
	if err := p.waitRunning(ctx, h); err != nil {
		return nil, fmt.Errorf("recover kubernetes sandbox %s: %w", h.Session, err)
	}
	return p.sandbox(h), nil
}

func (p *Provider) sandbox(h handle) *Sandbox {
	raw, _ := json.Marshal(h)
	return &Sandbox{p: p, h: h, raw: raw, procs: make(map[*process]struct{})}
}

// waitRunning polls the pod until its sandbox container runs. It fails fast on a pod
// that ended or an image that cannot be pulled; not_found_error when the pod is gone.
func (p *Provider) waitRunning(ctx context.Context, h handle) error {
	ctx, cancel := context.WithTimeout(ctx, p.startTimeout)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		pod, err := p.core.Pods(h.Namespace).Get(ctx, h.Pod, metav1.GetOptions{})
		if err != nil {
			return apiErr(err, "kubernetes sandbox", h.Session)
		}
		if pod.DeletionTimestamp != nil {
			return hangar.NotFound("kubernetes sandbox", h.Session)
		}
		switch pod.Status.Phase {
		case corev1.PodRunning:
			return nil
		case corev1.PodSucceeded, corev1.PodFailed:
			return &hangar.Error{Kind: hangar.KindNotFound, Message: fmt.Sprintf("kubernetes sandbox %s: pod %s ended (%s %s)", h.Session, h.Pod, pod.Status.Phase, pod.Status.Reason)}
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && fatalWaiting[w.Reason] {
				return fmt.Errorf("pod %s: %s: %s", h.Pod, w.Reason, w.Message)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s not running after %s (phase %s): %w", h.Pod, p.startTimeout, pod.Status.Phase, ctx.Err())
		case <-time.After(delay):
		}
	}
}

// fatalWaiting are container waiting reasons that retrying will not fix.
var fatalWaiting = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

func (p *Provider) deletePod(ctx context.Context, h handle) error {
	zero := int64(0)
	err := p.core.Pods(h.Namespace).Delete(ctx, h.Pod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// apiErr maps API errors to hangar kinds: a missing object is a not_found_error.
func apiErr(err error, what, name string) error {
	if apierrors.IsNotFound(err) {
		return &hangar.Error{Kind: hangar.KindNotFound, Message: fmt.Sprintf("%s %s not found", what, name), Err: err}
	}
	return err
}

// podName is a fresh DNS-1123 pod name for the session: "hangar-", a readable part of the
// session ID, and a random suffix.
func podName(session string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(session) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	readable := strings.Trim(b.String(), "-")
	if len(readable) > 40 {
		readable = readable[:40]
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return strings.Trim("hangar-"+readable, "-") + "-" + hex.EncodeToString(rnd[:])
}

// podSpec is the session's pod: a long sleep as its main process, the workspace and HOME
// on emptyDir volumes, no service account token, no privilege escalation.
func (p *Provider) podSpec(h handle, img string, l Limits, mounts []provider.Mount) *corev1.Pod {
	no, yes := false, true
	grace := int64(1)
	labels := p.labels(h)
	labels[labelPod] = h.Pod
	c := corev1.Container{
		Name:  containerName,
		Image: img,
		// sh as pid 1 ignores SIGTERM unless trapped; exit at once on deletion.
		Command:    []string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"},
		WorkingDir: h.WorkDir,
		Env: []corev1.EnvVar{
			{Name: "HOME", Value: h.HomeDir}, {Name: "USER", Value: "agent"}, {Name: "LANG", Value: "C.UTF-8"},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "workspace", MountPath: h.WorkDir}, {Name: "home", MountPath: h.HomeDir},
			{Name: "session", MountPath: sessionDir}, {Name: "memory", MountPath: memoryDir}},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	res := corev1.ResourceList{}
	if l.MemoryMB > 0 {
		res[corev1.ResourceMemory] = *resource.NewQuantity(int64(l.MemoryMB)<<20, resource.BinarySI)
	}
	if l.CPUs > 0 {
		res[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(l.CPUs*1000), resource.DecimalSI)
	}
	if len(res) > 0 {
		c.Resources.Limits = res
	}
	vols := []corev1.Volume{
		{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "session", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "memory", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	for i, m := range mounts {
		if !p.hostMounts {
			p.log.Info("kubernetes sandbox: host mount skipped (host_path_mounts is off); the image must provide it", "session", h.Session, "target", m.Target)
			continue
		}
		name := fmt.Sprintf("mount-%d", i)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.Source}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: m.Target, ReadOnly: true})
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: h.Pod, Namespace: h.Namespace, Labels: labels,
			Annotations: map[string]string{annotSession: h.Session},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: &grace,
			ServiceAccountName:            p.account,
			NodeSelector:                  p.nodeSelector,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser: &p.uid, RunAsGroup: &p.gid, FSGroup: &p.gid,
			},
			Containers: []corev1.Container{c},
			Volumes:    vols,
		},
	}
	if p.uid != 0 {
		pod.Spec.SecurityContext.RunAsNonRoot = &yes
	}
	if p.runtimeClass != "" {
		rc := p.runtimeClass
		pod.Spec.RuntimeClassName = &rc
	}
	return pod
}

// labels are the labels of the objects the provider creates for h.
func (p *Provider) labels(h handle) map[string]string {
	labels := map[string]string{labelManagedBy: "hangar"}
	if validLabelValue(h.Session) {
		labels[labelSession] = h.Session
	}
	if p.installation != "" {
		labels[labelInstallation] = p.installation
	}
	return labels
}

// validLabelValue reports whether s is a valid label value (63 characters of
// [A-Za-z0-9_.-], starting and ending with an alphanumeric).
func validLabelValue(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return alnum(s[0]) && alnum(s[len(s)-1])
}

// reserved are sandbox paths the image owns; the work dir and home may not be on or
// under them.
var reserved = []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/proc", "/dev", "/sys", "/tmp", "/var/run/secrets"}

// within reports whether p is dir or inside it (both clean, absolute).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func checkPath(what, p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
		return hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox: %s %q must be a clean absolute path other than /", what, p)
	}
	for _, r := range reserved {
		if within(p, r) {
			return hangar.Errorf(hangar.KindInvalidRequest, "kubernetes sandbox: %s %q is inside the reserved %s", what, p, r)
		}
	}
	return nil
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Checker  = (*Provider)(nil)
)

// readNamespaceFile returns the namespace of the pod Hangar runs in.
func readNamespaceFile() (string, error) {
	b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	return strings.TrimSpace(string(b)), err
}
