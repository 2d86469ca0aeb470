package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hangar-dev/hangar"
)

// UserProfiles pins hangar.UserProfileStore: CRUD with every field round-tripped, the
// callback error passed through, newest-first paging and delete.
func testUserProfiles(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	name, country := "Acme", "US"
	var ids []string
	for range 3 {
		at := clk.Now()
		p := &hangar.UserProfile{ID: hangar.NewID(hangar.PrefixUserProfile), Name: &name, AccessType: "application",
			Metadata: map[string]string{"tier": "gold"}, External: hangar.UserProfileExternal{Country: &country, OnboardedAt: &at},
			TrustGrants: map[string]string{}, CreatedAt: at, UpdatedAt: at}
		if err := st.CreateUserProfile(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	wantKind(t, "CreateUserProfile(same ID)", st.CreateUserProfile(ctx, &hangar.UserProfile{ID: ids[0], CreatedAt: clk.Now()}), hangar.KindConflict)
	got, err := st.GetUserProfile(ctx, ids[1])
	if err != nil || *got.Name != "Acme" || *got.External.Country != "US" || got.External.OnboardedAt == nil || got.Metadata["tier"] != "gold" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	upd, err := st.UpdateUserProfile(ctx, ids[1], func(p *hangar.UserProfile) error {
		p.TrustGrants["enrollment"] = "active"
		p.DataControls = json.RawMessage(`{"cmek":{"type":"disabled"}}`)
		return nil
	})
	if err != nil || upd.TrustGrants["enrollment"] != "active" {
		t.Fatalf("update = %+v, %v", upd, err)
	}
	if got, _ := st.GetUserProfile(ctx, ids[1]); string(got.DataControls) != `{"cmek":{"type":"disabled"}}` {
		t.Errorf("data controls = %s", got.DataControls)
	}
	if _, err := st.UpdateUserProfile(ctx, ids[1], func(*hangar.UserProfile) error { return errSentinel }); err != errSentinel {
		t.Errorf("callback error = %v", err)
	}
	page, res, err := st.ListUserProfiles(ctx, hangar.UserProfileFilter{Page: hangar.Page{Desc: true, Limit: 2}})
	if err != nil || len(page) != 2 || page[0].ID != ids[2] || res.Next == "" {
		t.Fatalf("first page = %d, %+v, %v", len(page), res, err)
	}
	if err := st.DeleteUserProfile(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "DeleteUserProfile(again)", st.DeleteUserProfile(ctx, ids[0]), hangar.KindNotFound)
	_, err = st.GetUserProfile(ctx, ids[0])
	wantKind(t, "GetUserProfile(deleted)", err, hangar.KindNotFound)
}
