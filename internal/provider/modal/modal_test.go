package modal_test

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
	"github.com/hangar-dev/hangar/internal/provider/cloudtest"
	"github.com/hangar-dev/hangar/internal/provider/modal"
	"github.com/hangar-dev/hangar/internal/provider/modal/modaltest"
	"github.com/hangar-dev/hangar/internal/provider/providertest"
)

func newProvider(t testing.TB, f *modaltest.Server) *modal.Provider {
	t.Helper()
	if why := cloudtest.Bwrap(); why != "" {
		t.Skip("the Modal fake runs commands in bubblewrap: " + why)
	}
	p, err := modal.NewProvider(modal.Config{TokenID: f.TokenID, TokenSecret: f.TokenSecret, ServerURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func create(t *testing.T, p *modal.Provider, spec provider.Spec) provider.Sandbox {
	t.Helper()
	if spec.SessionID == "" {
		spec.SessionID = hangar.NewID(hangar.PrefixSession)
	}
	sb, err := p.Create(ctx(t), spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { sb.Destroy(context.Background()) })
	return sb
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) provider.Provider { return newProvider(t, modaltest.New(t)) })
}

func TestExec(t *testing.T) {
	cloudtest.RunExec(t, true, func(t *testing.T) provider.Provider { return newProvider(t, modaltest.New(t)) })
}

func TestFactory(t *testing.T) {
	if _, err := modal.New(nil, provider.Deps{}); err == nil || !strings.Contains(err.Error(), "MODAL_TOKEN_ID") {
		t.Errorf("New without a token = %v, want an error naming MODAL_TOKEN_ID", err)
	}
	if _, err := modal.New([]byte(`{"token_id":"a","token_secret":"b","nope":1}`), provider.Deps{}); err == nil {
		t.Error("New accepted an unknown field")
	}
	if _, err := modal.New([]byte(`{"token_id":"a","token_secret":"b","server_url":"ftp://x"}`), provider.Deps{}); err == nil {
		t.Error("New accepted an ftp server URL")
	}
	p, err := modal.New([]byte(`{"token_id":"a","token_secret":"b","image":"python:3.13"}`), provider.Deps{})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	if c := p.Capabilities(); c.BufferedStdin || !c.Remote || !c.Recover || !c.Files {
		t.Errorf("capabilities = %+v", c)
	}
}

// TestNetworkPolicy: "limited" maps to block_network or a CIDR allowlist; a domain,
// which Modal's allowlist cannot take, is refused before anything is created.
func TestNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		net   *hangar.Networking
		block bool
		cidrs []string // nil: no network_access
		bad   bool
	}{
		{"none", nil, false, nil, false},
		{"unrestricted", &hangar.Networking{Type: "unrestricted", AllowedHosts: []string{"example.com"}}, false, nil, false},
		{"limited without hosts", &hangar.Networking{Type: "limited"}, true, nil, false},
		{"limited with CIDRs and IPs", &hangar.Networking{Type: "limited", AllowedHosts: []string{"10.1.2.3/8", "1.2.3.4", "2001:db8::1"}},
			false, []string{"10.0.0.0/8", "1.2.3.4/32", "2001:db8::1/128"}, false},
		{"limited with a domain", &hangar.Networking{Type: "limited", AllowedHosts: []string{"10.0.0.0/8", "api.github.com"}}, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := modaltest.New(t)
			p := newProvider(t, f)
			sb, err := p.Create(ctx(t), provider.Spec{SessionID: "sesn_1", Environment: hangar.EnvironmentConfig{Networking: tc.net}})
			if tc.bad {
				if !hangar.IsKind(err, hangar.KindInvalidRequest) || !strings.Contains(err.Error(), "api.github.com") {
					t.Errorf("Create = %v, want an invalid_request_error naming the domain", err)
				}
				if n := len(f.Created()); n != 0 {
					t.Errorf("%d sandboxes created", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sb.Destroy(context.Background())
			def := f.Created()[0].Definition
			var cidrs []string
			if na := def.NetworkAccess; na != nil {
				cidrs = na.AllowedCidrs
				if na.NetworkAccessType.String() != "ALLOWLIST" {
					t.Errorf("network_access_type = %s", na.NetworkAccessType)
				}
			}
			if def.BlockNetwork != tc.block || !slices.Equal(cidrs, tc.cidrs) {
				t.Errorf("block_network %v, allowed_cidrs %q; want %v, %q", def.BlockNetwork, cidrs, tc.block, tc.cidrs)
			}
		})
	}
}

// TestSettings: the environment's sandbox settings override the provider's image,
// resources and timeout; the image is built once per tag and provider.
func TestSettings(t *testing.T) {
	f := modaltest.New(t)
	p := newProvider(t, f)
	create(t, p, provider.Spec{})
	create(t, p, provider.Spec{Environment: hangar.EnvironmentConfig{
		Sandbox: []byte(`{"image":"python:3.13-slim","memory_mb":2048,"cpus":1.5,"timeout_seconds":600}`)}})
	create(t, p, provider.Spec{})
	reqs := f.Created()
	if d := reqs[0].Definition; d.TimeoutSecs != modal.DefaultTimeout || d.Resources != nil || !slices.Equal(d.EntrypointArgs, []string{"sleep", "infinity"}) {
		t.Errorf("default definition = %v", d)
	}
	if d := reqs[1].Definition; d.TimeoutSecs != 600 || d.Resources.GetMemoryMb() != 2048 || d.Resources.GetMilliCpu() != 1500 || d.ImageId == reqs[0].Definition.ImageId {
		t.Errorf("definition with settings = %v", d)
	}
	if reqs[2].Definition.ImageId != reqs[0].Definition.ImageId {
		t.Error("the default image got two IDs")
	}
	calls := f.Calls()
	if calls["ImageGetOrCreate"] != 2 || calls["ImageJoinStreaming"] != 2 || calls["AppGetOrCreate"] != 1 {
		t.Errorf("calls = %v, want 2 image lookups and builds, 1 app lookup", calls)
	}
	for _, bad := range []string{`{"gpu":"H100"}`, `{"memory_mb":-1}`, `{"timeout_seconds":100000}`} {
		_, err := p.Create(ctx(t), provider.Spec{SessionID: "sesn_x", Environment: hangar.EnvironmentConfig{Sandbox: []byte(bad)}})
		if !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("settings %s: Create = %v, want invalid_request_error", bad, err)
		}
	}
}

