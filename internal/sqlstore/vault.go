package sqlstore

import (
	"context"
	"database/sql"

	"github.com/hangar-dev/hangar"
)

// CreateVault stores a new vault. Conflict when the ID is taken.
func (db *DB) CreateVault(ctx context.Context, v *hangar.Vault) error {
	err := db.inTx(ctx, func(tx conn) error {
		data, err := encode(v)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO vaults (id, created_at, archived_at, data) VALUES (?, ?, ?, ?)`,
			v.ID, nanos(v.CreatedAt), nanosPtr(v.ArchivedAt), data)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "vault %s already exists", v.ID)
		}
		return err
	})
	return wrap(err, "create vault %s", v.ID)
}

func scanVault(row scanner) (*hangar.Vault, int64, error) {
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

func getVault(ctx context.Context, c conn, id string) (*hangar.Vault, error) {
	v, _, err := scanVault(c.queryRow(ctx, `SELECT pos, data FROM vaults WHERE id = ?`, id))
	return v, notFound(err, "vault", id)
}

// GetVault returns vault id.
func (db *DB) GetVault(ctx context.Context, id string) (*hangar.Vault, error) {
	v, err := getVault(ctx, db.reader(), id)
	return v, wrap(err, "get vault %s", id)
}

// ListVaults lists vaults in creation order.
func (db *DB) ListVaults(ctx context.Context, f hangar.VaultFilter) ([]*hangar.Vault, hangar.PageResult, error) {
	q := listQuery{selectFrom: `SELECT pos, data FROM vaults`, posCol: "pos"}
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanVault)
	return out, res, wrap(err, "list vaults")
}

// UpdateVault calls fn with the current vault in a transaction and saves it. Errors from fn
// are returned as they are.
func (db *DB) UpdateVault(ctx context.Context, id string, fn func(v *hangar.Vault) error) (*hangar.Vault, error) {
	var out *hangar.Vault
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		v, err := getVault(ctx, tx, id)
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
		if _, err := tx.exec(ctx, `UPDATE vaults SET archived_at = ?, data = ? WHERE id = ?`, nanosPtr(v.ArchivedAt), data, id); err != nil {
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

// DeleteVault deletes a vault and its credentials.
func (db *DB) DeleteVault(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM credentials WHERE vault_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM vaults WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "vault", id)
	})
	return wrap(err, "delete vault %s", id)
}

// CreateCredential stores a credential. not_found_error when the vault does not exist;
// conflict when an active credential of the vault has the same Key, or the vault already
// holds hangar.MaxCredentialsPerVault active ones.
func (db *DB) CreateCredential(ctx context.Context, c *hangar.Credential) error {
	err := db.inTx(ctx, func(tx conn) error {
		if _, err := getVault(ctx, tx, c.VaultID); err != nil {
			return err
		}
		if c.ArchivedAt == nil {
			var n int
			if err := tx.queryRow(ctx, `SELECT count(*) FROM credentials WHERE vault_id = ? AND archived_at IS NULL`, c.VaultID).Scan(&n); err != nil {
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
		if _, err := tx.exec(ctx, `INSERT INTO credentials (id, vault_id, auth_type, key, sealed, key_id, created_at, archived_at, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.VaultID, c.AuthType, c.Key, c.Sealed, c.KeyID, nanos(c.CreatedAt), nanosPtr(c.ArchivedAt), data); err != nil {
			return db.credentialConflict(ctx, tx, err, c)
		}
		return nil
	})
	return wrap(err, "create credential %s", c.ID)
}

func (db *DB) credentialConflict(ctx context.Context, tx conn, err error, c *hangar.Credential) error {
	if !db.d.isUnique(err) {
		return err
	}
	var other string
	switch qerr := tx.queryRow(ctx, `SELECT id FROM credentials WHERE vault_id = ? AND key = ? AND archived_at IS NULL AND id <> ?`,
		c.VaultID, c.Key, c.ID).Scan(&other); qerr {
	case nil:
		return hangar.Errorf(hangar.KindConflict, "vault %s already has an active credential for %q (%s)", c.VaultID, c.Key, other)
	case sql.ErrNoRows:
		return hangar.Errorf(hangar.KindConflict, "credential %s already exists", c.ID)
	default:
		return qerr
	}
}

const credentialSelect = `SELECT pos, auth_type, key, sealed, key_id, data FROM credentials`

func scanCredential(row scanner) (*hangar.Credential, int64, error) {
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

func getCredential(ctx context.Context, c conn, vaultID, id string) (*hangar.Credential, error) {
	cr, _, err := scanCredential(c.queryRow(ctx, credentialSelect+` WHERE vault_id = ? AND id = ?`, vaultID, id))
	return cr, notFound(err, "credential", id)
}

// GetCredential returns credential id of vault vaultID (not_found_error when it belongs to
// another vault).
func (db *DB) GetCredential(ctx context.Context, vaultID, id string) (*hangar.Credential, error) {
	c, err := getCredential(ctx, db.reader(), vaultID, id)
	return c, wrap(err, "get credential %s", id)
}

// ListCredentials lists the credentials of a vault in creation order. not_found_error when
// the vault does not exist.
func (db *DB) ListCredentials(ctx context.Context, vaultID string, f hangar.VaultFilter) ([]*hangar.Credential, hangar.PageResult, error) {
	c := db.reader()
	if _, err := getVault(ctx, c, vaultID); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list credentials of vault %s", vaultID)
	}
	q := listQuery{selectFrom: credentialSelect, posCol: "pos"}
	q.add("vault_id = ?", vaultID)
	if !f.IncludeArchived {
		q.add("archived_at IS NULL")
	}
	out, res, err := list(ctx, c, q, f.Page, scanCredential)
	return out, res, wrap(err, "list credentials of vault %s", vaultID)
}

// UpdateCredential calls fn with the current credential in a transaction and saves it.
// Errors from fn are returned as they are; conflict when a changed Key is taken.
func (db *DB) UpdateCredential(ctx context.Context, vaultID, id string, fn func(c *hangar.Credential) error) (*hangar.Credential, error) {
	var out *hangar.Credential
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		c, err := getCredential(ctx, tx, vaultID, id)
		if err != nil {
			return err
		}
		if fnErr = fn(c); fnErr != nil {
			return fnErr
		}
		c.ID, c.VaultID = id, vaultID
		data, err := encode(c)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE credentials SET auth_type = ?, key = ?, sealed = ?, key_id = ?, archived_at = ?, data = ? WHERE id = ?`,
			c.AuthType, c.Key, c.Sealed, c.KeyID, nanosPtr(c.ArchivedAt), data, id); err != nil {
			return db.credentialConflict(ctx, tx, err, c)
		}
		out = c
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update credential %s", id)
}

// DeleteCredential deletes credential id of vault vaultID.
func (db *DB) DeleteCredential(ctx context.Context, vaultID, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `DELETE FROM credentials WHERE vault_id = ? AND id = ?`, vaultID, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "credential", id)
	})
	return wrap(err, "delete credential %s", id)
}
