package pgstore

import (
	"context"
	"errors"

	"github.com/hangar-dev/hangar"
	"github.com/jackc/pgx/v5"
)

// CreateVault stores a new vault. Conflict when the ID is taken.
func (db *DB) CreateVault(ctx context.Context, v *hangar.Vault) error {
	data, err := encode(v)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO vaults (id, created_at, archived_at, data) VALUES ($1, $2, $3, $4)`,
		v.ID, nanos(v.CreatedAt), nanosPtr(v.ArchivedAt), data)
	if isUnique(err) {
		return hangar.Errorf(hangar.KindConflict, "vault %s already exists", v.ID)
	}
	return wrap(err, "create vault %s", v.ID)
}

func scanVault(row pgx.Row) (*hangar.Vault, int64, error) {
	var (
		pos  int64
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	v := new(hangar.Vault)
	if err := decode(data, v); err != nil {
		return nil, 0, err
	}
	return v, pos, nil
}

// getVault loads vault id; with lock, FOR UPDATE.
func getVault(ctx context.Context, c querier, id string, lock bool) (*hangar.Vault, error) {
	q := `SELECT pos, data FROM vaults WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	v, _, err := scanVault(c.QueryRow(ctx, q, id))
	return v, notFound(err, "vault", id)
}

// GetVault returns vault id.
func (db *DB) GetVault(ctx context.Context, id string) (*hangar.Vault, error) {
	v, err := getVault(ctx, db.pool, id, false)
	return v, wrap(err, "get vault %s", id)
}

