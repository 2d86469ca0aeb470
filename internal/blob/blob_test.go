package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
	"github.com/hangar-dev/hangar/internal/blob"
)

func newDir(t *testing.T) (*blob.Dir, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "files")
	d, err := blob.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d, root
}

func TestPutOpenDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"text", []byte("hello, hangar\n")},
		{"binary", bytes.Repeat([]byte{0, 1, 2, 0xff}, 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, _ := newDir(t)
			id := hangar.NewID(hangar.PrefixFile)
			size, sum, err := d.Put(ctx, id, bytes.NewReader(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256(tc.content)
			if size != int64(len(tc.content)) || sum != hex.EncodeToString(want[:]) {
				t.Errorf("Put = %d, %s; want %d, %x", size, sum, len(tc.content), want)
			}
			rc, err := d.Open(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.content, got, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Errorf("content (-want +got):\n%s", diff)
			}
			if _, ok := rc.(io.ReadSeeker); !ok {
				t.Errorf("Open returned %T, want an io.ReadSeeker", rc)
			}
			if err := d.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Open(ctx, id); !hangar.IsKind(err, hangar.KindNotFound) {
				t.Errorf("Open after Delete: err = %v, want not_found", err)
			}
			if err := d.Delete(ctx, id); !hangar.IsKind(err, hangar.KindNotFound) {
				t.Errorf("second Delete: err = %v, want not_found", err)
			}
		})
	}
}

func TestPutReplaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, _ := newDir(t)
	for _, s := range []string{"first version", "second"} {
		if _, _, err := d.Put(ctx, "file_x", bytes.NewReader([]byte(s))); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := d.Open(ctx, "file_x")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if string(got) != "second" {
		t.Errorf("content = %q, want %q", got, "second")
	}
}

func TestMissing(t *testing.T) {
	t.Parallel()
	d, _ := newDir(t)
	_, err := d.Open(context.Background(), "file_missing")
	var he *hangar.Error
	if !errors.As(err, &he) || he.Kind != hangar.KindNotFound {
		t.Fatalf("Open(missing) err = %v, want not_found", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, root := newDir(t)
	secret := filepath.Join(filepath.Dir(root), "secret")
	if err := os.WriteFile(secret, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../secret", "..", ".", "a/b", `a\b`, "/etc/passwd", ".tmp-123", "file x", "file\x00"} {
		t.Run(id, func(t *testing.T) {
			if _, _, err := d.Put(ctx, id, bytes.NewReader([]byte("x"))); !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Put(%q) err = %v, want invalid_request", id, err)
			}
			if _, err := d.Open(ctx, id); !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Open(%q) err = %v, want invalid_request", id, err)
			}
			if err := d.Delete(ctx, id); !hangar.IsKind(err, hangar.KindInvalidRequest) {
				t.Errorf("Delete(%q) err = %v, want invalid_request", id, err)
			}
		})
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the blob dir was touched: %v", err)
	}
}

// errReader fails after yielding some bytes.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("boom")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestPutFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, root := newDir(t)
	if _, _, err := d.Put(ctx, "file_bad", &errReader{n: 1000}); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := d.Put(cctx, "file_cancelled", bytes.NewReader([]byte("x"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with cancelled ctx err = %v, want context.Canceled", err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("blob dir holds %d entries after failed puts, want 0", len(entries))
	}
}