func TestErrors(t *testing.T) {
	f := modaltest.New(t)
	bad, err := modal.NewProvider(modal.Config{TokenID: f.TokenID, TokenSecret: "wrong", ServerURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if cloudtest.Bwrap() != "" {
		t.Skip("bubblewrap missing")
	}
	_, err = bad.Create(ctx(t), provider.Spec{SessionID: "sesn_1"})
	if !hangar.IsKind(err, hangar.KindInternal) || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("Create with a rejected token = %v, want an api_error saying authentication failed", err)
	}
	if err := bad.Check(ctx(t)); err == nil || !strings.Contains(err.Error(), "MODAL_TOKEN_SECRET") {
		t.Errorf("Check with a rejected token = %v", err)
	}
	p := newProvider(t, f)
	if err := p.Check(ctx(t)); err != nil {
		t.Errorf("Check = %v", err)
	}
	var _ provider.Checker = p
	if _, err := p.Recover(ctx(t), provider.Handle(`{"id":"sb-gone"}`)); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover of an unknown sandbox = %v, want not_found", err)
	}
	if _, err := p.Recover(ctx(t), provider.Handle(`junk`)); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("Recover of a malformed handle = %v, want invalid_request", err)
	}
	sb := create(t, p, provider.Spec{WorkDir: "/w"})
	if err := sb.Destroy(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if f.Running() != 0 {
		t.Errorf("%d sandboxes still running after Destroy", f.Running())
	}
	if _, err := p.Recover(ctx(t), sb.Handle()); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Recover after Destroy = %v, want not_found", err)
	}
	if _, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"true"}}); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Exec after Destroy = %v, want not_found", err)
	}
	// A sandbox terminated behind the provider's back: its commands fail as not_found.
	sb2 := create(t, p, provider.Spec{})
	again, err := p.Recover(ctx(t), sb2.Handle())
	if err != nil {
		t.Fatal(err)
	}
	again.Destroy(ctx(t))
	if _, err := sb2.Exec(ctx(t), provider.ExecSpec{Args: []string{"true"}}); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("Exec in a sandbox terminated elsewhere = %v, want not_found", err)
	}
}

