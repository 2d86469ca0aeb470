package sqlstore

import (
	"context"

	"github.com/hangar-dev/hangar"
)

// CreateSkill stores a skill and its first version in one transaction.
func (db *DB) CreateSkill(ctx context.Context, s *hangar.Skill, v *hangar.SkillVersion) error {
	s.LatestVersionID, s.LatestVersion = v.ID, v.Version
	err := db.inTx(ctx, func(tx conn) error {
		data, err := encode(s)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO skills (id, source, created_at, data) VALUES (?, ?, ?, ?)`,
			s.ID, s.Source.Type, nanos(s.CreatedAt), data)
		if db.d.isUnique(err) {
			return hangar.Errorf(hangar.KindConflict, "skill %s already exists", s.ID)
		}
		if err != nil {
			return err
		}
		return insertSkillVersion(ctx, db, tx, v)
	})
	return wrap(err, "create skill %s", s.ID)
}

func insertSkillVersion(ctx context.Context, db *DB, tx conn, v *hangar.SkillVersion) error {
	data, err := encode(v)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO skill_versions (id, skill_id, version, size_bytes, sha256, data) VALUES (?, ?, ?, ?, ?, ?)`,
		v.ID, v.SkillID, v.Version, v.SizeBytes, v.SHA256, data)
	if db.d.isUnique(err) {
		return hangar.Errorf(hangar.KindConflict, "skill %s already has version %s", v.SkillID, v.Version)
	}
	return err
}

const skillSelect = `SELECT pos, data FROM skills`

func scanSkill(row scanner) (*hangar.Skill, int64, error) {
	var (
		pos  int64
		s    hangar.Skill
		data string
	)
	if err := row.Scan(&pos, &data); err != nil {
		return nil, 0, err
	}
	return &s, pos, decode(data, &s)
}

const skillVersionSelect = `SELECT pos, size_bytes, sha256, data FROM skill_versions`

func scanSkillVersion(row scanner) (*hangar.SkillVersion, int64, error) {
	var (
		pos  int64
		v    hangar.SkillVersion
		data string
		size int64
		sum  string
	)
	if err := row.Scan(&pos, &size, &sum, &data); err != nil {
		return nil, 0, err
	}
	if err := decode(data, &v); err != nil {
		return nil, 0, err
	}
	v.SizeBytes, v.SHA256 = size, sum
	return &v, pos, nil
}

// GetSkill returns skill id.
func (db *DB) GetSkill(ctx context.Context, id string) (*hangar.Skill, error) {
	s, _, err := scanSkill(db.reader().queryRow(ctx, skillSelect+` WHERE id = ?`, id))
	return s, wrap(notFound(err, "skill", id), "get skill %s", id)
}

// ListSkills lists skills, filtered by source.
func (db *DB) ListSkills(ctx context.Context, f hangar.SkillFilter) ([]*hangar.Skill, hangar.PageResult, error) {
	q := listQuery{selectFrom: skillSelect, posCol: "pos"}
	if f.Source != "" {
		q.add("source = ?", f.Source)
	}
	out, res, err := list(ctx, db.reader(), q, f.Page, scanSkill)
	return out, res, wrap(err, "list skills")
}

// DeleteSkill deletes a skill that has no versions left.
func (db *DB) DeleteSkill(ctx context.Context, id string) error {
	err := db.inTx(ctx, func(tx conn) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM skill_versions WHERE skill_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return hangar.Errorf(hangar.KindConflict, "skill %s still has %d version(s): delete them first", id, n)
		}
		res, err := tx.exec(ctx, `DELETE FROM skills WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "skill", id)
	})
	return wrap(err, "delete skill %s", id)
}

// CreateSkillVersion adds a version and makes it the skill's latest.
func (db *DB) CreateSkillVersion(ctx context.Context, v *hangar.SkillVersion) (*hangar.Skill, error) {
	var out *hangar.Skill
	err := db.inTx(ctx, func(tx conn) error {
		s, _, err := scanSkill(tx.queryRow(ctx, skillSelect+` WHERE id = ?`, v.SkillID))
		if err != nil {
			return notFound(err, "skill", v.SkillID)
		}
		if err := insertSkillVersion(ctx, db, tx, v); err != nil {
			return err
		}
		s.LatestVersionID, s.LatestVersion, s.UpdatedAt = v.ID, v.Version, v.CreatedAt
		if err := saveSkill(ctx, tx, s); err != nil {
			return err
		}
		out = s
		return nil
	})
	return out, wrap(err, "create version of skill %s", v.SkillID)
}

func saveSkill(ctx context.Context, tx conn, s *hangar.Skill) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE skills SET data = ? WHERE id = ?`, data, s.ID)
	return err
}

// getSkillVersion finds a version by its Version string, its ID or "latest".
func getSkillVersion(ctx context.Context, c conn, skillID, version string) (*hangar.SkillVersion, error) {
	q := skillVersionSelect + ` WHERE skill_id = ? AND (version = ? OR id = ?)`
	args := []any{skillID, version, version}
	if version == "latest" {
		q, args = skillVersionSelect+` WHERE skill_id = ? ORDER BY pos DESC LIMIT 1`, []any{skillID}
	}
	v, _, err := scanSkillVersion(c.queryRow(ctx, q, args...))
	if err != nil {
		if _, err := scanSkillFromConn(ctx, c, skillID); err != nil {
			return nil, err
		}
		return nil, notFound(err, "skill version", version)
	}
	return v, nil
}

func scanSkillFromConn(ctx context.Context, c conn, id string) (*hangar.Skill, error) {
	s, _, err := scanSkill(c.queryRow(ctx, skillSelect+` WHERE id = ?`, id))
	return s, notFound(err, "skill", id)
}

// GetSkillVersion returns a version of a skill.
func (db *DB) GetSkillVersion(ctx context.Context, skillID, version string) (*hangar.SkillVersion, error) {
	v, err := getSkillVersion(ctx, db.reader(), skillID, version)
	return v, wrap(err, "get skill %s version %s", skillID, version)
}

// ListSkillVersions lists a skill's versions.
func (db *DB) ListSkillVersions(ctx context.Context, skillID string, p hangar.Page) ([]*hangar.SkillVersion, hangar.PageResult, error) {
	if _, err := scanSkillFromConn(ctx, db.reader(), skillID); err != nil {
		return nil, hangar.PageResult{}, wrap(err, "list skill versions %s", skillID)
	}
	q := listQuery{selectFrom: skillVersionSelect, posCol: "pos"}
	q.add("skill_id = ?", skillID)
	out, res, err := list(ctx, db.reader(), q, p, scanSkillVersion)
	return out, res, wrap(err, "list skill versions %s", skillID)
}

// DeleteSkillVersion deletes a version and points the skill at the newest remaining one.
func (db *DB) DeleteSkillVersion(ctx context.Context, skillID, version string) (*hangar.SkillVersion, error) {
	var out *hangar.SkillVersion
	err := db.inTx(ctx, func(tx conn) error {
		v, err := getSkillVersion(ctx, tx, skillID, version)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM skill_versions WHERE id = ?`, v.ID); err != nil {
			return err
		}
		s, err := scanSkillFromConn(ctx, tx, skillID)
		if err != nil {
			return err
		}
		s.LatestVersionID, s.LatestVersion = "", ""
		latest, _, err := scanSkillVersion(tx.queryRow(ctx, skillVersionSelect+` WHERE skill_id = ? ORDER BY pos DESC LIMIT 1`, skillID))
		if err == nil {
			s.LatestVersionID, s.LatestVersion = latest.ID, latest.Version
		}
		if err := saveSkill(ctx, tx, s); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, wrap(err, "delete skill %s version %s", skillID, version)
}
