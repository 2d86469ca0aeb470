package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hangar-dev/hangar"
)

// Vaults (§3.6): a named group of credentials. Archiving a vault also archives its
// credentials, purging their secrets.

const vaultMaxDisplayName = 255

type createVaultRequest struct {
	DisplayName *string           `json:"display_name"`
	Metadata    map[string]string `json:"metadata"`
}

type updateVaultRequest struct {
	DisplayName json.RawMessage    `json:"display_name"`
	Metadata    map[string]*string `json:"metadata"`
}

type deletedObject struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

func (s *Server) createVault(w http.ResponseWriter, r *http.Request) error {
	var req createVaultRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	if err := requireString("display_name", req.DisplayName, 1, vaultMaxDisplayName); err != nil {
		return err
	}
	if err := validateMetadata("metadata", req.Metadata); err != nil {
		return err
	}
	now := s.now()
	v := &hangar.Vault{
		Type:        "vault",
		ID:          s.newID(hangar.PrefixVault),
		DisplayName: *req.DisplayName,
		Metadata:    orEmpty(req.Metadata),
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if err := s.store.CreateVault(r.Context(), v); err != nil {
		return err
	}
	encode(w, http.StatusOK, vaultResponse(v))
	return nil
}

func (s *Server) listVaults(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page, err := parsePage(q, 20, 100, true)
	if err != nil {
		return err
	}
	archived, err := parseBool(q, "include_archived")
	if err != nil {
		return err
	}
	vs, pr, err := s.store.ListVaults(r.Context(), hangar.VaultFilter{IncludeArchived: archived, Page: page})
	if err != nil {
		return err
	}
	data := make([]*hangar.Vault, len(vs))
	for i, v := range vs {
		data[i] = vaultResponse(v)
	}
	encode(w, http.StatusOK, listEnvelope[*hangar.Vault]{Data: data, NextPage: strOrNil(pr.Next)})
	return nil
}

func (s *Server) getVault(w http.ResponseWriter, r *http.Request) error {
	v, err := s.store.GetVault(r.Context(), pathID(r, "vault_id"))
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, vaultResponse(v))
	return nil
}

func (s *Server) updateVault(w http.ResponseWriter, r *http.Request) error {
	var req updateVaultRequest
	if err := s.decode(w, r, &req); err != nil {
		return err
	}
	name, nameSet, err := nullableString("display_name", req.DisplayName)
	if err != nil {
		return err
	}
	if nameSet {
		if err := requireString("display_name", name, 1, vaultMaxDisplayName); err != nil {
			return err
		}
	}
	if err := validateMetadataPatch("metadata", req.Metadata); err != nil {
		return err
	}
	now := s.now()
	v, err := s.store.UpdateVault(r.Context(), pathID(r, "vault_id"), func(v *hangar.Vault) error {
		if v.ArchivedAt != nil {
			return invalidf("vault %s is archived and cannot be updated", v.ID)
		}
		md, err := patchMetadata("metadata", v.Metadata, req.Metadata, false)
		if err != nil {
			return err
		}
		v.Metadata = md
		if nameSet {
			v.DisplayName = *name
		}
		v.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	encode(w, http.StatusOK, vaultResponse(v))
	return nil
}

func (s *Server) deleteVault(w http.ResponseWriter, r *http.Request) error {
	id := pathID(r, "vault_id")
	if err := s.store.DeleteVault(r.Context(), id); err != nil {
		return err
	}
	encode(w, http.StatusOK, deletedObject{ID: id, Type: "vault_deleted"})
	return nil
}

// archiveVault archives the vault, then archives each of its active credentials (purging
// their secrets). Archiving is idempotent, so a retry after a partial failure finishes the
// job: the vault already refuses new credentials.
func (s *Server) archiveVault(w http.ResponseWriter, r *http.Request) error {
	now := s.now()
	v, err := s.store.UpdateVault(r.Context(), pathID(r, "vault_id"), func(v *hangar.Vault) error {
		if v.ArchivedAt == nil {
			v.ArchivedAt = &now
			v.UpdatedAt = now
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.archiveVaultCredentials(r.Context(), v.ID, now); err != nil {
		return err
	}
	encode(w, http.StatusOK, vaultResponse(v))
	return nil
}

func (s *Server) archiveVaultCredentials(ctx context.Context, vaultID string, now time.Time) error {
	var ids []string
	page := hangar.Page{Limit: 100}
	for {
		cs, pr, err := s.store.ListCredentials(ctx, vaultID, hangar.VaultFilter{Page: page})
		if err != nil {
			return fmt.Errorf("list credentials of vault %s: %w", vaultID, err)
		}
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if pr.Next == "" {
			break
		}
		c, err := hangar.DecodeCursor(pr.Next)
		if err != nil {
			return fmt.Errorf("list credentials of vault %s: %w", vaultID, err)
		}
		page.Cursor = &c
	}
	for _, id := range ids {
		if _, err := s.store.UpdateCredential(ctx, vaultID, id, func(c *hangar.Credential) error {
			purgeCredential(c, now)
			return nil
		}); err != nil && !hangar.IsKind(err, hangar.KindNotFound) {
			return fmt.Errorf("archive credential %s: %w", id, err)
		}
	}
	return nil
}

// vaultResponse returns v with an empty (not null) metadata map.
func vaultResponse(v *hangar.Vault) *hangar.Vault {
	out := *v
	out.Type = "vault"
	out.Metadata = orEmpty(v.Metadata)
	return &out
}