// TestBinaryFiles: files and output are raw bytes end to end (get_raw_bytes).
func TestBinaryFiles(t *testing.T) {
	p := newProvider(t, modaltest.New(t))
	sb := create(t, p, provider.Spec{WorkDir: "/workspace"})
	data := make([]byte, 3<<20) // several stdin messages and output batches
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := sb.PutFile(ctx(t), "bin/blob", data, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := sb.GetFile(ctx(t), "/workspace/bin/blob")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetFile = %d bytes, %v; want the %d bytes written", len(got), err, len(data))
	}
	out := run(t, sb, "sh", "-c", "stat -c %a /workspace/bin/blob")
	if out != "755\n" {
		t.Errorf("mode = %q, want 755", out)
	}
}

// TestSignal: a graceful signal reaches the command (SIGTERM), which can clean up.
func TestSignal(t *testing.T) {
	p := newProvider(t, modaltest.New(t))
	sb := create(t, p, provider.Spec{})
	proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c", `trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done`}})
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, proc.Stderr())
	buf := make([]byte, 6)
	if _, err := io.ReadFull(proc.Stdout(), buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := proc.Signal(false); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(proc.Stdout())
	if code, err := proc.Wait(); code != 7 || err != nil || string(rest) != "bye\n" {
		t.Errorf("after SIGTERM: exit %d (%v), output %q; want 7, %q", code, err, rest, "bye\n")
	}
}

// TestStop: Stop ends running commands and keeps the sandbox usable after Recover.
func TestStop(t *testing.T) {
	p := newProvider(t, modaltest.New(t))
	sb := create(t, p, provider.Spec{})
	proc, err := sb.Exec(ctx(t), provider.ExecSpec{Args: []string{"sh", "-c", "echo up; exec sleep 600"}})
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, proc.Stderr())
	buf := make([]byte, 3)
	if _, err := io.ReadFull(proc.Stdout(), buf); err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if code, _ := proc.Wait(); code == 0 {
		t.Errorf("a stopped command exited 0")
	}
	again, err := p.Recover(ctx(t), sb.Handle())
	if err != nil {
		t.Fatal(err)
	}
	if out := run(t, again, "echo", "back"); out != "back\n" {
		t.Errorf("after Stop and Recover: %q", out)
	}
	// Only running commands have PID files (at most this one's own, depending on when
	// its wrapper writes it), so Stop cannot hit a PID reused after a command ended.
	if out := strings.TrimSpace(run(t, again, "sh", "-c", "ls /tmp/.hangar-exec | wc -l")); out != "0" && out != "1" {
		t.Errorf("%s PID files left, want at most 1 (the ls's own)", out)
	}
}