// ListVaults lists vaults in creation order.
func (db *DB) ListVaults(ctx context.Context, f hangar.VaultFilter) ([]*hangar.Vault, hangar.PageResult, error) {
	q := listQuery{selectFrom: `SELECT pos, data FROM vaults`, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	out, res, err := list(ctx, db.pool, q, f.Page, scanVault)
	return out, res, wrap(err, "list vaults")
}

// UpdateVault calls fn with the current vault in a transaction and saves it. Errors from fn
// are returned as they are.
func (db *DB) UpdateVault(ctx context.Context, id string, fn func(v *hangar.Vault) error) (*hangar.Vault, error) {
	var out *hangar.Vault
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		v, err := getVault(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if fnErr = fn(v); fnErr != nil {
			return fnErr
		}
		v.ID = id
		data, err := encode(v)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE vaults SET archived_at = $1, data = $2 WHERE id = $3`, nanosPtr(v.ArchivedAt), data, id); err != nil {
			return err
		}
		out = v
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update vault %s", id)
}

// DeleteVault deletes a vault and its credentials (ON DELETE CASCADE).
func (db *DB) DeleteVault(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM vaults WHERE id = $1`, id)
	if err == nil {
		err = mustAffect(tag, "vault", id)
	}
	return wrap(err, "delete vault %s", id)
}

// CreateCredential stores a credential. not_found_error when the vault does not exist;
// conflict when an active credential of the vault has the same Key, or the vault already
// holds hangar.MaxCredentialsPerVault active ones. The vault's row is locked while the
// active credentials are counted, so concurrent creates cannot both pass the limit.
func (db *DB) CreateCredential(ctx context.Context, c *hangar.Credential) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := getVault(ctx, tx, c.VaultID, true); err != nil {
			return err
		}
		if c.ArchivedAt == nil {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM credentials WHERE vault_id = $1 AND archived_at IS NULL`, c.VaultID).Scan(&n); err != nil {
				return err
			}
			if n >= hangar.MaxCredentialsPerVault {
				return hangar.Errorf(hangar.KindConflict, "vault %s already holds %d active credentials, the maximum; archive or delete one first",
					c.VaultID, n)
			}
		}
		data, err := encode(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO credentials (id, vault_id, auth_type, key, sealed, key_id, created_at, archived_at, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.ID, c.VaultID, c.AuthType, c.Key, c.Sealed, c.KeyID, nanos(c.CreatedAt), nanosPtr(c.ArchivedAt), data)
		return err
	})
	if isUnique(err) {
		err = db.credentialConflict(ctx, c)
	}
	return wrap(err, "create credential %s", c.ID)
}

// credentialConflict builds the conflict_error for a unique violation on credentials
// (after the rollback, as agentConflict).
func (db *DB) credentialConflict(ctx context.Context, c *hangar.Credential) error {
	var other string
	err := db.pool.QueryRow(ctx, `SELECT id FROM credentials WHERE vault_id = $1 AND key = $2 AND archived_at IS NULL AND id <> $3`,
		c.VaultID, c.Key, c.ID).Scan(&other)
	switch {
	case err == nil:
		return hangar.Errorf(hangar.KindConflict, "vault %s already has an active credential for %q (%s)", c.VaultID, c.Key, other)
	case errors.Is(err, pgx.ErrNoRows):
		return hangar.Errorf(hangar.KindConflict, "credential %s already exists", c.ID)
	default:
		return err
	}
}

const credentialSelect = `SELECT pos, auth_type, key, sealed, key_id, data FROM credentials`

func scanCredential(row pgx.Row) (*hangar.Credential, int64, error) {
	var (
		pos    int64
		c      hangar.Credential
		sealed []byte
		data   string
	)
	if err := row.Scan(&pos, &c.AuthType, &c.Key, &sealed, &c.KeyID, &data); err != nil {
		return nil, 0, err
	}
	if err := decode(data, &c); err != nil {
		return nil, 0, err
	}
	c.Sealed = sealed
	return &c, pos, nil
}

// getCredential loads credential id of vault vaultID; with lock, FOR UPDATE.
func getCredential(ctx context.Context, c querier, vaultID, id string, lock bool) (*hangar.Credential, error) {
	q := credentialSelect + ` WHERE vault_id = $1 AND id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	cr, _, err := scanCredential(c.QueryRow(ctx, q, vaultID, id))
	return cr, notFound(err, "credential", id)
}

// GetCredential returns credential id of vault vaultID (not_found_error when it belongs to
// another vault).
func (db *DB) GetCredential(ctx context.Context, vaultID, id string) (*hangar.Credential, error) {
	c, err := getCredential(ctx, db.pool, vaultID, id, false)
	return c, wrap(err, "get credential %s", id)
}

// ListCredentials lists the credentials of a vault in creation order. not_found_error when
// the vault does not exist.
func (db *DB) ListCredentials(ctx context.Context, vaultID string, f hangar.VaultFilter) ([]*hangar.Credential, hangar.PageResult, error) {
	if _, err := getVault(ctx, db.pool, vaultID, false); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list credentials of vault %s", vaultID)
	}
	q := listQuery{selectFrom: credentialSelect, posCol: "pos"}
	q.add("vault_id = ?", vaultID)
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	out, res, err := list(ctx, db.pool, q, f.Page, scanCredential)
	return out, res, wrap(err, "list credentials of vault %s", vaultID)
}

// UpdateCredential calls fn with the current credential in a transaction and saves it.
// Errors from fn are returned as they are; conflict when a changed Key is taken.
func (db *DB) UpdateCredential(ctx context.Context, vaultID, id string, fn func(c *hangar.Credential) error) (*hangar.Credential, error) {
	var out, tried *hangar.Credential
	var fnErr error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		c, err := getCredential(ctx, tx, vaultID, id, true)
		if err != nil {
			return err
		}
		tried = c
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		c.ID, c.VaultID = id, vaultID
		data, err := encode(c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE credentials SET auth_type = $1, key = $2, sealed = $3, key_id = $4, archived_at = $5, data = $6 WHERE id = $7`,
			c.AuthType, c.Key, c.Sealed, c.KeyID, nanosPtr(c.ArchivedAt), data, id); err != nil {
			return err
		}
		out = c
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if isUnique(err) {
		err = db.credentialConflict(ctx, tried)
	}
	return out, wrap(err, "update credential %s", id)
}

// DeleteCredential deletes credential id of vault vaultID.
func (db *DB) DeleteCredential(ctx context.Context, vaultID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM credentials WHERE vault_id = $1 AND id = $2`, vaultID, id)
	if err == nil {
		err = mustAffect(tag, "credential", id)
	}
	return wrap(err, "delete credential %s", id)
}
