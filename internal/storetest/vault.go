package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hangar-dev/hangar"
)

func newVault(name string, at time.Time) *hangar.Vault {
	return &hangar.Vault{
		Type:        "vault",
		ID:          hangar.NewID(hangar.PrefixVault),
		DisplayName: name,
		Metadata:    map[string]string{"owner": "ops"},
		CreatedAt:   at,
		UpdatedAt:   at,
	}
}

func newCredential(vaultID, key string, at time.Time) *hangar.Credential {
	return &hangar.Credential{
		Type:        "vault_credential",
		ID:          hangar.NewID(hangar.PrefixCredential),
		VaultID:     vaultID,
		DisplayName: ptr("cred " + key),
		Metadata:    map[string]string{},
		Auth:        json.RawMessage(`{"type":"static_bearer","mcp_server_url":"` + key + `"}`),
		CreatedAt:   at,
		UpdatedAt:   at,
		AuthType:    "static_bearer",
		Key:         key,
		Sealed:      []byte{0, 1, 2, 0xfe, 0xff},
		KeyID:       "k1",
	}
}

func testVaults(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()

	v := newVault("prod", clk.Now())
	must(t, st.CreateVault(ctx, v))
	t.Run("get", func(t *testing.T) {
		got, err := st.GetVault(ctx, v.ID)
		must(t, err)
		if d := diff(v, got); d != "" {
			t.Errorf("GetVault (-want +got):\n%s", d)
		}
		wantKind(t, "CreateVault(same ID)", st.CreateVault(ctx, v), hangar.KindConflict)
	})
	t.Run("not found", func(t *testing.T) {
		_, err := st.GetVault(ctx, "vlt_missing")
		wantKind(t, "GetVault", err, hangar.KindNotFound)
		_, err = st.UpdateVault(ctx, "vlt_missing", func(*hangar.Vault) error { return nil })
		wantKind(t, "UpdateVault", err, hangar.KindNotFound)
		wantKind(t, "DeleteVault", st.DeleteVault(ctx, "vlt_missing"), hangar.KindNotFound)
	})
	t.Run("update and archive", func(t *testing.T) {
		now := clk.Now()
		got, err := st.UpdateVault(ctx, v.ID, func(x *hangar.Vault) error {
			x.DisplayName, x.UpdatedAt, x.ArchivedAt = "prod (old)", now, &now
			return nil
		})
		must(t, err)
		want := *v
		want.DisplayName, want.UpdatedAt, want.ArchivedAt = "prod (old)", now, &now
		if d := diff(&want, got); d != "" {
			t.Errorf("UpdateVault (-want +got):\n%s", d)
		}
		_, err = st.UpdateVault(ctx, v.ID, func(x *hangar.Vault) error { return errSentinel })
		if !errors.Is(err, errSentinel) {
			t.Errorf("UpdateVault(fn error) err = %v, want the callback's error", err)
		}
		list, _, err := st.ListVaults(ctx, hangar.VaultFilter{})
		must(t, err)
		if len(list) != 0 {
			t.Errorf("ListVaults lists %d vaults, want 0 (the only one is archived)", len(list))
		}
		list, _, err = st.ListVaults(ctx, hangar.VaultFilter{IncludeArchived: true})
		must(t, err)
		if d := diff([]*hangar.Vault{&want}, list); d != "" {
			t.Errorf("ListVaults(IncludeArchived) (-want +got):\n%s", d)
		}
	})
	t.Run("delete removes credentials", func(t *testing.T) {
		d := newVault("doomed", clk.Now())
		must(t, st.CreateVault(ctx, d))
		c := newCredential(d.ID, "https://mcp.example.com", clk.Now())
		must(t, st.CreateCredential(ctx, c))
		must(t, st.DeleteVault(ctx, d.ID))
		_, err := st.GetVault(ctx, d.ID)
		wantKind(t, "GetVault(deleted)", err, hangar.KindNotFound)
		_, err = st.GetCredential(ctx, d.ID, c.ID)
		wantKind(t, "GetCredential(deleted vault)", err, hangar.KindNotFound)
	})
	t.Run("paging", func(t *testing.T) {
		st := open(t)
		var ids []string
		for i := range 45 {
			v := newVault(fmt.Sprint(i), clk.Now())
			must(t, st.CreateVault(ctx, v))
			ids = append(ids, v.ID)
		}
		pg := pager[*hangar.Vault]{
			list: func(p hangar.Page) ([]*hangar.Vault, hangar.PageResult, error) {
				return st.ListVaults(ctx, hangar.VaultFilter{Page: p})
			},
			id: func(v *hangar.Vault) string { return v.ID },
		}
		checkPaging(t, pg, ids, 20, false)
		checkPaging(t, pg, reversed(ids), 20, true)
	})
}

