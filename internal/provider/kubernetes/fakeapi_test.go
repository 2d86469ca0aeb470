package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/coder/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// fakeAPI is a protocol-level fake of the Kubernetes API server: enough of the REST API
// for pods (create, get, delete) and the pods/exec subresource over WebSocket
// (v5.channel.k8s.io and v4.channel.k8s.io), so the provider runs its real client-go code
// path. A pod is a directory on the host; exec runs the command for real under bwrap, with
// the pod's emptyDir volumes and its own /tmp bound at their paths and the host's
// filesystem read-only around them.
type fakeAPI struct {
	t    *testing.T
	root string
	srv  *httptest.Server

	mu          sync.Mutex
	pods        map[string]*fakePod // "ns/name"
	pendingGets int                 // GETs during which a new pod stays Pending
	protocols   map[string]int      // negotiated exec subprotocols
	uid         int

	agentSandbox // the agent-sandbox CRDs and controllers (fakeclaims_test.go)
	netpols      // NetworkPolicies and their garbage collection (fakenetpol_test.go)
}

type fakePod struct {
	pod   corev1.Pod
	dir   string
	gets  int
	binds map[string]string // mount path -> host dir
	procs map[*exec.Cmd]struct{}
}

// bwrapUsable reports why the fake cannot run commands, "" when it can.
func bwrapUsable() string {
	bw, err := exec.LookPath("bwrap")
	if err != nil {
		return "bwrap is not installed (scripts/install-test-deps installs it)"
	}
	if out, err := exec.Command(bw, "--ro-bind", "/", "/", "--", "true").CombinedOutput(); err != nil {
		return fmt.Sprintf("bwrap does not work here: %v %s", err, out)
	}
	return ""
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, root: t.TempDir(), pods: map[string]*fakePod{}, pendingGets: 1, protocols: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/pods", f.create)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}", f.get)
	mux.HandleFunc("DELETE /api/v1/namespaces/{ns}/pods/{name}", f.delete)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}/exec", f.exec)
	f.serveAgentSandbox(mux)
	f.serveNetworkPolicies(mux)
	f.serveLists(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range f.pods {
			p.kill()
		}
	})
	return f
}

func (f *fakeAPI) restConfig() *rest.Config { return &rest.Config{Host: f.srv.URL} }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeStatus writes a failure metav1.Status, as the API server does.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, name, msg string) {
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
		Details: &metav1.StatusDetails{Name: name, Kind: "pods"},
	})
}

func (f *fakeAPI) create(w http.ResponseWriter, r *http.Request) {
	var pod corev1.Pod
	if err := json.NewDecoder(r.Body).Decode(&pod); err != nil {
		writeStatus(w, 400, metav1.StatusReasonBadRequest, "", err.Error())
		return
	}
	ns := r.PathValue("ns")
	if pod.Namespace != "" && pod.Namespace != ns {
		writeStatus(w, 400, metav1.StatusReasonBadRequest, pod.Name, "the namespace of the object does not match the namespace on the request")
		return
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image == "" {
		writeStatus(w, 422, metav1.StatusReasonInvalid, pod.Name, "spec.containers: one container with an image expected")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pods[ns+"/"+pod.Name]; ok {
		writeStatus(w, 409, metav1.StatusReasonAlreadyExists, pod.Name, fmt.Sprintf("pods %q already exists", pod.Name))
		return
	}
	if err := f.addPod(ns, &pod); err != nil {
		writeStatus(w, 500, metav1.StatusReasonInternalError, pod.Name, err.Error())
		return
	}
	writeJSON(w, 201, pod)
}

// addPod stores a new pod (f.mu held), with a directory per emptyDir volume.
func (f *fakeAPI) addPod(ns string, pod *corev1.Pod) error {
	f.uid++
	pod.Namespace = ns
	pod.UID = types.UID(strconv.Itoa(f.uid))
	pod.CreationTimestamp = metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	fp := &fakePod{pod: *pod, dir: filepath.Join(f.root, ns+"_"+pod.Name), binds: map[string]string{}, procs: map[*exec.Cmd]struct{}{}}
	vols := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v.EmptyDir != nil
	}
	for _, m := range append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}) {
		if m.Name != "tmp" && !vols[m.Name] {
			continue // only emptyDir volumes are emulated
		}
		dir := filepath.Join(fp.dir, m.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		fp.binds[m.MountPath] = dir
	}
	f.pods[ns+"/"+pod.Name] = fp
	return nil
}

func (f *fakeAPI) lookup(w http.ResponseWriter, r *http.Request) *fakePod {
	p := f.pods[r.PathValue("ns")+"/"+r.PathValue("name")]
	if p == nil {
		writeStatus(w, 404, metav1.StatusReasonNotFound, r.PathValue("name"), fmt.Sprintf("pods %q not found", r.PathValue("name")))
	}
	return p
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.lookup(w, r)
	if p == nil {
		return
	}
	// The kubelet starts the pod after a few polls; an image named "missing:..." cannot
	// be pulled.
	p.gets++
	if p.pod.Status.Phase == corev1.PodPending && p.gets > f.pendingGets {
		c := p.pod.Spec.Containers[0]
		if strings.HasPrefix(c.Image, "missing:") {
			p.pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pull access denied for " + c.Image}}}}
		} else {
			p.pod.Status.Phase = corev1.PodRunning
			p.pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Ready: true, State: corev1.ContainerState{
				Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		}
	}
	writeJSON(w, 200, p.pod)
}

func (f *fakeAPI) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.lookup(w, r)
	if p == nil {
		return
	}
	p.kill()
	delete(f.pods, r.PathValue("ns")+"/"+r.PathValue("name"))
	f.collectOwned(p.pod.UID)
	os.RemoveAll(p.dir)
	writeJSON(w, 200, p.pod)
}

