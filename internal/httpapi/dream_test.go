package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/hangar-dev/hangar"
)

// trigger counts Trigger calls (the dream runner).
type trigger struct{ n int }

func (t *trigger) Trigger() { t.n++ }

// TestDreamLifecycle: create stores a pending dream, wakes the runner and answers the
// wire shape (golden); get and list (newest first, statuses, include_archived); archive
// refuses unfinished dreams; cancel is idempotent and refuses finished ones; a second
// update_existing dream on a busy store is a conflict.
func TestDreamLifecycle(t *testing.T) {
	t.Parallel()
	tr := &trigger{}
	s, st := newTestServer(t, func(c *Config) { c.Dreams = tr })
	f := setupBadInput(t, s, st)
	var ms hangar.MemoryStore
	apiOK(t, s, "POST", "/v1/memory_stores", `{"name":"Notes"}`, &ms)

	body := `{"model":"claude-opus-4-7","instructions":"group by topic","inputs":[{"type":"memory_store","memory_store_id":"` + ms.ID +
		`"},{"type":"sessions","session_ids":["` + f.session + `"]}]}`
	var d dreamWire
	raw := apiOK(t, s, "POST", "/v1/dreams", body, &d)
	checkGolden(t, "dream_create", raw)
	if tr.n != 1 || d.Status != hangar.DreamPending || d.OutputBehavior.Type != "create_new" {
		t.Fatalf("created %+v (runner woken %d times)", d, tr.n)
	}

	upd := `{"model":{"id":"claude-opus-4-7","speed":"standard"},"output_behavior":{"type":"update_existing","memory_store_id":"` + ms.ID +
		`"},"inputs":[{"type":"sessions","session_ids":["` + f.session + `"]},{"type":"memory_store","memory_store_id":"` + ms.ID + `"}]}`
	var d2 dreamWire
	checkGolden(t, "dream_create_update_existing", apiOK(t, s, "POST", "/v1/dreams", upd, &d2))
	apiError(t, apiDo(t, s, "POST", "/v1/dreams", upd), http.StatusConflict, "invalid_request_error")

	apiError(t, apiDo(t, s, "POST", "/v1/dreams/"+d.ID+"/archive", ""), http.StatusBadRequest, errInvalid)
	var c dreamWire
	apiOK(t, s, "POST", "/v1/dreams/"+d.ID+"/cancel", "", &c)
	if c.Status != hangar.DreamCanceled || c.EndedAt == nil {
		t.Fatalf("canceled = %+v", c)
	}
	apiOK(t, s, "POST", "/v1/dreams/"+d.ID+"/cancel", "", &c) // idempotent
	var a dreamWire
	apiOK(t, s, "POST", "/v1/dreams/"+d.ID+"/archive", "", &a)
	if a.ArchivedAt == nil {
		t.Fatal("archive did not set archived_at")
	}

	// A completed dream cannot be canceled.
	st.UpdateDream(context.Background(), d2.ID, func(d *hangar.Dream) error {
		now := testEpoch
		d.Status, d.EndedAt, d.OutputStore = hangar.DreamCompleted, &now, ms.ID
		return nil
	})
	apiError(t, apiDo(t, s, "POST", "/v1/dreams/"+d2.ID+"/cancel", ""), http.StatusBadRequest, errInvalid)
	checkGolden(t, "dream_get_completed", apiOK(t, s, "GET", "/v1/dreams/"+d2.ID, "", nil))

	var list listEnvelope[dreamWire]
	apiOK(t, s, "GET", "/v1/dreams", "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != d2.ID {
		t.Errorf("list = %+v", list.Data)
	}
	apiOK(t, s, "GET", "/v1/dreams?include_archived=true", "", &list)
	if len(list.Data) != 2 || list.Data[0].ID != d2.ID || list.Data[1].ID != d.ID {
		t.Errorf("list with archived = %+v, want newest first", list.Data)
	}
	apiOK(t, s, "GET", "/v1/dreams?include_archived=true&statuses[]=canceled", "", &list)
	if len(list.Data) != 1 || list.Data[0].ID != d.ID {
		t.Errorf("list canceled = %+v", list.Data)
	}
}
