package kubernetes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	corev1fake "k8s.io/client-go/kubernetes/typed/core/v1/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

// TestConformance runs the shared suite through the real client-go code path (REST and
// exec over WebSocket) against the protocol-level fake API server.
func TestConformance(t *testing.T) {
	if why := bwrapUsable(); why != "" {
		t.Skip(why)
	}
	providertest.Run(t, func(t *testing.T) provider.Provider {
		f := newFakeAPI(t)
		p, err := NewWithClient(Config{Namespace: "sandboxes"}, f.restConfig(), nil, provider.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}

// TestExecNegotiatesV5 checks that exec streams over v5.channel.k8s.io, the protocol that
// can half-close stdin, and that files and exit codes round-trip.
func TestExecNegotiatesV5(t *testing.T) {
	if why := bwrapUsable(); why != "" {
		t.Skip(why)
	}
	f := newFakeAPI(t)
	f.pendingGets = 3 // Create polls until the pod runs
	p, err := NewWithClient(Config{Namespace: "sandboxes"}, f.restConfig(), nil, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sb, err := p.Create(ctx, provider.Spec{SessionID: "sesn_X1", WorkDir: "/workspace", HomeDir: "/home/agent"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	pr, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", `pwd; echo "$FOO $HOME"; read x; echo "got $x"; exit 7`}, Env: []string{"FOO=bar baz"}, Dir: "sub"})
	if err != nil {
		t.Fatal(err)
	}
	pr.Stdin().Write([]byte("line\n"))
	pr.Stdin().Close()
	out := readAll(t, pr.Stdout())
	code, err := pr.Wait()
	// The wrapper cannot cd into a missing directory: exit 126, nothing run.
	if err != nil || code != 126 || out != "" {
		t.Errorf("exec in a missing dir = %q, %d, %v; want exit 126", out, code, err)
	}
	if err := sb.PutFile(ctx, "sub/.keep", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pr, err = sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", `pwd; echo "$FOO $HOME"; read x; echo "got $x"; exit 7`}, Env: []string{"FOO=bar baz"}, Dir: "sub"})
	if err != nil {
		t.Fatal(err)
	}
	pr.Stdin().Write([]byte("line\n"))
	pr.Stdin().Close()
	out = readAll(t, pr.Stdout())
	code, err = pr.Wait()
	if want := "/workspace/sub\nbar baz /home/agent\ngot line\n"; out != want || code != 7 || err != nil {
		t.Errorf("exec = %q, %d, %v; want %q, 7", out, code, err, want)
	}
	f.mu.Lock()
	protos := f.protocols
	f.mu.Unlock()
	if protos["v5.channel.k8s.io"] == 0 || len(protos) != 1 {
		t.Errorf("negotiated protocols %v, want only v5.channel.k8s.io", protos)
	}
	big := []byte(strings.Repeat("0123456789abcdef", 20000)) // several WebSocket messages
	if err := sb.PutFile(ctx, "/home/agent/.cfg/big", big, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.GetFile(ctx, "/home/agent/.cfg/big"); err != nil || string(got) != string(big) {
		t.Errorf("GetFile big = %d bytes, %v", len(got), err)
	}
	if _, err := sb.GetFile(ctx, "sub"); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("GetFile of a directory = %v, want invalid_request_error", err)
	}
	if _, err := sb.GetFile(ctx, "/etc/passwd"); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("GetFile outside = %v, want invalid_request_error", err)
	}
	if err := sb.Destroy(ctx); err != nil || f.podCount() != 0 {
		t.Errorf("Destroy = %v, %d pods left", err, f.podCount())
	}
}

// TestSignalsAndStop covers SIGINT reaching a trap, a cancelled ctx killing its process,
// and Stop killing every running process while the files stay for Recover.
func TestSignalsAndStop(t *testing.T) {
	if why := bwrapUsable(); why != "" {
		t.Skip(why)
	}
	f := newFakeAPI(t)
	p, err := NewWithClient(Config{Namespace: "sandboxes"}, f.restConfig(), nil, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sb, err := p.Create(ctx, provider.Spec{SessionID: "sesn_sig"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())

	pr, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", `trap 'echo int; exit 3' INT; echo ready; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(pr.Stdout())
	if line, err := r.ReadString('\n'); line != "ready\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if err := pr.Signal(false); err != nil {
		t.Fatal(err)
	}
	rest := readAll(t, r)
	if code, err := pr.Wait(); rest != "int\n" || code != 3 || err != nil {
		t.Errorf("after SIGINT: %q, exit %d, %v; want the trap's output and exit 3", rest, code, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	pr, err = sb.Exec(cctx, provider.ExecSpec{Args: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if code, err := pr.Wait(); code == 0 || err != nil {
		t.Errorf("cancelled exec: exit %d, %v; want killed", code, err)
	}

	if err := sb.PutFile(ctx, "keep", []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	running, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", "sleep 600 & wait"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := running.Wait(); code == 0 || err != nil {
		t.Errorf("process after Stop: exit %d, %v; want killed", code, err)
	}
	if _, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"true"}}); !errors.Is(err, errStopped) {
		t.Errorf("Exec after Stop = %v", err)
	}
	again, err := p.Recover(ctx, sb.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.GetFile(ctx, "keep"); string(got) != "k" || err != nil {
		t.Errorf("file after Stop and Recover = %q, %v", got, err)
	}
}

func TestCreateFailsOnImagePull(t *testing.T) {
	f := newFakeAPI(t)
	p, err := NewWithClient(Config{Namespace: "sandboxes", Image: "missing:latest"}, f.restConfig(), nil, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Create(t.Context(), provider.Spec{SessionID: "sesn_1"})
	if err == nil || !strings.Contains(err.Error(), "ErrImagePull") {
		t.Errorf("Create = %v, want ErrImagePull", err)
	}
	if n := f.podCount(); n != 0 {
		t.Errorf("%d pods left after a failed Create", n)
	}
}

func readAll(t *testing.T, r interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// fakeCore is client-go's fake CoreV1 client over an object tracker; new pods run at once
// unless the test's reactors say otherwise.
func fakeCore(t *testing.T, objs ...runtime.Object) (*corev1fake.FakeCoreV1, clienttesting.ObjectTracker) {
	t.Helper()
	tracker := clienttesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())
	for _, o := range objs {
		if err := tracker.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	fk := &clienttesting.Fake{}
	fk.AddReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		a.(clienttesting.CreateAction).GetObject().(*corev1.Pod).Status.Phase = corev1.PodRunning
		return false, nil, nil
	})
	fk.AddReactor("*", "*", clienttesting.ObjectReaction(tracker))
	return &corev1fake.FakeCoreV1{Fake: fk}, tracker
}

func newFakeProvider(t *testing.T, c Config, core *corev1fake.FakeCoreV1) *Provider {
	t.Helper()
	if c.Namespace == "" {
		c.Namespace = "sandboxes"
	}
	p, err := NewWithClient(c, nil, core, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCreatePod(t *testing.T) {
	core, tracker := fakeCore(t)
	p := newFakeProvider(t, Config{Image: "ubuntu:24.04", User: "2000:3000", RuntimeClass: "gvisor", Limits: Limits{CPUs: 2}}, core)
	spec := provider.Spec{
		SessionID: "sesn_011CAbc", WorkDir: "/workspace", HomeDir: "/home/agent",
		Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"image":"node:22","memory_mb":512}`)},
		Mounts:      []provider.Mount{{Source: "/opt/cli", Target: "/opt/cli", ReadOnly: true}},
	}
	sb, err := p.Create(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var h handle
	if err := json.Unmarshal(sb.Handle(), &h); err != nil {
		t.Fatal(err)
	}
	if h.Namespace != "sandboxes" || h.Session != spec.SessionID || h.WorkDir != "/workspace" || h.HomeDir != "/home/agent" {
		t.Errorf("handle = %+v", h)
	}
	if !regexp.MustCompile(`^hangar-sesn-011cabc-[0-9a-f]{8}$`).MatchString(h.Pod) {
		t.Errorf("pod name %q", h.Pod)
	}
	obj, err := tracker.Get(corev1.SchemeGroupVersion.WithResource("pods"), "sandboxes", h.Pod)
	if err != nil {
		t.Fatal(err)
	}
	pod := obj.(*corev1.Pod)
	c := pod.Spec.Containers[0]
	sc := pod.Spec.SecurityContext
	checks := []struct {
		what string
		ok   bool
	}{
		{"environment image", c.Image == "node:22"},
		{"session label", pod.Labels[labelSession] == spec.SessionID && pod.Labels[labelManagedBy] == "hangar"},
		{"session annotation", pod.Annotations[annotSession] == spec.SessionID},
		{"memory limit from the environment", c.Resources.Limits.Memory().Equal(resource.MustParse("512Mi"))},
		{"cpu limit from the config", c.Resources.Limits.Cpu().Equal(resource.MustParse("2"))},
		{"user", *sc.RunAsUser == 2000 && *sc.RunAsGroup == 3000 && *sc.FSGroup == 3000 && *sc.RunAsNonRoot},
		{"no service account token", !*pod.Spec.AutomountServiceAccountToken},
		{"no privilege escalation", !*c.SecurityContext.AllowPrivilegeEscalation},
		{"runtime class", *pod.Spec.RuntimeClassName == "gvisor"},
		{"restart never", pod.Spec.RestartPolicy == corev1.RestartPolicyNever},
		{"four emptyDir volumes, host mount skipped", len(pod.Spec.Volumes) == 4 && pod.Spec.Volumes[0].EmptyDir != nil && pod.Spec.Volumes[3].EmptyDir != nil && len(c.VolumeMounts) == 4},
		{"mount paths", c.VolumeMounts[0].MountPath == "/workspace" && c.VolumeMounts[1].MountPath == "/home/agent" &&
			c.VolumeMounts[2].MountPath == "/mnt/session" && c.VolumeMounts[3].MountPath == "/mnt/memory"},
		{"pod label for its NetworkPolicy", pod.Labels[labelPod] == pod.Name},
		{"HOME", c.Env[0].Name == "HOME" && c.Env[0].Value == "/home/agent"},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("pod: %s wrong: %+v", ch.what, pod.Spec)
		}
	}

	// With host_path_mounts the mount becomes a read-only hostPath volume.
	p = newFakeProvider(t, Config{HostPathMounts: true}, core)
	sb, err = p.Create(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ns, name := sb.(*Sandbox).Pod()
	obj, _ = tracker.Get(corev1.SchemeGroupVersion.WithResource("pods"), ns, name)
	pod = obj.(*corev1.Pod)
	if v := pod.Spec.Volumes[4]; v.HostPath == nil || v.HostPath.Path != "/opt/cli" || !pod.Spec.Containers[0].VolumeMounts[4].ReadOnly {
		t.Errorf("host mount: %+v", pod.Spec.Volumes)
	}
}

func TestCreateErrors(t *testing.T) {
	tests := []struct {
		name string
		spec provider.Spec
		want hangar.Kind
	}{
		{"no session", provider.Spec{}, hangar.KindInvalidRequest},
		{"bad session", provider.Spec{SessionID: "a/b"}, hangar.KindInvalidRequest},
		{"limited networking", provider.Spec{SessionID: "s", Environment: hangar.EnvironmentConfig{Networking: &hangar.Networking{Type: "limited"}}}, hangar.KindInvalidRequest},
		{"unknown setting", provider.Spec{SessionID: "s", Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"pids":3}`)}}, hangar.KindInvalidRequest},
		{"negative memory", provider.Spec{SessionID: "s", Environment: hangar.EnvironmentConfig{Sandbox: json.RawMessage(`{"memory_mb":-1}`)}}, hangar.KindInvalidRequest},
		{"reserved work dir", provider.Spec{SessionID: "s", WorkDir: "/etc/x"}, hangar.KindInvalidRequest},
		{"overlapping home", provider.Spec{SessionID: "s", WorkDir: "/w", HomeDir: "/w/home"}, hangar.KindInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, tracker := fakeCore(t)
			p := newFakeProvider(t, Config{}, core)
			_, err := p.Create(t.Context(), tt.spec)
			if !hangar.IsKind(err, tt.want) {
				t.Errorf("Create = %v, want %s", err, tt.want)
			}
			if list, _ := tracker.List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), "sandboxes"); len(list.(*corev1.PodList).Items) != 0 {
				t.Error("a pod was created")
			}
		})
	}

	t.Run("api error", func(t *testing.T) {
		core, _ := fakeCore(t)
		core.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("quota exceeded")
		})
		_, err := newFakeProvider(t, Config{}, core).Create(t.Context(), provider.Spec{SessionID: "s"})
		if err == nil || !strings.Contains(err.Error(), "quota exceeded") {
			t.Errorf("Create = %v", err)
		}
	})

	t.Run("pod fails to start", func(t *testing.T) {
		core, tracker := fakeCore(t)
		core.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "InvalidImageName"}}}}}}, nil
		})
		_, err := newFakeProvider(t, Config{}, core).Create(t.Context(), provider.Spec{SessionID: "s"})
		if err == nil || !strings.Contains(err.Error(), "InvalidImageName") {
			t.Errorf("Create = %v", err)
		}
		if list, _ := tracker.List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), "sandboxes"); len(list.(*corev1.PodList).Items) != 0 {
			t.Error("the failed pod was not deleted")
		}
	})

	t.Run("exec without a client config", func(t *testing.T) {
		core, _ := fakeCore(t)
		sb, err := newFakeProvider(t, Config{}, core).Create(t.Context(), provider.Spec{SessionID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Exec(t.Context(), provider.ExecSpec{Args: []string{"true"}}); err == nil {
			t.Error("Exec without a rest config succeeded")
		}
		if _, err := sb.Exec(t.Context(), provider.ExecSpec{Args: []string{"true"}, Env: []string{"NOEQUALS"}}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("Exec with bad env = %v", err)
		}
	})
}

func TestRecoverAndDestroy(t *testing.T) {
	core, tracker := fakeCore(t)
	p := newFakeProvider(t, Config{}, core)
	sb, err := p.Create(t.Context(), provider.Spec{SessionID: "sesn_r"})
	if err != nil {
		t.Fatal(err)
	}
	h := sb.Handle()
	again, err := p.Recover(t.Context(), h)
	if err != nil || string(again.Handle()) != string(h) {
		t.Fatalf("Recover = %v, %v", again, err)
	}
	// Another Hangar instance, with its own provider value, recovers it from the handle.
	if _, err := newFakeProvider(t, Config{Namespace: "elsewhere"}, core).Recover(t.Context(), h); err != nil {
		t.Errorf("Recover from another provider: %v", err)
	}
	for _, raw := range []string{"", "{}", `{"pod":"x"}`, "not json"} {
		if _, err := p.Recover(t.Context(), provider.Handle(raw)); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("Recover(%q) = %v, want invalid_request_error", raw, err)
		}
	}

	ns, name := sb.(*Sandbox).Pod()
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	obj, _ := tracker.Get(gvr, ns, name)
	ended := obj.(*corev1.Pod).DeepCopy()
	ended.Status.Phase = corev1.PodFailed
	ended.Status.Reason = "Evicted"
	tracker.Update(gvr, ended, ns)
	if _, err := p.Recover(t.Context(), h); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an evicted pod = %v, want not_found_error", err)
	}

	if err := sb.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := tracker.Get(gvr, ns, name); err == nil {
		t.Error("pod still exists after Destroy")
	}
	if err := sb.Destroy(t.Context()); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
	if _, err := p.Recover(t.Context(), h); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found_error", err)
	}
	// A pod deleted behind the provider's back is already destroyed.
	sb2, _ := p.Create(t.Context(), provider.Spec{SessionID: "sesn_r"})
	ns2, name2 := sb2.(*Sandbox).Pod()
	if name2 == name {
		t.Error("a second Create reused the pod name")
	}
	core.Pods(ns2).Delete(t.Context(), name2, metav1.DeleteOptions{})
	if err := sb2.Destroy(t.Context()); err != nil {
		t.Errorf("Destroy of a deleted pod: %v", err)
	}
}