func testCredentials(t *testing.T, open func(t *testing.T) hangar.Store) {
	ctx := context.Background()
	st := open(t)
	clk := newClock()
	v := newVault("v", clk.Now())
	must(t, st.CreateVault(ctx, v))
	other := newVault("other", clk.Now())
	must(t, st.CreateVault(ctx, other))

	c := newCredential(v.ID, "https://a.example.com/mcp", clk.Now())
	must(t, st.CreateCredential(ctx, c))

	t.Run("get", func(t *testing.T) {
		got, err := st.GetCredential(ctx, v.ID, c.ID)
		must(t, err)
		if d := diff(c, got); d != "" {
			t.Errorf("GetCredential (-want +got):\n%s", d)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := st.GetCredential(ctx, v.ID, "vcrd_missing")
		wantKind(t, "GetCredential(missing)", err, hangar.KindNotFound)
		_, err = st.GetCredential(ctx, other.ID, c.ID)
		wantKind(t, "GetCredential(other vault)", err, hangar.KindNotFound)
		_, err = st.UpdateCredential(ctx, other.ID, c.ID, func(*hangar.Credential) error { return nil })
		wantKind(t, "UpdateCredential(other vault)", err, hangar.KindNotFound)
		wantKind(t, "DeleteCredential(other vault)", st.DeleteCredential(ctx, other.ID, c.ID), hangar.KindNotFound)
		wantKind(t, "CreateCredential(missing vault)", st.CreateCredential(ctx, newCredential("vlt_missing", "k", clk.Now())), hangar.KindNotFound)
		_, _, err = st.ListCredentials(ctx, "vlt_missing", hangar.VaultFilter{})
		wantKind(t, "ListCredentials(missing vault)", err, hangar.KindNotFound)
	})
	t.Run("update", func(t *testing.T) {
		now := clk.Now()
		got, err := st.UpdateCredential(ctx, v.ID, c.ID, func(x *hangar.Credential) error {
			x.DisplayName, x.UpdatedAt = nil, now
			x.Sealed, x.KeyID = []byte("resealed"), "k2"
			return nil
		})
		must(t, err)
		want := *c
		want.DisplayName, want.UpdatedAt, want.Sealed, want.KeyID = nil, now, []byte("resealed"), "k2"
		if d := diff(&want, got); d != "" {
			t.Errorf("UpdateCredential (-want +got):\n%s", d)
		}
		stored, err := st.GetCredential(ctx, v.ID, c.ID)
		must(t, err)
		if d := diff(&want, stored); d != "" {
			t.Errorf("GetCredential after update (-want +got):\n%s", d)
		}
		_, err = st.UpdateCredential(ctx, v.ID, c.ID, func(*hangar.Credential) error { return errSentinel })
		if !errors.Is(err, errSentinel) {
			t.Errorf("UpdateCredential(fn error) err = %v, want the callback's error", err)
		}
	})
	t.Run("key conflict", func(t *testing.T) {
		dup := newCredential(v.ID, c.Key, clk.Now())
		wantKind(t, "CreateCredential(same key)", st.CreateCredential(ctx, dup), hangar.KindConflict)
		// The same key in another vault is fine.
		must(t, st.CreateCredential(ctx, newCredential(other.ID, c.Key, clk.Now())))
		// Renaming onto a taken key conflicts.
		x := newCredential(v.ID, "https://b.example.com/mcp", clk.Now())
		must(t, st.CreateCredential(ctx, x))
		_, err := st.UpdateCredential(ctx, v.ID, x.ID, func(x *hangar.Credential) error {
			x.Key = c.Key
			return nil
		})
		wantKind(t, "UpdateCredential(taken key)", err, hangar.KindConflict)
		// Archiving frees the key.
		_, err = st.UpdateCredential(ctx, v.ID, c.ID, func(x *hangar.Credential) error {
			x.ArchivedAt = ptr(clk.Now())
			return nil
		})
		must(t, err)
		must(t, st.CreateCredential(ctx, dup))
	})
	t.Run("limit", func(t *testing.T) {
		lv := newVault("limit", clk.Now())
		must(t, st.CreateVault(ctx, lv))
		var creds []*hangar.Credential
		for i := range hangar.MaxCredentialsPerVault {
			c := newCredential(lv.ID, fmt.Sprintf("SECRET_%d", i), clk.Now())
			must(t, st.CreateCredential(ctx, c))
			creds = append(creds, c)
		}
		extra := newCredential(lv.ID, "SECRET_EXTRA", clk.Now())
		wantKind(t, "CreateCredential(over the limit)", st.CreateCredential(ctx, extra), hangar.KindConflict)
		_, err := st.UpdateCredential(ctx, lv.ID, creds[3].ID, func(x *hangar.Credential) error {
			x.ArchivedAt = ptr(clk.Now())
			return nil
		})
		must(t, err)
		must(t, st.CreateCredential(ctx, extra))
		wantKind(t, "CreateCredential(at the limit again)", st.CreateCredential(ctx, newCredential(lv.ID, "SECRET_MORE", clk.Now())), hangar.KindConflict)

		must(t, st.DeleteCredential(ctx, lv.ID, creds[5].ID))
		_, err = st.GetCredential(ctx, lv.ID, creds[5].ID)
		wantKind(t, "GetCredential(deleted)", err, hangar.KindNotFound)
		wantKind(t, "DeleteCredential(twice)", st.DeleteCredential(ctx, lv.ID, creds[5].ID), hangar.KindNotFound)

		// Listing: 19 of the first 20 remain (one archived, one deleted) plus extra.
		var want []string
		for i, c := range creds {
			if i != 3 && i != 5 {
				want = append(want, c.ID)
			}
		}
		want = append(want, extra.ID)
		pg := pager[*hangar.Credential]{
			list: func(p hangar.Page) ([]*hangar.Credential, hangar.PageResult, error) {
				return st.ListCredentials(ctx, lv.ID, hangar.VaultFilter{Page: p})
			},
			id: func(c *hangar.Credential) string { return c.ID },
		}
		checkPaging(t, pg, want, 7, false)
		checkPaging(t, pg, reversed(want), 7, true)

		all, _, err := st.ListCredentials(ctx, lv.ID, hangar.VaultFilter{IncludeArchived: true, Page: hangar.Page{Limit: 100}})
		must(t, err)
		if len(all) != len(want)+1 {
			t.Errorf("ListCredentials(IncludeArchived) = %d items, want %d", len(all), len(want)+1)
		}
		if d := diff(creds[0], all[0]); d != "" {
			t.Errorf("listed credential (-want +got):\n%s", d)
		}
	})
}
