package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/hangar-dev/hangar"
)

func memWrite(storeID, op, memID, path string, content *string, clk *clock) hangar.MemoryWrite {
	at := clk.Now()
	m := hangar.Memory{Type: "memory", Path: path, Content: content, CreatedAt: at, UpdatedAt: at}
	if op == hangar.MemoryCreated {
		m.ID = hangar.NewID(hangar.PrefixMemory)
	}
	if content != nil {
		sum := sha256.Sum256([]byte(*content))
		m.ContentSHA256, m.ContentSizeBytes = hex.EncodeToString(sum[:]), int64(len(*content))
	}
	return hangar.MemoryWrite{StoreID: storeID, Operation: op, MemoryID: memID, Memory: m,
		Version: hangar.MemoryVersion{ID: hangar.NewID(hangar.PrefixMemoryVersion), CreatedAt: at,
			CreatedBy: hangar.Actor{Type: "session_actor", SessionID: "sesn_a"}}}
}

func testMemory(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	at := clk.Now()
	ms := &hangar.MemoryStore{Type: "memory_store", ID: hangar.NewID(hangar.PrefixMemoryStore), Name: "notes", Metadata: map[string]string{}, CreatedAt: at, UpdatedAt: at}
	must(t, st.CreateMemoryStore(ctx, ms))
	got, err := st.GetMemoryStore(ctx, ms.ID)
	must(t, err)
	if d := diff(ms, got); d != "" {
		t.Errorf("GetMemoryStore (-want +got):\n%s", d)
	}
	now := clk.Now()
	upd, err := st.UpdateMemoryStore(ctx, ms.ID, func(m *hangar.MemoryStore) error { m.ArchivedAt = &now; return nil })
	must(t, err)
	if upd.ArchivedAt == nil {
		t.Error("UpdateMemoryStore did not archive")
	}
	if l, _, err := st.ListMemoryStores(ctx, hangar.MemoryStoreFilter{}); err != nil || len(l) != 0 {
		t.Errorf("ListMemoryStores without archived = %d, %v", len(l), err)
	}
	if l, _, err := st.ListMemoryStores(ctx, hangar.MemoryStoreFilter{IncludeArchived: true}); err != nil || len(l) != 1 {
		t.Errorf("ListMemoryStores with archived = %d, %v", len(l), err)
	}

	m, v, err := st.WriteMemory(ctx, memWrite(ms.ID, hangar.MemoryCreated, "", "/a/b.md", ptr("one"), clk))
	must(t, err)
	if m.MemoryVersionID != v.ID || v.Operation != "created" || *v.Content != "one" || v.MemoryID != m.ID || v.MemoryStoreID != ms.ID {
		t.Fatalf("create: memory %+v version %+v", m, v)
	}
	for _, p := range []string{"/a/b.md", "/a", "/a/b.md/c"} {
		_, _, err := st.WriteMemory(ctx, memWrite(ms.ID, hangar.MemoryCreated, "", p, ptr("x"), clk))
		wantKind(t, "WriteMemory(create "+p+")", err, hangar.KindMemoryPathConflict)
	}
	other, _, err := st.WriteMemory(ctx, memWrite(ms.ID, hangar.MemoryCreated, "", "/a/c.md", ptr("two"), clk))
	must(t, err)

	bad := memWrite(ms.ID, hangar.MemoryModified, m.ID, "", ptr("new"), clk)
	bad.IfSHA256 = "00"
	_, _, err = st.WriteMemory(ctx, bad)
	wantKind(t, "WriteMemory(precondition)", err, hangar.KindMemoryPrecondition)
	mod := memWrite(ms.ID, hangar.MemoryModified, m.ID, "/a/c.md", nil, clk)
	_, _, err = st.WriteMemory(ctx, mod)
	wantKind(t, "WriteMemory(move onto another)", err, hangar.KindMemoryPathConflict)
	mod = memWrite(ms.ID, hangar.MemoryModified, m.ID, "/z.md", ptr("new"), clk)
	mod.IfSHA256 = m.ContentSHA256
	m2, v2, err := st.WriteMemory(ctx, mod)
	must(t, err)
	if m2.Path != "/z.md" || *m2.Content != "new" || m2.MemoryVersionID != v2.ID || v2.Operation != "modified" || !m2.CreatedAt.Equal(m.CreatedAt) {
		t.Errorf("modify = %+v", m2)
	}
	gotM, err := st.GetMemory(ctx, ms.ID, m.ID)
	must(t, err)
	if d := diff(m2, gotM); d != "" {
		t.Errorf("GetMemory (-want +got):\n%s", d)
	}
	list, _, err := st.ListMemories(ctx, ms.ID, hangar.MemoryFilter{PathPrefix: "/a/"})
	must(t, err)
	if len(list) != 1 || list[0].ID != other.ID {
		t.Errorf("ListMemories(/a/) = %v", list)
	}

	gone, v3, err := st.WriteMemory(ctx, memWrite(ms.ID, hangar.MemoryDeleted, other.ID, "", nil, clk))
	must(t, err)
	if gone != nil || v3.Operation != "deleted" || v3.Content != nil {
		t.Errorf("delete = %+v, %+v", gone, v3)
	}
	_, err = st.GetMemory(ctx, ms.ID, other.ID)
	wantKind(t, "GetMemory(deleted)", err, hangar.KindNotFound)

	vs, _, err := st.ListMemoryVersions(ctx, ms.ID, hangar.MemoryVersionFilter{MemoryID: m.ID})
	must(t, err)
	if len(vs) != 2 || vs[0].ID != v.ID || vs[1].ID != v2.ID {
		t.Errorf("ListMemoryVersions(memory) = %v", vs)
	}
	vs, _, err = st.ListMemoryVersions(ctx, ms.ID, hangar.MemoryVersionFilter{Operation: "deleted", SessionID: "sesn_a"})
	must(t, err)
	if len(vs) != 1 || vs[0].ID != v3.ID {
		t.Errorf("ListMemoryVersions(deleted) = %v", vs)
	}
	red, err := st.RedactMemoryVersion(ctx, ms.ID, v.ID, hangar.Actor{Type: "api_actor", APIKeyID: "k"}, clk.Now())
	must(t, err)
	if red.Content != nil || red.Path != nil || red.RedactedAt == nil {
		t.Errorf("redact = %+v", red)
	}
	gotV, err := st.GetMemoryVersion(ctx, ms.ID, v.ID)
	must(t, err)
	if d := diff(red, gotV); d != "" {
		t.Errorf("GetMemoryVersion (-want +got):\n%s", d)
	}
	_, err = st.GetMemoryVersion(ctx, ms.ID, "memver_missing")
	wantKind(t, "GetMemoryVersion", err, hangar.KindNotFound)

	must(t, st.DeleteMemoryStore(ctx, ms.ID))
	_, err = st.GetMemoryStore(ctx, ms.ID)
	wantKind(t, "GetMemoryStore(deleted)", err, hangar.KindNotFound)
	_, _, err = st.ListMemoryVersions(ctx, ms.ID, hangar.MemoryVersionFilter{})
	wantKind(t, "ListMemoryVersions(deleted store)", err, hangar.KindNotFound)
	_, _, err = st.WriteMemory(ctx, memWrite(ms.ID, hangar.MemoryCreated, "", "/q", ptr("x"), clk))
	wantKind(t, "WriteMemory(deleted store)", err, hangar.KindNotFound)
}