func TestCheck(t *testing.T) {
	core, _ := fakeCore(t)
	p := newFakeProvider(t, Config{}, core)
	if err := p.Check(t.Context()); err != nil {
		t.Errorf("Check = %v", err)
	}
	core.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("pods is forbidden")
	})
	if err := p.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("Check = %v, want the API error", err)
	}
}

func TestPodName(t *testing.T) {
	dns := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	for _, s := range []string{"sesn_011CAbcDEF", "x", "__", strings.Repeat("Z", 100), "a.b-c_d"} {
		n := podName(s)
		if !dns.MatchString(n) || len(n) > 63 {
			t.Errorf("podName(%q) = %q, not a DNS-1123 label", s, n)
		}
		if podName(s) == n {
			t.Errorf("podName(%q) is not unique", s)
		}
	}
}

func TestNewFromKubeconfig(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://k8s.example:6443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: agents}
current-context: ctx
`), 0o600)
	p, err := New(json.RawMessage(`{"kubeconfig":"`+kc+`"}`), provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if p.namespace != "agents" || p.rest.Host != "https://k8s.example:6443" || p.image != DefaultImage || p.uid != 1000 {
		t.Errorf("provider = ns %q host %q image %q uid %d", p.namespace, p.rest.Host, p.image, p.uid)
	}
	for _, cfg := range []string{`{"kubeconfig":"` + kc + `","bogus":1}`, `{"kubeconfig":"/nonexistent"}`, `{"kubeconfig":"` + kc + `","user":"root"}`, `{"kubeconfig":"` + kc + `","start_timeout":"-1s"}`} {
		if _, err := New(json.RawMessage(cfg), provider.Deps{}); err == nil {
			t.Errorf("New(%s) succeeded", cfg)
		}
	}
}
