package kubernetes

import (
	"context"
	"testing"

	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/provider"
)

// TestSessionContentDirs checks that the runner can copy session content into a pod (the
// provider is Remote: no host mounts): /mnt/session and /mnt/memory are writable emptyDir
// volumes that PutFile and GetFile accept and the agent's user can write, while other
// paths outside the work dir and home stay refused, and the work dir may not overlap them.
func TestSessionContentDirs(t *testing.T) {
	if why := bwrapUsable(); why != "" {
		t.Skip(why)
	}
	f := newFakeAPI(t)
	p, err := NewWithClient(Config{Namespace: "sandboxes"}, f.restConfig(), nil, provider.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sb, err := p.Create(ctx, provider.Spec{SessionID: "sesn_C1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(context.Background())
	for _, p := range []string{"/mnt/session/uploads/data.txt", "/mnt/memory/notes/a/b.md"} {
		if err := sb.PutFile(ctx, p, []byte("x:"+p), 0o444); err != nil {
			t.Fatalf("PutFile %s: %v", p, err)
		}
		if got, err := sb.GetFile(ctx, p); err != nil || string(got) != "x:"+p {
			t.Errorf("GetFile %s = %q, %v", p, got, err)
		}
	}
	pr, err := sb.Exec(ctx, provider.ExecSpec{Args: []string{"sh", "-c", "mkdir -p /mnt/session/outputs && echo hi > /mnt/session/outputs/r.txt && cat /mnt/session/outputs/r.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	pr.Stdin().Close()
	if out := readAll(t, pr.Stdout()); out != "hi\n" {
		t.Errorf("agent write under /mnt/session = %q", out)
	}
	for _, bad := range []string{"/mnt/session", "/mnt/other/x", "/mnt/sessionx/y"} {
		if err := sb.PutFile(ctx, bad, nil, 0o644); !hangar.IsKind(err, hangar.KindInvalidRequest) {
			t.Errorf("PutFile %s = %v, want invalid_request_error", bad, err)
		}
	}
	if _, err := p.Create(ctx, provider.Spec{SessionID: "sesn_C2", WorkDir: "/mnt/session/work"}); !hangar.IsKind(err, hangar.KindInvalidRequest) {
		t.Errorf("work dir under /mnt/session = %v, want invalid_request_error", err)
	}
}