func TestList(t *testing.T) {
	p := newProvider(t, modaltest.New(t))
	a := create(t, p, provider.Spec{SessionID: "sesn_a"})
	create(t, p, provider.Spec{SessionID: "sesn_b"})
	all, err := p.List(ctx(t), "")
	if err != nil || len(all) != 2 {
		t.Fatalf("List = %v, %v; want 2 sandboxes", all, err)
	}
	ids, err := p.List(ctx(t), "sesn_a")
	if err != nil || len(ids) != 1 || !strings.Contains(string(a.Handle()), ids[0]) {
		t.Errorf("List(sesn_a) = %v, %v; want the handle %s", ids, err, a.Handle())
	}
	a.Destroy(ctx(t))
	if ids, _ := p.List(ctx(t), "sesn_a"); len(ids) != 0 {
		t.Errorf("List after Destroy = %v", ids)
	}
}

// TestLongPollRejoin: output and exec waits are long polls; when one ends before the
// command does, the client joins again from the last batch it saw, losing and
// repeating nothing.
func TestLongPollRejoin(t *testing.T) {
	f := modaltest.New(t)
	f.MaxPoll = 20 * time.Millisecond
	p := newProvider(t, f)
	sb := create(t, p, provider.Spec{})
	out := run(t, sb, "sh", "-c", "for i in 1 2 3 4 5; do echo $i; echo e$i >&2; sleep 0.1; done")
	if out != "1\n2\n3\n4\n5\n" {
		t.Errorf("output = %q", out)
	}
	if n := f.Calls()["ContainerExecGetOutput"]; n < 6 {
		t.Errorf("%d ContainerExecGetOutput calls for two streams cut every 20 ms over 0.5 s", n)
	}
}

// TestClientHeaders: Hangar presents itself as the Python SDK (client type 1) at the
// configured version.
func TestClientHeaders(t *testing.T) {
	f := modaltest.New(t)
	p := newProvider(t, f)
	if err := p.Check(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if typ, v := f.Client(); typ != "1" || v != modal.DefaultClientVersion {
		t.Errorf("client type %q, version %q", typ, v)
	}
	q, err := modal.NewProvider(modal.Config{TokenID: f.TokenID, TokenSecret: f.TokenSecret, ServerURL: f.URL, ClientVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Check(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, v := f.Client(); v != "1.2.3" {
		t.Errorf("client version %q, want the configured 1.2.3", v)
	}
}

func run(t *testing.T, sb provider.Sandbox, args ...string) string {
	t.Helper()
	p, err := sb.Exec(ctx(t), provider.ExecSpec{Args: args})
	if err != nil {
		t.Fatal(err)
	}
	p.Stdin().Close()
	go io.Copy(io.Discard, p.Stderr())
	out, err := io.ReadAll(p.Stdout())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// BenchmarkCreateExecDestroy: one session's sandbox life against the fake over loopback
// gRPC: create (tag, task, directories), one command, destroy.
func BenchmarkCreateExecDestroy(b *testing.B) {
	f := modaltest.New(b)
	p := newProvider(b, f)
	c := context.Background()
	for b.Loop() {
		sb, err := p.Create(c, provider.Spec{SessionID: "sesn_bench", WorkDir: "/workspace", HomeDir: "/home/agent"})
		if err != nil {
			b.Fatal(err)
		}
		proc, err := sb.Exec(c, provider.ExecSpec{Args: []string{"echo", "hi"}})
		if err != nil {
			b.Fatal(err)
		}
		proc.Stdin().Close()
		if out, _ := io.ReadAll(proc.Stdout()); string(out) != "hi\n" {
			b.Fatalf("output %q", out)
		}
		if err := sb.Destroy(c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExec: one command in a running sandbox.
func BenchmarkExec(b *testing.B) {
	p := newProvider(b, modaltest.New(b))
	c := context.Background()
	sb, err := p.Create(c, provider.Spec{SessionID: "sesn_bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Destroy(c)
	for b.Loop() {
		proc, err := sb.Exec(c, provider.ExecSpec{Args: []string{"true"}})
		if err != nil {
			b.Fatal(err)
		}
		proc.Stdin().Close()
		if code, err := proc.Wait(); code != 0 || err != nil {
			b.Fatal(code, err)
		}
	}
}
