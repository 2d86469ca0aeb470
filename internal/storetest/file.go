package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

func newFile(name string, scope string, at time.Time) *hangar.File {
	f := &hangar.File{
		Type:         "file",
		ID:           hangar.NewID(hangar.PrefixFile),
		Filename:     name,
		MimeType:     "text/plain",
		SizeBytes:    int64(len(name)),
		CreatedAt:    at,
		Downloadable: true,
		SHA256:       fmt.Sprintf("%064x", len(name)),
	}
	if scope != "" {
		f.Scope = &hangar.FileScope{Type: "session", ID: scope}
	}
	return f
}

func testFiles(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	var all []*hangar.File
	for i := range 45 {
		scope := ""
		if i%2 == 1 {
			scope = "sesn_a"
		}
		f := newFile(fmt.Sprintf("f%02d.txt", i), scope, clk.Now())
		must(t, st.CreateFile(ctx, f))
		all = append(all, f)
	}

	t.Run("get", func(t *testing.T) {
		for _, f := range all[:2] {
			got, err := st.GetFile(ctx, f.ID)
			must(t, err)
			if d := diff(f, got); d != "" {
				t.Errorf("GetFile (-want +got):\n%s", d)
			}
		}
		wantKind(t, "CreateFile(same ID)", st.CreateFile(ctx, all[0]), hangar.KindConflict)
	})
	t.Run("not found", func(t *testing.T) {
		_, err := st.GetFile(ctx, "file_missing")
		wantKind(t, "GetFile", err, hangar.KindNotFound)
		wantKind(t, "DeleteFile", st.DeleteFile(ctx, "file_missing"), hangar.KindNotFound)
	})

	ids := func(keep func(i int) bool) []string {
		var out []string
		for i, f := range all {
			if keep(i) {
				out = append(out, f.ID)
			}
		}
		return out
	}
	picked := []string{all[3].ID, all[4].ID, all[40].ID, "file_missing"}
	for _, tc := range []struct {
		name string
		f    hangar.FileFilter
		keep func(i int) bool
	}{
		{"all", hangar.FileFilter{}, func(int) bool { return true }},
		{"scope", hangar.FileFilter{ScopeID: "sesn_a"}, func(i int) bool { return i%2 == 1 }},
		{"ids", hangar.FileFilter{IDs: picked}, func(i int) bool { return i == 3 || i == 4 || i == 40 }},
		{"scope and ids", hangar.FileFilter{ScopeID: "sesn_a", IDs: picked}, func(i int) bool { return i == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := ids(tc.keep)
			pg := pager[*hangar.File]{
				list: func(p hangar.Page) ([]*hangar.File, hangar.PageResult, error) {
					f := tc.f
					f.Page = p
					return st.ListFiles(ctx, f)
				},
				id: func(f *hangar.File) string { return f.ID },
			}
			checkPaging(t, pg, want, 20, false)
			checkPaging(t, pg, reversed(want), 20, true)
		})
	}
	t.Run("list returns full files", func(t *testing.T) {
		got, _, err := st.ListFiles(ctx, hangar.FileFilter{Page: hangar.Page{Limit: 2}})
		must(t, err)
		if d := diff(all[:2], got); d != "" {
			t.Errorf("ListFiles (-want +got):\n%s", d)
		}
	})
	t.Run("delete", func(t *testing.T) {
		must(t, st.DeleteFile(ctx, all[44].ID))
		_, err := st.GetFile(ctx, all[44].ID)
		wantKind(t, "GetFile(deleted)", err, hangar.KindNotFound)
		wantKind(t, "DeleteFile(twice)", st.DeleteFile(ctx, all[44].ID), hangar.KindNotFound)
	})
}
