package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

// Dreams pins hangar.DreamStore: create/get/update, the archived and status filters,
// newest-first paging, and the claim: exactly one of many concurrent claimers wins, a live
// claim keeps others off, an expired one does not, and final dreams are never claimed.
func testDreams(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	var ids []string
	for i := range 3 {
		d := &hangar.Dream{ID: hangar.NewID(hangar.PrefixDream), Status: hangar.DreamPending, CreatedAt: clk.Now(),
			MemoryStore: "memstore_x", SessionIDs: []string{"sesn_a"}, Model: "claude-test", Output: hangar.DreamCreateNew}
		if i == 2 {
			d.Instructions = "focus on style"
		}
		if err := st.CreateDream(ctx, d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	if err := st.CreateDream(ctx, &hangar.Dream{ID: ids[0], Status: hangar.DreamPending, CreatedAt: clk.Now()}); !hangar.IsKind(err, hangar.KindConflict) {
		t.Errorf("duplicate create: %v, want conflict", err)
	}
	got, err := st.GetDream(ctx, ids[2])
	if err != nil || got.Instructions != "focus on style" || got.SessionIDs[0] != "sesn_a" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if _, err := st.GetDream(ctx, "drm_missing"); !hangar.IsKind(err, hangar.KindNotFound) {
		t.Errorf("get missing: %v", err)
	}

	// Claims.
	now := clk.Now()
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.ClaimDream(ctx, ids[0], "inst_"+string(rune('a'+i)), now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent claims won, want 1", wins)
	}
	runnable, err := st.RunnableDreams(ctx, now, 10)
	if err != nil || len(runnable) != 2 || runnable[0] != ids[1] || runnable[1] != ids[2] {
		t.Errorf("runnable = %v, %v; want the two unclaimed dreams oldest first", runnable, err)
	}
	if ok, _ := st.ClaimDream(ctx, ids[1], "inst_me", now, now.Add(time.Minute)); !ok {
		t.Error("claim of a free dream failed")
	}
	if ok, _ := st.ClaimDream(ctx, ids[1], "inst_me", now, now.Add(2*time.Minute)); !ok {
		t.Error("renewal by the owner failed")
	}
	if ok, _ := st.ClaimDream(ctx, ids[1], "inst_other", now.Add(time.Minute), now.Add(3*time.Minute)); ok {
		t.Error("another instance took a live claim")
	}
	later := now.Add(2 * time.Minute)
	if runnable, _ := st.RunnableDreams(ctx, later, 10); len(runnable) != 3 {
		t.Errorf("runnable after the claims expired = %v, want all 3", runnable)
	}
	if ok, _ := st.ClaimDream(ctx, ids[1], "inst_other", later, later.Add(time.Minute)); !ok {
		t.Error("an expired claim was not taken over")
	}
	// Release: only the holder's release counts; a released dream is runnable at once.
	if err := st.ReleaseDream(ctx, ids[1], "inst_me"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.ClaimDream(ctx, ids[1], "inst_third", later, later.Add(time.Minute)); ok {
		t.Error("a release by a former holder freed the dream")
	}
	if err := st.ReleaseDream(ctx, ids[1], "inst_other"); err != nil {
		t.Fatal(err)
	}
	if runnable, _ := st.RunnableDreams(ctx, later, 10); !slices.Contains(runnable, ids[1]) {
		t.Errorf("runnable after release = %v", runnable)
	}
	if ok, _ := st.ClaimDream(ctx, ids[1], "inst_third", later, later.Add(time.Minute)); !ok {
		t.Error("a released dream could not be claimed")
	}

	// Update to a final status: never claimed again.
	end := clk.Now()
	upd, err := st.UpdateDream(ctx, ids[2], func(d *hangar.Dream) error {
		d.Status, d.EndedAt, d.OutputStore = hangar.DreamCompleted, &end, "memstore_out"
		d.Usage.InputTokens = 42
		return nil
	})
	if err != nil || upd.Status != hangar.DreamCompleted || upd.OutputStore != "memstore_out" {
		t.Fatalf("update = %+v, %v", upd, err)
	}
	if ok, _ := st.ClaimDream(ctx, ids[2], "inst_me", later, later.Add(time.Minute)); ok {
		t.Error("a completed dream was claimed")
	}
	if _, err := st.UpdateDream(ctx, ids[2], func(*hangar.Dream) error { return errSentinel }); err != errSentinel {
		t.Errorf("callback error = %v", err)
	}
	if got, _ := st.GetDream(ctx, ids[2]); got.Usage.InputTokens != 42 || got.EndedAt == nil || !got.EndedAt.Equal(end) {
		t.Errorf("reloaded = %+v", got)
	}

	// Lists: newest first, archived hidden unless asked, status filter.
	st.UpdateDream(ctx, ids[0], func(d *hangar.Dream) error { at := clk.Now(); d.ArchivedAt = &at; return nil })
	list, _, err := st.ListDreams(ctx, hangar.DreamFilter{Page: hangar.Page{Desc: true}})
	if err != nil || len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		t.Errorf("list = %v, %v", dreamIDs(list), err)
	}
	list, _, _ = st.ListDreams(ctx, hangar.DreamFilter{IncludeArchived: true, Page: hangar.Page{Desc: true}})
	if len(list) != 3 || list[2].ID != ids[0] {
		t.Errorf("list with archived = %v", dreamIDs(list))
	}
	list, _, _ = st.ListDreams(ctx, hangar.DreamFilter{IncludeArchived: true, Statuses: []string{hangar.DreamCompleted}})
	if len(list) != 1 || list[0].ID != ids[2] {
		t.Errorf("list completed = %v", dreamIDs(list))
	}
	page, res, _ := st.ListDreams(ctx, hangar.DreamFilter{IncludeArchived: true, Page: hangar.Page{Desc: true, Limit: 2}})
	if len(page) != 2 || res.Next == "" {
		t.Fatalf("first page = %v, %+v", dreamIDs(page), res)
	}
	cur, _ := hangar.DecodeCursor(res.Next)
	page, _, _ = st.ListDreams(ctx, hangar.DreamFilter{IncludeArchived: true, Page: hangar.Page{Limit: 2, Cursor: &cur}})
	if len(page) != 1 || page[0].ID != ids[0] {
		t.Errorf("second page = %v", dreamIDs(page))
	}
}

func dreamIDs(ds []*hangar.Dream) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}