// kill ends the pod's processes (their process groups); f.mu is held.
func (p *fakePod) kill() {
	for c := range p.procs {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

func (f *fakeAPI) podCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pods)
}

// Channel numbers of the remote command protocols.
const (
	chStdin  = 0
	chStdout = 1
	chStderr = 2
	chError  = 3
	chClose  = 255 // v5: half-close a stream
)

// exec serves pods/exec: it upgrades to WebSocket, runs the command and multiplexes its
// streams, then writes the exit status (a metav1.Status) on the error channel and closes
// the connection normally.
func (f *fakeAPI) exec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	p := f.lookup(w, r)
	if p == nil {
		f.mu.Unlock()
		return
	}
	if p.pod.Status.Phase != corev1.PodRunning {
		f.mu.Unlock()
		writeStatus(w, 400, metav1.StatusReasonBadRequest, p.pod.Name, "pod is not running")
		return
	}
	c := p.pod.Spec.Containers[0]
	if q.Get("container") != c.Name || len(q["command"]) == 0 {
		f.mu.Unlock()
		writeStatus(w, 400, metav1.StatusReasonBadRequest, p.pod.Name, "bad container or command")
		return
	}
	cmd := bwrapCommand(p, c, q["command"])
	f.mu.Unlock()

	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"v5.channel.k8s.io", "v4.channel.k8s.io"}})
	if err != nil {
		return
	}
	conn.SetReadLimit(-1)
	proto := conn.Subprotocol()
	f.mu.Lock()
	f.protocols[proto]++
	f.mu.Unlock()
	if proto == "" {
		conn.Close(websocket.StatusProtocolError, "no channel protocol")
		return
	}
	ctx := context.Background()
	send := func(ch byte, b []byte) error {
		return conn.Write(ctx, websocket.MessageBinary, append([]byte{ch}, b...))
	}
	// Like the API server, announce the connection with an empty stdout message.
	send(chStdout, nil)

	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b, _ := json.Marshal(metav1.Status{Status: metav1.StatusFailure, Message: err.Error()})
		send(chError, b)
		conn.Close(websocket.StatusNormalClosure, "")
		return
	}
	f.mu.Lock()
	p.procs[cmd] = struct{}{}
	f.mu.Unlock()
	go func() {
		defer stdin.Close()
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				return
			}
			switch {
			case len(msg) == 0:
			case msg[0] == chStdin:
				stdin.Write(msg[1:]) // an error means the process no longer reads stdin: drop the data
			case msg[0] == chClose && len(msg) == 2 && msg[1] == chStdin && proto == "v5.channel.k8s.io":
				stdin.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	pump := func(ch byte, r io.Reader) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				send(ch, buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump(chStdout, stdout)
	go pump(chStderr, stderr)
	wg.Wait()
	werr := cmd.Wait()
	f.mu.Lock()
	delete(p.procs, cmd)
	f.mu.Unlock()
	send(chError, exitStatus(werr))
	conn.Close(websocket.StatusNormalClosure, "")
}

// exitStatus is the error channel's message for a command's end (v4 and later).
func exitStatus(err error) []byte {
	st := metav1.Status{Status: metav1.StatusSuccess}
	if err != nil {
		code := 1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ws := ee.Sys().(syscall.WaitStatus)
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		st = metav1.Status{
			Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", err),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}},
		}
	}
	b, _ := json.Marshal(st)
	return b
}

// bwrapCommand runs argv as the pod's container would: the host's top-level directories
// read-only, the pod's volumes and /tmp writable at their paths, the container's
// environment and working directory. There is no pid namespace, so the provider's pid
// files hold host pids and its kill execs reach them.
func bwrapCommand(p *fakePod, c corev1.Container, argv []string) *exec.Cmd {
	args := []string{"--die-with-parent", "--ro-bind", "/proc", "/proc", "--dev-bind", "/dev", "/dev"}
	top := map[string]bool{"proc": true, "dev": true, "tmp": true}
	for target := range p.binds {
		top[strings.Split(strings.TrimPrefix(target, "/"), "/")[0]] = true
	}
	entries, _ := os.ReadDir("/")
	for _, e := range entries {
		if top[e.Name()] {
			continue
		}
		src := "/" + e.Name()
		if e.Type()&os.ModeSymlink != 0 {
			dst, err := os.Readlink(src)
			if err == nil {
				args = append(args, "--symlink", dst, src)
			}
			continue
		}
		args = append(args, "--ro-bind", src, src)
	}
	targets := make([]string, 0, len(p.binds))
	for target := range p.binds {
		targets = append(targets, target)
	}
	// Parents before children.
	for i := range targets {
		for j := i + 1; j < len(targets); j++ {
			if len(targets[j]) < len(targets[i]) {
				targets[i], targets[j] = targets[j], targets[i]
			}
		}
	}
	for _, target := range targets {
		args = append(args, "--bind", p.binds[target], path.Clean(target))
	}
	if c.WorkingDir != "" {
		args = append(args, "--chdir", c.WorkingDir)
	}
	cmd := exec.Command("bwrap", append(append(args, "--"), argv...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, e := range c.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}
