package sqlstore

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// CreateUserProfile stores a user profile.
func (db *DB) CreateUserProfile(ctx context.Context, p *hangar.UserProfile) error {
	data, err := encode(p)
	if err != nil {
		return wrap(err, "create user profile %s", p.ID)
	}
	err = db.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `INSERT INTO user_profiles (id, created_at, data) VALUES (?, ?, ?)`, p.ID, nanos(p.CreatedAt), data)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "user profile %s already exists", p.ID)
		}
		return err
	})
	return wrap(err, "create user profile %s", p.ID)
}

const userProfileSelect = `SELECT pos, data FROM user_profiles`

func scanUserProfile(row scanner) (*hangar.UserProfile, int64, error) {
	var (
		pos  int64
		data string
		p    hangar.UserProfile
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &p, pos, decode(data, &p)
}

func getUserProfile(ctx context.Context, c conn, id string) (*hangar.UserProfile, error) {
	p, _, err := scanUserProfile(c.queryRow(ctx, userProfileSelect+` WHERE id = ?`, id))
	return p, notFound(err, "user profile", id)
}

// GetUserProfile returns profile id.
func (db *DB) GetUserProfile(ctx context.Context, id string) (*hangar.UserProfile, error) {
	p, err := getUserProfile(ctx, db.reader(), id)
	return p, wrap(err, "get user profile %s", id)
}

// ListUserProfiles lists profiles.
func (db *DB) ListUserProfiles(ctx context.Context, f hangar.UserProfileFilter) ([]*hangar.UserProfile, hangar.PageResult, error) {
	q := listQuery{selectFrom: userProfileSelect, posCol: "pos"}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanUserProfile)
	return out, res, wrap(err, "list user profiles")
}

// UpdateUserProfile calls fn with the profile in a transaction and saves it.
func (db *DB) UpdateUserProfile(ctx context.Context, id string, fn func(p *hangar.UserProfile) error) (*hangar.UserProfile, error) {
	var out *hangar.UserProfile
	var fnErr error
	err := db.inTx(ctx, func(tx conn) error {
		p, err := getUserProfile(ctx, tx, id)
		if err != nil {
			return err
		}
		if fnErr = fn(p); fnErr != nil {
			return fnErr
		}
		p.ID = id
		data, err := encode(p)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE user_profiles SET data = ? WHERE id = ?`, data, id); err != nil {
			return err
		}
		out = p
		return nil
	})
	if fnErr != nil {
		return nil, fnErr
	}
	return out, wrap(err, "update user profile %s", id)
}

// DeleteUserProfile deletes a profile.
func (db *DB) DeleteUserProfile(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `DELETE FROM user_profiles WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = hangar.NotFound("user profile", id)
			}
			return err
		}
		return nil
	})
	return wrap(err, "delete user profile %s", id)
}
